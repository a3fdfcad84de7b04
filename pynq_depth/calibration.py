"""Calibration images for post-training quantisation.

A user's folder of photos is best (the statistics of the images the model will
see).  The built-in set is the calibration part of the packaged real photos
(:data:`pynq_depth.photos.CALIBRATION_PHOTOS`, each also mirrored), then
procedurally rendered indoor scenes (:mod:`pynq_depth.training.synth`) from a
seed range that training never uses.  It needs no downloads, is reproducible,
and never contains a photo the int8-vs-float tests judge
(:data:`pynq_depth.photos.TEST_PHOTOS`).
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
    from .photos import CALIBRATION_NAMES, load_photo
    from .training.synth import render_scene

    images = []
    try:
        for name in CALIBRATION_NAMES:
            photo = resize_rgb(load_photo(name), h, w)
            images += [photo, np.ascontiguousarray(photo[:, ::-1])]
    except ImportError as exc:  # the photos ship in scikit-image, part of the torch extra
        raise ImageError(f"the built-in calibration set needs scikit-image ({exc}): "
                         "pip install 'pynq-depth[torch]', or pass a folder of images") from None
    real = min(len(images), count)
    seed = CALIBRATION_SEED_BASE
    while len(images) < count:
        images.append(render_scene(seed, h, w)[0])
        seed += 1
    return images[:count], (f"built-in: {real} real photos (calibration part, mirrored) + "
                            f"{max(0, count - real)} synthetic indoor scenes")
