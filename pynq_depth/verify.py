"""Bit-exactness checks between backends (used by ``pynq-depth verify`` and the tests).

* :func:`random_layer_program` makes a random single-convolution
  :class:`~pynq_depth.program.Program` (odd sizes, channel counts that are not
  multiples of the parallelism, stride 2, residuals, saturating constants).
* :func:`random_network_program` makes a random but well-scaled program for a
  whole network graph (no torch needed): weights are random, every layer's
  multiplier and shift are calibrated on the actual data so outputs use their
  range instead of saturating or vanishing.
* :func:`compare_backends` runs a program on two backends and returns the first
  differing element of any tensor (or None).
* :func:`verify_random_layers` / :func:`verify_network` wrap these into a
  :class:`VerifyReport` that prints the first mismatch.

Programs made here may start from any 8-bit tensor (not only an RGB image);
:func:`run_program_from` executes them from given initial tensors with the
backend's own ``run_conv`` and the shared host commands, exactly like
:meth:`~pynq_depth.backends.base.Backend.run`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .arith import conv_acc, conv_out_size, quantize_multiplier
from .config import HwConfig, default_config
from .backends.base import Backend, run_host_command
from .backends.emulator import Emulator
from .netspec import build_graph, get_spec
from .program import DTYPE_RANGES, NUMPY_DTYPES, ConvCmd, HostCmd, Program, TensorInfo

KINDS = ("conv3x3", "dw3x3", "pw1x1")


@dataclass
class Mismatch:
    """First differing element between two backends."""

    case: str
    tensor: str
    position: tuple[int, ...]
    got: int
    expected: int
    count: int
    shape: tuple[int, ...]

    def __str__(self) -> str:
        return (f"{self.case}: tensor {self.tensor} {self.shape}: {self.count} elements differ; first at "
                f"(y, x, c) = {self.position}: got {self.got}, expected {self.expected}")


@dataclass
class VerifyReport:
    """Outcome of a verification run."""

    backend: str
    reference: str
    cases: int = 0
    tensors_checked: int = 0
    seconds: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every tensor of every case matched bit for bit."""
        return not self.mismatches

    def __str__(self) -> str:
        head = (f"{self.backend} vs {self.reference}: {self.cases} cases, {self.tensors_checked} tensors, "
                f"{self.seconds:.1f} s: ")
        if self.ok:
            return head + "bit-exact"
        return head + f"{len(self.mismatches)} cases differ\nfirst mismatch: {self.mismatches[0]}"


# ---------------------------------------------------------------- execution
def run_program_from(runner: Backend, program: Program, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run every command of ``program`` starting from the given tensors; return all tensors."""
    values = dict(tensors)
    for cmd in program.commands:
        out_dtype = program.tensors[cmd.output].dtype
        if isinstance(cmd, ConvCmd):
            skip = values[cmd.skip] if cmd.skip is not None else None
            values[cmd.output] = runner.run_conv(cmd, values[cmd.input], skip, out_dtype)
        else:
            values[cmd.output] = run_host_command(cmd, values, program, runner.config)
    return values


def _trace(runner: Backend, program: Program, data: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(data, dict):
        return run_program_from(runner, program, data)
    info = program.tensors.get("input")
    is_image = (data.dtype == np.uint8 and data.ndim == 3 and data.shape[2] == 3 and info is not None
                and info.dtype == "int8" and tuple(data.shape[:2]) == tuple(program.input_hw)
                and info.shape[2] == 3 and program.meta.get("raw_input") is not True)
    if is_image:
        return runner.run(program, data, trace=True)  # type: ignore[return-value]
    return run_program_from(runner, program, {"input": data})


def first_difference(got: np.ndarray, expected: np.ndarray) -> tuple[tuple[int, ...], int, int, int] | None:
    """(position, got, expected, count) of the first differing element, or None."""
    if got.shape != expected.shape:
        return (), -1, -1, -1
    diff = got.astype(np.int64) != expected.astype(np.int64)
    if not diff.any():
        return None
    pos = tuple(int(v) for v in np.argwhere(diff)[0])
    return pos, int(got[pos]), int(expected[pos]), int(diff.sum())


def compare_backends(program: Program, rgb_or_input: np.ndarray | dict[str, np.ndarray], backend: Backend,
                     reference: Backend | None = None, case: str = "") -> Mismatch | None:
    """Run ``program`` on two backends and compare every tensor bit for bit.

    Parameters
    ----------
    program : Program
        Network or single layer.
    rgb_or_input : ndarray or dict
        A uint8 RGB image at ``program.input_hw`` (quantised with the input
        table, as :meth:`Backend.run` does), or the ``"input"`` tensor
        itself, or a dict of initial tensors (for random layer programs).
    backend, reference : Backend
        Backend under test and reference (the emulator when omitted).
    case : str
        Label used in the mismatch.

    Returns
    -------
    Mismatch or None
        The first differing element in command order.
    """
    reference = reference or Emulator(backend.config)
    got = _trace(backend, program, rgb_or_input)
    expected = _trace(reference, program, rgb_or_input)
    for cmd in program.commands:
        name = cmd.output
        problem = first_difference(got[name], expected[name])
        if problem is not None:
            pos, g, e, n = problem
            label = case or program.model
            if isinstance(cmd, ConvCmd):
                label += f" layer {cmd.name} ({cmd.kind}, stride {cmd.stride}, pad {cmd.pad})"
            if n < 0:
                return Mismatch(label, name, (), -1, -1, -1, tuple(got[name].shape))
            return Mismatch(label, name, pos, g, e, n, tuple(expected[name].shape))
    return None


# ---------------------------------------------------------------- random layers
def _bias_limit(kind: str, cin: int) -> int:
    taps = 1 if kind == "pw1x1" else 9
    terms = taps * (1 if kind == "dw3x3" else cin)
    return (1 << 31) - 1 - terms * 128 * 255  # keeps every 32-bit accumulator exact, as arith.py requires


def random_layer_program(rng: np.random.Generator, kind: str | None = None, *, h: int | None = None,
                         w: int | None = None, cin: int | None = None, cout: int | None = None,
                         stride: int | None = None, pad: int | None = None, in_dtype: str | None = None,
                         out_dtype: str | None = None, residual: bool | None = None, extremes: bool | None = None,
                         config: HwConfig | None = None) -> tuple[Program, dict[str, np.ndarray]]:
    """A random single-convolution program and its input tensors.

    Every argument left as None is drawn at random: shapes include odd sizes,
    1 and 3 channels and counts that are not multiples of ``pe_in``/``pe_out``;
    constants include saturating extremes (shift 1 or 46, multiplier 0 or
    2**15-1, bias at the accumulator limit, narrow clamps).

    Returns
    -------
    (Program, dict)
        The program (tensor ``"input"`` -> ``"output"``, plus ``"skip"`` when a
        residual is fused) and the initial tensors to run it from.
    """
    config = config or default_config()
    kind = kind or str(rng.choice(KINDS))
    k = 1 if kind == "pw1x1" else 3
    stride = stride or int(rng.choice([1, 2]))
    pad = (k // 2 if rng.random() < 0.85 else 1 - k // 2) if pad is None else pad
    h = h or int(rng.integers(max(1, k - 2 * pad), 14))
    w = w or int(rng.integers(max(1, k - 2 * pad), 14))
    choices = [1, 3, 5, 8, 12, 16, 17, 24, 33, 40]
    cin = cin or int(rng.choice(choices))
    cout = cin if kind == "dw3x3" else (cout or int(rng.choice(choices)))
    in_dtype = in_dtype or str(rng.choice(["int8", "uint8"]))
    out_dtype = out_dtype or str(rng.choice(["int8", "uint8", "int16"], p=[0.45, 0.4, 0.15]))
    residual = bool(rng.random() < 0.35) if residual is None else residual
    extremes = bool(rng.random() < 0.3) if extremes is None else extremes
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    if ho < 1 or wo < 1:
        raise ValueError(f"{kind} {h}x{w} stride {stride} pad {pad} has no output")

    lo_in, hi_in = DTYPE_RANGES[in_dtype]
    x = rng.integers(lo_in, hi_in + 1, size=(h, w, cin)).astype(in_dtype)
    if extremes:  # corners of the input range
        x[rng.random(x.shape) < 0.3] = lo_in
        x[rng.random(x.shape) < 0.3] = hi_in
    wshape = (cin, 3, 3) if kind == "dw3x3" else (cout, k, k, cin)
    weights = rng.integers(-128, 128, size=wshape).astype(np.int8)
    if extremes:
        weights[rng.random(wshape) < 0.3] = -128
    limit = _bias_limit(kind, cin)
    bias = rng.integers(-(1 << 16), 1 << 16, size=cout).astype(np.int64)
    if extremes:
        bias[rng.random(cout) < 0.3] = limit
        bias[rng.random(cout) < 0.3] = -limit
    bias = bias.astype(np.int32)
    mult = rng.integers(1 << 13, 1 << 15, size=cout).astype(np.int32)
    mult_neg = np.where(rng.random(cout) < 0.5, mult, rng.integers(0, 1 << 15, size=cout)).astype(np.int32)
    # Shift near the one that maps a typical accumulator onto the output range.
    terms = (1 if kind == "pw1x1" else 9) * (1 if kind == "dw3x3" else cin)
    typical = np.sqrt(terms) * 74.0 * (74.0 if in_dtype == "int8" else 147.0) * float(1 << 14)
    target = 40.0 if out_dtype != "int16" else 8000.0
    base = int(np.clip(np.round(np.log2(typical / target)), 1, config.max_shift))
    shift = np.clip(base + rng.integers(-2, 3, size=cout), 1, config.max_shift).astype(np.int32)
    if extremes:
        shift[rng.random(cout) < 0.2] = 1
        shift[rng.random(cout) < 0.2] = config.max_shift
        mult[rng.random(cout) < 0.2] = 0
        mult[rng.random(cout) < 0.2] = (1 << 15) - 1
        mult_neg[rng.random(cout) < 0.2] = (1 << 15) - 1
    dlo, dhi = DTYPE_RANGES[out_dtype]
    lo, hi = dlo, dhi
    if rng.random() < 0.3:
        lo = int(rng.integers(dlo, 1))
        hi = int(rng.integers(max(lo, 0), dhi + 1))
    cmd = ConvCmd(name=f"random.{kind}", kind=kind, stride=stride, pad=pad, act="none", input="input",
                  output="output", weights=weights, bias=bias, mult=mult, mult_neg=mult_neg, shift=shift,
                  lo=lo, hi=hi)
    one = lambda c: np.ones(c, dtype=np.float32)  # noqa: E731
    tensors = {"input": TensorInfo("input", (h, w, cin), in_dtype, one(cin)),
               "output": TensorInfo("output", (ho, wo, cout), out_dtype, one(cout))}
    inputs = {"input": x}
    if residual:
        skip_dtype = str(rng.choice(["int8", "uint8"]))
        slo, shi = DTYPE_RANGES[skip_dtype]
        inputs["skip"] = rng.integers(slo, shi + 1, size=(ho, wo, cout)).astype(skip_dtype)
        tensors["skip"] = TensorInfo("skip", (ho, wo, cout), skip_dtype, one(cout))
        cmd.skip = "skip"
        cmd.skip_mult = int(rng.integers(0, 1 << 15)) if not extremes else int(rng.choice([0, (1 << 15) - 1]))
        cmd.skip_shift = int(rng.integers(1, config.max_shift + 1)) if extremes else int(rng.integers(8, 18))
    program = Program(arith_id=config.arith_id, model=f"random-{kind}", input_hw=(h, w),
                      input_lut=np.zeros((3, 256), np.int8), tensors=tensors, commands=[cmd], output="output",
                      meta={"raw_input": True})
    return program, inputs


def describe_layer(program: Program) -> str:
    """One line describing a single-layer program (for reports)."""
    cmd = program.conv_commands[0]
    src, dst = program.tensors[cmd.input], program.tensors[cmd.output]
    skip = f" + {program.tensors[cmd.skip].dtype} residual" if cmd.skip else ""
    return (f"{cmd.kind} s{cmd.stride} p{cmd.pad} {src.dtype}{src.shape} -> {dst.dtype}{dst.shape}{skip} "
            f"clamp [{cmd.lo}, {cmd.hi}]")


def verify_random_layers(backend: Backend, n: int = 100, seed: int = 0,
                         reference: Backend | None = None, kinds: tuple[str, ...] = KINDS) -> VerifyReport:
    """Compare ``backend`` with the reference on ``n`` random single layers (seeded)."""
    reference = reference or Emulator(backend.config)
    report = VerifyReport(backend.name, reference.name)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    for i in range(n):
        program, inputs = random_layer_program(rng, kinds[i % len(kinds)], config=backend.config)
        mismatch = compare_backends(program, inputs, backend, reference,
                                    case=f"seed {seed} case {i}: {describe_layer(program)}")
        report.cases += 1
        report.tensors_checked += 1
        if mismatch is not None:
            report.mismatches.append(mismatch)
    report.seconds = time.perf_counter() - start
    return report


def verify_network(backend: Backend, program: Program, rgb: np.ndarray,
                   reference: Backend | None = None) -> VerifyReport:
    """Compare every tensor of a whole network on one image."""
    reference = reference or Emulator(backend.config)
    report = VerifyReport(backend.name, reference.name)
    start = time.perf_counter()
    mismatch = compare_backends(program, rgb, backend, reference, case=f"{program.model} {program.input_hw}")
    report.cases = 1
    report.tensors_checked = len(program.commands)
    if mismatch is not None:
        report.mismatches.append(mismatch)
    report.seconds = time.perf_counter() - start
    return report


# ---------------------------------------------------------------- HLS test-bench vectors
def expected_call_output(cmd: ConvCmd, call, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
    """What one kernel call must produce, computed with :mod:`pynq_depth.arith` only.

    Partial sums of chunk ``i`` are the exact accumulators over input channels
    ``[0, ci1)`` (bias included); the last chunk gives the requantised tile.
    """
    from .arith import requantize

    cols = slice(call.ox0, call.ox1)
    lanes = slice(call.c0, call.c0 + call.n)
    if cmd.kind == "dw3x3" or not call.psum_out:
        acc = conv_acc(x, cmd.weights, cmd.bias, cmd.kind, cmd.stride, cmd.pad)[:, cols, lanes]
        if call.psum_out:
            return acc.astype(np.int32)
        return requantize(acc, cmd.mult[lanes], cmd.mult_neg[lanes], cmd.shift[lanes], cmd.lo, cmd.hi,
                          skip=None if skip is None else skip[:, cols, lanes], skip_mult=cmd.skip_mult,
                          skip_shift=cmd.skip_shift).astype(NUMPY_DTYPES[out_dtype])
    acc = conv_acc(x[:, :, :call.ci1], cmd.weights[..., :call.ci1], cmd.bias, cmd.kind, cmd.stride, cmd.pad)
    return acc[:, cols, lanes].astype(np.int32)


def _prefix_psums(cmd: ConvCmd, call, x: np.ndarray) -> np.ndarray:
    acc = conv_acc(x[:, :, :call.ci0], cmd.weights[..., :call.ci0], cmd.bias, cmd.kind, cmd.stride, cmd.pad)
    return acc[:, call.ox0:call.ox1, call.c0:call.c0 + call.n].astype(np.int32)


def write_tb_vectors(outdir, n: int = 24, seed: int = 0, config: HwConfig | None = None,
                     max_calls_per_layer: int = 4, raw_frames: int = 2) -> int:
    """Write ``case_NNNN.bin`` files for ``hls/tb/tb_conv_accel.cpp`` (format in that file).

    Each random layer is planned with :mod:`pynq_depth.protocol`; the first
    ``max_calls_per_layer`` calls of it become cases, with the expected output
    beats computed by the NumPy arithmetic (independent of the C++).  Then
    ``raw_frames`` first layers that read the raw RGB frame (register ``in_rgb``:
    the input table after the weights, 3 bytes per pixel) at odd sizes.

    Returns
    -------
    int
        Number of cases written.
    """
    from pathlib import Path

    from . import protocol

    config = config or default_config()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("case_*.bin"):
        old.unlink()
    rng = np.random.default_rng(seed)
    count = 0
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        extra = {}
        if i % 7 == 6 and kind != "dw3x3":  # large enough to chunk input channels and tile columns
            extra = {"cin": 300 if kind == "conv3x3" else 40, "w": 150, "h": 4}
        program, inputs = random_layer_program(rng, kind, config=config, **extra)
        cmd = program.conv_commands[0]
        x, skip = inputs["input"], inputs.get("skip")
        out_dtype = program.tensors["output"].dtype
        calls = protocol.plan_layer(cmd, x.shape, config)
        for call in calls[:max_calls_per_layer]:
            regs = protocol.registers(cmd, call, x.dtype.name, out_dtype,
                                      None if skip is None else skip.dtype.name, config)
            tile = x[call.iy0:call.iy1, call.ix0:call.ix1, call.ci0:call.ci1]
            rows = protocol.pack_pixels(tile, config.pe_in)
            psums = _prefix_psums(cmd, call, x) if call.psum_in else None
            skip_tile = skip[:, call.ox0:call.ox1, call.c0:call.c0 + call.n] if regs["has_skip"] else None
            stream = protocol.build_input_stream(cmd, call, rows, psums, skip_tile, config)
            side = protocol.build_side_stream(cmd, call, psums, skip_tile, config)
            value = expected_call_output(cmd, call, x, skip, out_dtype)
            if call.psum_out:
                expected = protocol.pack_psums(value).reshape(-1)
            else:
                lanes = 8 // (2 if out_dtype == "int16" else 1)
                per_pixel = -(-call.n // lanes) * lanes
                buf = np.zeros(value.shape[:2] + (per_pixel,), dtype=value.dtype)
                buf[:, :, :call.n] = value
                expected = buf.astype(buf.dtype.newbyteorder("<")).reshape(-1).view("<u8")
            assert expected.size == protocol.output_beats(call, out_dtype)
            assert stream.size == protocol.stream_beats(cmd, call, config)
            assert side.size == protocol.side_beats(cmd, call, config)
            _write_tb_case(outdir / f"case_{count:04d}.bin", regs, stream, side, expected)
            count += 1
    written = 0
    while written < raw_frames:
        h, w = int(rng.integers(5, 40)), int(rng.integers(5, 60))
        kind = "conv3x3" if written % 2 == 0 else "pw1x1"
        program, _ = random_layer_program(rng, kind, h=h, w=w, cin=3, out_dtype="int8", residual=False,
                                          config=config)
        cmd = program.conv_commands[0]
        frame = protocol.RawFrame.of(rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8), random_input_lut(rng))
        prep = protocol.prepare_layer(cmd, frame.shape, config, frame.lut)
        if not prep.rgb:  # e.g. a stride-2 1x1 that never reads the last row or column: drawn again
            continue
        written += 1
        call = prep.calls[0]
        regs = {k: v for k, v in prep.registers(0, "int8", "int8", None).items() if not k.startswith("_")}
        stream = np.concatenate([prep.heads[0], frame.beats])
        assert stream.size == protocol.stream_beats(cmd, call, config, rgb=True)
        value = expected_call_output(cmd, call, frame.quantized(), None, "int8")
        buf = np.zeros(value.shape[:2] + (-(-call.n // 8) * 8,), dtype=np.int8)
        buf[:, :, :call.n] = value
        expected = buf.reshape(-1).view("<u8")
        _write_tb_case(outdir / f"case_{count:04d}.bin", regs, stream, np.zeros(0, np.uint64), expected)
        count += 1
    return count


def _write_tb_case(path, regs: dict[str, int], stream: np.ndarray, side: np.ndarray, expected: np.ndarray) -> None:
    """One test-bench case: "PDV2", the registers, the three beat counts, then the beats."""
    import struct

    header = b"PDV2" + struct.pack("<i", len(regs)) + np.array(list(regs.values()), "<i4").tobytes()
    header += struct.pack("<qqq", stream.size, side.size, expected.size)
    path.write_bytes(header + stream.astype("<u8").tobytes() + side.astype("<u8").tobytes()
                     + expected.astype("<u8").tobytes())


# ---------------------------------------------------------------- random networks
def random_input_lut(rng: np.random.Generator) -> np.ndarray:
    """A plausible input table: per channel, an affine map of 0..255 onto about -127..127."""
    v = np.arange(256, dtype=np.float64)
    rows = [np.clip(np.round((v - rng.uniform(100, 130)) * rng.uniform(0.9, 1.1)), -127, 127) for _ in range(3)]
    return np.stack(rows).astype(np.int8)


def random_network_program(rng: np.random.Generator, model: str | None = None,
                           input_hw: tuple[int, int] | None = None, rgb: np.ndarray | None = None,
                           config: HwConfig | None = None) -> Program:
    """A random but well-scaled integer program for a whole network graph (no torch).

    Weights are random int8 with a random per-channel magnitude; biases small.
    Every layer is then calibrated on the data flowing through the network for
    ``rgb`` (a random image when omitted): the multiplier/shift of each output
    channel maps its 99.9th-percentile accumulator to about 3/4 of the output
    range, so values neither saturate nor vanish, and the comparison exercises
    the whole range.  ReLU6 layers write uint8, LeakyReLU and linear layers
    int8, the depth layer int16 - as the quantiser does.
    """
    config = config or default_config()
    spec = get_spec(model)
    hw = tuple(input_hw or spec.input_hw)
    graph = build_graph(spec, hw)  # type: ignore[arg-type]
    lut = random_input_lut(rng)
    if rgb is None:
        rgb = rng.integers(0, 256, size=(hw[0], hw[1], 3)).astype(np.uint8)
    values = {"input": np.stack([lut[c][rgb[..., c]] for c in range(3)], axis=-1)}
    one = lambda c: np.ones(c, dtype=np.float32)  # noqa: E731
    tensors = {"input": TensorInfo("input", (hw[0], hw[1], 3), "int8", one(3))}
    commands: list[ConvCmd | HostCmd] = []
    leaky = config.leaky_slope
    for node in graph:
        if node.op in ("resize", "concat"):
            cmd_h = HostCmd(node.op, node.inputs, node.output, name=node.output)
            src = tensors[node.inputs[0]]
            tensors[node.output] = TensorInfo(node.output, node.out_shape, src.dtype, one(node.out_shape[2]))
            prog = Program(config.arith_id, spec.name, hw, lut, tensors, [cmd_h])  # type: ignore[arg-type]
            values[node.output] = run_host_command(cmd_h, values, prog, config)
            commands.append(cmd_h)
            continue
        x = values[node.inputs[0]]
        cin, cout = x.shape[2], node.cout
        if node.output == "depth":
            dtype, lo, hi = "int16", -32768, 32767
        elif node.act == "relu6":
            dtype, lo, hi = "uint8", 0, int(rng.integers(200, 256))
        else:
            dtype, lo, hi = "int8", -128, 127
        wshape = (cin, 3, 3) if node.kind == "dw3x3" else (cout, node.ksize, node.ksize, cin)
        magnitude = rng.uniform(20, 127, size=(wshape[0],) + (1,) * (len(wshape) - 1))
        weights = np.clip(np.round(rng.standard_normal(wshape) * magnitude / 2.5), -127, 127).astype(np.int8)
        acc = conv_acc(x, weights, np.zeros(cout, np.int32), node.kind, node.stride, node.pad)
        spread = np.percentile(np.abs(acc.reshape(-1, cout)), 99.9, axis=0) + 1.0
        bias = np.round(rng.standard_normal(cout) * spread * 0.1).astype(np.int32)
        target = 0.75 * (hi if dtype != "uint8" else hi)
        mult, shift = quantize_multiplier(target / spread, config.mult_bits, config.max_shift)
        mult_neg = np.round(mult * leaky).astype(np.int32) if node.act == "leaky" else mult.copy()
        cmd = ConvCmd(name=node.name, kind=node.kind, stride=node.stride, pad=node.pad, act=node.act,
                      input=node.inputs[0], output=node.output, weights=weights, bias=bias, mult=mult,
                      mult_neg=mult_neg, shift=shift, lo=lo, hi=hi)
        if node.residual is not None:
            cmd.skip, cmd.skip_mult, cmd.skip_shift = node.residual, int(rng.integers(1 << 13, 1 << 15)), 15
        commands.append(cmd)
        tensors[node.output] = TensorInfo(node.output, node.out_shape, dtype, one(cout))
        values[node.output] = Emulator(config).run_conv(cmd, x, values.get(cmd.skip) if cmd.skip else None, dtype)
    return Program(arith_id=config.arith_id, model=spec.name, input_hw=hw, input_lut=lut,  # type: ignore[arg-type]
                   tensors=tensors, commands=commands, output="depth",
                   meta={"source": "pynq_depth.verify.random_network_program"})


__all__ = ["KINDS", "Mismatch", "describe_layer", "VerifyReport", "compare_backends", "first_difference", "random_layer_program",
           "random_network_program", "run_program_from", "verify_network", "verify_random_layers", "write_tb_vectors",
           "NUMPY_DTYPES"]
