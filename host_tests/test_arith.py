"""Every integer operation of :mod:`pynq_depth.arith` against independent references.

The references are deliberately naive: nested Python loops over Python ints for
the convolutions and the resize, exact rational arithmetic (``fractions``) for
the rounding rules.  Everything must match bit for bit.
"""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from pynq_depth import arith
from pynq_depth.arith import conv_acc, conv_out_size, requantize, resize_bilinear, resize_coeffs, round_shift
from pynq_depth.config import default_config
from pynq_depth.backends.emulator import Emulator
from pynq_depth.program import ConvCmd

FRAC_BITS = default_config().resize_frac_bits


# ----------------------------------------------------------------- references
def ref_conv(x, w, bias, kind, stride, pad):
    """Nested-loop convolution in Python ints (zero padding)."""
    h, wd, cin = x.shape
    k = 1 if kind == "pw1x1" else 3
    ho = (h + 2 * pad - k) // stride + 1
    wo = (wd + 2 * pad - k) // stride + 1
    cout = cin if kind == "dw3x3" else w.shape[0]
    xi = x.astype(object)
    out = np.zeros((ho, wo, cout), dtype=np.int64)
    for y in range(ho):
        for xx in range(wo):
            for o in range(cout):
                acc = int(bias[o])
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = y * stride + ky - pad, xx * stride + kx - pad
                        if not (0 <= iy < h and 0 <= ix < wd):
                            continue
                        if kind == "dw3x3":
                            acc += int(w[o, ky, kx]) * int(xi[iy, ix, o])
                        else:
                            for i in range(cin):
                                acc += int(w[o, ky, kx, i]) * int(xi[iy, ix, i])
                out[y, xx, o] = acc
    return out


def ref_round_shift(value: int, shift: int) -> int:
    """round-half-up(value / 2**shift), computed with exact rationals."""
    return math.floor(Fraction(value, 2 ** shift) + Fraction(1, 2))


def ref_requantize(acc, mult, mult_neg, shift, lo, hi, skip=None, skip_mult=0, skip_shift=1):
    """Element-by-element requantisation with exact rounding (Python ints)."""
    out = np.zeros(acc.shape, dtype=np.int64)
    for idx in np.ndindex(acc.shape):
        c = idx[-1]
        a = int(acc[idx])
        m = int(mult[c]) if a >= 0 else int(mult_neg[c])
        y = ref_round_shift(a * m, int(shift[c]))
        if skip is not None:
            y += ref_round_shift(int(skip[idx]) * int(skip_mult), int(skip_shift))
        out[idx] = min(max(y, lo), hi)
    return out


def ref_resize_coeffs(in_size: int, out_size: int, frac_bits: int):
    """The documented rule: position o*(In-1)/(Out-1), fraction rounded half up to F bits."""
    one = 2 ** frac_bits
    i0s, i1s, fracs = [], [], []
    for o in range(out_size):
        pos = Fraction(0) if out_size == 1 or in_size == 1 else Fraction(o * (in_size - 1), out_size - 1)
        i0 = math.floor(pos)
        frac = math.floor((pos - i0) * one + Fraction(1, 2))
        if frac == one:
            i0, frac = i0 + 1, 0
        i0s.append(i0)
        i1s.append(min(i0 + 1, in_size - 1))
        fracs.append(frac)
    return np.array(i0s), np.array(i1s), np.array(fracs)


def ref_resize(x, out_h, out_w, frac_bits):
    """Four-neighbour weighted sum in Python ints, rounded half up by 2F bits."""
    one = 2 ** frac_bits
    y0, y1, fy = ref_resize_coeffs(x.shape[0], out_h, frac_bits)
    x0, x1, fx = ref_resize_coeffs(x.shape[1], out_w, frac_bits)
    out = np.zeros((out_h, out_w, x.shape[2]), dtype=np.int64)
    for i in range(out_h):
        for j in range(out_w):
            for c in range(x.shape[2]):
                total = ((one - fy[i]) * (one - fx[j]) * int(x[y0[i], x0[j], c])
                         + (one - fy[i]) * fx[j] * int(x[y0[i], x1[j], c])
                         + fy[i] * (one - fx[j]) * int(x[y1[i], x0[j], c])
                         + fy[i] * fx[j] * int(x[y1[i], x1[j], c]))
                out[i, j, c] = ref_round_shift(int(total), 2 * frac_bits)
    return out


def random_act(rng, shape, dtype):
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.int64).astype(np.uint8)
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def random_weights(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


# ----------------------------------------------------------------- conv_out_size
@pytest.mark.parametrize("size,k,stride,pad", [(7, 3, 1, 1), (7, 3, 2, 1), (8, 3, 2, 1), (5, 1, 1, 0), (5, 1, 1, 1),
                                               (5, 1, 2, 0), (3, 3, 1, 0), (1, 3, 2, 1), (1, 1, 1, 0)])
def test_conv_out_size(size, k, stride, pad):
    expected = len(range(-pad, size + pad - k + 1, stride))
    assert conv_out_size(size, k, stride, pad) == expected


# ----------------------------------------------------------------- convolutions
CONV_CASES = [
    # kind, stride, pad, H, W, Cin, Cout
    ("conv3x3", 1, 1, 5, 7, 3, 2),
    ("conv3x3", 2, 1, 7, 5, 3, 4),
    ("conv3x3", 2, 1, 6, 8, 1, 3),
    ("conv3x3", 1, 0, 5, 5, 2, 1),
    ("conv3x3", 2, 0, 7, 9, 1, 1),
    ("dw3x3", 1, 1, 5, 7, 3, 3),
    ("dw3x3", 2, 1, 7, 5, 1, 1),
    ("dw3x3", 2, 1, 8, 6, 4, 4),
    ("dw3x3", 1, 0, 5, 3, 3, 3),
    ("pw1x1", 1, 0, 5, 7, 3, 2),
    ("pw1x1", 1, 1, 3, 5, 3, 1),
    ("pw1x1", 2, 0, 7, 5, 1, 3),
    ("pw1x1", 2, 1, 5, 5, 2, 2),
]


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("kind,stride,pad,h,w,cin,cout", CONV_CASES)
def test_conv_acc_matches_nested_loops(kind, stride, pad, h, w, cin, cout, dtype):
    rng = np.random.default_rng(zlib.crc32(repr((kind, stride, pad, h, w, cin, cout, dtype)).encode()))
    x = random_act(rng, (h, w, cin), dtype)
    k = 1 if kind == "pw1x1" else 3
    wshape = (cin, 3, 3) if kind == "dw3x3" else (cout, k, k, cin)
    weights = random_weights(rng, wshape)
    bias = rng.integers(-(2 ** 20), 2 ** 20, size=cout).astype(np.int32)
    got = conv_acc(x, weights, bias, kind, stride, pad)
    expected = ref_conv(x, weights, bias, kind, stride, pad)
    assert got.shape == expected.shape
    assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["conv3x3", "dw3x3", "pw1x1"])
@pytest.mark.parametrize("xval,wval", [(255, -128), (255, 127), (-128, -128), (127, -128)])
def test_conv_acc_extreme_constant_values(kind, xval, wval):
    dtype = np.uint8 if xval > 127 else np.int8
    cin, cout = 5, 2
    x = np.full((5, 4, cin), xval, dtype=dtype)
    wshape = (cin, 3, 3) if kind == "dw3x3" else ((cout, 1, 1, cin) if kind == "pw1x1" else (cout, 3, 3, cin))
    weights = np.full(wshape, wval, dtype=np.int8)
    bias = np.array([2 ** 31 - 1 - 10 ** 6, -(2 ** 31) + 10 ** 6][: (cin if kind == "dw3x3" else cout)]
                    + [0] * max(0, (cin if kind == "dw3x3" else cout) - 2), dtype=np.int32)
    for stride in (1, 2):
        pad = 0 if kind == "pw1x1" else 1
        assert_array_equal(conv_acc(x, weights, bias, kind, stride, pad), ref_conv(x, weights, bias, kind, stride, pad))


def test_exact_matmul_chunking_large_k_uint8_extremes():
    """Cin=600 with 3x3 makes K=5400: the float32 path must chunk to stay exact."""
    rng = np.random.default_rng(600)
    cin, cout = 600, 2
    k = 9 * cin
    chunk = (1 << 24) // (255 * 128)
    assert k > 5 * chunk  # several chunks are really needed
    # Extremes mixed with random values: any float32 rounding would show.
    x = np.where(rng.random((3, 3, cin)) < 0.7, 255, rng.integers(0, 256, (3, 3, cin))).astype(np.uint8)
    weights = np.where(rng.random((cout, 3, 3, cin)) < 0.7, -128,
                       rng.integers(-128, 128, (cout, 3, 3, cin))).astype(np.int8)
    weights[1] = -128  # one output channel is the worst case: all 255 * -128 (inside the window)
    bias = np.array([7, -3], dtype=np.int32)
    got = conv_acc(x, weights, bias, "conv3x3", 1, 0)
    expected = ref_conv(x, weights, bias, "conv3x3", 1, 0)
    assert got.shape == (1, 1, 2)
    assert_array_equal(got, expected)
    x_full = np.full((3, 3, cin), 255, dtype=np.uint8)
    got_full = conv_acc(x_full, weights, bias, "conv3x3", 1, 0)
    assert int(got_full[0, 0, 1]) == -3 + k * 255 * -128
    assert abs(int(got_full[0, 0, 1])) > 2 ** 27  # far beyond float32's exact range


def test_exact_matmul_is_sensitive_to_float32_rounding():
    """Sanity check of the test above: one unchunked float32 product really is inexact here."""
    rng = np.random.default_rng(5)
    a = rng.integers(200, 256, size=(64, 5400)).astype(np.int64)  # partial sums grow far past 2**24
    b = rng.integers(-128, -100, size=(5400, 3)).astype(np.int64)
    exact = a @ b
    naive = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
    assert np.any(naive != exact)
    assert_array_equal(arith._exact_matmul(a, b, 255, 128), exact)


@pytest.mark.parametrize("k_total", [1, 513, 514, 515, 1028, 1029, 3000])
def test_exact_matmul_chunk_boundaries(k_total):
    rng = np.random.default_rng(k_total)
    a = np.where(rng.random((4, k_total)) < 0.5, 255, rng.integers(0, 256, (4, k_total)))
    b = np.where(rng.random((k_total, 3)) < 0.5, -128, rng.integers(-128, 128, (k_total, 3)))
    expected = np.array([[sum(int(a[i, t]) * int(b[t, j]) for t in range(k_total)) for j in range(3)]
                         for i in range(4)], dtype=np.int64)
    assert_array_equal(arith._exact_matmul(a, b, 255, 128), expected)


@pytest.mark.parametrize("stride", [1, 2])
def test_dw3x3_uint8_large_channels_extremes(stride):
    x = np.full((5, 7, 33), 255, dtype=np.uint8)
    weights = np.full((33, 3, 3), -128, dtype=np.int8)
    weights[::2] = 127
    bias = np.full(33, -(2 ** 31) + 9 * 255 * 128, dtype=np.int32)
    assert_array_equal(conv_acc(x, weights, bias, "dw3x3", stride, 1), ref_conv(x, weights, bias, "dw3x3", stride, 1))


# ----------------------------------------------------------------- requantize
def test_round_shift_half_up_including_negatives():
    values = np.array([5, 6, 7, -5, -6, -7, -4, 4, 0, -1, 1, -2, 2, -3, 3], dtype=np.int64)
    # shift 1: v/2 rounded half up (towards +inf on exact halves)
    assert_array_equal(round_shift(values, 1), [3, 3, 4, -2, -3, -3, -2, 2, 0, 0, 1, -1, 1, -1, 2])
    for v in values:
        for s in (1, 2, 3, 46):
            assert int(round_shift(np.array([v]), s)[0]) == ref_round_shift(int(v), s)
    # the classic cases: -2.5 -> -2, -1.5 -> -1, -0.5 -> 0, 0.5 -> 1, 2.5 -> 3
    assert_array_equal(round_shift(np.array([-5, -3, -1, 1, 5]), 1), [-2, -1, 0, 1, 3])


def test_requantize_random_against_reference():
    rng = np.random.default_rng(11)
    c = 6
    acc = rng.integers(-(2 ** 31), 2 ** 31, size=(3, 5, c), dtype=np.int64)
    acc[0, 0] = 0
    acc[0, 1] = -1
    acc[0, 2] = 2 ** 31 - 1
    acc[0, 3] = -(2 ** 31)
    mult = rng.integers(0, 2 ** 15, size=c).astype(np.int32)
    mult_neg = rng.integers(0, 2 ** 15, size=c).astype(np.int32)
    shift = rng.integers(1, 47, size=c).astype(np.int32)
    for lo, hi in [(-128, 127), (0, 255), (-32768, 32767), (0, 94), (-(2 ** 40), 2 ** 40)]:
        got = requantize(acc, mult, mult_neg, shift, lo, hi)
        expected = ref_requantize(acc, mult, mult_neg, shift, lo, hi)
        if hi < 2 ** 31:
            assert_array_equal(got, expected)
        else:  # unclamped: compare before the int32 cast only where it fits
            fits = (expected >= -(2 ** 31)) & (expected < 2 ** 31)
            assert_array_equal(got[fits], expected[fits])


def test_requantize_half_up_rounding_exact_halves():
    # acc * mult / 2**shift lands exactly on .5 for positive and negative accumulators
    acc = np.array([[5, -5, 3, -3, 1, -1, 7, -7]], dtype=np.int64)
    ones = np.ones(8, dtype=np.int32)
    got = requantize(acc, ones, ones, ones, -128, 127)
    assert_array_equal(got, [[3, -2, 2, -1, 1, 0, 4, -3]])
    # with a float reference: floor(x + 0.5)
    rng = np.random.default_rng(3)
    acc = rng.integers(-4000, 4000, size=(1, 64)).astype(np.int64)
    m = rng.integers(1, 2 ** 15, size=64).astype(np.int32)
    s = rng.integers(1, 20, size=64).astype(np.int32)
    expected = np.floor(acc.astype(np.float64) * m / 2.0 ** s + 0.5)
    assert_array_equal(requantize(acc, m, m, s, -(2 ** 31), 2 ** 31 - 1), expected.astype(np.int64))


def test_requantize_leaky_uses_mult_neg_for_negative_acc_only():
    acc = np.array([[-1000], [0], [1000], [-1]], dtype=np.int64)
    mult = np.array([20000], dtype=np.int32)
    mult_neg = np.array([4000], dtype=np.int32)
    shift = np.array([12], dtype=np.int32)
    got = requantize(acc, mult, mult_neg, shift, -128, 127)
    expected = [[ref_round_shift(-1000 * 4000, 12)], [0], [127], [ref_round_shift(-4000, 12)]]
    assert_array_equal(got, np.clip(expected, -128, 127))
    # zero negative multiplier = ReLU
    got = requantize(acc, mult, np.zeros(1, np.int32), shift, -128, 127)
    assert_array_equal(got, [[0], [0], [127], [0]])


def test_requantize_relu6_clamp():
    acc = np.arange(-300, 300, 7, dtype=np.int64).reshape(-1, 1) * 1000
    scale = 6.0 / 200  # pretend calibration: relu6 reaches 6.0 at 200 steps
    hi = min(255, round(6.0 / scale))
    got = requantize(acc, np.array([2 ** 14]), np.array([2 ** 14]), np.array([20]), 0, hi)
    assert got.min() == 0 and got.max() == hi == 200
    assert_array_equal(got, ref_requantize(acc, [2 ** 14], [2 ** 14], [20], 0, hi))


@pytest.mark.parametrize("skip_dtype", ["int8", "uint8"])
@pytest.mark.parametrize("skip_mult,skip_shift", [(1, 1), (2 ** 15 - 1, 1), (2 ** 15 - 1, 46), (12345, 14),
                                                  (0, 7), (3, 2)])
def test_requantize_with_residual(skip_dtype, skip_mult, skip_shift):
    rng = np.random.default_rng(skip_mult + skip_shift)
    c = 5
    acc = rng.integers(-(2 ** 24), 2 ** 24, size=(4, 3, c), dtype=np.int64)
    skip = random_act(rng, (4, 3, c), skip_dtype)
    skip[0, 0] = 127 if skip_dtype == "int8" else 255
    skip[0, 1] = -128 if skip_dtype == "int8" else 0
    mult = rng.integers(0, 2 ** 15, size=c).astype(np.int32)
    mult_neg = rng.integers(0, 2 ** 15, size=c).astype(np.int32)
    shift = rng.integers(10, 30, size=c).astype(np.int32)
    for lo, hi in [(-128, 127), (0, 255), (-32768, 32767)]:
        got = requantize(acc, mult, mult_neg, shift, lo, hi, skip=skip, skip_mult=skip_mult, skip_shift=skip_shift)
        expected = ref_requantize(acc, mult, mult_neg, shift, lo, hi, skip=skip, skip_mult=skip_mult,
                                  skip_shift=skip_shift)
        assert_array_equal(got, expected)


@pytest.mark.parametrize("lo,hi", [(-128, 127), (0, 255), (-32768, 32767)])
@pytest.mark.parametrize("shift", [1, 2, 15, 31, 45, 46])
def test_requantize_extremes(lo, hi, shift):
    acc = np.array([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 2, -(2 ** 31) + 1, 2 ** 30, -(2 ** 30), 1, -1, 0],
                   dtype=np.int64).reshape(-1, 1)
    for mult in (2 ** 15 - 1, 1, 0, 2 ** 14):
        m = np.array([mult], dtype=np.int32)
        s = np.array([shift], dtype=np.int32)
        got = requantize(acc, m, m, s, lo, hi)
        assert got.dtype == np.int32
        assert_array_equal(got, ref_requantize(acc, m, m, s, lo, hi))
    # the largest product divided by the largest shift is exactly representable
    got = requantize(np.array([[2 ** 31 - 1]]), np.array([2 ** 15 - 1]), np.array([2 ** 15 - 1]),
                     np.array([46]), -(2 ** 31), 2 ** 31 - 1)
    assert int(got[0, 0]) == ref_round_shift((2 ** 31 - 1) * (2 ** 15 - 1), 46) == 1


def test_requantize_accepts_int32_accumulators():
    acc = np.array([[2 ** 31 - 1, -(2 ** 31)]], dtype=np.int32)
    m = np.array([2 ** 15 - 1, 2 ** 15 - 1])
    s = np.array([1, 1])
    got = requantize(acc, m, m, s, -(2 ** 31), 2 ** 31 - 1)
    assert_array_equal(got, [[2 ** 31 - 1, -(2 ** 31)]])
    assert_array_equal(requantize(acc, m, m, np.array([46, 46]), -128, 127),
                       ref_requantize(acc.astype(np.int64), m, m, [46, 46], -128, 127))


# ----------------------------------------------------------------- emulator conv command
@pytest.mark.parametrize("kind,stride,pad,act", [("conv3x3", 2, 1, "relu6"), ("dw3x3", 1, 1, "leaky"),
                                                 ("pw1x1", 1, 0, "none"), ("pw1x1", 1, 1, "none"),
                                                 ("dw3x3", 2, 1, "relu6")])
def test_emulator_run_conv_is_conv_plus_requantize(kind, stride, pad, act):
    rng = np.random.default_rng(77)
    h, w, cin = 7, 5, 3
    cout = cin if kind == "dw3x3" else 4
    k = 1 if kind == "pw1x1" else 3
    x = random_act(rng, (h, w, cin), "uint8")
    wshape = (cin, 3, 3) if kind == "dw3x3" else (cout, k, k, cin)
    mult = rng.integers(1000, 2 ** 15, size=cout).astype(np.int32)
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    use_skip = stride == 1
    skip = random_act(rng, (ho, wo, cout), "int8") if use_skip else None
    lo, hi = (0, 200) if act == "relu6" else (-128, 127)
    cmd = ConvCmd(name="t", kind=kind, stride=stride, pad=pad, act=act, input="x", output="y",
                  weights=random_weights(rng, wshape), bias=rng.integers(-5000, 5000, cout).astype(np.int32),
                  mult=mult, mult_neg=(mult // 5).astype(np.int32) if act == "leaky" else mult,
                  shift=rng.integers(12, 18, cout).astype(np.int32), lo=lo, hi=hi,
                  skip="s" if use_skip else None, skip_mult=23456 if use_skip else 0, skip_shift=15)
    out_dtype = "uint8" if act == "relu6" else "int8"
    got = Emulator().run_conv(cmd, x, skip, out_dtype)
    acc = ref_conv(x, cmd.weights, cmd.bias, kind, stride, pad)
    expected = ref_requantize(acc, cmd.mult, cmd.mult_neg, cmd.shift, lo, hi, skip=skip,
                              skip_mult=cmd.skip_mult, skip_shift=cmd.skip_shift)
    assert got.dtype == np.dtype(out_dtype)
    assert_array_equal(got, expected)


# ----------------------------------------------------------------- resize
RESIZE_SIZES = [(1, 1), (1, 5), (5, 1), (2, 2), (2, 7), (7, 2), (3, 8), (8, 3), (4, 7), (7, 4), (5, 9), (9, 5),
                (15, 30), (30, 15), (15, 31), (60, 80), (80, 60), (13, 29), (29, 13), (120, 240), (6, 6)]


@pytest.mark.parametrize("in_size,out_size", RESIZE_SIZES)
@pytest.mark.parametrize("frac_bits", [FRAC_BITS, 1, 4, 12])
def test_resize_coeffs_documented_formula(in_size, out_size, frac_bits):
    i0, i1, frac = resize_coeffs(in_size, out_size, frac_bits)
    e0, e1, ef = ref_resize_coeffs(in_size, out_size, frac_bits)
    assert_array_equal(i0, e0)
    assert_array_equal(i1, e1)
    assert_array_equal(frac, ef)
    assert np.all((0 <= i0) & (i0 <= i1) & (i1 < in_size))
    assert np.all((0 <= frac) & (frac < 2 ** frac_bits))
    if out_size > 1 and in_size > 1:
        assert i0[0] == 0 and frac[0] == 0  # corners align
        assert i0[-1] == in_size - 1 and frac[-1] == 0


def test_resize_coeffs_rounding_carry():
    """A fraction that rounds up to 1.0 must move to the next sample with fraction 0."""
    # in=4, out=1000, F=1: position o*3/999; fraction >= 0.75 rounds to 2/2 -> carry
    i0, i1, frac = resize_coeffs(4, 1000, 1)
    pos = np.arange(1000) * 3 / 999
    carried = (pos - np.floor(pos)) >= 0.75
    assert carried.any()
    assert_array_equal(i0[carried], np.floor(pos[carried]).astype(int) + 1)
    assert np.all(frac[carried] == 0)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("in_hw,out_hw,c", [((1, 1), (1, 1), 1), ((1, 1), (3, 5), 2), ((3, 5), (1, 1), 1),
                                            ((1, 4), (3, 7), 1), ((4, 1), (7, 3), 3),
                                            ((2, 3), (4, 6), 3), ((3, 4), (6, 8), 1), ((5, 7), (9, 13), 2),
                                            ((7, 9), (4, 5), 3), ((9, 7), (5, 3), 1),
                                            ((4, 6), (7, 11), 2), ((5, 5), (5, 5), 1), ((6, 10), (3, 4), 2)])
def test_resize_bilinear_matches_reference(in_hw, out_hw, c, dtype):
    rng = np.random.default_rng(sum(in_hw) * 100 + sum(out_hw) + c)
    x = random_act(rng, in_hw + (c,), dtype)
    got = resize_bilinear(x, out_hw[0], out_hw[1], FRAC_BITS)
    assert got.dtype == x.dtype
    assert got.shape == out_hw + (c,)
    assert_array_equal(got, ref_resize(x, out_hw[0], out_hw[1], FRAC_BITS))


@pytest.mark.parametrize("dtype,value", [("uint8", 255), ("uint8", 0), ("int8", -128), ("int8", 127)])
def test_resize_bilinear_extremes_stay_in_range(dtype, value):
    x = np.full((5, 7, 2), value, dtype=dtype)
    x[::2, ::3, 0] = 0 if value != 0 else 255
    got = resize_bilinear(x, 13, 9, FRAC_BITS)
    assert_array_equal(got, ref_resize(x, 13, 9, FRAC_BITS))
    const = resize_bilinear(np.full((5, 7, 1), value, dtype=dtype), 11, 17, FRAC_BITS)
    assert np.all(const == value)


@pytest.mark.parametrize("in_hw,out_hw", [((4, 5), (8, 10)), ((15, 20), (30, 40)), ((7, 9), (16, 21)),
                                          ((16, 21), (7, 9)), ((30, 40), (60, 80)), ((3, 3), (17, 5)),
                                          ((1, 6), (4, 11)), ((8, 8), (8, 8))])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_resize_bilinear_within_one_lsb_of_torch(in_hw, out_hw, dtype):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(42)
    x = random_act(rng, in_hw + (3,), dtype)
    got = resize_bilinear(x, out_hw[0], out_hw[1], FRAC_BITS).astype(np.float64)
    t = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]
    ref = F.interpolate(t, size=out_hw, mode="bilinear", align_corners=True)[0].permute(1, 2, 0).numpy()
    assert np.max(np.abs(got - ref)) <= 1.0


@pytest.mark.parametrize("in_hw,out_hw", [((4, 5), (8, 10)), ((7, 9), (16, 21)), ((16, 21), (7, 9))])
def test_resize_bilinear_within_one_lsb_of_float_formula(in_hw, out_hw):
    """Without torch: the same bound against a float64 align-corners bilinear."""
    rng = np.random.default_rng(9)
    x = random_act(rng, in_hw + (2,), "uint8").astype(np.float64)

    def axis(n_in, n_out):
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        i0 = np.minimum(np.floor(pos).astype(int), n_in - 1)
        return i0, np.minimum(i0 + 1, n_in - 1), pos - i0

    y0, y1, fy = axis(in_hw[0], out_hw[0])
    x0, x1, fx = axis(in_hw[1], out_hw[1])
    rows = x[y0] * (1 - fy)[:, None, None] + x[y1] * fy[:, None, None]
    ref = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    got = resize_bilinear(x.astype(np.uint8), out_hw[0], out_hw[1], FRAC_BITS).astype(np.float64)
    assert np.max(np.abs(got - ref)) <= 1.0


def test_resize_identity_size_is_identity():
    rng = np.random.default_rng(0)
    for dtype in ("int8", "uint8"):
        x = random_act(rng, (7, 9, 3), dtype)
        assert_array_equal(resize_bilinear(x, 7, 9, FRAC_BITS), x)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("frac_bits", [1, 4, 7, FRAC_BITS, 12])
def test_resize_bilinear_fast_equals_integer_resize(dtype, frac_bits):
    """The two-GEMM float32 resize gives resize_bilinear's integers: random, constant-extreme and
    alternating-extreme maps (the largest partial sums), every size pair below, F up to 8 (above: the
    integer path itself)."""
    rng = np.random.default_rng(frac_bits)
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    for in_hw, out_hw in [((1, 1), (1, 1)), ((1, 1), (3, 5)), ((3, 5), (1, 1)), ((1, 6), (4, 11)), ((4, 1), (7, 3)),
                          ((5, 7), (9, 13)), ((9, 7), (5, 3)), ((8, 10), (15, 20)), ((15, 20), (30, 40)),
                          ((30, 40), (60, 80)), ((16, 21), (7, 9)), ((6, 6), (6, 6))]:
        for fill in ("random", "low", "high", "alternating"):
            x = random_act(rng, in_hw + (3,), dtype)
            if fill != "random":
                x[...] = lo if fill == "low" else hi
                if fill == "alternating":
                    x[::2, 1::2] = lo
                    x[1::2, ::2] = lo
            got = arith.resize_bilinear_fast(x, out_hw[0], out_hw[1], frac_bits)
            assert got.dtype == x.dtype
            assert_array_equal(got, resize_bilinear(x, out_hw[0], out_hw[1], frac_bits))
