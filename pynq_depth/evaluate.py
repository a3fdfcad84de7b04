"""Evaluation of any backend on a depth dataset (``pynq-depth eval``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .metrics import depth_errors, eigen_crop_mask, mean_errors, median_scale, resize_depth_bilinear
from .runtime import DepthEstimator

#: The per-photo promise of the integer pipeline against the float model it was quantised from (issue 13):
#: on each photo, AbsRel at most this ...
AGREEMENT_ABS_REL_MAX = 0.02
#: ... and delta1 at least this.  host_tests/test_accuracy.py checks it on every test photo.
AGREEMENT_DELTA1_MIN = 0.99


def agrees(errors: dict[str, float]) -> bool:
    """Whether one photo's int8-vs-float metrics (:func:`int8_float_agreement`) keep the per-photo promise."""
    return errors["abs_rel"] <= AGREEMENT_ABS_REL_MAX and errors["delta1"] >= AGREEMENT_DELTA1_MIN


def int8_float_agreement(int8: DepthEstimator, float_: DepthEstimator,
                         names: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """Metrics of int8 depth against float depth (the reference) on each packaged photo, at the output resolution.

    Parameters
    ----------
    int8, float_ : DepthEstimator
        The integer pipeline and the float model it was quantised from.
    names : tuple of str, optional
        Photos of :data:`pynq_depth.photos.PHOTOS` (default: the test part, :data:`~pynq_depth.photos.TEST_NAMES`).
    """
    from .photos import TEST_NAMES, load_photo

    return {name: depth_errors(float_.depth(rgb), int8.depth(rgb))
            for name, rgb in ((n, load_photo(n)) for n in (names or TEST_NAMES))}


def predict_at(estimator: DepthEstimator, rgb: np.ndarray, height: int, width: int, flip: bool = False) -> np.ndarray:
    """Predicted metric depth resized to (height, width); optionally averaged with the mirrored image's."""
    depth = estimator.depth(rgb)
    if flip:
        depth = 0.5 * (depth + estimator.depth(np.ascontiguousarray(rgb[:, ::-1]))[:, ::-1])
    return resize_depth_bilinear(depth, height, width)


def evaluate(estimator: DepthEstimator, dataset, median_scaling: bool = False, eigen_crop: bool = False,
             flip: bool = False, limit: int | None = None,
             progress: Callable[[int], None] | None = None) -> dict:
    """Mean DenseDepth metrics of an estimator over a dataset.

    Parameters
    ----------
    estimator : DepthEstimator
        Any backend.
    dataset : sequence of (rgb uint8, depth metres)
        Ground truth; NaN or <= 0 depth is ignored; depth is clipped to 0.1-10 m as in DenseDepth.
    median_scaling : bool
        Scale each prediction so its median matches the ground truth (scale-free evaluation).
    eigen_crop : bool
        Evaluate inside Eigen's NYU crop only.
    flip : bool
        Average with the prediction of the mirrored image.
    limit : int, optional
        Evaluate only the first ``limit`` images.

    Returns
    -------
    dict
        ``mean`` metrics, ``images`` (per-image rows) and ``count``.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    rows = []
    for index in range(count):
        rgb, gt = dataset[index]
        gt = np.where(np.isfinite(gt), np.clip(gt, 0.1, 10.0), np.nan).astype(np.float32)
        pred = predict_at(estimator, rgb, gt.shape[0], gt.shape[1], flip=flip)
        mask = np.isfinite(gt)
        if eigen_crop:
            mask &= eigen_crop_mask(*gt.shape)
        if median_scaling:
            pred = median_scale(pred, gt, mask)
        rows.append(depth_errors(gt, pred, mask))
        if progress:
            progress(index + 1)
    return {"mean": mean_errors(rows), "images": rows, "count": count}
