"""Depth datasets: the synthetic renderer, DenseDepth's ``nyu_data.zip`` and folders of RGB/depth pairs.

Every dataset yields ``(rgb uint8 (H, W, 3), depth float32 metres (H, W))`` at the
requested size (NumPy only); :func:`to_batch` turns samples into torch tensors.

Formats
-------
``nyu_data.zip`` (DenseDepth)
    ``data/nyu2_train.csv`` / ``data/nyu2_test.csv`` list ``rgb_path,depth_path``
    rows.  Training depth PNGs are 8-bit with 255 = 10 m; test depth PNGs are
    16-bit millimetres.
Folder of pairs
    Either ``rgb/NAME.(jpg|png)`` with ``depth/NAME.png``, or ``NAME.(jpg|png)``
    beside ``NAME_depth.png``; depth PNGs are 16-bit millimetres (0 = unknown).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..preprocess import IMAGE_SUFFIXES, resize_rgb
from .augment import augment
from .synth import render_scene

#: Validation scenes use seeds from here on; training uses seeds below it.
SYNTH_VALIDATION_SEED_BASE = 800_000_000


def decode_depth_png(data: bytes | Path, eight_bit_max_m: float = 10.0) -> np.ndarray:
    """Depth PNG to metres: 16-bit = millimetres, 8-bit = DenseDepth's 255 = ``eight_bit_max_m``."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        array = np.asarray(image)
    if array.ndim == 3:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0 * eight_bit_max_m
    return array.astype(np.float32) / 1000.0


def resize_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a depth map (never blends across depth edges)."""
    if depth.shape == (height, width):
        return depth
    rows = (np.arange(height) * depth.shape[0] // height)
    cols = (np.arange(width) * depth.shape[1] // width)
    return depth[rows][:, cols]


class SyntheticDepthDataset:
    """Rendered indoor scenes with optional photometric and flip augmentation."""

    def __init__(self, length: int, size: tuple[int, int], seed_offset: int = 0, augmented: bool = True) -> None:
        self.length, self.size, self.seed_offset, self.augmented = length, size, seed_offset, augmented

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        seed = self.seed_offset + index
        rgb, depth = render_scene(seed, *self.size)
        if self.augmented:
            rgb, depth = augment(rgb, depth, np.random.default_rng(seed + 1_000_000_000))
        return rgb, depth


class NyuZipDataset:
    """DenseDepth's ``nyu_data.zip`` (train or test split)."""

    def __init__(self, path: str | Path, size: tuple[int, int], split: str = "train", augmented: bool = False,
                 seed: int = 0) -> None:
        self.path, self.size, self.augmented, self.seed = Path(path), size, augmented, seed
        with zipfile.ZipFile(self.path) as archive:
            names = set(archive.namelist())
            csv_name = next((n for n in names if n.endswith(f"nyu2_{split}.csv")), None)
            if csv_name is None:
                raise ValueError(f"{path}: no nyu2_{split}.csv inside; is this DenseDepth's nyu_data.zip?")
            rows = csv.reader(io.StringIO(archive.read(csv_name).decode()))
            self.pairs = [(r[0].strip(), r[1].strip()) for r in rows if len(r) >= 2]
        self._archive: zipfile.ZipFile | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._archive is None:  # opened lazily so every DataLoader worker has its own handle
            self._archive = zipfile.ZipFile(self.path)
        rgb_name, depth_name = self.pairs[index]
        with Image.open(io.BytesIO(self._archive.read(rgb_name))) as image:
            rgb = np.asarray(image.convert("RGB"))
        depth = decode_depth_png(self._archive.read(depth_name))
        rgb, depth = resize_rgb(rgb, *self.size), resize_depth(depth, *self.size)
        if self.augmented:
            rgb, depth = augment(rgb, depth, np.random.default_rng((self.seed, index)))
        return rgb, depth


class PairFolderDataset:
    """A folder of RGB images and 16-bit millimetre depth PNGs."""

    def __init__(self, folder: str | Path, size: tuple[int, int], augmented: bool = False, seed: int = 0) -> None:
        self.folder, self.size, self.augmented, self.seed = Path(folder), size, augmented, seed
        self.pairs: list[tuple[Path, Path]] = []
        if (self.folder / "rgb").is_dir() and (self.folder / "depth").is_dir():
            for rgb in sorted((self.folder / "rgb").iterdir()):
                depth = self.folder / "depth" / f"{rgb.stem}.png"
                if rgb.suffix.lower() in IMAGE_SUFFIXES and depth.is_file():
                    self.pairs.append((rgb, depth))
        else:
            for rgb in sorted(self.folder.iterdir()):
                depth = rgb.with_name(f"{rgb.stem}_depth.png")
                if rgb.suffix.lower() in IMAGE_SUFFIXES and not rgb.stem.endswith("_depth") and depth.is_file():
                    self.pairs.append((rgb, depth))
        if not self.pairs:
            raise ValueError(f"{folder}: no RGB/depth pairs (rgb/ + depth/ folders, or NAME.jpg + NAME_depth.png)")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rgb_path, depth_path = self.pairs[index]
        with Image.open(rgb_path) as image:
            rgb = np.asarray(image.convert("RGB"))
        depth = decode_depth_png(depth_path)
        rgb, depth = resize_rgb(rgb, *self.size), resize_depth(depth, *self.size)
        if self.augmented:
            rgb, depth = augment(rgb, depth, np.random.default_rng((self.seed, index)))
        return rgb, depth


def open_dataset(source: str, size: tuple[int, int], split: str = "train", length: int = 100_000,
                 augmented: bool = True, seed: int = 0):
    """Open ``synthetic``, a ``nyu_data.zip`` or a folder of pairs.

    For ``synthetic`` the training split uses seeds ``seed .. seed+length`` and the
    validation split seeds from :data:`SYNTH_VALIDATION_SEED_BASE` (never trained on).
    """
    if source == "synthetic":
        offset = seed if split == "train" else SYNTH_VALIDATION_SEED_BASE + seed
        return SyntheticDepthDataset(length, size, seed_offset=offset, augmented=augmented and split == "train")
    path = Path(source)
    if path.suffix.lower() == ".zip":
        return NyuZipDataset(path, size, split=split, augmented=augmented and split == "train", seed=seed)
    if path.is_dir():
        return PairFolderDataset(path, size, augmented=augmented and split == "train", seed=seed)
    raise ValueError(f"{source}: expected 'synthetic', a nyu_data.zip or a folder of RGB/depth pairs")


class MotorcycleDataset:
    """scikit-image's ``stereo_motorcycle()`` (Middlebury 2014): one real indoor photo with metric ground truth.

    Depth in mm = 193.001 * 994.978 / (disparity + 31.086); unknown disparity (inf) is NaN.
    Used only for evaluation: never train or tune on it.
    """

    def __init__(self) -> None:
        from skimage import data

        left, _, disparity = data.stereo_motorcycle()
        self.rgb = np.asarray(left, dtype=np.uint8)
        with np.errstate(invalid="ignore", divide="ignore"):
            depth_mm = 193.001 * 994.978 / (disparity.astype(np.float64) + 31.086)
        depth_mm[~np.isfinite(disparity)] = np.nan
        self.depth = (depth_mm / 1000.0).astype(np.float32)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index != 0:
            raise IndexError(index)
        return self.rgb, self.depth
