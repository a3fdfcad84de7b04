"""int8 emulator vs the float model on real photos, with the packaged checkpoint and weights.

The float depth is the ground truth; the integer pipeline must agree to
delta1 >= 0.99 and AbsRel <= 0.02 over the photos (the mean per photo, as
``pynq-depth eval`` reports a set; no downloads: the packaged example and
scikit-image's bundled photos), and no single photo may be off by more than
twice that.  With the 1/4-resolution default the per-photo AbsRel is 0.011-0.033
(README): the portrait (astronaut) is the outlier, a global scale shift of its
integer depth.  The tests depend on no learned value, only on the pair of files
agreeing.
"""

from __future__ import annotations

import numpy as np
import pytest

from pynq_depth.evaluate import AGREEMENT_PHOTOS, agreement_photo
from pynq_depth.metrics import depth_errors

from conftest import PACKAGED_CHECKPOINT, PACKAGED_WEIGHTS

pytest.importorskip("torch")
pytest.importorskip("skimage.data")

DELTA1_MIN = 0.99
ABS_REL_MAX = 0.02
#: No photo alone may be worse than this.
ABS_REL_MAX_ONE = 0.04


@pytest.fixture(scope="module")
def estimators():
    from pynq_depth.runtime import create_estimator

    if not PACKAGED_CHECKPOINT.is_file():
        pytest.skip(f"{PACKAGED_CHECKPOINT} not present")
    emulator = create_estimator("emulator", weights=PACKAGED_WEIGHTS)
    float_ = create_estimator("float", checkpoint=PACKAGED_CHECKPOINT)
    assert emulator.input_hw == float_.input_hw
    return emulator, float_


@pytest.fixture(scope="module")
def per_photo(estimators) -> dict[str, dict[str, float]]:
    """int8-vs-float metrics of every photo, computed once for the tests below."""
    emulator, float_ = estimators
    errors = {}
    for name in AGREEMENT_PHOTOS:
        rgb = agreement_photo(name)
        q = emulator.depth(rgb)
        f = float_.depth(rgb)
        h, w = emulator.input_hw
        assert q.shape == f.shape == (h // 4, w // 4)  # the board default predicts at 1/4 resolution
        assert q.dtype == f.dtype == np.float32
        assert np.all((q >= 0.1) & (q <= 10.0)) and np.all((f >= 0.1) & (f <= 10.0))
        errors[name] = depth_errors(f, q)
        assert errors[name]["pixels"] == q.size
    return errors


@pytest.mark.parametrize("name", AGREEMENT_PHOTOS)
def test_int8_depth_close_to_float_on_each_real_photo(per_photo, name):
    errors = per_photo[name]
    report = f"{name}: delta1={errors['delta1']:.4f} abs_rel={errors['abs_rel']:.4f} rmse={errors['rmse']:.4f} m"
    print(report)
    assert errors["delta1"] >= DELTA1_MIN, report
    assert errors["abs_rel"] <= ABS_REL_MAX_ONE, report


def test_int8_depth_matches_float_over_the_real_photos(per_photo):
    report = ", ".join(f"{n} {e['delta1']:.3f}/{e['abs_rel']:.4f}" for n, e in per_photo.items())
    assert np.mean([e["delta1"] for e in per_photo.values()]) >= DELTA1_MIN, report
    assert np.mean([e["abs_rel"] for e in per_photo.values()]) <= ABS_REL_MAX, report


def test_emulator_is_deterministic(estimators):
    emulator, _ = estimators
    rgb = agreement_photo("example")
    np.testing.assert_array_equal(emulator.depth(rgb), emulator.depth(rgb.copy()))
