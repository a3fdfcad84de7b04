#!/usr/bin/env python3
"""Freeze the synthetic validation scenes as a folder of RGB / 16-bit-millimetre depth PNG pairs.

    python scripts/save_validation_set.py OUT_DIR [--count 50] [--size 240x320]
    pynq-depth eval --data OUT_DIR --backend emulator [--weights W.npz]

The scenes are the ones ``pynq-depth eval --data synthetic`` renders (validation seeds, never trained on), so a
renderer change can be judged on the previous renderer's scenes too.  To freeze an older renderer's scenes, run
this script with that revision's package first on the path, e.g.
``git worktree add /tmp/old ccfe0ba && PYTHONPATH=/tmp/old python scripts/save_validation_set.py val_old``.
Depth is rounded to whole millimetres, which moves the metrics by well under 0.001.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from pynq_depth.training.data import open_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="folder to create, with rgb/ and depth/ inside")
    parser.add_argument("--count", type=int, default=50, help="scenes (default 50, as evaluate_release.py)")
    parser.add_argument("--size", default="240x320", help="HxW (default 240x320, the board default's input)")
    args = parser.parse_args()
    height, width = (int(side) for side in args.size.lower().split("x"))
    scenes = open_dataset("synthetic", (height, width), split="test", length=args.count, augmented=False)
    (args.output / "rgb").mkdir(parents=True, exist_ok=True)
    (args.output / "depth").mkdir(parents=True, exist_ok=True)
    for index in range(len(scenes)):
        rgb, depth = scenes[index]
        Image.fromarray(rgb).save(args.output / "rgb" / f"{index:03d}.png")
        Image.fromarray(np.round(depth * 1000.0).astype(np.uint16)).save(args.output / "depth" / f"{index:03d}.png")
    print(f"wrote {len(scenes)} scenes to {args.output}")


if __name__ == "__main__":
    main()
