"""The ``pynq-depth`` command line.

Errors the user can fix (bad image, bad weights, a backend that cannot be
built, loaded or reached, unwritable output) are one line naming the file and
saying what to do, with a non-zero exit status and no traceback; nothing is
overwritten.  ``PYNQ_DEPTH_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import __version__
from .backends import CHOICES as BACKEND_CHOICES
from .config import ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A one-line user-facing error."""


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 240x320 (HxW), got {text!r}") from None
    if h < 32 or w < 32 or h > 4096 or w > 4096:
        raise argparse.ArgumentTypeError(f"size {text} out of range (32..4096 per side)")
    return h, w


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


# ------------------------------------------------------------------ progress
class Progress:
    """A small progress bar on stderr (tqdm when installed and stderr is a terminal)."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.enabled = enabled and total > 1
        self._bar = None
        if self.enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)
            except ImportError:
                pass

    def update(self, note: str = "") -> None:
        """Advance by one item."""
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(note[:40])
            self._bar.update(1)
        elif sys.stderr.isatty():
            print(f"\r{self.desc}: {self.done}/{self.total} {note[:40]:40s}", end="", file=sys.stderr, flush=True)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            if self.enabled and self.done and sys.stderr.isatty():
                print(file=sys.stderr)
            print(message, file=sys.stderr)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and sys.stderr.isatty():
            print(file=sys.stderr)


# ------------------------------------------------------------------ run
def _output_paths(images: list[Path], args: argparse.Namespace) -> list[Path]:
    if args.output and len(images) != 1:
        raise CliError("-o/--output names one file; use -O/--output-dir for several images")
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() != ".png":
            raise CliError(f"{out}: output must be a .png file")
        paths = [out]
    else:
        folder = Path(args.output_dir) if args.output_dir else Path.cwd()
        if args.output_dir:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CliError(f"{folder}: cannot create output folder ({exc.strerror})") from None
        paths = [folder / f"{img.stem}_depth.png" for img in images]
    inputs = {p.resolve() for p in images}
    seen: set[Path] = set()
    for out in paths:
        resolved = out.resolve()
        if resolved in inputs or (args.npy and resolved.with_suffix(".npy") in inputs):
            raise CliError(f"{out}: refusing to overwrite an input image")
        if resolved in seen:
            raise CliError(f"{out}: two inputs would write the same output; use -O with distinct names")
        seen.add(resolved)
    return paths


def cmd_run(args: argparse.Namespace) -> int:
    """``pynq-depth run``: images to plasma depth PNGs (and .npy metres)."""
    from .depth import depth_png, npy_bytes
    from .metrics import resize_depth_bilinear
    from .preprocess import ImageError, list_images, load_image
    from .program import atomic_write_bytes
    from .runtime import create_estimator

    images, skipped = list_images(args.images)
    for path in skipped:
        print(f"skipping {path}: not an image file", file=sys.stderr)
    if not images:
        raise CliError("no images to process")
    outputs = _output_paths(images, args)
    estimator = create_estimator(args.backend, weights=args.weights, checkpoint=args.checkpoint,
                                 config=args.hw)
    print(f"backend: {estimator.backend} ({estimator.description})", file=sys.stderr)
    if args.verbose:
        print(f"  reason: {estimator.reason}", file=sys.stderr)
    progress = Progress(len(images), "depth", enabled=not args.quiet)
    failures: list[str] = []
    seconds: list[float] = []  # inference time of each image whose outputs were written

    def fail(message: str) -> None:
        failures.append(message)
        progress.write(f"error: {message}")
        progress.update("error")

    try:
        for image_path, out in zip(images, outputs):
            try:
                rgb = load_image(image_path)
            except ImageError as exc:
                fail(str(exc))
                continue
            # A backend error (build, board, transfer) is not about this image: it ends the run in main().
            start = time.perf_counter()
            depth_m = estimator.depth(rgb)
            elapsed = time.perf_counter() - start
            depth_m = resize_depth_bilinear(depth_m, *estimator.input_hw)
            png = depth_png(depth_m, colorbar=args.colorbar)
            try:
                atomic_write_bytes(out, png)
                if args.npy:
                    atomic_write_bytes(out.with_suffix(".npy"), npy_bytes(depth_m))
            except OSError as exc:
                fail(f"{out}: cannot write output ({exc.strerror or exc})")
                continue
            seconds.append(elapsed)
            if len(images) == 1 or args.verbose:
                progress.write(f"{image_path} -> {out} (depth {depth_m.min():.2f}-{depth_m.max():.2f} m, "
                               f"{elapsed:.2f} s)")
            progress.update(f"{image_path.name}: {depth_m.min():.2f}-{depth_m.max():.2f} m")
    finally:
        progress.close()
    done = len(images) - len(failures)
    if len(images) > 1 or failures:
        mean = f", {statistics.mean(seconds):.2f} s per image" if seconds else ""
        print(f"done: {done} of {len(images)} images written{mean}; {len(failures)} failed"
              + (f"; {len(skipped)} non-image files skipped" if skipped else ""), file=sys.stderr)
    return EXIT_OK if not failures else EXIT_FAILED


# ------------------------------------------------------------------ info
def cmd_info(args: argparse.Namespace) -> int:
    """``pynq-depth info``: every layer with kind, shapes, MACs and weight bytes."""
    from .netspec import build_graph, get_spec, totals

    try:
        spec = get_spec(args.config)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    size = args.size or spec.input_hw
    nodes = build_graph(spec, size)
    shapes = {"input": (size[0], size[1], 3)}
    for n in nodes:
        shapes[n.output] = n.out_shape
    if args.json:
        rows = [{"name": n.name or n.output, "op": n.op, "kind": n.kind or n.op, "stride": n.stride,
                 "act": n.act, "in_shape": [list(shapes[i]) for i in n.inputs], "out_shape": list(n.out_shape),
                 "macs": n.macs, "weight_bytes": n.weight_bytes} for n in nodes]
        macs, wbytes = totals(nodes)
        print(json.dumps({"config": spec.name, "input_hw": list(size), "layers": rows,
                          "total_macs": macs, "total_weight_bytes": wbytes}, indent=1))
        return EXIT_OK
    print(f"{spec.name}: {spec.description}")
    print(f"input {size[0]}x{size[1]}x3, output {nodes[-1].out_shape[0]}x{nodes[-1].out_shape[1]}x1 "
          f"(10/depth_m; near = large)\n")
    header = f"{'#':>3} {'layer':44s} {'kind':8s} {'s':>1} {'act':5s} {'input HxWxC':>14s} {'output HxWxC':>14s} " \
             f"{'MMAC':>8s} {'weights':>9s}"
    print(header)
    print("-" * len(header))
    for i, n in enumerate(nodes):
        ins = "+".join("x".join(map(str, shapes[name])) for name in n.inputs)
        name = n.name.replace("encoder.original_model.", "enc.") if n.name else n.output
        print(f"{i:3d} {name:44s} {(n.kind or n.op):8s} {n.stride if n.op == 'conv' else '':>1} "
              f"{(n.act if n.op == 'conv' else ''):5s} {ins:>14s} {'x'.join(map(str, n.out_shape)):>14s} "
              f"{n.macs / 1e6:8.2f} {n.weight_bytes:9,d}")
    macs, wbytes = totals(nodes)
    enc = sum(n.macs for n in nodes if n.name.startswith("encoder"))
    print("-" * len(header))
    print(f"total: {macs / 1e9:.3f} GMAC (encoder {enc / 1e9:.3f}, decoder {(macs - enc) / 1e9:.3f}), "
          f"{wbytes / 1e6:.2f} MB int8 weights + int32 bias, {sum(n.op == 'conv' for n in nodes)} accelerator layers")
    return EXIT_OK


# ------------------------------------------------------------------ quantize
def cmd_quantize(args: argparse.Namespace) -> int:
    """``pynq-depth quantize``: float checkpoint to int8 weights file."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CliError("quantize needs torch: pip install 'pynq-depth[torch]'") from None
    if args.relu6_spread is not None and not 0.0 <= args.relu6_spread <= 1.0:
        raise CliError(f"--relu6-spread {args.relu6_spread}: must be between 0 and 1")
    if args.copies is not None and args.copies < 2:
        raise CliError(f"--copies {args.copies}: must be at least 2")
    from .calibration import calibration_images
    from .model import CheckpointError, load_checkpoint
    from .quantize import (REPLICA_CHANNELS, REPLICA_COPIES, QuantizeOptions, calibrate, choose_replicas,
                           correct_biases, depthwise_moments, input_moments, quantize_model, search_ranges)

    try:
        model, extra = load_checkpoint(args.checkpoint, spec=args.config)
    except CheckpointError as exc:
        raise CliError(str(exc)) from None
    size = args.size or model.spec.input_hw
    images, source = calibration_images(args.calib, size, args.num_calib)
    print(f"calibrating {model.spec.name} at {size[0]}x{size[1]} on {len(images)} images ({source})", file=sys.stderr)

    def bar(total: int, desc: str) -> tuple[Progress, Callable[..., None]]:
        progress = Progress(total, desc)

        def step(done: int, *_: int) -> None:
            for _ in range(done - progress.done):
                progress.update()
        return progress, step

    progress, step = bar(len(images), "calibrate")
    maxima = calibrate(model, images, progress=step)
    progress.close()
    meta = {"checkpoint": Path(args.checkpoint).name, "calibration": source, "num_calibration": len(images),
            "pynq_depth_version": __version__}
    options = (QuantizeOptions() if args.relu6_spread is None
               else QuantizeOptions(relu6_spread=args.relu6_spread))
    if args.range_search:
        plain = quantize_model(model, maxima, size, config=args.hw, options=options)
        progress, step = bar(len(plain.conv_commands), "range search")
        factors = search_ranges(model, plain, images, progress=step)
        progress.close()
        print(f"range search: {len(factors)} tensors clipped below their calibrated maximum", file=sys.stderr)
        options = QuantizeOptions(relu6_spread=options.relu6_spread, range_factors=factors)
    replicate = REPLICA_CHANNELS if args.replicate is None else args.replicate
    if replicate:
        copies = REPLICA_COPIES if args.copies is None else args.copies
        print(f"ranking channels for replication on {len(images)} images", file=sys.stderr)
        plain = quantize_model(model, maxima, size, config=args.hw, options=options)
        replicas = choose_replicas(model, plain, images, channels=replicate, copies=copies)
        for tensor, picks in replicas.items():
            print(f"replicating {tensor} channels {', '.join(map(str, sorted(picks)))} into {copies} copies each",
                  file=sys.stderr)
        options = QuantizeOptions(relu6_spread=options.relu6_spread, range_factors=options.range_factors,
                                  replicas=replicas)
    moments = {}
    if args.adaptive_rounding:
        moments.update(depthwise_moments(model, images))
    if args.gptq:
        moments.update(input_moments(model, images))
    program = quantize_model(model, maxima, size, config=args.hw, meta=meta, moments=moments, options=options)
    program.meta["weight_rounding"] = ("gptq+" if args.gptq else "") + ("adaptive" if args.adaptive_rounding
                                                                         else "nearest")
    program.meta["range_factors"] = {name: float(f) for name, f in options.range_factors.items()}
    program.meta["relu6_spread"] = options.relu6_spread
    program.meta["replicas"] = {tensor: {str(c): n for c, n in sorted(picks.items())}
                                for tensor, picks in options.replicas.items()}
    if args.bias_correction:
        subset = images[: args.bias_correction]
        print(f"bias correction on {len(subset)} of the calibration images", file=sys.stderr)
        correct_biases(model, program, subset, config=args.hw)
        program.meta["bias_correction_images"] = len(subset)
    out = Path(args.output)
    try:
        program.save(out)
    except OSError as exc:
        raise CliError(f"{out}: cannot write weights ({exc.strerror or exc})") from None
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(program.conv_commands)} accelerator layers, "
          f"configuration {program.arith_id})", file=sys.stderr)
    if args.report:
        from .quant_report import format_report, layer_noise

        subset = images[: args.report]
        print(f"quantisation noise per layer on {len(subset)} calibration images:", file=sys.stderr)
        print(format_report(layer_noise(model, program, subset)))
    return EXIT_OK


# ------------------------------------------------------------------ bench
def cmd_bench(args: argparse.Namespace) -> int:
    """``pynq-depth bench``: per-layer and total time per backend."""
    from .preprocess import load_image
    from .runtime import create_estimator, time_inference

    if args.board:
        return cmd_bench_board(args)
    if args.what_if:
        raise CliError("--what-if models a board: add --board NAME")
    rgb = load_image(args.image) if args.image else _example_image()
    results = []
    for backend in args.backend.split(","):
        estimator = create_estimator(backend.strip(), weights=args.weights, checkpoint=args.checkpoint,
                                     config=args.hw)
        if not args.json:
            print(f"benchmarking {estimator.backend} ({estimator.description}) on {estimator.input_hw[0]}x"
                  f"{estimator.input_hw[1]}, {args.runs} runs ...", file=sys.stderr)
        totals, layers = time_inference(estimator, rgb, args.runs)
        results.append({
            "backend": estimator.backend, "description": estimator.description,
            "input_hw": list(estimator.input_hw), "runs": args.runs, "total_s": statistics.median(totals),
            "min_s": min(totals), "fps": 1.0 / statistics.median(totals),
            "layers": [{"name": k, "median_s": statistics.median(v)} for k, v in layers.items()],
        })
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"results": results,
                                                                "ratio": _ratio(results)}, indent=1))
        return EXIT_OK
    for r in results:
        print(f"\n{r['backend']}: {r['description']}")
        top = sorted(r["layers"], key=lambda layer: -layer["median_s"])[: args.top]
        for layer in top:
            print(f"  {layer['name']:56s} {layer['median_s'] * 1e3:8.2f} ms")
        if len(r["layers"]) > args.top:
            print(f"  ... {len(r['layers']) - args.top} more layers (--top N, --json for all)")
        print(f"  total (median of {r['runs']}): {r['total_s'] * 1e3:.1f} ms per frame = {r['fps']:.2f} frames/s")
    if len(results) > 1:
        print(f"\ntime ratio {results[0]['backend']} / {results[1]['backend']}: {_ratio(results):.2f}")
    return EXIT_OK


def _ratio(results: list[dict]) -> float | None:
    return results[0]["total_s"] / results[1]["total_s"] if len(results) > 1 else None


def _example_image() -> np.ndarray:
    from .preprocess import load_image
    from .runtime import PACKAGE_DIR

    return load_image(PACKAGE_DIR / "data" / "example.jpg")


def _measured_layer_times(args: argparse.Namespace) -> dict[str, float]:
    """Median per-layer seconds of the fpga backend (``runtime.time_inference``)."""
    from .preprocess import load_image
    from .runtime import create_estimator, time_inference

    estimator = create_estimator("fpga", weights=args.weights, config=args.hw)
    rgb = load_image(args.image) if args.image else _example_image()
    _, layers = time_inference(estimator, rgb, args.runs)
    return {name: statistics.median(v) for name, v in layers.items()}


def cmd_bench_board(args: argparse.Namespace) -> int:
    """``pynq-depth bench --board NAME``: the modelled per-layer table (measured times too with
    ``--backend fpga``), or with ``--what-if`` the proposed kernel/driver changes, each modelled."""
    from . import perf
    from .netspec import get_spec

    board = perf.get_board(args.board)
    try:
        spec = get_spec(args.config)
    except KeyError as exc:
        raise CliError(str(exc).strip('"')) from None
    if args.what_if:
        reports = perf.what_if(board, args.hw, spec.name, args.size)
        if args.json:
            print(json.dumps([{"variant": r.variant.name, "modelled_fps": r.fps, "total_ms": r.total_s * 1e3,
                               "breakdown_ms": r.breakdown_ms(), "resources": r.resources} for r in reports],
                             indent=1))
        else:
            print(f"{board.name}: {reports[0].model} {reports[0].input_hw[0]}x{reports[0].input_hw[1]}")
            print(perf.format_what_if(reports))
        return EXIT_OK
    report = perf.model(board, args.hw, spec.name, args.size)
    measured = "fpga" in [b.strip() for b in args.backend.split(",")]
    if measured:
        times = _measured_layer_times(args)
        for layer in report.layers:
            layer.measured_s = times.get(layer.name)
    if args.plot:
        perf.plot(report, args.plot)
    if args.json:
        out = report.as_dict()
        if measured:
            vals = [layer.measured_s for layer in report.layers if layer.measured_s is not None]
            out["measured_ms"] = sum(vals) * 1e3 if vals else None
        print(json.dumps(out, indent=1))
    else:
        print(perf.format_table(report, measured=measured))
        if args.plot:
            print(f"wrote {args.plot}", file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------ verify
def cmd_verify(args: argparse.Namespace) -> int:
    """``pynq-depth verify``: a backend against the emulator, bit for bit, layer by layer."""
    from . import verify
    from .preprocess import load_image, resize_rgb
    from .program import load_program
    from . import backends
    from .runtime import DEFAULT_WEIGHTS

    if args.backend == "auto" or not backends.info(args.backend).integer:
        raise CliError(f"verify compares an int8 backend with the emulator; --backend {args.backend} is not one "
                       f"(choose csim, sim or fpga)")
    backend = backends.open_backend(args.backend, args.hw)
    if args.random_layers:
        print(f"verifying {args.backend} on {args.random_layers} random layers (seed {args.seed}) ...",
              file=sys.stderr)
        report = verify.verify_random_layers(backend, n=args.random_layers, seed=args.seed)
    else:
        program = load_program(args.weights or DEFAULT_WEIGHTS, args.hw)
        rgb = load_image(args.image) if args.image else _example_image()
        rgb = resize_rgb(rgb, *program.input_hw)
        print(f"verifying {args.backend} on the whole {program.model} network "
              f"({len(program.commands)} commands) ...", file=sys.stderr)
        report = verify.verify_network(backend, program, rgb)
    print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


# ------------------------------------------------------------------ train / eval
def _open_eval_data(source: str, size: tuple[int, int], limit: int):
    from .training.data import MotorcycleDataset, open_dataset

    if source == "motorcycle":
        try:
            return MotorcycleDataset()
        except ImportError:
            raise CliError("--data motorcycle needs scikit-image (pip install scikit-image)") from None
    try:
        return open_dataset(source, size, split="test", length=limit, augmented=False)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None


def cmd_eval(args: argparse.Namespace) -> int:
    """``pynq-depth eval``: DenseDepth metrics of a backend on a dataset."""
    from .evaluate import evaluate
    from .metrics import METRIC_NAMES
    from .runtime import create_estimator

    estimator = create_estimator(args.backend, weights=args.weights, checkpoint=args.checkpoint, config=args.hw)
    dataset = _open_eval_data(args.data, estimator.input_hw, args.limit)
    count = min(args.limit, len(dataset))
    print(f"evaluating {estimator.backend} ({estimator.description}) on {args.data}: {count} images",
          file=sys.stderr)
    progress = Progress(count, "eval", enabled=not args.json)
    result = evaluate(estimator, dataset, median_scaling=args.median_scale, eigen_crop=args.eigen_crop,
                      flip=args.flip, limit=args.limit, progress=lambda n: progress.update())
    progress.close()
    if args.json:
        print(json.dumps({"backend": estimator.backend, "data": args.data, "count": result["count"],
                          "median_scaled": args.median_scale, **result["mean"]}, indent=1))
    else:
        print("  ".join(f"{name:>8s}" for name in METRIC_NAMES))
        print("  ".join(f"{result['mean'][name]:8.4f}" for name in METRIC_NAMES))
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """``pynq-depth train``: train or resume a float model."""
    try:
        from .training.train import TrainConfig, train
    except ImportError:
        raise CliError("train needs torch: pip install 'pynq-depth[torch]'") from None
    cfg = TrainConfig(data=args.data, model=args.config or "z2-mnv2", size=args.size or (240, 320),
                      steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      encoder_lr_scale=args.encoder_lr_scale, seed=args.seed, workers=args.workers,
                      checkpoint_every=args.checkpoint_every, quant_aware=args.quant_aware,
                      quant_noise=args.quant_noise)
    try:
        result = train(cfg, args.output, resume=args.resume, imagenet=args.imagenet,
                       pretrained=not args.no_pretrained, progress=True, stop_at=args.stop_at, init=args.init)
    except (FileNotFoundError, ValueError) as exc:  # includes CheckpointError
        raise CliError(str(exc)) from None
    losses = result["losses"]
    print(f"trained to step {result['step']} in {result['seconds']:.0f} s; "
          f"loss {np.mean(losses[:10]):.4f} (first 10) -> {np.mean(losses[-10:]):.4f} (last 10); "
          f"checkpoint {args.output}", file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render --help in the README)."""
    parser = argparse.ArgumentParser(
        prog="pynq-depth",
        description="Monocular depth estimation with an int8 HLS convolution accelerator on PYNQ boards. "
                    "Without a board, the bit-exact NumPy emulator of the accelerator runs instead.",
        epilog="Depth pictures use matplotlib's plasma colormap: near = bright yellow, far = dark purple.")
    parser.add_argument("--version", action="version", version=f"pynq-depth {__version__}")
    parser.add_argument("--hw-config", metavar="JSON", help="accelerator configuration (default: packaged)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="estimate depth for images", description=(
        "Estimate metric depth for one or more images (files or folders) and write plasma-coloured PNGs "
        "(near = bright yellow, far = dark purple). Images are resized to the network input; the network's depth "
        "map (a quarter of the input resolution for the default model) is upsampled bilinearly to the input "
        "resolution (240x320 by default) for the PNG and --npy."))
    run.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    out = run.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="OUT.png", help="output file (one image only)")
    out.add_argument("-O", "--output-dir", metavar="DIR",
                     help="output folder; files are named <image>_depth.png (default: current folder)")
    run.add_argument("--backend", default="auto", choices=list(BACKEND_CHOICES),
                     help="auto = FPGA when a board and overlay are present, else the emulator (default: auto)")
    run.add_argument("--weights", metavar="FILE", help="int8 weights file (default: the packaged model)")
    run.add_argument("--checkpoint", metavar="FILE", help="float checkpoint for --backend float")
    run.add_argument("--npy", action="store_true", help="also write <output>.npy: float32 depth in metres")
    run.add_argument("--colorbar", action="store_true",
                     help="add a depth scale in metres beside the picture (a larger, matplotlib-drawn PNG); the "
                          "colours of every picture span that image's full depth range, nearest to farthest, "
                          "as printed (nothing is clipped)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.add_argument("-v", "--verbose", action="store_true", help="say why a backend was chosen; one line per image")
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info", help="list the network's layers, MACs and weight sizes",
                          description="Print every layer with kind, shapes, MACs and weight bytes, and totals.")
    info.add_argument("--config", metavar="NAME", help="model configuration: z2-mnv2 (default), densedepth-mnv2")
    info.add_argument("--size", type=_size, metavar="HxW", help="input size (default: the configuration's)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    quant = sub.add_parser("quantize", help="float checkpoint -> int8 weights file", description=(
        "Post-training quantisation: fold batch norm, per-output-channel int8 weights, int32 bias, per-channel "
        "activation scales calibrated on images (shared along residual chains), adaptive depthwise rounding, "
        "the channels whose rounding hurts the depth most carried in copies with staggered rounding (finer "
        "on the same hardware), bias correction, integer requantisation constants. --report prints each layer's "
        "signal-to-quantisation-noise ratio and the layers that limit accuracy."))
    quant.add_argument("checkpoint", help="float checkpoint (.pt) from pynq-depth train or the public port")
    quant.add_argument("-o", "--output", required=True, metavar="WEIGHTS", help="weights file to write (.npz)")
    quant.add_argument("--config", metavar="NAME", help="model configuration for a bare state dict")
    quant.add_argument("--calib", metavar="DIR", help="folder of calibration images (default: built-in set)")
    quant.add_argument("--num-calib", type=_positive, default=64, metavar="N",
                       help="calibration images (default 64: the built-in set's 13 real photos and their mirror "
                            "images, then synthetic indoor scenes)")
    quant.add_argument("--size", type=_size, metavar="HxW", help="input size (default: the configuration's)")
    quant.add_argument("--bias-correction", type=_non_negative, default=64, metavar="N",
                       help="correct layer biases for rounding drift on N calibration images (default 64; 0 = off)")
    quant.add_argument("--relu6-spread", type=float, metavar="S",
                       help="how far per-channel ReLU6 scales follow their channel, 0-1 (1: each its own maximum; "
                            "0: the layer's; default: the quantiser's, chosen by cross-validation, docs/results.md)")
    quant.add_argument("--no-adaptive-rounding", dest="adaptive_rounding", action="store_false",
                       help="round depthwise weights to nearest instead of choosing, per 3x3 kernel, the step and "
                            "rounding that change its output least on the calibration images")
    quant.add_argument("--gptq", action="store_true",
                       help="also round pointwise and 3x3 weights by GPTQ on the calibration images (measured: "
                            "no better on the packaged photos, see docs/results.md)")
    quant.add_argument("--range-search", action="store_true",
                       help="clip each tensor's range where that keeps the depth closest to float on the "
                            "calibration images (slow; measured: no better on the packaged photos)")
    quant.add_argument("--replicate", type=_non_negative, metavar="N",
                       help="carry the N channels whose rounding hurts the depth most (ranked on the calibration "
                            "images) in several copies with staggered rounding, which resolves them finer on the "
                            "same hardware for a few extra channels (default: the quantiser's, chosen by "
                            "cross-validation, docs/results.md; 0 = off)")
    quant.add_argument("--copies", type=int, metavar="C",
                       help="copies of each replicated channel, >= 2 (default: the quantiser's)")
    quant.add_argument("--report", type=_non_negative, nargs="?", const=8, default=0, metavar="N",
                       help="print each layer's signal-to-quantisation-noise ratio on N calibration images "
                            "(default 8) and the layers that limit accuracy")
    quant.set_defaults(func=cmd_quantize)

    bench = sub.add_parser("bench", help="time the network per layer", description=(
        "Time inference per layer and in total (median over runs). Give two backends separated by a comma "
        "(e.g. emulator,float) to compare them in the same run."))
    bench.add_argument("--backend", default="emulator", help="emulator, float, csim, fpga, or a comma list")
    bench.add_argument("--board", metavar="NAME",
                       help="modelled performance on a board: pynq-z2, ultra96-v2, zcu104, kv260 (performance model)")
    bench.add_argument("--config", metavar="NAME", help="model configuration for --board (default z2-mnv2)")
    bench.add_argument("--size", type=_size, metavar="HxW", help="input size for --board (default: the model's)")
    bench.add_argument("--plot", metavar="FILE.png", help="with --board: per-layer bar chart and roofline picture")
    bench.add_argument("--what-if", action="store_true",
                       help="with --board: model the proposed kernel and driver changes, each against the shipped design")
    bench.add_argument("--runs", type=_positive, default=5, metavar="N", help="timed runs (default 5)")
    bench.add_argument("--image", metavar="IMAGE", help="input image (default: the packaged example)")
    bench.add_argument("--weights", metavar="FILE", help="int8 weights file")
    bench.add_argument("--checkpoint", metavar="FILE", help="float checkpoint for the float backend")
    bench.add_argument("--top", type=_positive, default=10, metavar="N", help="slowest layers to list (default 10)")
    bench.add_argument("--json", action="store_true", help="JSON: backend, total_s, fps, layers")
    bench.set_defaults(func=cmd_bench)

    ver = sub.add_parser("verify", help="compare a backend with the emulator bit for bit", description=(
        "Run the network (or random single layers) on a backend and on the emulator and compare every "
        "layer's output bit for bit; prints the first mismatch and exits non-zero on any difference."))
    ver.add_argument("--backend", default="csim", help="backend to check (default csim)")
    ver.add_argument("--image", metavar="IMAGE", help="image for the whole-network check (default: example)")
    ver.add_argument("--weights", metavar="FILE", help="int8 weights file")
    ver.add_argument("--random-layers", type=_positive, metavar="N", help="check N random single layers instead")
    ver.add_argument("--seed", type=int, default=0, help="seed for --random-layers (default 0)")
    ver.set_defaults(func=cmd_verify)

    ev = sub.add_parser("eval", help="accuracy metrics on a depth dataset", description=(
        "DenseDepth's metrics (delta1..3, AbsRel, SqRel, RMSE, RMSE log, log10) of any backend, so float and "
        "int8 can be compared on the same data."))
    ev.add_argument("--data", default="synthetic",
                    help="synthetic (validation scenes), motorcycle (real photo, needs scikit-image), "
                         "a nyu_data.zip (test split) or a folder of RGB/depth pairs")
    ev.add_argument("--backend", default="emulator", help="emulator, float, csim, fpga")
    ev.add_argument("--weights", metavar="FILE", help="int8 weights file")
    ev.add_argument("--checkpoint", metavar="FILE", help="float checkpoint for --backend float")
    ev.add_argument("--limit", type=_positive, default=50, metavar="N", help="images to evaluate (default 50)")
    ev.add_argument("--median-scale", action="store_true", help="median-scale each prediction to the ground truth")
    ev.add_argument("--eigen-crop", action="store_true", help="evaluate inside Eigen's NYU crop")
    ev.add_argument("--flip", action="store_true", help="average with the mirrored image's prediction")
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("train", help="train a float model (needs torch)", description=(
        "Train with DenseDepth's loss (L1 + SSIM + gradient) and Adam; encoder from ImageNet MobileNetV2 "
        "(scripts/fetch_imagenet_weights.sh). Checkpoints every N steps; --resume continues exactly."))
    tr.add_argument("--data", default="synthetic", help="synthetic, a nyu_data.zip or a folder of RGB/depth pairs")
    tr.add_argument("--config", metavar="NAME", help="model configuration (default z2-mnv2)")
    tr.add_argument("--size", type=_size, metavar="HxW", help="training input size (default 240x320)")
    tr.add_argument("--steps", type=_positive, default=1000, help="total optimiser steps (default 1000)")
    tr.add_argument("--batch-size", type=_positive, default=8)
    tr.add_argument("--lr", type=float, default=1e-4, help="decoder learning rate (default 1e-4)")
    tr.add_argument("--encoder-lr-scale", type=float, default=0.1, help="encoder lr = lr x this (default 0.1)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--workers", type=int, default=1, help="data loader processes (default 1)")
    tr.add_argument("--checkpoint-every", type=_positive, default=100, metavar="N")
    tr.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    tr.add_argument("--stop-at", type=_positive, metavar="STEP",
                    help="end this run at STEP (schedule still follows --steps); continue later with --resume")
    tr.add_argument("--init", metavar="CKPT",
                    help="start a new run from a checkpoint's weights (fresh schedule), e.g. to fine-tune")
    tr.add_argument("--quant-aware", metavar="WEIGHTS.npz",
                    help="quantisation-aware fine-tuning: round every tensor to this weights file's integer grids "
                         "in the forward pass (straight-through gradients); use with --init")
    tr.add_argument("--quant-noise", action="store_true",
                    help="with --quant-aware: add one grid step of uniform noise instead of rounding, so that "
                         "the float model itself tolerates int8 rounding")
    tr.add_argument("--imagenet", metavar="PTH", help="ImageNet MobileNetV2 weights (default: the fetched cache)")
    tr.add_argument("--no-pretrained", action="store_true", help="random encoder initialisation")
    tr.add_argument("-o", "--output", required=True, metavar="CKPT", help="checkpoint to write")
    tr.set_defaults(func=cmd_train)
    return parser


def _error_line(exc: BaseException, args: argparse.Namespace) -> str:
    """One line for a user-facing error: what failed and what to do (details with ``PYNQ_DEPTH_DEBUG=1``)."""
    from .backends.csim import BuildError
    from .backends.fpga import BoardError
    from .program import WeightsError
    from .protocol import ProtocolError

    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0].rstrip(":")
    backend = getattr(args, "backend", None)
    if isinstance(exc, (BuildError, ProtocolError, BoardError)) and backend and \
            not text.startswith((f"{backend} ", f"the {backend} ")):
        text = f"{backend} backend: {text}"
    if isinstance(exc, ProtocolError):
        text += " (a bug: please report it with the output of PYNQ_DEPTH_DEBUG=1)"
    elif isinstance(exc, WeightsError) and "quantize" not in text:
        text += ("; pass a valid --weights file or re-run `pynq-depth quantize`" if getattr(args, "weights", None)
                 else "; reinstall pynq-depth (the packaged weights are damaged) or pass --weights")
    if len(lines) > 1:
        text += " (PYNQ_DEPTH_DEBUG=1 shows the details)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pynq-depth`` console script.

    Every error the user can act on (bad image, weights or configuration; a
    backend that cannot be built, loaded or reached) is one line on stderr with
    a non-zero exit status and no traceback; ``PYNQ_DEPTH_DEBUG=1`` raises instead.
    """
    from .backends import BackendError
    from .backends.fpga import BoardError
    from .boards import UnknownBoardError
    from .preprocess import ImageError
    from .program import WeightsError
    from .protocol import ProtocolError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        args.hw = load_config(args.hw_config)
        return int(args.func(args))
    except (CliError, WeightsError, ImageError, BackendError, ConfigError, BoardError, UnknownBoardError,
            ProtocolError, OSError) as exc:
        if os.environ.get("PYNQ_DEPTH_DEBUG"):
            raise
        print(f"error: {_error_line(exc, args)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, CliError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
