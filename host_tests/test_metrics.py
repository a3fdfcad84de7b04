"""Depth metrics on hand-computable arrays and on the real motorcycle ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pynq_depth.metrics import (METRIC_NAMES, depth_errors, eigen_crop_mask, mean_errors, median_scale,
                                resize_depth_bilinear)


def test_perfect_prediction():
    gt = np.array([[0.5, 1.0], [2.0, 9.5]])
    e = depth_errors(gt, gt.copy())
    assert e["delta1"] == e["delta2"] == e["delta3"] == 1.0
    for name in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10"):
        assert e[name] == 0.0
    assert e["pixels"] == 4


def test_hand_computed_values():
    gt = np.array([1.0, 2.0, 4.0, 1.0])
    pred = np.array([1.0, 1.0, 5.0, 2.0])
    e = depth_errors(gt, pred)
    # ratios max(g/p, p/g): 1, 2, 1.25, 2
    assert e["delta1"] == pytest.approx(1 / 4)            # only ratio 1 < 1.25 (1.25 is not < 1.25)
    assert e["delta2"] == pytest.approx(2 / 4)            # 1 and 1.25 < 1.5625
    assert e["delta3"] == pytest.approx(2 / 4)            # 2 > 1.953125
    assert e["abs_rel"] == pytest.approx((0 + 1 / 2 + 1 / 4 + 1 / 1) / 4)
    assert e["sq_rel"] == pytest.approx((0 + 1 / 2 + 1 / 4 + 1 / 1) / 4)
    assert e["rmse"] == pytest.approx(math.sqrt((0 + 1 + 1 + 1) / 4))
    logs = [0, math.log(2), math.log(4 / 5), math.log(1 / 2)]
    assert e["rmse_log"] == pytest.approx(math.sqrt(sum(v * v for v in logs) / 4))
    assert e["log10"] == pytest.approx(sum(abs(v) / math.log(10) for v in logs) / 4)
    assert e["pixels"] == 4


def test_sq_rel_differs_from_abs_rel():
    e = depth_errors(np.array([2.0]), np.array([5.0]))
    assert e["abs_rel"] == pytest.approx(3 / 2)
    assert e["sq_rel"] == pytest.approx(9 / 2)
    assert e["rmse"] == pytest.approx(3.0)


def test_invalid_pixels_and_mask_are_ignored():
    gt = np.array([1.0, np.nan, 0.0, -1.0, np.inf, 2.0, 3.0])
    pred = np.array([1.0, 5.0, 5.0, 5.0, 5.0, np.nan, 6.0])
    e = depth_errors(gt, pred)
    assert e["pixels"] == 2  # only gt=1 and gt=3 (pred finite > 0)
    assert e["abs_rel"] == pytest.approx((0 + 1) / 2)
    mask = np.array([True, True, True, True, True, True, False])
    e = depth_errors(gt, pred, mask)
    assert e["pixels"] == 1 and e["abs_rel"] == 0.0
    pred_zero = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    assert depth_errors(gt, pred_zero)["pixels"] == 2


def test_no_valid_pixels_raises():
    with pytest.raises(ValueError):
        depth_errors(np.array([np.nan, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError):
        depth_errors(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), bool))


def test_median_scale():
    gt = np.array([1.0, 2.0, 3.0, 100.0])
    pred = np.array([2.0, 4.0, 6.0, 8.0])
    mask = np.array([True, True, True, False])
    scaled = median_scale(pred, gt, mask)
    assert np.median(scaled[mask]) == pytest.approx(np.median(gt[mask]))
    np.testing.assert_allclose(scaled, pred / 2)


def test_eigen_crop_mask():
    mask = eigen_crop_mask(480, 640)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (45, 471, 41, 601)
    assert mask.sum() == (471 - 45) * (601 - 41)
    small = eigen_crop_mask(240, 320)
    assert small.shape == (240, 320) and 0.7 < small.mean() < 0.8


def test_mean_errors():
    rows = [dict.fromkeys(METRIC_NAMES, 1.0), dict.fromkeys(METRIC_NAMES, 3.0)]
    assert mean_errors(rows) == dict.fromkeys(METRIC_NAMES, 2.0)


def test_resize_depth_bilinear():
    depth = np.linspace(1, 5, 12, dtype=np.float32).reshape(3, 4)
    assert resize_depth_bilinear(depth, 3, 4) is depth
    out = resize_depth_bilinear(depth, 6, 8)
    assert out.shape == (6, 8) and out.dtype == np.float32
    assert depth.min() - 1e-6 <= out.min() and out.max() <= depth.max() + 1e-6
    const = resize_depth_bilinear(np.full((5, 7), 2.5, np.float32), 11, 3)
    np.testing.assert_allclose(const, 2.5, rtol=1e-6)


def test_motorcycle_constant_median_baseline():
    """The issue's reference numbers: predicting the median depth everywhere on the real photo."""
    pytest.importorskip("skimage")
    from pynq_depth.training.data import MotorcycleDataset

    rgb, gt = MotorcycleDataset()[0]
    assert rgb.shape[:2] == gt.shape
    pred = np.full_like(gt, np.nanmedian(gt))
    e = depth_errors(gt, pred)
    assert e["delta1"] == pytest.approx(0.551, abs=0.005)
    assert e["abs_rel"] == pytest.approx(0.212, abs=0.005)
    assert e["pixels"] == int(np.isfinite(gt).sum())
