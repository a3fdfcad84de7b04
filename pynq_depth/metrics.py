"""Standard monocular-depth error metrics (DenseDepth / Eigen et al. definitions), NumPy only."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10")


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """Eigen's NYU evaluation crop (rows 45:471, cols 41:601 of 480x640) scaled to (height, width)."""
    mask = np.zeros((height, width), dtype=bool)
    top, bottom = round(45 / 480 * height), round(471 / 480 * height)
    left, right = round(41 / 640 * width), round(601 / 640 * width)
    mask[top:bottom, left:right] = True
    return mask


def median_scale(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scale a prediction so that its median over ``mask`` equals the ground truth's."""
    return pred * (np.median(gt[mask]) / np.median(pred[mask]))


def depth_errors(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Errors of a predicted depth map against ground truth (same shape, metres).

    Parameters
    ----------
    gt, pred : ndarray
        Ground-truth and predicted depth; pixels where ``gt`` is not finite or
        <= 0 are ignored, as are pixels outside ``mask``.
    mask : ndarray of bool, optional
        Pixels to evaluate.

    Returns
    -------
    dict
        ``delta1..3`` (fraction with max(gt/pred, pred/gt) < 1.25**k), ``abs_rel``,
        ``sq_rel``, ``rmse``, ``rmse_log``, ``log10``, and ``pixels``.
    """
    valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
    if mask is not None:
        valid &= mask
    g = gt[valid].astype(np.float64)
    p = pred[valid].astype(np.float64)
    if g.size == 0:
        raise ValueError("no valid ground-truth pixels")
    ratio = np.maximum(g / p, p / g)
    diff = g - p
    return {
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff ** 2 / g)),
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(g) - np.log10(p)))),
        "pixels": int(g.size),
    }


def mean_errors(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average per-image metrics (DenseDepth averages over images)."""
    return {name: float(np.mean([r[name] for r in rows])) for name in METRIC_NAMES}


def resize_depth_bilinear(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float depth map (Pillow 'F' mode), e.g. prediction to ground-truth size."""
    from PIL import Image

    if depth.shape == (height, width):
        return depth
    return np.asarray(Image.fromarray(depth.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))
