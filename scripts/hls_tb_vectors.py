#!/usr/bin/env python3
"""Write test vectors for the HLS C test bench (hls/tb/tb_conv_accel.cpp).

Usage: python scripts/hls_tb_vectors.py hls/build/vectors [--cases 24] [--seed 0]
Expected outputs come from the NumPy emulator's arithmetic (pynq_depth/arith.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynq_depth.config import load_config  # noqa: E402
from pynq_depth.verify import write_tb_vectors  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("outdir", nargs="?", default="hls/build/vectors")
    parser.add_argument("--cases", type=int, default=24, help="random layers (each gives up to 4 kernel calls)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default=None, help="hardware configuration JSON")
    args = parser.parse_args()
    count = write_tb_vectors(args.outdir, args.cases, args.seed, load_config(args.config))
    print(f"{count} vector files in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
