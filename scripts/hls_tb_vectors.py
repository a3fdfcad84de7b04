#!/usr/bin/env python3
"""Write test vectors for the HLS C test bench (tb/tb_conv_accel.cpp of the HLS sources).

Usage: python scripts/hls_tb_vectors.py hls/build/vectors [--cases 24] [--seed 0]
Expected outputs come from the NumPy emulator's arithmetic (pynq_depth/arith.py).  Then prints
how to compile and run the bench with g++ against the HLS sources the installed package uses
(``pynq_depth.backends.csim.hls_dir``: a checkout's ``hls/`` or the wheel's ``pynq_depth/hls/``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pynq_depth.backends.csim import hls_dir
from pynq_depth.codegen import write_hls_config
from pynq_depth.config import load_config
from pynq_depth.verify import write_tb_vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("outdir", nargs="?", default="hls/build/vectors")
    parser.add_argument("--cases", type=int, default=24, help="random layers (each gives up to 4 kernel calls)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default=None, help="hardware configuration JSON")
    args = parser.parse_args()
    config = load_config(args.config)
    count = write_tb_vectors(args.outdir, args.cases, args.seed, config)
    print(f"{count} vector files in {args.outdir}")
    # conv_config.h beside the vectors (never into the HLS source folder, which may be an installed package)
    generated = Path(args.outdir).parent / "gen"
    write_hls_config(generated, config)
    src = hls_dir()
    exe = Path(args.outdir).parent / "tb_conv_accel"
    compile_cmd = ["g++", "-O2", "-std=c++14", "-I", src / "csim_include", "-I", generated, "-I", src,
                   src / "conv_accel.cpp", src / "tb" / "tb_conv_accel.cpp", "-o", exe]
    print(f"compile and run the bench:\n  {shlex.join(map(str, compile_cmd))}\n  {shlex.join([str(exe), args.outdir])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
