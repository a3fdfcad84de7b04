"""DenseDepth's training loss: L1 on the target, SSIM and an image-gradient term (torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Dynamic range of the target 10 / depth_m (1..100), SSIM's ``L``.
TARGET_RANGE = 100.0


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(pred: torch.Tensor, target: torch.Tensor, value_range: float = TARGET_RANGE) -> torch.Tensor:
    """Mean structural similarity of single-channel batches (N, 1, H, W), Gaussian window 11/1.5."""
    window = _gaussian_window().to(pred)
    pad = window.shape[-1] // 2
    mu_p = F.conv2d(pred, window, padding=pad)
    mu_t = F.conv2d(target, window, padding=pad)
    var_p = F.conv2d(pred * pred, window, padding=pad) - mu_p ** 2
    var_t = F.conv2d(target * target, window, padding=pad) - mu_t ** 2
    cov = F.conv2d(pred * target, window, padding=pad) - mu_p * mu_t
    c1, c2 = (0.01 * value_range) ** 2, (0.03 * value_range) ** 2
    ssim_map = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_t ** 2 + c1) * (var_p + var_t + c2))
    return ssim_map.mean()


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along y and x (zero in the last row/column)."""
    dy = torch.zeros_like(x)
    dx = torch.zeros_like(x)
    dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return dy, dx


def densedepth_loss(pred: torch.Tensor, target: torch.Tensor, depth_weight: float = 0.1) -> dict[str, torch.Tensor]:
    """DenseDepth loss ``0.1 * L1 + (1 - SSIM) / 2 + gradient L1`` on the target space ``10 / depth_m``.

    Returns
    -------
    dict
        ``loss`` (total) and its terms ``l1``, ``ssim``, ``grad``.
    """
    l1 = (pred - target).abs().mean()
    l_ssim = torch.clamp((1 - ssim(pred, target)) * 0.5, 0, 1)
    pdy, pdx = image_gradients(pred)
    tdy, tdx = image_gradients(target)
    grad = ((pdy - tdy).abs() + (pdx - tdx).abs()).mean()
    return {"loss": depth_weight * l1 + l_ssim + grad, "l1": l1, "ssim": l_ssim, "grad": grad}
