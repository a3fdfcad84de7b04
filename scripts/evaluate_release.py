"""Evaluate the shipped model (float and int8) and draw the README picture.

    python scripts/evaluate_release.py [--synthetic 100] [--figure docs/motorcycle.png]

Prints a Markdown table: the synthetic validation scenes (seeds never trained on; absolute metric depth and
median-scaled) and the real photo (scikit-image's stereo_motorcycle, Middlebury 2014, median-scaled), each for the
float checkpoint and the int8 weights on the emulator, plus the trivial baselines on the photo. Never used for
training or tuning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pynq_depth.depth import colorize, figure_png
from pynq_depth.evaluate import evaluate, predict_at
from pynq_depth.metrics import depth_errors, median_scale
from pynq_depth.runtime import create_estimator
from pynq_depth.training.data import MotorcycleDataset, open_dataset

ROOT = Path(__file__).resolve().parents[1]


def trivial_baselines(gt: np.ndarray) -> dict[str, dict[str, float]]:
    """Constant depth and a vertical gradient (3x farther at the top than at the bottom), median-scaled.

    These reproduce the issue's reference numbers: constant δ1 0.551 / AbsRel 0.212, gradient 0.486 / 0.206.
    """
    mask = np.isfinite(gt)
    h, w = gt.shape
    constant = np.ones_like(gt)
    gradient = np.tile(np.linspace(3.0, 1.0, h, dtype=np.float32)[:, None], (1, w))
    return {name: depth_errors(gt, median_scale(pred, gt, mask), mask)
            for name, pred in (("constant", constant), ("vertical gradient", gradient))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic validation scenes (default 100)")
    parser.add_argument("--figure", default=str(ROOT / "docs" / "motorcycle.png"))
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    estimators = {"float": create_estimator("float"), "int8 (emulator)": create_estimator("emulator")}
    synthetic = open_dataset("synthetic", estimators["float"].input_hw, split="test", length=args.synthetic,
                             augmented=False)
    photo = MotorcycleDataset()
    rows = []
    for name, est in estimators.items():
        print(f"evaluating {name} ...", file=sys.stderr)
        rows.append((f"synthetic validation ({args.synthetic} scenes), metric", name,
                     evaluate(est, synthetic)["mean"]))
        rows.append((f"synthetic validation ({args.synthetic} scenes), median-scaled", name,
                     evaluate(est, synthetic, median_scaling=True)["mean"]))
        rows.append(("real photo (motorcycle), median-scaled", name,
                     evaluate(est, photo, median_scaling=True)["mean"]))
    for name, metrics in trivial_baselines(photo.depth).items():
        rows.append(("real photo (motorcycle), median-scaled", f"baseline: {name}", metrics))

    print("| data | model | δ1 | δ2 | δ3 | AbsRel | RMSE (m) | log10 |")
    print("|---|---|---|---|---|---|---|---|")
    for data, model, m in rows:
        print(f"| {data} | {model} | {m['delta1']:.3f} | {m['delta2']:.3f} | {m['delta3']:.3f} | "
              f"{m['abs_rel']:.3f} | {m['rmse']:.3f} | {m['log10']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{"data": d, "model": n, **m} for d, n, m in rows], indent=1))

    rgb, gt = photo[0]
    pred = predict_at(estimators["int8 (emulator)"], rgb, *gt.shape)
    pred = median_scale(pred, gt, np.isfinite(gt))
    lo, hi = float(np.nanmin(gt)), float(np.nanmax(gt))
    half = (slice(None, None, 2), slice(None, None, 2))
    png = figure_png([("input photo", rgb[half]),
                      ("int8 prediction (median-scaled)", colorize(pred[half], lo, hi)),
                      ("ground truth (Middlebury)", colorize(gt[half], lo, hi))])
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    Path(args.figure).write_bytes(png)
    print(f"wrote {args.figure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
