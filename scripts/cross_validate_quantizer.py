#!/usr/bin/env python3
"""Choose quantiser settings on the calibration part only: 2-fold cross-validation of ReLU6 spreads and
channel replicas.

    python scripts/cross_validate_quantizer.py [--spreads 1.0 0.85 0.75 0.65 0.5] [--replicas 0 8x2 ...]
                                               [--checkpoint C.pt]

The calibration part of the packaged photos (:data:`pynq_depth.photos.CALIBRATION_NAMES`) is cut in two
(every other photo).  For each half, the quantiser calibrates on that half's photos, each also mirrored, plus the
built-in set's synthetic scenes (as ``pynq-depth quantize`` does with the whole part), corrects biases on the same
images, and the int8 depth is compared with float on the *other* half.  A replica setting ``NxC`` replicates the
N channels that :func:`pynq_depth.quantize.choose_replicas` picks on the fold's own images into C copies each
(``0``: none); every spread is tried with every replica setting.  Prints the held-out AbsRel per photo and,
per spread, how many held-out photos break the per-photo promise (:func:`pynq_depth.evaluate.agrees`), their mean
and their maximum.  The promise is per photo, so the spread with the fewest held-out photos beyond it wins (ties:
the lower mean); the winners are the quantiser's defaults (:class:`pynq_depth.quantize.QuantizeOptions`,
:data:`pynq_depth.quantize.REPLICA_CHANNELS` and ``REPLICA_COPIES``).  The test part is never touched.  About a
minute per setting and fold on two cores, and a minute per fold to rank channels when replicas are tried.
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
from pynq_depth.quantize import (QuantizeOptions, calibrate, choose_replicas, correct_biases, depthwise_moments,
                                 quantize_model)
from pynq_depth.runtime import create_estimator, integer_estimator
from pynq_depth.training.synth import render_scene

ROOT = Path(__file__).resolve().parents[1]
#: Synthetic scenes added to each half (the built-in set's default of 64 images holds 38 besides the 26 photos).
SYNTHETIC_SCENES = 38


def replica_setting(text: str) -> tuple[int, int]:
    """``NxC`` (N channels, C copies each) or ``0``."""
    channels, _, copies = text.partition("x")
    try:
        setting = (int(channels), int(copies or 2))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NxC (e.g. 8x2) or 0") from None
    if setting[0] < 0 or (setting[0] and setting[1] < 2):
        raise argparse.ArgumentTypeError(f"{text!r}: N >= 0 channels, C >= 2 copies")
    return setting if setting[0] else (0, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0, 0.85, 0.75, 0.65, 0.5])
    parser.add_argument("--replicas", type=replica_setting, nargs="+", default=[(0, 1)],
                        help="channel replica settings NxC to try (default: 0, none)")
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "z2-mnv2.pt"))
    args = parser.parse_args()
    model, _ = load_checkpoint(args.checkpoint)
    float_ = create_estimator("float", checkpoint=args.checkpoint)
    h, w = model.spec.input_hw
    synthetic = [render_scene(CALIBRATION_SEED_BASE + seed, h, w)[0] for seed in range(SYNTHETIC_SCENES)]
    settings = [(spread, replicas) for spread in args.spreads for replicas in args.replicas]
    held_out: dict[tuple[float, tuple[int, int]], dict[str, dict[str, float]]] = {s: {} for s in settings}
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
            options = QuantizeOptions(relu6_spread=spread)
            ranked = None
            for channels, copies in args.replicas:
                replicas = {}
                if channels:
                    if ranked is None or len(ranked) < channels:  # rank once per spread and fold
                        plain = quantize_model(model, maxima, (h, w), options=options)  # its grids only
                        chosen = choose_replicas(model, plain, images, channels=max(c for c, _ in args.replicas))
                        tensor, picks = next(iter(chosen.items()))
                        ranked = [(tensor, channel) for channel in picks]
                    replicas = {ranked[0][0]: {channel: copies for _, channel in ranked[:channels]}}
                program = quantize_model(model, maxima, (h, w), moments=moments,
                                         options=QuantizeOptions(relu6_spread=spread, replicas=replicas))
                correct_biases(model, program, images)
                errors = int8_float_agreement(integer_estimator(Emulator(), program, "emulator"), float_,
                                              names=judged)
                held_out[(spread, (channels, copies))].update(errors)
                print(f"fold {fold} spread {spread} replicas {describe((channels, copies))} {replicas}: "
                      + ", ".join(f"{n} {e['abs_rel']:.4f}" for n, e in errors.items()), flush=True)

    def score(setting: tuple[float, tuple[int, int]]) -> tuple[int, float]:
        errors = held_out[setting].values()
        return sum(not agrees(e) for e in errors), float(np.mean([e["abs_rel"] for e in errors]))

    for (spread, replicas), errors in held_out.items():
        values = np.array([e["abs_rel"] for e in errors.values()])
        print(f"spread {spread} replicas {describe(replicas)}: {score((spread, replicas))[0]} of {len(values)} "
              f"held-out photos beyond the promise; AbsRel mean {values.mean():.4f}, max {values.max():.4f}")
    best_spread, best_replicas = min(held_out, key=score)
    print(f"fewest held-out photos beyond the promise (then the lowest mean): spread {best_spread}, "
          f"replicas {describe(best_replicas)}")
    return 0


def describe(setting: tuple[int, int]) -> str:
    """``NxC``, or ``0`` for none."""
    return f"{setting[0]}x{setting[1]}" if setting[0] else "0"


if __name__ == "__main__":
    sys.exit(main())
