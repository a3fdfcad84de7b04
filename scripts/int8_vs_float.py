#!/usr/bin/env python3
"""int8 (emulator) depth against float depth on every packaged real photo: the per-photo table.

    python scripts/int8_vs_float.py [--weights W.npz] [--checkpoint C.pt] [--markdown]
    python scripts/int8_vs_float.py --sensitivity astronaut [example ...]

Defaults: the packaged int8 weights and models/z2-mnv2.pt (the same release).  The photos are
:data:`pynq_depth.photos.PHOTOS`: the test part, which host_tests/test_accuracy.py bounds per photo
(AbsRel <= 0.02, delta1 >= 0.99), then the calibration part the quantiser saw.  Compare quantiser options with
e.g. ``pynq-depth quantize models/z2-mnv2.pt -o /tmp/nearest.npz --no-adaptive-rounding`` and ``--weights``.

``--sensitivity`` instead says where the named photos' error comes from: the depth AbsRel when a single tensor's
activations, then a single channel of the worst ones, are rounded to the int8 grid in the float model
(:func:`pynq_depth.quant_report.depth_sensitivity`; a few seconds per photo).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pynq_depth.evaluate import AGREEMENT_ABS_REL_MAX, AGREEMENT_DELTA1_MIN, agrees, int8_float_agreement
from pynq_depth.photos import CALIBRATION_NAMES, PHOTOS, TEST_NAMES
from pynq_depth.runtime import DEFAULT_WEIGHTS, create_estimator

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="int8 weights (default: packaged)")
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "z2-mnv2.pt"),
                        help="float checkpoint the weights were quantised from (default: models/z2-mnv2.pt)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (as in README)")
    parser.add_argument("--sensitivity", nargs="+", metavar="PHOTO", choices=sorted(PHOTOS),
                        help="print which tensors' and channels' rounding moves these photos' depth most")
    args = parser.parse_args()
    if args.sensitivity:
        return sensitivity(args.weights, args.checkpoint, args.sensitivity)
    errors = int8_float_agreement(create_estimator("emulator", weights=args.weights),
                                  create_estimator("float", checkpoint=args.checkpoint),
                                  names=TEST_NAMES + CALIBRATION_NAMES)
    rows = []
    for part, names in (("test", TEST_NAMES), ("calibration", CALIBRATION_NAMES)):
        for name in names:
            e = errors[name]
            ok = "" if part != "test" else ("ok" if agrees(e) else "FAIL")
            rows.append((part, name, PHOTOS[name].content, e["abs_rel"], e["delta1"], ok))
    if args.markdown:
        print("| part | photo | content | AbsRel | δ1 |\n|---|---|---|---:|---:|")
        for part, name, content, abs_rel, delta1, _ in rows:
            print(f"| {part} | {name} | {content} | {abs_rel:.4f} | {delta1:.4f} |")
    else:
        print(f"{'part':12s} {'photo':22s} {'AbsRel':>7s} {'delta1':>7s}")
        for part, name, _, abs_rel, delta1, ok in rows:
            print(f"{part:12s} {name:22s} {abs_rel:7.4f} {delta1:7.4f} {ok}")
    for part, names in (("test", TEST_NAMES), ("calibration", CALIBRATION_NAMES)):
        values = [errors[n]["abs_rel"] for n in names]
        worst = names[int(np.argmax(values))]
        print(f"{part}: AbsRel mean {np.mean(values):.4f}, max {max(values):.4f} ({worst}); "
              f"delta1 min {min(errors[n]['delta1'] for n in names):.4f}", file=sys.stderr)
    failed = [r[1] for r in rows if r[5] == "FAIL"]
    if failed:
        print(f"beyond AbsRel {AGREEMENT_ABS_REL_MAX} / delta1 {AGREEMENT_DELTA1_MIN}: {', '.join(failed)}",
              file=sys.stderr)
    return 1 if failed else 0


def sensitivity(weights: str, checkpoint: str, names: list[str]) -> int:
    """Print :func:`~pynq_depth.quant_report.depth_sensitivity` for the photos ``names``."""
    from pynq_depth.model import load_checkpoint
    from pynq_depth.photos import load_photo
    from pynq_depth.preprocess import resize_rgb
    from pynq_depth.program import load_program
    from pynq_depth.quant_report import depth_sensitivity, format_sensitivity

    model, _ = load_checkpoint(checkpoint)
    program = load_program(weights)
    h, w = program.input_hw
    images = [resize_rgb(load_photo(name), h, w) for name in names]
    print(format_sensitivity(depth_sensitivity(model, program, images), names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
