"""Real photos that ship inside installable packages: the int8-vs-float agreement set.

Nothing is downloaded: every photo lies in the installed scikit-image or
matplotlib package (both pulled in by the ``test`` and ``torch`` extras), or is
the packaged example.  imageio's "standard images" are fetched from the web on
first use, so none of them can be used here.  scikit-image and matplotlib carry
ten distinct colour photos between them (``coffee`` *is* the packaged example,
and the right view of the stereo motorcycle pair shows the same scene as the
left, so neither counts twice); their greyscale photos, given to the network as
grey RGB as a black-and-white photo would be, make up the rest.

The set is split once, by scene, into :data:`TEST_PHOTOS`, on which
``host_tests/test_accuracy.py`` bounds int8 against float per photo, and
:data:`CALIBRATION_PHOTOS`, the only real photos the quantiser may look at
(:func:`pynq_depth.calibration.calibration_images`).  The two never share a
scene: quantiser choices are made on the calibration part and judged on the
test part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Photo:
    """One packaged photo: where it comes from and what it shows."""

    name: str
    package: str
    file: str
    content: str

    def load(self) -> np.ndarray:
        """The photo as uint8 (H, W, 3); greyscale photos are repeated into three channels."""
        return _as_rgb(_LOADERS[self.package](self.file), self.name)


def _skimage_file(file: str) -> np.ndarray:
    import imageio.v3 as iio
    import skimage.data

    return np.asarray(iio.imread(Path(skimage.data.__file__).with_name(file)))


def _matplotlib_file(file: str) -> np.ndarray:
    import matplotlib
    from PIL import Image

    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / file) as image:
        return np.asarray(image.convert("RGB"))


def _packaged_file(file: str) -> np.ndarray:
    from .preprocess import load_image

    return load_image(Path(__file__).with_name("data") / file)


_LOADERS: dict[str, Callable[[str], np.ndarray]] = {
    "scikit-image": _skimage_file, "matplotlib": _matplotlib_file, "pynq-depth": _packaged_file}


def _as_rgb(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ValueError(f"{name}: expected an 8-bit photo, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise ValueError(f"{name}: not a photo (shape {array.shape})")


#: Judged photos: int8 must agree with float on each of them.
TEST_PHOTOS: tuple[Photo, ...] = (
    Photo("example", "pynq-depth", "example.jpg", "indoor close-up: coffee cup on a table (scikit-image's coffee)"),
    Photo("astronaut", "scikit-image", "astronaut.png", "portrait in front of a flag"),
    Photo("rocket", "scikit-image", "rocket.jpg", "outdoor: launch pad under a blue sky"),
    Photo("motorcycle", "scikit-image", "motorcycle_left.png", "indoor scene with depth: motorcycle in a studio"),
    Photo("moon", "scikit-image", "moon.png", "low light, greyscale: the moon's surface"),
    Photo("coins", "scikit-image", "coins.png", "greyscale close-up: coins on a flat background"),
)

#: Photos the quantiser calibrates on (never judged).  Like the test part, colour scenes and greyscale photos:
#: calibration statistics must resemble what the network will be shown.
CALIBRATION_PHOTOS: tuple[Photo, ...] = (
    Photo("grace_hopper", "matplotlib", "grace_hopper.jpg", "indoor portrait, dark background"),
    Photo("chelsea", "scikit-image", "chelsea.png", "close-up of a cat"),
    Photo("hubble_deep_field", "scikit-image", "hubble_deep_field.jpg", "low light: galaxies on black"),
    Photo("retina", "scikit-image", "retina.jpg", "medical close-up: retina"),
    Photo("immunohistochemistry", "scikit-image", "ihc.png", "microscope: stained tissue"),
    Photo("camera", "scikit-image", "camera.png", "outdoor, greyscale: cameraman on a lawn"),
    Photo("clock", "scikit-image", "clock_motion.png", "indoor, greyscale, motion blur: wall clock"),
    Photo("page", "scikit-image", "page.png", "greyscale: printed page, uneven light"),
    Photo("text", "scikit-image", "text.png", "greyscale: hand-written text on a board"),
    Photo("brick", "scikit-image", "brick.png", "greyscale texture: brick wall"),
    Photo("grass", "scikit-image", "grass.png", "greyscale texture: grass"),
    Photo("gravel", "scikit-image", "gravel.png", "greyscale texture: gravel"),
    Photo("cell", "scikit-image", "cell.png", "greyscale microscope: a cell"),
)

PHOTOS: dict[str, Photo] = {photo.name: photo for photo in TEST_PHOTOS + CALIBRATION_PHOTOS}
TEST_NAMES: tuple[str, ...] = tuple(photo.name for photo in TEST_PHOTOS)
CALIBRATION_NAMES: tuple[str, ...] = tuple(photo.name for photo in CALIBRATION_PHOTOS)


def load_photo(name: str) -> np.ndarray:
    """A packaged photo by name (see :data:`PHOTOS`) as uint8 (H, W, 3).

    Raises
    ------
    KeyError
        For a name that is not in the set (the message lists the names).
    """
    try:
        photo = PHOTOS[name]
    except KeyError:
        raise KeyError(f"unknown photo {name!r}; known: {', '.join(PHOTOS)}") from None
    return photo.load()
