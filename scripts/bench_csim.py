#!/usr/bin/env python3
"""Time the whole default network (z2-mnv2 at 240x320) through the C-simulation backend.

Usage: python scripts/bench_csim.py [--model z2-mnv2] [--size 240x320] [--threads N] [--runs 1] [--check]

Weights are random but well scaled (pynq_depth.verify.random_network_program,
no torch needed); the input is the packaged example photo.  Prints the build
time (first use compiles the kernel with g++, then it is cached), the run time,
the number of kernel calls, and with --check whether every tensor equals the
emulator's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pynq_depth.backends.csim import CsimBackend  # noqa: E402
from pynq_depth.backends.emulator import Emulator  # noqa: E402
from pynq_depth.netspec import build_graph, get_spec, totals  # noqa: E402
from pynq_depth.verify import compare_backends, random_network_program  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--model", default="z2-mnv2")
    parser.add_argument("--size", default=None, help="HxW (model default when omitted)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="also compare every tensor with the emulator")
    args = parser.parse_args()
    spec = get_spec(args.model)
    hw = tuple(int(v) for v in args.size.split("x")) if args.size else spec.input_hw
    rgb = np.asarray(Image.open(ROOT / "pynq_depth" / "data" / "example.jpg").convert("RGB")
                     .resize((hw[1], hw[0]), Image.BILINEAR))
    program = random_network_program(np.random.default_rng(0), model=args.model, input_hw=hw, rgb=rgb)
    macs, _ = totals(build_graph(spec, hw))
    backend = CsimBackend(threads=args.threads)
    start = time.perf_counter()
    _ = backend.library
    build = time.perf_counter() - start
    times = []
    for _ in range(args.runs):
        backend.calls = 0
        start = time.perf_counter()
        backend.run(program, rgb)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    Emulator().run(program, rgb)
    emu = time.perf_counter() - start
    best = min(times)
    print(f"model {args.model} {hw[0]}x{hw[1]}: {macs / 1e9:.3f} GMAC, {len(program.conv_commands)} conv layers")
    print(f"csim build/load: {build:.2f} s; threads {backend.threads}")
    print(f"csim run: {best:.2f} s (best of {len(times)}), {backend.calls} kernel calls, "
          f"{macs / best / 1e9:.2f} GMAC/s; emulator: {emu:.2f} s")
    slowest = sorted(backend.layer_times.items(), key=lambda kv: -kv[1])[:5]
    print("slowest layers: " + ", ".join(f"{name} {sec * 1000:.0f} ms" for name, sec in slowest))
    if args.check:
        mismatch = compare_backends(program, rgb, backend)
        print("bit-exact vs emulator" if mismatch is None else f"MISMATCH: {mismatch}")
        return 0 if mismatch is None else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
