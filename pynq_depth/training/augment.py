"""Photometric and geometric augmentation for (RGB, depth) training pairs.

Everything is numpy (plus Pillow for JPEG re-encoding) and deterministic
given a ``numpy.random.Generator``.  Photometric operations leave depth
untouched; only :func:`horizontal_flip` changes it, as in DenseDepth.
Images are ``uint8`` arrays of shape ``(H, W, 3)``; depth is ``(H, W)``.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = [
    "horizontal_flip",
    "permute_channels",
    "colour_jitter",
    "gaussian_blur",
    "sensor_noise",
    "jpeg_reencode",
    "augment",
]

_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def horizontal_flip(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror image and depth left-right.

    Parameters
    ----------
    rgb : numpy.ndarray
        Image of shape ``(H, W, 3)``.
    depth : numpy.ndarray
        Depth of shape ``(H, W)``.

    Returns
    -------
    tuple of numpy.ndarray
        Flipped (contiguous) copies of ``rgb`` and ``depth``.
    """
    return np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(depth[:, ::-1])


def permute_channels(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reorder the colour channels with a random non-identity permutation.

    Parameters
    ----------
    rgb : numpy.ndarray
        Image of shape ``(H, W, 3)``.
    rng : numpy.random.Generator
        Randomness source.

    Returns
    -------
    numpy.ndarray
        Image with permuted channels.
    """
    permutations = [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    order = permutations[int(rng.integers(len(permutations)))]
    return np.ascontiguousarray(rgb[:, :, order])


def colour_jitter(
    rgb: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.25,
    contrast: float = 0.25,
    saturation: float = 0.3,
    hue: float = 0.05,
) -> np.ndarray:
    """Random brightness, contrast, saturation and hue changes.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    rng : numpy.random.Generator
        Randomness source.
    brightness, contrast, saturation : float
        Each factor is drawn from ``[1 - x, 1 + x]``.
    hue : float
        Maximum hue rotation as a fraction of a full turn.

    Returns
    -------
    numpy.ndarray
        ``uint8`` image of the same shape.
    """
    image = _to_float(rgb)
    brightness_factor = rng.uniform(1.0 - brightness, 1.0 + brightness)
    contrast_factor = rng.uniform(1.0 - contrast, 1.0 + contrast)
    saturation_factor = rng.uniform(1.0 - saturation, 1.0 + saturation)
    hue_angle = rng.uniform(-hue, hue) * 2.0 * np.pi

    image = image * brightness_factor
    mean_luma = float((image @ _LUMA_WEIGHTS).mean())
    image = (image - mean_luma) * contrast_factor + mean_luma
    luma = (image @ _LUMA_WEIGHTS)[..., None]
    image = (image - luma) * saturation_factor + luma
    # Hue: rotate chroma about the grey axis (Rodrigues' formula), which is
    # much cheaper than a round trip through HSV.
    axis = np.full(3, 1.0 / np.sqrt(3.0))
    cos_angle, sin_angle = np.cos(hue_angle), np.sin(hue_angle)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    rotation = cos_angle * np.eye(3) + sin_angle * cross + (1.0 - cos_angle) * np.outer(axis, axis)
    image = image @ rotation.T.astype(np.float32)
    return _to_uint8(image)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(int(np.ceil(3.0 * sigma)), 1)
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge replication.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    sigma : float
        Standard deviation in pixels; ``sigma <= 0`` returns a copy.

    Returns
    -------
    numpy.ndarray
        Blurred ``uint8`` image.
    """
    if sigma <= 0:
        return rgb.copy()
    kernel = _gaussian_kernel(sigma)
    radius = kernel.size // 2
    image = np.pad(rgb.astype(np.float32), ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    height, width = rgb.shape[:2]
    rows = np.zeros((height + 2 * radius, width, 3), dtype=np.float32)
    for offset, weight in enumerate(kernel):
        rows += weight * image[:, offset : offset + width]
    blurred = np.zeros((height, width, 3), dtype=np.float32)
    for offset, weight in enumerate(kernel):
        blurred += weight * rows[offset : offset + height]
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def sensor_noise(rgb: np.ndarray, rng: np.random.Generator, read_sigma: float = 0.01, shot_scale: float = 0.02) -> np.ndarray:
    """Add signal-dependent (shot) and constant (read) Gaussian noise.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    rng : numpy.random.Generator
        Randomness source.
    read_sigma : float
        Standard deviation of signal-independent noise (image range 0-1).
    shot_scale : float
        Standard deviation of shot noise at full intensity; it scales with
        the square root of the intensity, like photon noise.

    Returns
    -------
    numpy.ndarray
        Noisy ``uint8`` image.
    """
    image = _to_float(rgb)
    sigma = np.sqrt(read_sigma**2 + shot_scale**2 * image)
    noisy = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    return _to_uint8(noisy)


def jpeg_reencode(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress with JPEG to add realistic block artefacts.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    quality : int
        JPEG quality in ``[1, 95]``.

    Returns
    -------
    numpy.ndarray
        Decoded ``uint8`` image of the same shape.
    """
    from PIL import Image  # lazily: only this op needs Pillow

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()


def augment(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply the full random augmentation pipeline to one training pair.

    DenseDepth's horizontal flip (p = 0.5) and channel permutation
    (p = 0.25) are always considered; colour jitter, blur, sensor noise and
    JPEG re-encoding are each applied with moderate probability so clean
    samples remain common.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    depth : numpy.ndarray
        Depth of shape ``(H, W)``.
    rng : numpy.random.Generator
        Randomness source; equal generator states give equal outputs.

    Returns
    -------
    rgb : numpy.ndarray
        Augmented ``uint8`` image.
    depth : numpy.ndarray
        Depth, flipped when the image was flipped and otherwise unchanged.
    """
    # Draw every decision up front so the number of random draws, and hence
    # later samples from the same generator, does not depend on the branches.
    do_flip, do_permute, do_jitter, do_blur, do_noise, do_jpeg = rng.random(6) < (0.5, 0.25, 0.8, 0.2, 0.4, 0.3)
    op_seed = int(rng.integers(2**63 - 1))
    op_rng = np.random.default_rng(op_seed)
    blur_sigma = float(rng.uniform(0.4, 1.5))
    jpeg_quality = int(rng.integers(30, 96))

    if do_flip:
        rgb, depth = horizontal_flip(rgb, depth)
    if do_permute:
        rgb = permute_channels(rgb, op_rng)
    if do_jitter:
        rgb = colour_jitter(rgb, op_rng)
    if do_blur:
        rgb = gaussian_blur(rgb, blur_sigma)
    if do_noise:
        rgb = sensor_noise(rgb, op_rng, read_sigma=float(op_rng.uniform(0.0, 0.02)), shot_scale=float(op_rng.uniform(0.0, 0.04)))
    if do_jpeg:
        rgb = jpeg_reencode(rgb, jpeg_quality)
    return rgb, depth
