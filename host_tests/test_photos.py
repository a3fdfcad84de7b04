"""The packaged real-photo set: what it holds, how it loads, and that calibration never sees a test photo."""

from __future__ import annotations

import numpy as np
import pytest

from pynq_depth.photos import CALIBRATION_NAMES, CALIBRATION_PHOTOS, PHOTOS, TEST_NAMES, TEST_PHOTOS, load_photo
from pynq_depth.preprocess import resize_rgb

pytest.importorskip("skimage.data")


def test_the_set_is_large_split_and_disjoint():
    assert len(PHOTOS) >= 15
    assert set(TEST_NAMES).isdisjoint(CALIBRATION_NAMES)
    files = [(p.package, p.file) for p in TEST_PHOTOS + CALIBRATION_PHOTOS]
    assert len(set(files)) == len(files)  # no file serves twice
    assert "example" in TEST_NAMES  # the packaged photo is judged, never calibrated on
    assert all(p.content for p in PHOTOS.values())


@pytest.mark.parametrize("name", list(PHOTOS))
def test_every_photo_loads_as_rgb(name):
    rgb = load_photo(name)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert min(rgb.shape[:2]) >= 128
    assert rgb.std() > 5  # a picture, not a blank


def test_no_two_photos_show_the_same_picture():
    """The packaged example is scikit-image's coffee: it must appear once only (as ``example``)."""
    small = {name: resize_rgb(load_photo(name), 32, 32).astype(np.float64) for name in PHOTOS}
    names = list(small)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.mean(np.abs(small[a] - small[b])) > 4, (a, b)


def test_unknown_photo_names_the_known_ones():
    with pytest.raises(KeyError, match="astronaut"):
        load_photo("nope")


def test_builtin_calibration_set_holds_no_test_photo():
    from pynq_depth.calibration import calibration_images

    h, w = 48, 64
    images, source = calibration_images(None, (h, w), 2 * len(CALIBRATION_NAMES) + 3)
    assert len(images) == 2 * len(CALIBRATION_NAMES) + 3
    assert f"{2 * len(CALIBRATION_NAMES)} real photos" in source and "3 synthetic" in source
    assert all(img.shape == (h, w, 3) and img.dtype == np.uint8 for img in images)
    calibration = [resize_rgb(load_photo(n), h, w) for n in CALIBRATION_NAMES]
    np.testing.assert_array_equal(images[0], calibration[0])
    np.testing.assert_array_equal(images[1], calibration[0][:, ::-1])  # each photo also mirrored
    for name in TEST_NAMES:
        test = resize_rgb(load_photo(name), h, w).astype(np.int16)
        for img in images:
            assert not np.array_equal(img, test) and not np.array_equal(img, test[:, ::-1]), name
