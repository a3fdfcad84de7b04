#!/usr/bin/env python3
"""int8 (emulator) depth against float depth on the real agreement photos, per photo and the mean.

    python scripts/int8_vs_float.py [--weights W.npz] [--checkpoint C.pt]

Defaults: the packaged int8 weights and models/z2-mnv2.pt.  Issue 2's goal is delta1 >= 0.99 and AbsRel <= 0.02
(over the photos; host_tests/test_accuracy.py checks it on the packaged pair).  Compare quantiser options with
e.g. ``pynq-depth quantize models/z2-mnv2.pt -o /tmp/nearest.npz --no-adaptive-rounding``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pynq_depth.evaluate import int8_float_agreement  # noqa: E402
from pynq_depth.runtime import DEFAULT_WEIGHTS, create_estimator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "z2-mnv2.pt"))
    args = parser.parse_args()
    errors = int8_float_agreement(create_estimator("emulator", weights=args.weights),
                                  create_estimator("float", checkpoint=args.checkpoint))
    for name, e in errors.items():
        print(f"{name:12s} delta1 {e['delta1']:.3f}  AbsRel {e['abs_rel']:.4f}")
    print(f"{'mean':12s} delta1 {np.mean([e['delta1'] for e in errors.values()]):.3f}  "
          f"AbsRel {np.mean([e['abs_rel'] for e in errors.values()]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
