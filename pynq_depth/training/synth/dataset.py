"""The synthetic data set: scene ``i`` is rendered from seed ``seed_offset + i`` (no torch dependency)."""

from __future__ import annotations

import numpy as np

from .sampling import render_scene


class SyntheticIndoorDataset:
    """Map-style dataset of rendered scenes (no torch dependency).

    Parameters
    ----------
    length : int
        Number of samples.
    height, width : int
        Image size in pixels.
    seed_offset : int, optional
        Sample ``i`` is rendered with seed ``seed_offset + i``.
    """

    def __init__(self, length: int, height: int = 240, width: int = 320, seed_offset: int = 0) -> None:
        if length < 0:
            raise ValueError("length must be non-negative")
        self.length = int(length)
        self.height = int(height)
        self.width = int(width)
        self.seed_offset = int(seed_offset)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for dataset of length {self.length}")
        return render_scene(self.seed_offset + index, self.height, self.width)
