"""The emulator's fused strip path (:class:`pynq_depth.arith.FusedConv`) gives exactly the integers of
``requantize(conv_acc(...))``, whatever the strips, the sharing with the helper process, the method
or the values.

The reference here is arith's integer path, itself checked against nested Python loops in
test_arith.py.  Strips are made tiny (and split with the helper process) so that every boundary case
of the strip code runs on layers small enough for a fast reference; the worst cases of the float
proof (rounding ties, saturated constants, the edges of the accepted bound) are built deliberately.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from pynq_depth import arith
from pynq_depth.arith import FusedConv, conv_acc, requantize
from pynq_depth.backends import emulator as emulator_module
from pynq_depth.backends.emulator import Emulator, _Arena, blas_threads, shared_helper
from pynq_depth.program import NUMPY_DTYPES, ConvCmd, Program, TensorInfo
from pynq_depth.verify import random_layer_program

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def reference(cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
    acc = conv_acc(x, cmd.weights, cmd.bias, cmd.kind, cmd.stride, cmd.pad)
    return requantize(acc, cmd.mult, cmd.mult_neg, cmd.shift, cmd.lo, cmd.hi, skip=skip, skip_mult=cmd.skip_mult,
                      skip_shift=cmd.skip_shift).astype(NUMPY_DTYPES[out_dtype])


def prepare(cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> FusedConv | None:
    return FusedConv.prepare(cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift, cmd.lo, cmd.hi, cmd.kind,
                             cmd.stride, cmd.pad, x.dtype, NUMPY_DTYPES[out_dtype],
                             None if skip is None else skip.dtype, cmd.skip_mult, cmd.skip_shift)


def check(cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str, shared: bool = False) -> None:
    """The emulator's output equals the reference; ``shared``: half the strips by the helper process."""
    emulator = Emulator(workers=1)
    if shared:
        got = run_shared(emulator, cmd, x, skip, out_dtype)
    else:
        got = emulator.run_conv(cmd, x, skip, out_dtype)
    expected = reference(cmd, x, skip, out_dtype)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_array_equal(got, expected)


def run_shared(emulator: Emulator, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str):
    """run_conv as during Emulator.run with the helper: tensors in an arena, the layer split."""
    helper = shared_helper()
    if helper is None or not helper.wait_ready() or not blas_threads().available:
        pytest.skip("no helper process or BLAS control here")
    fused = prepare(cmd, x, skip, out_dtype)
    if fused is None:
        return emulator.run_conv(cmd, x, skip, out_dtype)
    ho, wo = fused.out_size(x.shape[0], x.shape[1])
    tensors = {cmd.input: TensorInfo(cmd.input, x.shape, x.dtype.name, np.ones(x.shape[2], np.float32)),
               cmd.output: TensorInfo(cmd.output, (ho, wo, fused.cout), out_dtype, np.ones(fused.cout, np.float32))}
    if skip is not None:
        tensors[cmd.skip] = TensorInfo(cmd.skip, skip.shape, skip.dtype.name, np.ones(skip.shape[2], np.float32))
    program = Program(arith_id="t", model="t", input_hw=x.shape[:2], input_lut=np.zeros((3, 256), np.int8),
                      tensors=tensors, commands=[cmd], output=cmd.output)
    arena = _Arena(program)
    xs = arena.slot(cmd.input)
    np.copyto(xs, x)
    ss = None
    if skip is not None:
        ss = arena.slot(cmd.skip)
        np.copyto(ss, skip)
    emulator._frame = (arena, helper)
    try:
        out = emulator.run_conv(cmd, xs, ss, out_dtype)
        if fused.cost_ns(ho, wo, x.shape[2]) >= emulator_module.SHARE_MIN_NS and len(fused.strips(ho, wo, 2)) > 2:
            assert np.shares_memory(out, arena.base)  # it really was the shared path
        return np.array(out)
    finally:
        emulator._frame = None


@pytest.fixture
def tiny_strips(monkeypatch):
    """Strips of a few values, every layer shared with the helper: every layer runs many strips."""
    monkeypatch.setattr(arith, "_STRIP_OUTPUTS", 29)
    monkeypatch.setattr(emulator_module, "SHARE_MIN_NS", 0.0)


def conv_cmd(kind: str, weights: np.ndarray, bias, mult, mult_neg, shift, lo: int, hi: int, stride: int = 1,
             pad: int | None = None, skip_mult: int = 0, skip_shift: int = 1, skip: bool = False) -> ConvCmd:
    pad = (0 if kind == "pw1x1" else 1) if pad is None else pad
    return ConvCmd(name="t", kind=kind, stride=stride, pad=pad, act="none", input="x", output="y",
                   weights=weights, bias=np.asarray(bias, np.int32), mult=np.asarray(mult, np.int32),
                   mult_neg=np.asarray(mult_neg, np.int32), shift=np.asarray(shift, np.int32), lo=lo, hi=hi,
                   skip="s" if skip else None, skip_mult=skip_mult, skip_shift=skip_shift)


# ----------------------------------------------------------------- random layers, many strips, shared
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("block", range(4))
def test_random_layers_in_tiny_strips(tiny_strips, block, shared):
    modes = set()
    for seed in range(block * 60, block * 60 + 60):
        rng = np.random.default_rng(seed)
        try:
            program, inputs = random_layer_program(rng)
        except ValueError:  # a drawn geometry without output
            continue
        cmd = program.conv_commands[0]
        x = inputs[cmd.input]
        skip = inputs.get(cmd.skip) if cmd.skip else None
        out_dtype = program.tensors[cmd.output].dtype
        fused = prepare(cmd, x, skip, out_dtype)
        modes.add("fallback" if fused is None else ("fold" if fused.fold else "floor"))
        check(cmd, x, skip, out_dtype, shared)
    assert {"fold", "floor"} <= modes  # random_layer_program's extremes reach both modes


@pytest.mark.parametrize("tap_shift", [True, False])
@pytest.mark.parametrize("cin,cout,h,w,stride,pad", [(3, 8, 9, 11, 1, 1), (3, 8, 9, 11, 2, 1), (20, 12, 7, 10, 1, 1),
                                                     (12, 20, 7, 10, 1, 0), (5, 5, 6, 6, 2, 0), (40, 3, 5, 9, 1, 1)])
def test_conv3x3_methods_agree(tiny_strips, monkeypatch, tap_shift, cin, cout, h, w, stride, pad):
    """Tap shift and im2col (pixel-major and, for Cin < 8, channel-planar) all give the reference."""
    monkeypatch.setattr(FusedConv, "tap_shift", lambda self, ho, wo, c: self.wmat9 is not None and tap_shift)
    rng = np.random.default_rng(cin * 100 + cout + stride)
    for in_dtype in ("int8", "uint8"):
        program, inputs = random_layer_program(rng, "conv3x3", h=h, w=w, cin=cin, cout=cout, stride=stride,
                                               pad=pad, in_dtype=in_dtype, residual=True)
        cmd = program.conv_commands[0]
        check(cmd, inputs["input"], inputs["skip"], program.tensors["output"].dtype)
        check(cmd, inputs["input"], inputs["skip"], program.tensors["output"].dtype, shared=True)


def test_k_chunks_keep_every_partial_sum_exact(tiny_strips):
    """cin=700 uint8 at 255 with -128 weights: A = 700 * 255 * 128 > 2**24, so K is cut into ranges."""
    rng = np.random.default_rng(4)
    for kind, cin in (("pw1x1", 1300), ("conv3x3", 90)):
        k = 1 if kind == "pw1x1" else 3
        weights = np.full((3, k, k, cin), -128, np.int8)
        weights[1, ..., ::3] = 127
        x = np.full((4, 5, cin), 255, np.uint8)
        x[1, 2] = rng.integers(0, 256, cin)
        cmd = conv_cmd(kind, weights, [0, 5, -5], [2 ** 14] * 3, [2 ** 14] * 3, [40, 41, 42], -32768, 32767)
        fused = prepare(cmd, x, None, "int16")
        assert fused is not None and fused.chunks is not None and len(fused.chunks) > 1
        check(cmd, x, None, "int16")


# ----------------------------------------------------------------- worst-case values (property test)
@st.composite
def extreme_layers(draw):
    kind = draw(st.sampled_from(["pw1x1", "dw3x3", "conv3x3"]))
    k = 1 if kind == "pw1x1" else 3
    cin = draw(st.sampled_from([1, 3, 8, 17]))
    cout = cin if kind == "dw3x3" else draw(st.sampled_from([1, 4, 9]))
    stride = draw(st.sampled_from([1, 2]))
    pad = draw(st.sampled_from([0, 1])) if k == 3 else draw(st.sampled_from([0, 0, 1]))
    h, w = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    in_dtype = draw(st.sampled_from(["int8", "uint8"]))
    out_dtype = draw(st.sampled_from(["int8", "uint8", "int16"]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    lo_in, hi_in = (-128, 127) if in_dtype == "int8" else (0, 255)
    x_choice = draw(st.sampled_from(["low", "high", "mixed", "random"]))
    x = rng.integers(lo_in, hi_in + 1, (h, w, cin))
    if x_choice != "random":
        corners = np.where(rng.random((h, w, cin)) < 0.5, lo_in, hi_in)
        x = {"low": np.full_like(x, lo_in), "high": np.full_like(x, hi_in), "mixed": corners}[x_choice]
    wshape = (cin, 3, 3) if kind == "dw3x3" else (cout, k, k, cin)
    w_choice = draw(st.sampled_from(["-128", "127", "mixed", "random"]))
    weights = rng.integers(-128, 128, wshape)
    if w_choice != "random":
        weights = {"-128": np.full(wshape, -128), "127": np.full(wshape, 127),
                   "mixed": np.where(rng.random(wshape) < 0.5, -128, 127)}[w_choice]
    terms = (1 if kind == "pw1x1" else 9) * (1 if kind == "dw3x3" else cin)
    limit = 2 ** 31 - 1 - terms * 128 * 255  # 32-bit accumulators, as the hardware has
    special = st.sampled_from([0, 1, -1, limit, -limit, 2 ** 20, -(2 ** 20)])
    bias = np.array([draw(special) if draw(st.booleans()) else int(rng.integers(-2 ** 16, 2 ** 16))
                     for _ in range(cout)])
    mults = st.sampled_from([0, 1, 2, 3, 2 ** 14, 2 ** 14 + 1, 2 ** 15 - 1, 12345])
    shifts = st.sampled_from([1, 2, 7, 15, 16, 23, 24, 31, 37, 38, 45, 46])
    mult = [draw(mults) for _ in range(cout)]
    mult_neg = mult if draw(st.booleans()) else [draw(mults) for _ in range(cout)]
    shift = [draw(shifts) for _ in range(cout)]
    dlo, dhi = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}[out_dtype]
    lo, hi = (dlo, dhi) if draw(st.booleans()) else (max(dlo, draw(st.integers(-5, 3))), draw(st.integers(3, dhi)))
    skip = None
    skip_mult, skip_shift = 0, 1
    if draw(st.booleans()) and stride == 1 and pad == k // 2:
        skip_dtype = draw(st.sampled_from(["int8", "uint8"]))
        slo, shi = (-128, 127) if skip_dtype == "int8" else (0, 255)
        skip = np.where(rng.random((h, w, cout)) < 0.5, slo, shi).astype(skip_dtype)
        skip_mult = draw(st.sampled_from([0, 1, 2 ** 15 - 1, 23456]))
        skip_shift = draw(st.sampled_from([1, 2, 15, 46]))
    cmd = conv_cmd(kind, weights.astype(np.int8), bias, mult, mult_neg, shift, lo, hi, stride, pad, skip_mult,
                   skip_shift, skip is not None)
    return cmd, x.astype(in_dtype), skip, out_dtype


@PROPERTY_SETTINGS
@given(extreme_layers(), st.booleans())
def test_extreme_values_property(monkeypatch, layer, shared):
    monkeypatch.setattr(arith, "_STRIP_OUTPUTS", 17)
    monkeypatch.setattr(emulator_module, "SHARE_MIN_NS", 0.0)
    cmd, x, skip, out_dtype = layer
    check(cmd, x, skip, out_dtype, shared)


# ----------------------------------------------------------------- rounding ties
#: Channels at 127 that carry the large part of the tie accumulators: 1000 * 127 * 127 < 2**24.
TIE_CARRIERS = 1000


def tie_layer(out_dtype: str, shifts, mults, sign: int = 1, leaky: bool = False):
    """One channel per (shift, mult): its accumulators run over 256 consecutive values around an
    exact half, ``a * m + 2**(s-1)`` a multiple of ``2**s``, so the exact result is an integer that
    float rounding anywhere in the chain would miss by one (and its neighbours are one below/above).

    The accumulator itself is large (about 2**24: ``x[..., 0] = d`` plus TIE_CARRIERS channels of
    127 * 127), the bias makes up the rest of ``a``.  ``sign`` -1 puts the tie at a negative value;
    ``leaky`` gives the other sign another multiplier.
    """
    channels = []
    for s in shifts:
        for m in mults:
            e = (m & -m).bit_length() - 1  # m = odd * 2**e
            if s - 1 - e < 0 or s - 1 - e > 30:
                continue
            a = sign * (1 << (s - 1 - e))  # a * m + 2**(s-1) = (sign * odd + 1) * 2**(s-1)
            channels.append((s, m, a))
    cout = len(channels)
    x = np.full((16, 16, 1 + TIE_CARRIERS), 127, np.int8)
    x[..., 0] = np.arange(-128, 128).reshape(16, 16)
    weights = np.full((cout, 1, 1, 1 + TIE_CARRIERS), 127, np.int8)
    weights[..., 0] = 1
    carried = TIE_CARRIERS * 127 * 127 * (1 if sign > 0 else -1)
    weights[..., 1:] *= 1 if sign > 0 else -1
    bias = [a - carried for _, _, a in channels]  # acc + bias = d + a: the tie at d = 0
    tie = [m for _, m, _ in channels]
    other = [max(0, m // 5) for m in tie] if leaky else tie
    mult, mult_neg = (tie, other) if sign > 0 else (other, tie)
    shift = [s for s, _, _ in channels]
    dlo, dhi = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}[out_dtype]
    return conv_cmd("pw1x1", weights, bias, mult, mult_neg, shift, dlo, dhi), x


@pytest.mark.parametrize("leaky", [False, True])
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("out_dtype,mults", [("int16", [1, 3, 2 ** 14, 2 ** 14 + 1, 2 ** 15 - 1, 3 * 2 ** 12, 255]),
                                             ("int8", [1, 3, 5, 127, 253, 64, 2 ** 14]),
                                             ("uint8", [1, 3, 255, 509, 2 ** 13])])
def test_rounding_ties_at_every_shift(tiny_strips, out_dtype, mults, sign, leaky):
    cmd, x = tie_layer(out_dtype, range(1, 47), mults, sign, leaky)
    expected = reference(cmd, x, None, out_dtype)
    assert len(np.unique(expected)) > 20  # the ties are inside the output range, not clamped away
    assert prepare(cmd, x, None, out_dtype) is not None
    check(cmd, x, None, out_dtype)
    check(cmd, x, None, out_dtype, shared=True)


# ----------------------------------------------------------------- the bound's edges and the fallback
def test_modes_at_the_edge_of_the_bound():
    """int16 output (offset c = -32768): the fold needs ``(A + |bias|) * m + (32769 + T) * 2**s < 2**53``."""
    x = np.full((3, 4, 1), 127, np.int8)
    weights = np.full((1, 1, 1, 1), 127, np.int8)
    for shift, mode in ((36, "fold"), (37, "fold"), (38, "floor"), (46, "floor")):  # 32769 * 2**38 > 2**53
        cmd = conv_cmd("pw1x1", weights, [-(2 ** 31) + 10 ** 6], [2 ** 15 - 1], [2 ** 15 - 1], [shift], -32768, 32767)
        fused = prepare(cmd, x, None, "int16")
        assert fused is not None and ("fold" if fused.fold else "floor") == mode
        check(cmd, x, None, "int16")
    # The residual term to the last unit: int8 skip, skip_shift 1 give T = 64 * skip_mult.
    rng = np.random.default_rng(8)
    x = rng.integers(-128, 128, (6, 7, 2)).astype(np.int8)
    weights = rng.integers(-128, 128, (3, 1, 1, 2)).astype(np.int8)
    bias = rng.integers(-(2 ** 30), 2 ** 30, 3)
    m, s = 2 ** 15 - 1, 36
    products = max((128 * int(np.abs(weights[o].astype(np.int64)).sum()) + abs(int(bias[o]))) * m for o in range(3))
    edge = ((((1 << 53) - products - 1) >> s) - 32769) // 64  # the largest skip_mult the fold accepts
    skip = rng.integers(-3, 4, (6, 7, 3)).astype(np.int8)
    for skip_mult, mode in ((edge, "fold"), (edge + 1, "floor")):
        cmd = conv_cmd("pw1x1", weights, bias, [m] * 3, [m] * 3, [s] * 3, -32768, 32767, skip_mult=skip_mult,
                       skip_shift=1, skip=True)
        fused = prepare(cmd, x, skip, "int16")
        assert fused is not None and ("fold" if fused.fold else "floor") == mode
        expected = reference(cmd, x, skip, "int16")
        assert len(np.unique(expected)) > 10  # not clamped flat
        check(cmd, x, skip, "int16")


@pytest.mark.parametrize("case", ["uint8 clamp below 0", "int16 input", "shift 0"])
def test_outside_the_proof_runs_the_whole_layer_path(case):
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (5, 6, 4)).astype(np.int8)
    weights = rng.integers(-128, 128, (3, 1, 1, 4)).astype(np.int8)
    lo, hi, out_dtype, shift = -128, 127, "int8", [20, 20, 20]
    if case == "uint8 clamp below 0":
        lo, hi, out_dtype = -10, 255, "uint8"  # the reference wraps negatives in its cast
    elif case == "int16 input":
        x = x.astype(np.int16) * 100
    else:
        shift = [0, 20, 20]
    cmd = conv_cmd("pw1x1", weights, [5, -5, 0], [20000] * 3, [20000] * 3, shift, lo, hi)
    assert prepare(cmd, x, None, out_dtype) is None
    if case != "shift 0":  # shift 0 is outside requantize's own contract
        check(cmd, x, None, out_dtype)


# ----------------------------------------------------------------- the real network
def test_default_network_every_layer_equals_integer_path_with_and_without_helper(packaged_program, example_rgb):
    traces = [Emulator(workers=w).run(packaged_program, example_rgb, trace=True) for w in (1, 2)]
    for other in traces[1:]:
        for name, value in traces[0].items():
            assert_array_equal(other[name], value)
    trace = traces[0]
    for cmd in packaged_program.conv_commands:
        x = trace[cmd.input]
        skip = trace[cmd.skip] if cmd.skip else None
        out_dtype = packaged_program.tensors[cmd.output].dtype
        assert prepare(cmd, x, skip, out_dtype) is not None  # the whole network runs the fused path
        assert_array_equal(trace[cmd.output], reference(cmd, x, skip, out_dtype))


@pytest.fixture(scope="module")
def packaged_program():
    from pynq_depth.program import load_program
    from pynq_depth.runtime import DEFAULT_WEIGHTS

    return load_program(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def example_rgb(packaged_program):
    from pynq_depth.preprocess import load_image, resize_rgb
    from pynq_depth.runtime import PACKAGE_DIR

    return resize_rgb(load_image(PACKAGE_DIR / "data" / "example.jpg"), *packaged_program.input_hw)


# ----------------------------------------------------------------- the helper process
def helper_or_skip():
    """The process's helper, started and ready (frames use it only once it is)."""
    helper = shared_helper()
    if helper is None or not helper.wait_ready() or not blas_threads().available:
        pytest.skip("no helper process or BLAS control here")
    return helper


def test_shared_frames_are_the_callers_own(packaged_program, example_rgb):
    """With the helper, tensors live in an arena reused every frame: what run() returns and what
    on_layer receives must be copies, unchanged by the next frame."""
    helper_or_skip()
    emulator = Emulator(workers=2)
    seen: dict[str, np.ndarray] = {}
    first = emulator.run(packaged_program, example_rgb, on_layer=lambda name, value: seen.setdefault(name, value))
    kept = {name: value.copy() for name, value in seen.items()}
    other = np.ascontiguousarray(example_rgb[::-1])
    second = emulator.run(packaged_program, other)
    assert not np.array_equal(first, second)  # a different frame really was computed in the same arena
    for name, value in seen.items():
        assert_array_equal(value, kept[name])
    assert_array_equal(first, Emulator(workers=1).run(packaged_program, example_rgb))
    assert_array_equal(second, Emulator(workers=1).run(packaged_program, other))


def test_arena_file_is_removed_once_shared(packaged_program, example_rgb):
    helper_or_skip()
    emulator = Emulator(workers=2)
    emulator.run(packaged_program, example_rgb)
    arena = emulator._arena(packaged_program)
    assert arena.shared and not os.path.exists(arena.path)


@pytest.mark.parametrize("how", ["closed pipe", "killed"])
def test_a_failing_helper_is_left_and_the_layer_recomputed(monkeypatch, packaged_program, example_rgb, how):
    expected = Emulator(workers=1).run(packaged_program, example_rgb)
    helper_or_skip()
    monkeypatch.setattr(emulator_module, "_helper", None)  # a helper of this test's own (restored after)
    helper = shared_helper()
    assert helper is not None and helper.wait_ready()
    if how == "killed":
        helper.proc.kill()
        helper.proc.wait()
    else:
        def broken_reply():
            raise EOFError("helper process closed its pipe")

        monkeypatch.setattr(helper, "reply", broken_reply)
    assert_array_equal(Emulator(workers=2).run(packaged_program, example_rgb), expected)
    assert not helper.alive and shared_helper() is None  # given up, not used again
    assert_array_equal(Emulator(workers=2).run(packaged_program, example_rgb), expected)


def test_concurrent_emulators(packaged_program, example_rgb):
    """Several threads running emulators at once: one gets the helper, the others run alone."""
    expected = Emulator(workers=1).run(packaged_program, example_rgb)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(Emulator(workers=2).run(packaged_program, example_rgb))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 3
    for result in results:
        assert_array_equal(result, expected)


def test_blas_held_at_one_thread_during_a_run_and_restored(packaged_program, example_rgb):
    blas = blas_threads()
    if not blas.available:
        pytest.skip("no OpenBLAS found in this process")
    before = [get() for get, _ in blas._controls]
    during: list[list[int]] = []
    Emulator().run(packaged_program, example_rgb, on_layer=lambda name, value: during.append(
        [get() for get, _ in blas._controls]))
    assert during and all(counts == [1] * len(before) for counts in during)
    assert [get() for get, _ in blas._controls] == before


def test_without_blas_control_one_product_per_layer(monkeypatch, packaged_program, example_rgb):
    expected = Emulator(workers=1).run(packaged_program, example_rgb)
    monkeypatch.setattr(emulator_module.blas_threads(), "available", False)
    calls: list[int] = []
    original = FusedConv.layer_products

    def counted(self, x, ho, wo):
        calls.append(ho)
        return original(self, x, ho, wo)

    monkeypatch.setattr(FusedConv, "layer_products", counted)
    assert_array_equal(Emulator(workers=2).run(packaged_program, example_rgb), expected)
    assert len(calls) == len(packaged_program.conv_commands)  # and no layer was shared


@pytest.mark.parametrize("others,expected", [(None, 2), (0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (3.0, 1)])
def test_default_workers_leave_busy_cores_alone(monkeypatch, others, expected):
    """Two CPUs: another process keeping one busy leaves this process alone (no helper waiting on a core)."""
    monkeypatch.setattr(emulator_module, "default_workers", lambda: 2)
    monkeypatch.setattr(emulator_module, "_load", type("Load", (), {"others": lambda self: others})())
    assert emulator_module.free_cpus(2) == expected
    assert emulator_module.free_cpus(1) == 1


def shared_conv_calls(monkeypatch) -> list[bool]:
    """Record, per convolution the emulator runs from now on, whether it shared the layer with the helper."""
    used: list[bool] = []
    original = Emulator._shared_conv

    def spy(self, *args):
        used.append(self._frame is not None)
        return original(self, *args)

    monkeypatch.setattr(Emulator, "_shared_conv", spy)
    return used


def test_workers_given_are_kept_and_default_adapts(monkeypatch, packaged_program, example_rgb):
    used = shared_conv_calls(monkeypatch)
    monkeypatch.setattr(emulator_module, "free_cpus", lambda limit: 1)
    Emulator().run(packaged_program, example_rgb)  # adaptive: the busy machine leaves one CPU
    assert used and not any(used)
    used.clear()
    helper_or_skip()
    Emulator(workers=2).run(packaged_program, example_rgb)  # given: kept
    assert used and all(used)


def test_cpu_load_probe_reads_proc():
    probe = emulator_module._CpuLoad()
    if probe._last is None:
        pytest.skip("no /proc/stat here")
    probe._last = (probe._last[0] - 10.0,) + probe._last[1:]  # pretend the window has passed
    others = probe.others()
    assert others is not None and others >= 0.0


def test_frames_run_alone_until_the_helper_is_ready(monkeypatch, packaged_program, example_rgb):
    """A one-shot run must not wait for the helper's start (it imports NumPy, ~0.3 s)."""
    helper = helper_or_skip()
    expected = Emulator(workers=1).run(packaged_program, example_rgb)
    monkeypatch.setattr(helper, "ready", False)
    monkeypatch.setattr(helper, "is_ready", lambda: False)
    used = shared_conv_calls(monkeypatch)
    assert_array_equal(Emulator(workers=2).run(packaged_program, example_rgb), expected)
    assert used and not any(used)


def test_forked_child_does_not_use_or_stop_the_parents_helper(packaged_program, example_rgb):
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    helper = helper_or_skip()
    expected = Emulator(workers=1).run(packaged_program, example_rgb)
    pid = os.fork()
    if pid == 0:  # the child: its own helper (or none), never the parent's pipes
        code = 1
        try:
            child = shared_helper()
            ok = child is not helper and np.array_equal(Emulator(workers=2).run(packaged_program, example_rgb),
                                                         expected)
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert helper.alive and helper.proc.poll() is None
    assert_array_equal(Emulator(workers=2).run(packaged_program, example_rgb), expected)
