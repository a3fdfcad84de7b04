"""Calibration images for post-training quantisation.

A user's folder of photos is best (the statistics of the images the model will
see).  The built-in set is the packaged example photo plus procedurally
rendered indoor scenes (:mod:`pynq_depth.training.synth`) from a seed range that
training never uses, so it needs no downloads and is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .preprocess import ImageError, list_images, load_image, resize_rgb

#: Synthetic calibration scenes use seeds from here on; training uses seeds below it.
CALIBRATION_SEED_BASE = 900_000_000


def calibration_images(folder: str | Path | None, size: tuple[int, int], count: int) -> tuple[list[np.ndarray], str]:
    """Load up to ``count`` calibration images resized to ``size``.

    Parameters
    ----------
    folder : str or Path or None
        Folder of images; ``None`` for the built-in set.
    size : tuple of int
        (H, W) of the network input.
    count : int
        Maximum number of images.

    Returns
    -------
    (images, description)
    """
    h, w = size
    if folder is not None:
        paths, _ = list_images([folder])
        if not Path(folder).is_dir():
            raise ImageError(f"{folder}: calibration folder not found")
        images = []
        for path in paths[:count]:
            images.append(resize_rgb(load_image(path), h, w))
        if not images:
            raise ImageError(f"{folder}: no readable images for calibration")
        return images, f"folder {folder}"
    from .training.synth import render_scene

    example = resize_rgb(load_image(Path(__file__).with_name("data") / "example.jpg"), h, w)
    images = [example, example[:, ::-1].copy()]
    seed = CALIBRATION_SEED_BASE
    while len(images) < count:
        images.append(render_scene(seed, h, w)[0])
        seed += 1
    return images[:count], "built-in: example photo + synthetic indoor scenes"
