"""The integer arithmetic of the accelerator, defined once, vectorised with NumPy.

This module *is* the specification that the HLS kernel implements bit for bit
(``hls/conv_accel.h``) and that the tests check against independent nested-loop
references.  Feature maps are HWC arrays (the stream order: pixel by pixel,
channels fastest).  Activations are int8 (signed) or uint8 (after ReLU6); the
final depth layer writes int16.

Convolution
    ``acc[y, x, o] = bias[o] + sum w[o, ky, kx, i] * in[y*s + ky - pad, x*s + kx - pad, i]``
    with zero padding, exact in 32-bit integers.

Requantisation (per output channel ``o``)
    ``m = mult[o] if acc >= 0 else mult_neg[o]``   (LeakyReLU folded into ``mult_neg``)
    ``y = (acc * m + 2**(shift[o]-1)) >> shift[o]``   (arithmetic shift: round half up)
    ``y += (skip * skip_mult + 2**(skip_shift-1)) >> skip_shift``   (fused residual add)
    ``out = clamp(y, lo, hi)``   (ReLU6 is ``lo = 0, hi = min(255, round(6 / scale))``)

Bilinear resize (``align_corners=True``, on the processor)
    Source position ``o * (In - 1) / (Out - 1)`` is split into an index and a
    fraction rounded half up to ``F`` bits; the four neighbours are weighted
    with ``(2**F - f) or f`` per axis and the sum is rounded half up by ``>> 2F``.
"""

from __future__ import annotations

import numpy as np

#: float32 represents every integer below 2**24 exactly.
_F32_EXACT = 1 << 24


def round_shift(value: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """Round-half-up right shift of int64 values: ``(v + 2**(s-1)) >> s`` (``s >= 1``)."""
    shift = np.asarray(shift, dtype=np.int64)
    return (value + (np.int64(1) << (shift - 1))) >> shift


def requantize(acc: np.ndarray, mult: np.ndarray, mult_neg: np.ndarray, shift: np.ndarray,
               lo: int, hi: int, skip: np.ndarray | None = None, skip_mult: int = 0,
               skip_shift: int = 1) -> np.ndarray:
    """Requantise 32-bit accumulators to the output range.

    Parameters
    ----------
    acc : ndarray of int32 or int64, shape (..., C)
        Accumulators including bias.
    mult, mult_neg : ndarray of int, shape (C,)
        Multipliers (< 2**15) for non-negative and negative accumulators.
    shift : ndarray of int, shape (C,)
        Right shifts (>= 1).
    lo, hi : int
        Output clamp bounds.
    skip : ndarray, shape (..., C), optional
        Residual input, requantised with ``skip_mult``/``skip_shift`` and added.
    skip_mult, skip_shift : int
        Residual multiplier and shift.

    Returns
    -------
    ndarray of int32
        Clamped outputs.
    """
    acc = acc.astype(np.int64, copy=False)
    m = np.where(acc >= 0, np.asarray(mult, np.int64), np.asarray(mult_neg, np.int64))
    y = round_shift(acc * m, np.asarray(shift, np.int64))
    if skip is not None:
        y = y + round_shift(skip.astype(np.int64) * np.int64(skip_mult), skip_shift)
    return np.clip(y, lo, hi).astype(np.int32)


def _exact_matmul(a: np.ndarray, b: np.ndarray, max_abs_a: int, max_abs_b: int) -> np.ndarray:
    """Exact integer ``a @ b`` through float32 BLAS.

    The K dimension is cut into chunks so that every partial sum stays below
    2**24, where float32 is exact whatever order BLAS sums in; chunks are then
    added in int64.  This is what makes the emulator as fast as a float model.
    """
    k = a.shape[1]
    chunk = max(1, _F32_EXACT // max(1, max_abs_a * max_abs_b))
    af = a.astype(np.float32)
    bf = b.astype(np.float32)
    if k <= chunk:
        return (af @ bf).astype(np.int64)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for start in range(0, k, chunk):
        out += (af[:, start:start + chunk] @ bf[start:start + chunk]).astype(np.int64)
    return out


def _pad_hw(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((pad, pad), (pad, pad), (0, 0)))


def conv_out_size(size: int, ksize: int, stride: int, pad: int) -> int:
    """Output length of a convolution along one axis."""
    return (size + 2 * pad - ksize) // stride + 1


def _act_max(x: np.ndarray) -> int:
    """Largest magnitude an int8/uint8 tensor can hold (for the chunking bound)."""
    return 255 if x.dtype == np.uint8 else 128


def conv_acc(x: np.ndarray, weights: np.ndarray, bias: np.ndarray, kind: str, stride: int,
             pad: int) -> np.ndarray:
    """32-bit accumulators of one convolution layer.

    Parameters
    ----------
    x : ndarray of int8 or uint8, shape (H, W, Cin)
        Input feature map.
    weights : ndarray of int8
        ``(Cout, k, k, Cin)`` for ``conv3x3``/``pw1x1``, ``(C, 3, 3)`` for ``dw3x3``.
    bias : ndarray of int32, shape (Cout,)
        Bias in accumulator units.
    kind : {"conv3x3", "dw3x3", "pw1x1"}
        Layer kind.
    stride, pad : int
        Stride and zero padding.

    Returns
    -------
    ndarray of int64, shape (Ho, Wo, Cout)
    """
    h, w, cin = x.shape
    k = 1 if kind == "pw1x1" else 3
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    xp = _pad_hw(x, pad)
    if kind == "dw3x3":
        acc = np.zeros((ho, wo, cin), dtype=np.int32)
        xi = xp.astype(np.int32)
        w32 = weights.astype(np.int32)
        for ky in range(3):
            for kx in range(3):
                window = xi[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                acc += window * w32[:, ky, kx]
        return acc.astype(np.int64) + bias.astype(np.int64)
    cout = weights.shape[0]
    if k == 1:
        cols = xp[:stride * (ho - 1) + 1:stride, :stride * (wo - 1) + 1:stride].reshape(ho * wo, cin)
    else:
        taps = [xp[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                for ky in range(3) for kx in range(3)]
        cols = np.stack(taps, axis=2).reshape(ho * wo, 9 * cin)
    wmat = weights.reshape(cout, k * k * cin).T
    acc = _exact_matmul(cols, wmat, _act_max(x), 128)
    return acc.reshape(ho, wo, cout) + bias.astype(np.int64)


def resize_coeffs(in_size: int, out_size: int, frac_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour indices and fixed-point fractions for align-corners bilinear resize.

    Returns
    -------
    (i0, i1, frac) : ndarrays of int64, shape (out_size,)
        ``out[o] ~ in[i0] * (2**F - frac) + in[i1] * frac``.
    """
    o = np.arange(out_size, dtype=np.int64)
    if out_size == 1 or in_size == 1:
        i0 = np.zeros(out_size, dtype=np.int64)
        frac = np.zeros(out_size, dtype=np.int64)
    else:
        den = out_size - 1
        num = o * (in_size - 1)
        i0 = num // den
        rem = num - i0 * den
        frac = (rem * (2 << frac_bits) + den) // (2 * den)  # rem / den rounded half up to F bits
        carry = frac >> frac_bits  # a fraction that rounded up to 1.0 moves to the next sample
        i0 = i0 + carry
        frac = frac - (carry << frac_bits)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, frac


def apply_input_table(lut: np.ndarray, rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The network input: byte v of colour channel c becomes ``lut[c][v]`` (int8), written into
    the first 3 channels of ``out`` (H, W, >= 3); returns that (H, W, 3) view.  The kernel's
    ``in_rgb`` path computes the same table look-up on chip."""
    for c in range(3):
        np.take(lut[c], rgb[..., c], out=out[..., c])
    return out[..., :3]


def resize_bilinear(x: np.ndarray, out_h: int, out_w: int, frac_bits: int) -> np.ndarray:
    """Integer bilinear resize (align_corners=True) of an HWC int8/uint8 map.

    The result keeps the input's scale and dtype (a convex combination cannot
    leave the input range).
    """
    one = np.int32(1 << frac_bits)
    y0, y1, fy = resize_coeffs(x.shape[0], out_h, frac_bits)
    x0, x1, fx = resize_coeffs(x.shape[1], out_w, frac_bits)
    xi = x.astype(np.int32)
    fy32 = fy.astype(np.int32)[:, None, None]
    vertical = xi[y0] * (one - fy32) + xi[y1] * fy32
    fx32 = fx.astype(np.int32)[None, :, None]
    total = vertical[:, x0] * (one - fx32) + vertical[:, x1] * fx32
    out = (total + np.int32(1 << (2 * frac_bits - 1))) >> (2 * frac_bits)
    return out.astype(x.dtype)


def quantize_multiplier(real: np.ndarray, mult_bits: int, max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Express positive reals as ``mult * 2**-shift`` with ``mult < 2**(mult_bits-1)``.

    The multiplier is normalised into ``[2**(mult_bits-2), 2**(mult_bits-1))`` for
    the most precision; shifts are limited to ``[1, max_shift]`` (tiny values lose
    precision, values >= 2**(mult_bits-2) saturate the multiplier).

    Returns
    -------
    (mult, shift) : ndarrays of int32
    """
    top = 1 << (mult_bits - 1)
    # Anything >= 2**(mult_bits-1) saturates anyway; clamping first keeps the float->int casts
    # below defined (1e30 or inf used to wrap to a multiplier of 0).
    real = np.minimum(np.asarray(real, dtype=np.float64), float(top))
    mult = np.zeros(real.shape, dtype=np.int64)
    shift = np.full(real.shape, max_shift, dtype=np.int64)
    positive = real > 0
    exponent = np.floor(np.log2(np.where(positive, real, 1.0))).astype(np.int64)
    shift = np.where(positive, np.clip(mult_bits - 2 - exponent, 1, max_shift), max_shift)
    mult = np.where(positive, np.round(real * np.exp2(shift.astype(np.float64))), 0).astype(np.int64)
    overflow = mult >= top  # rounding reached 2**(mult_bits-1): halve while the shift allows
    can_halve = overflow & (shift > 1)
    mult = np.where(can_halve, (mult + 1) >> 1, mult)
    shift = np.where(can_halve, shift - 1, shift)
    mult = np.minimum(mult, top - 1)
    return mult.astype(np.int32), shift.astype(np.int32)


# ---------------------------------------------------------------------------------------------- fast exact path
# The emulator's hot path computes the SAME integers as conv_acc + requantize above, in floating point where
# that is provably exact, because NumPy's float kernels and BLAS are several times faster than int64 ones:
# * every float32 GEMM partial sum is an integer below 2**24 (K is chunked as in _exact_matmul), and their
#   float64 sum stays far below 2**53;
# * acc * mult * 2**-shift is acc * mult (< 2**46) times a power of two, and adding 0.5 spans at most 47
#   significant bits, so floor(acc * (mult * 2**-shift) + 0.5) == (acc * mult + 2**(shift-1)) >> shift exactly.
# host_tests/test_arith.py checks both paths against nested-loop references bit for bit.


def requant_scales(mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``mult * 2**-shift`` as exact float64 (the multiplier of the fast path)."""
    return np.ldexp(np.asarray(mult, np.float64), -np.asarray(shift, np.int64))


def conv_acc_float(x: np.ndarray, weights_f32: np.ndarray, kind: str, stride: int, pad: int) -> np.ndarray:
    """Accumulators of :func:`conv_acc` WITHOUT bias, as exact float32 or float64 (see the note above).

    ``weights_f32`` is :func:`fast_weights` of the layer's int8 weights.  A
    stride-1 3x3 conv with fewer outputs than inputs multiplies the padded map by
    all nine taps' weights at once and adds the shifted results (no im2col copy);
    other convs use im2col.  float32 is returned only where every partial sum is
    an integer below 2**24.
    """
    h, w, cin = x.shape
    k = 1 if kind == "pw1x1" else 3
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    if pad:
        xp = np.zeros((h + 2 * pad, w + 2 * pad, cin), dtype=np.float32)
        xp[pad:pad + h, pad:pad + w] = x
    else:
        xp = x.astype(np.float32)
    largest_product = _act_max(x) * 128
    if kind == "dw3x3":
        acc32 = np.zeros((ho, wo, cin), dtype=np.float32)  # |sum| <= 9 * 255 * 128 < 2**24: exact
        product = np.empty_like(acc32)
        for ky in range(3):
            for kx in range(3):
                window = xp[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                np.multiply(window, weights_f32[ky, kx], out=product)
                acc32 += product
        return acc32
    chunk = max(1, _F32_EXACT // largest_product)
    cout = weights_f32.shape[1]
    if k == 3 and stride == 1 and cout <= cin and cin <= chunk:
        # One product per tap, summed after shifting; each tap's partial sum is exact in float32 (cin <= chunk),
        # and so is the nine-tap sum when 9 * cin products stay below 2**24, else it is taken in float64.
        hp, wp = xp.shape[:2]
        taps = xp.reshape(hp * wp, cin) @ weights_f32.reshape(9, cin, cout).transpose(1, 0, 2).reshape(cin, 9 * cout)
        taps = taps.reshape(hp, wp, 9, cout)
        acc = np.zeros((ho, wo, cout), dtype=np.float32 if 9 * cin <= chunk else np.float64)
        for t in range(9):
            ky, kx = divmod(t, 3)
            acc += taps[ky:ky + ho, kx:kx + wo, t]
        return acc
    if k == 1:
        cols = xp[:stride * (ho - 1) + 1:stride, :stride * (wo - 1) + 1:stride].reshape(ho * wo, cin)
    else:
        cols = np.stack([xp[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                         for ky in range(3) for kx in range(3)], axis=2).reshape(ho * wo, 9 * cin)
    depth = cols.shape[1]
    if depth <= chunk:
        return (cols @ weights_f32).reshape(ho, wo, cout)
    acc = np.zeros((ho * wo, cout), dtype=np.float64)
    for start in range(0, depth, chunk):
        acc += cols[:, start:start + chunk] @ weights_f32[start:start + chunk]
    return acc.reshape(ho, wo, cout)


def fast_weights(weights: np.ndarray, kind: str) -> np.ndarray:
    """int8 weights in the fast path's float32 layout: (k*k*Cin, Cout), or (3, 3, C) depthwise."""
    if kind == "dw3x3":
        return np.ascontiguousarray(np.transpose(weights, (1, 2, 0)), dtype=np.float32)
    cout = weights.shape[0]
    return np.ascontiguousarray(weights.reshape(cout, -1).T, dtype=np.float32)


def requantize_float(acc: np.ndarray, bias: np.ndarray, scale: np.ndarray, scale_neg: np.ndarray | None,
                     lo: int, hi: int, skip: np.ndarray | None = None, skip_scale: float = 0.0) -> np.ndarray:
    """:func:`requantize` of ``acc + bias`` from :func:`conv_acc_float`; returns float64 integers in [lo, hi].

    ``(acc + bias) * scale + 0.5`` is evaluated as ``acc * scale + (bias * scale + 0.5)``: every term is a
    multiple of 2**-shift below 2**(47-shift), so both forms are exact and equal.  (Folding a range offset
    into the sum to let a cast do the floor would not be exact for large shifts: 2**15 + 2**-46 needs 62 bits.)
    """
    bias = np.asarray(bias, dtype=np.float64)
    if scale_neg is None:
        y = np.multiply(acc, scale, dtype=np.float64)
        y += bias * scale + 0.5
    else:  # LeakyReLU: the multiplier depends on the sign of acc + bias
        y = np.add(acc, bias, dtype=np.float64)
        y *= np.where(y >= 0, scale, scale_neg)
        y += 0.5
    np.floor(y, out=y)
    if skip is not None:
        y += np.floor(skip.astype(np.float64) * skip_scale + 0.5)
    return np.clip(y, lo, hi, out=y)
