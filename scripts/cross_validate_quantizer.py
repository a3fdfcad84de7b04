#!/usr/bin/env python3
"""Choose quantiser settings on the calibration part only: 2-fold cross-validation of ReLU6 spreads.

    python scripts/cross_validate_quantizer.py [--spreads 1.0 0.85 0.75 0.65 0.5] [--checkpoint C.pt]

The calibration part of the packaged photos (:data:`pynq_depth.photos.CALIBRATION_NAMES`) is cut in two
(every other photo).  For each half, the quantiser calibrates on that half's photos, each also mirrored, plus the
built-in set's synthetic scenes (as ``pynq-depth quantize`` does with the whole part), corrects biases on the same
images, and the int8 depth is compared with float on the *other* half.  Prints the held-out AbsRel per photo and,
per spread, how many held-out photos break the per-photo promise (:func:`pynq_depth.evaluate.agrees`), their mean
and their maximum.  The promise is per photo, so the spread with the fewest held-out photos beyond it wins (ties:
the lower mean); it is the quantiser's default (:class:`pynq_depth.quantize.QuantizeOptions`).  The test part is
never touched.  About a minute per spread and fold on two cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pynq_depth.backends.emulator import Emulator
from pynq_depth.calibration import CALIBRATION_SEED_BASE
from pynq_depth.evaluate import agrees, int8_float_agreement
from pynq_depth.model import load_checkpoint
from pynq_depth.photos import CALIBRATION_NAMES, load_photo
from pynq_depth.preprocess import resize_rgb
from pynq_depth.quantize import QuantizeOptions, calibrate, correct_biases, depthwise_moments, quantize_model
from pynq_depth.runtime import create_estimator, integer_estimator
from pynq_depth.training.synth import render_scene

ROOT = Path(__file__).resolve().parents[1]
#: Synthetic scenes added to each half (the built-in set's default of 64 images holds 38 besides the 26 photos).
SYNTHETIC_SCENES = 38


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0, 0.85, 0.75, 0.65, 0.5])
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "z2-mnv2.pt"))
    args = parser.parse_args()
    model, _ = load_checkpoint(args.checkpoint)
    float_ = create_estimator("float", checkpoint=args.checkpoint)
    h, w = model.spec.input_hw
    synthetic = [render_scene(CALIBRATION_SEED_BASE + seed, h, w)[0] for seed in range(SYNTHETIC_SCENES)]
    held_out: dict[float, dict[str, dict[str, float]]] = {spread: {} for spread in args.spreads}
    for fold in (0, 1):
        fit, judged = CALIBRATION_NAMES[fold::2], CALIBRATION_NAMES[1 - fold::2]
        images = []
        for name in fit:
            photo = resize_rgb(load_photo(name), h, w)
            images += [photo, np.ascontiguousarray(photo[:, ::-1])]
        images += synthetic
        maxima = calibrate(model, images)
        moments = depthwise_moments(model, images)
        for spread in args.spreads:
            program = quantize_model(model, maxima, (h, w), moments=moments,
                                     options=QuantizeOptions(relu6_spread=spread))
            correct_biases(model, program, images)
            errors = int8_float_agreement(integer_estimator(Emulator(), program, "emulator"), float_, names=judged)
            held_out[spread].update(errors)
            print(f"fold {fold} spread {spread}: " + ", ".join(f"{n} {e['abs_rel']:.4f}" for n, e in errors.items()),
                  flush=True)

    def score(spread: float) -> tuple[int, float]:
        errors = held_out[spread].values()
        return sum(not agrees(e) for e in errors), float(np.mean([e["abs_rel"] for e in errors]))

    for spread, errors in held_out.items():
        values = np.array([e["abs_rel"] for e in errors.values()])
        print(f"spread {spread}: {score(spread)[0]} of {len(values)} held-out photos beyond the promise; "
              f"AbsRel mean {values.mean():.4f}, max {values.max():.4f}")
    best = min(held_out, key=score)
    print(f"fewest held-out photos beyond the promise (then the lowest mean): spread {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
