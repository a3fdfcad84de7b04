"""Measure the procedural renderer's speed and optionally save a preview montage.

Usage::

    python scripts/bench_synth.py                     # ms/frame at 240x320 and 480x640
    python scripts/bench_synth.py --montage /tmp/synth_montage.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pynq_depth.training.synth import MAX_DEPTH_M, render_scene  # noqa: E402


def time_renders(height: int, width: int, frames: int, first_seed: int) -> tuple[float, float]:
    """Render ``frames`` scenes and return (mean, median) milliseconds per frame."""
    durations = []
    for seed in range(first_seed, first_seed + frames):
        start = time.perf_counter()
        render_scene(seed, height, width)
        durations.append((time.perf_counter() - start) * 1000.0)
    return float(np.mean(durations)), float(np.median(durations))


def save_montage(path: Path, seeds: list[int], height: int, width: int) -> None:
    """Save RGB and plasma-coloured depth of each seed side by side, one scene per row pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = (len(seeds) + columns - 1) // columns
    figure, axes = plt.subplots(2 * rows, columns, figsize=(4 * columns, 3.1 * 2 * rows))
    for index, seed in enumerate(seeds):
        rgb, depth = render_scene(seed, height, width)
        row, column = 2 * (index // columns), index % columns
        axes[row, column].imshow(rgb)
        axes[row, column].set_title(f"seed {seed}", fontsize=9)
        axes[row + 1, column].imshow(depth, cmap="plasma", vmin=0.0, vmax=MAX_DEPTH_M)
        axes[row + 1, column].set_title(f"depth {depth.min():.2f}-{depth.max():.2f} m", fontsize=9)
    for axis in axes.ravel():
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="frames per resolution")
    parser.add_argument("--montage", type=Path, default=None, help="also save a montage PNG here")
    parser.add_argument("--montage-seeds", type=int, nargs="*", default=list(range(8)))
    arguments = parser.parse_args()

    render_scene(0, 24, 32)  # build the texture bank outside the timed loop
    for height, width in ((240, 320), (480, 640)):
        frames = arguments.frames if height <= 240 else max(arguments.frames // 4, 1)
        mean_ms, median_ms = time_renders(height, width, frames, first_seed=1000)
        print(f"{height}x{width}: {mean_ms:.1f} ms/frame mean, {median_ms:.1f} ms median over {frames} frames")
    if arguments.montage is not None:
        save_montage(arguments.montage, arguments.montage_seeds, 240, 320)
        print(f"montage saved to {arguments.montage}")


if __name__ == "__main__":
    main()
