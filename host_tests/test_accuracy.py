"""int8 emulator vs the float model on every test photo, with the packaged checkpoint and weights.

The float depth is the reference; the integer pipeline must agree on **each**
photo of the test part of the packaged real-photo set
(:data:`pynq_depth.photos.TEST_PHOTOS`: indoor, outdoor, portrait, close-up,
low light, greyscale; no downloads), AbsRel <= 0.02 and delta1 >= 0.99.  The
quantiser never saw these photos: it calibrates on the other part
(:data:`pynq_depth.photos.CALIBRATION_PHOTOS`).  The tests depend on no learned
value, only on the pair of files agreeing; ``scripts/int8_vs_float.py`` prints
the table.
"""

from __future__ import annotations

import numpy as np
import pytest

from pynq_depth.evaluate import AGREEMENT_ABS_REL_MAX as ABS_REL_MAX
from pynq_depth.evaluate import AGREEMENT_DELTA1_MIN as DELTA1_MIN
from pynq_depth.metrics import depth_errors
from pynq_depth.photos import TEST_NAMES, load_photo

from conftest import PACKAGED_CHECKPOINT, PACKAGED_WEIGHTS

pytest.importorskip("torch")
pytest.importorskip("skimage.data")


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
    for name in TEST_NAMES:
        rgb = load_photo(name)
        q = emulator.depth(rgb)
        f = float_.depth(rgb)
        h, w = emulator.input_hw
        assert q.shape == f.shape == (h // 4, w // 4)  # the board default predicts at 1/4 resolution
        assert q.dtype == f.dtype == np.float32
        assert np.all((q >= 0.1) & (q <= 10.0)) and np.all((f >= 0.1) & (f <= 10.0))
        errors[name] = depth_errors(f, q)
        assert errors[name]["pixels"] == q.size
    return errors


@pytest.mark.parametrize("name", TEST_NAMES)
def test_int8_depth_close_to_float_on_each_real_photo(per_photo, name):
    errors = per_photo[name]
    report = f"{name}: delta1={errors['delta1']:.4f} abs_rel={errors['abs_rel']:.4f} rmse={errors['rmse']:.4f} m"
    print(report)
    assert errors["delta1"] >= DELTA1_MIN, report
    assert errors["abs_rel"] <= ABS_REL_MAX, report


def test_emulator_is_deterministic(estimators):
    emulator, _ = estimators
    rgb = load_photo("example")
    np.testing.assert_array_equal(emulator.depth(rgb), emulator.depth(rgb.copy()))
