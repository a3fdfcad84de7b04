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

import math
import threading

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


def resize_matrix(in_size: int, out_size: int, frac_bits: int) -> np.ndarray:
    """:func:`resize_coeffs` as an (out_size, in_size) float32 matrix: row ``o`` holds
    ``2**F - frac`` at ``i0`` and ``frac`` at ``i1`` (summed where they coincide)."""
    i0, i1, frac = resize_coeffs(in_size, out_size, frac_bits)
    mat = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(mat, (rows, i0), ((1 << frac_bits) - frac).astype(np.float32))
    np.add.at(mat, (rows, i1), frac.astype(np.float32))
    return mat


def resize_bilinear_fast(x: np.ndarray, out_h: int, out_w: int, frac_bits: int) -> np.ndarray:
    """:func:`resize_bilinear` as two float32 matrix products: the same integers, several times faster.

    Exact because every value formed is an integer below 2**24: each row of the
    resize matrices (:func:`resize_matrix`) has at most two non-zero weights, of sum
    ``2**F``, so any partial sum of the first (horizontal) pass is at most ``255 * 2**F``
    and of the second ``255 * 2**2F``; adding the rounding half ``2**(2F-1)`` and,
    for int8, the offset ``128 * 2**2F`` that makes every value non-negative stays below
    ``256 * 2**2F <= 2**24`` for ``F <= 8``.  Scaling by ``2**-2F`` is exact, the
    truncating cast of a non-negative value is the floor, and ``u - 128`` in two's
    complement is ``u ^ 0x80``.  Other dtypes or ``F > 8`` run :func:`resize_bilinear`.
    """
    if x.dtype not in (np.dtype(np.uint8), np.dtype(np.int8)) or frac_bits > 8 or x.ndim != 3:
        return resize_bilinear(x, out_h, out_w, frac_bits)
    h, w, c = x.shape
    horizontal = np.matmul(resize_matrix(w, out_w, frac_bits), x.astype(np.float32))  # per input row: (Wo, W) @ (W, C)
    total = (resize_matrix(h, out_h, frac_bits) @ horizontal.reshape(h, out_w * c)).reshape(out_h, out_w, c)
    offset = 128 if x.dtype == np.int8 else 0
    total += float((1 << (2 * frac_bits - 1)) + (offset << (2 * frac_bits)))
    total *= float(2.0 ** (-2 * frac_bits))
    out = np.empty((out_h, out_w, c), dtype=np.uint8)
    np.copyto(out, total, casting="unsafe")
    if offset:
        out ^= np.uint8(0x80)
    return out.view(x.dtype)


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


# ---------------------------------------------------------------------------------------------- fused strip path
# The emulator's fastest exact path.  conv_acc_float + requantize_float above make every pass over a whole
# layer in memory (several float64 temporaries of up to 15 MB, freshly allocated each frame) and multiply by
# per-channel vectors along the short channel axis, which NumPy runs several times slower than a long
# contiguous loop.  FusedConv computes a few output rows at a time instead ("strips" of about
# _STRIP_OUTPUTS values), convolution then requantisation, in scratch buffers that are reused and stay in
# the L2 cache, with every per-channel constant tiled along a whole output row.  The integers are the same
# as conv_acc + requantize: the proof is in FusedConv's docstring, checked per layer when it is prepared
# (a layer outside the proven bounds runs conv_acc_float + requantize_float instead).

#: Output values per strip: its float64 temporaries (512 KiB) and float32 inputs stay in a 2 MiB L2 cache.
_STRIP_OUTPUTS = 1 << 16
#: Below this many input channels a 3x3 im2col is built channel-planar (FusedConv._planar_cols).
_PLANAR_CIN = 8
#: float64 represents every integer multiple of 2**-s below 2**(53-s) exactly.
_F64_BITS = 53

_workspaces = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A reusable C-contiguous scratch array of this thread (contents undefined).

    Buffers are kept per thread and per name and only grow, so a frame allocates
    nothing after the first: a fresh large array costs a page fault per 4 KiB on
    first touch, more than the arithmetic done in it.
    """
    buffers = _workspaces.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    key = (name, np.dtype(dtype).char)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


def _fill_padded(dst: np.ndarray, x: np.ndarray, y0: int, x0: int, step: int) -> None:
    """``dst[q, i] = x[y0 + step*q, x0 + step*i]`` converted to ``dst``'s dtype, zero outside ``x``.

    One phase of a zero-padded input: with ``step`` = stride, the taps of a
    strided convolution become contiguous windows of its phases.
    """
    nq, ni = dst.shape[:2]
    h, w = x.shape[:2]

    def valid(origin: int, n: int, size: int) -> tuple[int, int]:
        """The range of q with 0 <= origin + step*q < size, within [0, n)."""
        lo = min(n, -(origin // step))  # ceil(-origin / step), 0 when origin >= 0
        lo = max(0, lo)
        hi = max(lo, min(n, -((origin - size) // step)))  # ceil((size - origin) / step)
        return lo, hi

    q0, q1 = valid(y0, nq, h)
    i0, i1 = valid(x0, ni, w)
    dst[:q0] = 0
    dst[q1:] = 0
    dst[q0:q1, :i0] = 0
    dst[q0:q1, i1:] = 0
    if q1 > q0 and i1 > i0:
        np.copyto(dst[q0:q1, i0:i1],
                  x[y0 + step * q0:y0 + step * (q1 - 1) + 1:step, x0 + step * i0:x0 + step * (i1 - 1) + 1:step])


def _k_chunks(wmat: np.ndarray, act_max: int) -> list[tuple[int, int]]:
    """Cut the rows of a (K, Cout) int weight matrix into ranges whose partial sums stay below 2**24.

    A range is extended while ``act_max * sum |w|`` over it stays below 2**24 for
    every output channel, so each float32 GEMM over it is exact (see the note above).
    """
    absw = np.abs(wmat.astype(np.int64)) * act_max
    chunks, start, total = [], 0, np.zeros(wmat.shape[1], dtype=np.int64)
    for row in range(wmat.shape[0]):
        if row > start and np.any(total + absw[row] >= _F32_EXACT):
            chunks.append((start, row))
            start, total = row, np.zeros_like(total)
        total += absw[row]
    chunks.append((start, wmat.shape[0]))
    return chunks


class FusedConv:
    """One convolution + requantisation layer, prepared for the emulator's fused strip path.

    The output is computed a strip of rows at a time: the strip's accumulators in
    float32 (or float64 sums of float32 GEMMs), then requantised in float64 and
    cast into the output, all in reused scratch buffers.  :meth:`prepare` returns
    None for a layer outside the bounds below; the caller then runs
    :func:`conv_acc_float` and :func:`requantize_float`.

    Why the integers equal ``requantize(conv_acc(...))`` exactly
    --------------------------------------------------------------
    Let ``A[o] = act_max * sum |w[o]|`` (``act_max`` 255 for uint8 input, 128 for int8),
    a bound on every partial sum of output channel ``o``'s accumulator in any order.

    1. Accumulators.  With ``A[o] < 2**24`` every partial sum is an integer that
       float32 represents, so BLAS, a fused multiply-add or the nine-tap sums give the
       exact accumulator whatever their order.  Otherwise K is cut into ranges that each
       satisfy the bound (:func:`_k_chunks`) and their float32 results are summed in
       float64 (integers below 2**53).
    2. Requantisation of ``a = acc + bias`` with ``m = mult[o]`` or ``mult_neg[o]``,
       ``s = shift[o]``.  ``scale = m * 2**-s`` is exact in float64 (15 bits).  Every value
       formed below is an integer multiple of 2**-s, and all of them are bounded by
       ``B = ((A + |bias|) * max(mult, mult_neg, |mult - mult_neg|) + (|c| + 1 + T) * 2**s) * 2**-s``
       (``c`` the offset of step 3, ``T`` the largest residual term).  The layer is
       accepted only if ``B * 2**s < 2**53``, so every product, sum, maximum and minimum is
       exact in float64, and ``y = acc * scale + (bias * scale + 0.5 - c) + t`` equals the
       rational ``((acc + bias) * m + 2**(s-1)) / 2**s - c + t`` exactly; hence
       ``floor(y) + c = ((acc + bias) * m + 2**(s-1)) >> s + t`` as :func:`requantize` computes.
       LeakyReLU: ``max(a * scale, a * scale_neg)`` is ``a * scale`` for ``a >= 0`` and
       ``a * scale_neg`` for ``a < 0`` when ``mult >= mult_neg`` (``min`` when ``<=``); with
       mixed channels ``a * scale_neg + max(a, 0) * (scale - scale_neg)`` is used.
    3. Floor, clamp and cast.  ``floor`` is monotonic and fixes integers, so
       ``clip(floor(y), lo, hi) == floor(clip(y, lo, hi))``.  The output offset ``c`` is 0
       when ``lo >= 0`` and the dtype's minimum otherwise, so ``clip(y, lo - c, hi - c)`` is
       non-negative and the C cast to the unsigned type of the output's width (which
       truncates) is the floor; ``u + c`` in two's complement is ``u ^ sign_bit``.  If the
       bound holds only without the offset, ``floor`` is taken explicitly ("floor" mode;
       the residual is then added after it, as the integer it is).
    4. Residual term ``t = round_shift(skip * skip_mult, skip_shift)`` depends only on the
       8-bit skip value, so it is read from a 256-entry table made with :func:`round_shift`.
    """

    def __init__(self) -> None:
        # Set by prepare(); documented there.
        self.kind = ""
        self.stride = self.pad = self.k = self.cout = 0
        self.out_dtype: np.dtype = np.dtype(np.int8)
        self._tiles: dict[int, dict[str, np.ndarray]] = {}

    @classmethod
    def prepare(cls, weights: np.ndarray, bias: np.ndarray, mult: np.ndarray, mult_neg: np.ndarray,
                shift: np.ndarray, lo: int, hi: int, kind: str, stride: int, pad: int, in_dtype: np.dtype | str,
                out_dtype: np.dtype | str, skip_dtype: np.dtype | str | None = None, skip_mult: int = 0,
                skip_shift: int = 1) -> FusedConv | None:
        """Prepare a layer (arguments as :class:`~pynq_depth.program.ConvCmd`, plus the dtypes of the
        input, output and residual); None when it is outside the proven bounds (see the class notes)."""
        in_dtype, out_dtype = np.dtype(in_dtype), np.dtype(out_dtype)
        if in_dtype not in (np.dtype(np.int8), np.dtype(np.uint8)) or kind not in ("conv3x3", "dw3x3", "pw1x1"):
            return None
        if out_dtype not in (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)):
            return None
        info = np.iinfo(out_dtype)
        if not info.min <= lo <= hi <= info.max:
            return None  # the reference's astype would wrap: leave that to the general path
        mult = np.asarray(mult, np.int64)
        mult_neg = np.asarray(mult_neg, np.int64)
        shift = np.asarray(shift, np.int64)
        bias = np.asarray(bias, np.int64)
        if np.any(mult < 0) or np.any(mult_neg < 0) or np.any(shift < 1):
            return None
        act_max = _act_max(np.empty(0, in_dtype))
        self = cls()
        self.kind, self.stride, self.pad = kind, int(stride), int(pad)
        self.k = 1 if kind == "pw1x1" else 3
        self.cout = int(weights.shape[0])
        self.out_dtype = out_dtype
        w64 = weights.astype(np.int64)
        bound = act_max * np.abs(w64).reshape(self.cout, -1).sum(axis=1)  # A[o]
        self.chunks: list[tuple[int, int]] | None = None
        self.wmat9: np.ndarray | None = None
        if kind == "dw3x3":
            self.wtaps = np.ascontiguousarray(np.transpose(weights, (1, 2, 0)).reshape(9, -1), dtype=np.float32)
        else:
            cin = weights.shape[-1]
            wmat = weights.reshape(self.cout, -1).T  # (k*k*Cin, Cout), rows in (ky, kx, ci) order
            self.wmat = np.ascontiguousarray(wmat, dtype=np.float32)
            if bound.max() >= _F32_EXACT:
                self.chunks = _k_chunks(wmat, act_max)
            elif self.k == 3 and self.stride == 1:
                # Tap-shift method (see layer_products): (Cin, 9 * Cout), column t * Cout + o is tap t of channel o.
                self.wmat9 = np.ascontiguousarray(
                    wmat.reshape(9, cin, self.cout).transpose(1, 0, 2).reshape(cin, 9 * self.cout), dtype=np.float32)
        # Requantisation constants and the exactness bound (step 2 of the class notes), in Python ints.
        self.leaky = bool(np.any(mult != mult_neg))
        self.c = 0 if lo >= 0 else int(info.min)
        self.udtype = np.dtype(f"u{out_dtype.itemsize}")
        self.lo, self.hi = lo, hi
        self.skip_lut: np.ndarray | None = None
        t_max = 0
        if skip_dtype is not None:
            sdt = np.dtype(skip_dtype)
            if sdt not in (np.dtype(np.int8), np.dtype(np.uint8)):
                return None
            values = np.arange(256, dtype=np.uint8).view(sdt).astype(np.int64)  # indexed by the byte
            terms = round_shift(values * np.int64(skip_mult), skip_shift)
            self.skip_lut = terms.astype(np.float64)
            t_max = int(np.abs(terms).max())
        mult_max = np.maximum(np.maximum(mult, mult_neg), np.abs(mult - mult_neg))
        fold = floor = True
        for a, b, m, s in zip(bound.tolist(), bias.tolist(), mult_max.tolist(), shift.tolist()):
            products = (a + abs(b)) * m
            fold = fold and products + (abs(self.c) + 1 + t_max) * (1 << s) < 1 << _F64_BITS
            floor = floor and products + (1 << s) < 1 << _F64_BITS
        if not floor:
            return None
        self.fold = fold  # else "floor" mode: explicit floor, no output offset, residual added after it
        if not fold:
            self.c = 0
        self.scale = np.ldexp(mult.astype(np.float64), -shift)
        self.scale_neg = np.ldexp(mult_neg.astype(np.float64), -shift)
        self.bias = bias.astype(np.float64)
        self.half = 0.5 - self.c
        self.offset = self.bias * self.scale + self.half  # exact: a multiple of 2**-s below the bound
        self.order = 0  # leaky: +1 max (mult >= mult_neg everywhere), -1 min, 0 mixed
        if self.leaky:
            self.order = 1 if np.all(mult >= mult_neg) else (-1 if np.all(mult <= mult_neg) else 0)
        self._tiles = {}
        return self

    # ------------------------------------------------------------------ geometry
    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Output height and width for an ``h`` x ``w`` input."""
        return (conv_out_size(h, self.k, self.stride, self.pad), conv_out_size(w, self.k, self.stride, self.pad))

    def _tiled(self, wo: int) -> dict[str, np.ndarray]:
        """Per-channel constants repeated along an output row of ``wo`` pixels, so that every
        elementwise pass runs one long contiguous loop per row instead of one per pixel."""
        tiles = self._tiles.get(wo)
        if tiles is None:
            def tile(v: np.ndarray) -> np.ndarray:
                return np.ascontiguousarray(np.tile(v, wo))

            tiles = {"scale": tile(self.scale), "offset": tile(self.offset)}
            if self.leaky:
                tiles.update(bias=tile(self.bias), scale_neg=tile(self.scale_neg),
                             scale_diff=tile(self.scale - self.scale_neg))
            if self.kind == "dw3x3":
                tiles["taps"] = np.ascontiguousarray(np.tile(self.wtaps, (1, wo))).reshape(9, wo, -1)
            self._tiles[wo] = tiles
        return tiles

    # ------------------------------------------------------------------ running
    def __call__(self, x: np.ndarray, skip: np.ndarray | None = None, strip_gemm: bool = False,
                 out: np.ndarray | None = None) -> np.ndarray:
        """The layer's output for input ``x`` (H, W, Cin) and residual ``skip`` (Ho, Wo, Cout).

        With ``strip_gemm`` every strip makes its own matrix product (for a BLAS held at
        one thread), else the layer makes one (:meth:`layer_products`) first.  ``out``:
        a C-contiguous (Ho, Wo, Cout) array of the output dtype to write into.
        """
        ho, wo = self.out_size(x.shape[0], x.shape[1])
        if out is None:
            out = np.empty((max(ho, 0), max(wo, 0), self.cout), dtype=self.out_dtype)
        elif out.shape != (ho, wo, self.cout) or out.dtype != self.out_dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {self.out_dtype} array of shape {(ho, wo, self.cout)}")
        if out.size == 0:
            return out
        products = None if strip_gemm else self.layer_products(x, ho, wo)
        bounds = self.strips(ho, wo)
        for i in range(len(bounds) - 1):
            self.run_strip(x, products, skip, out, bounds[i], bounds[i + 1])
        return out

    def strips(self, ho: int, wo: int, parts: int = 1) -> list[int]:
        """Row boundaries ``[0, ..., ho]`` of the strips: about _STRIP_OUTPUTS values each, of equal
        height, and a multiple of ``parts`` of them (``parts`` workers sharing the strips: three
        on two would leave one idle for a third of the layer)."""
        outputs = ho * wo * self.cout
        n = -(-outputs // _STRIP_OUTPUTS)
        if parts > 1:
            n = -(-n // parts) * parts
        n = max(1, min(ho, n))
        rows = -(-ho // n)
        return list(range(0, ho, rows)) + [ho]

    def cost_ns(self, ho: int, wo: int, cin: int) -> float:
        """Rough single-core time of the layer (ns; NumPy + OpenBLAS, measured): requantisation and
        depthwise taps per output value, multiply-adds for the others."""
        outputs = ho * wo * self.cout
        if self.kind == "dw3x3":
            return outputs * 4.0
        macs = outputs * cin * self.k * self.k
        return outputs * 1.5 + macs * 0.02

    def tap_shift(self, ho: int, wo: int, cin: int) -> bool:
        """Whether a stride-1 3x3 layer of this size uses the tap-shift method rather than im2col.

        Tap shift multiplies every padded pixel by all nine taps' weights in one GEMM
        and sums shifted windows of the result: more multiply-adds ((Ho+2)(Wo+2) pixels
        instead of Ho*Wo) and eight additions per output, but no nine-fold copy of the
        input.  The rough costs below (ns per multiply-add; per added or copied value,
        whose loops run along only Cout or Cin contiguous values; measured with
        NumPy + OpenBLAS on one core) pick the cheaper; both are exact.
        """
        if self.wmat9 is None:
            return False
        macs = 9 * cin * self.cout
        tap = (ho + 2) * (wo + 2) * macs * 0.015 + 8 * ho * wo * self.cout * (0.1 + 3 / self.cout)
        im2col = ho * wo * macs * 0.015 + 9 * ho * wo * cin * (0.4 + 5 / cin)
        return tap < im2col

    def layer_products(self, x: np.ndarray, ho: int, wo: int) -> np.ndarray | None:
        """The whole layer's matrix product (:meth:`_products`) in ONE BLAS call (or one per K range).

        For a multi-threaded BLAS: it waits at every call for its worker threads,
        which on a loaded machine may each be a scheduler time slice away.
        """
        return self._products(x, 0, ho, wo, "layer")

    def _products(self, x: np.ndarray, r0: int, r1: int, wo: int, name: str) -> np.ndarray | None:
        """The matrix product of output rows ``r0:r1``, indexed from row ``r0``; None for dw3x3.

        The accumulators themselves (r, Wo, Cout), or with the tap-shift method
        (:meth:`tap_shift`) each padded pixel's product with all nine taps' weights
        (r+2, Wo+2, 9, Cout).
        """
        if self.kind == "dw3x3":
            return None
        r, cin, cout = r1 - r0, x.shape[2], self.cout
        ho = self.out_size(x.shape[0], x.shape[1])[0]
        if self.tap_shift(ho, wo, cin):
            padded = self._phases(x, r0, r1, wo, name)[0][0]
            hp, wp = padded.shape[:2]
            products = _scratch(f"{name}_taps", (hp * wp, 9 * cout), np.float32)
            np.matmul(padded.reshape(hp * wp, cin), self.wmat9, out=products)
            return products.reshape(hp, wp, 9, cout)
        if self.k == 1:
            cols = self._phases(x, r0, r1, wo, name)[0][0].reshape(r * wo, cin)
        elif cin < _PLANAR_CIN:
            cols = self._planar_cols(x, r0, r1, wo, name)
        else:
            phases = self._phases(x, r0, r1, wo, name)
            cols4 = _scratch(f"{name}_cols", (r, wo, 9, cin), np.float32)
            for t in range(9):
                np.copyto(cols4[:, :, t], self._window(phases, t // 3, t % 3, r, wo))
            cols = cols4.reshape(r * wo, 9 * cin)
        if self.chunks is None:
            acc = _scratch(f"{name}_acc", (r * wo, cout), np.float32)
            np.matmul(cols, self.wmat, out=acc)
            return acc.reshape(r, wo, cout)
        acc64 = _scratch(f"{name}_acc64", (r * wo, cout), np.float64)
        part = _scratch(f"{name}_acc", (r * wo, cout), np.float32)
        acc64[...] = 0
        for start, stop in self.chunks:
            np.matmul(cols[:, start:stop], self.wmat[start:stop], out=part)
            acc64 += part
        return acc64.reshape(r, wo, cout)

    def _planar_cols(self, x: np.ndarray, r0: int, r1: int, wo: int, name: str) -> np.ndarray:
        """im2col of output rows ``r0:r1`` for few input channels, built channel-planar: (r*Wo, 9*Cin)
        as the transpose of a C-contiguous (9*Cin, r*Wo) array (BLAS reads either).  The pixel-major
        layout would copy runs of only Cin values; here every copy runs along a whole output row."""
        s, cin, r = self.stride, x.shape[2], r1 - r0
        hp, wp = s * (r - 1) + 3, s * (wo - 1) + 3
        planes = _scratch(f"{name}_planes", (cin, hp, wp), np.float32)
        _fill_padded(planes.transpose(1, 2, 0), x, r0 * s - self.pad, -self.pad, 1)
        cols = _scratch(f"{name}_cols_planar", (9, cin, r, wo), np.float32)
        for t in range(9):
            ky, kx = divmod(t, 3)
            np.copyto(cols[t], planes[:, ky:ky + s * (r - 1) + 1:s, kx:kx + s * (wo - 1) + 1:s])
        return cols.reshape(9 * cin, r * wo).T

    def run_strip(self, x: np.ndarray, products: np.ndarray | None, skip: np.ndarray | None, out: np.ndarray,
                  r0: int, r1: int) -> None:
        """Compute output rows ``r0:r1`` into ``out``, from :meth:`layer_products` or (None) with the
        strip's own product.  Strips are independent: any order, this process or the helper."""
        wo = out.shape[1]
        tiles = self._tiled(wo)
        origin = 0
        if products is None and self.kind != "dw3x3":
            products, origin = self._products(x, r0, r1, wo, "strip"), r0
        acc = self._strip_accumulators(x, products, r0 - origin, r1 - origin, wo, tiles, r0)
        self._requantize(acc, None if skip is None else skip[r0:r1], out[r0:r1], tiles)

    def _phases(self, x: np.ndarray, r0: int, r1: int, wo: int, name: str = "strip") -> list[list[np.ndarray]]:
        """The zero-padded input rows that output rows ``r0:r1`` read, split by stride phase (float32 scratch).

        Tap ``(ky, kx)`` of output pixel ``(j, i)`` reads phase ``[ky % s][kx % s]`` at
        ``(j + ky // s, i + kx // s)``, so every tap is a window whose rows are
        ``wo * Cin`` contiguous values.
        """
        s, k = self.stride, self.k
        n = min(s, k)
        extra = (k - 1) // s
        rows, cols = r1 - r0 + extra, wo + extra
        phases = []
        for a in range(n):
            row = []
            for b in range(n):
                buf = _scratch(f"{name}_phase{a}{b}", (rows, cols, x.shape[2]), np.float32)
                _fill_padded(buf, x, r0 * s - self.pad + a, b - self.pad, s)
                row.append(buf)
            phases.append(row)
        return phases

    def _window(self, phases: list[list[np.ndarray]], ky: int, kx: int, r: int, wo: int) -> np.ndarray:
        s = self.stride
        return phases[ky % s][kx % s][ky // s:ky // s + r, kx // s:kx // s + wo]

    def _strip_accumulators(self, x: np.ndarray, products: np.ndarray | None, p0: int, p1: int, wo: int,
                            tiles: dict[str, np.ndarray], r0: int) -> np.ndarray:
        """Exact accumulators (without bias) of the strip at output row ``r0``: (r, wo, Cout) float32 or
        float64, from rows ``p0:p1`` of ``products`` (dw3x3: from the input)."""
        r, cout = p1 - p0, self.cout
        if self.kind == "dw3x3":
            phases = self._phases(x, r0, r0 + r, wo)
            acc = _scratch("acc", (r, wo, cout), np.float32)
            product = _scratch("product", (r, wo, cout), np.float32)
            taps = tiles["taps"]
            for t in range(9):
                window = self._window(phases, t // 3, t % 3, r, wo)
                if t == 0:
                    np.multiply(window, taps[t], out=acc)
                else:
                    np.multiply(window, taps[t], out=product)
                    acc += product
            return acc
        assert products is not None
        if products.ndim == 3:  # the GEMM gave the accumulators themselves
            return products[p0:p1]
        acc = _scratch("acc", (r, wo, cout), np.float32)
        np.add(products[p0:p1, :wo, 0], products[p0:p1, 1:1 + wo, 1], out=acc)
        for t in range(2, 9):
            acc += products[p0 + t // 3:p1 + t // 3, t % 3:t % 3 + wo, t]
        return acc

    def _requantize(self, acc: np.ndarray, skip: np.ndarray | None, out: np.ndarray,
                    tiles: dict[str, np.ndarray]) -> None:
        """Requantise a strip's accumulators into its output rows (steps 2-4 of the class notes)."""
        r = acc.shape[0]
        n = acc[0].size
        if acc.dtype == np.float64:
            y = acc.reshape(r, n)
        else:
            y = _scratch("y", (r, n), np.float64)
            np.copyto(y, acc.reshape(r, n))
        if not self.leaky:
            y *= tiles["scale"]
            y += tiles["offset"]
        else:
            y += tiles["bias"]  # a = acc + bias: its sign picks the multiplier
            other = _scratch("y2", (r, n), np.float64)
            if self.order:
                np.multiply(y, tiles["scale_neg"], out=other)
                y *= tiles["scale"]
                (np.maximum if self.order > 0 else np.minimum)(y, other, out=y)
            else:
                np.maximum(y, 0.0, out=other)
                other *= tiles["scale_diff"]
                y *= tiles["scale_neg"]
                y += other
            y += self.half
        if skip is not None:
            terms = _scratch("skip", (r, n), np.float64)
            np.take(self.skip_lut, skip.reshape(r, n).view(np.uint8), out=terms)
            if not self.fold:
                np.floor(y, out=y)
            y += terms
        elif not self.fold:
            np.floor(y, out=y)
        np.clip(y, self.lo - self.c, self.hi - self.c, out=y)
        if self.fold:
            dst = out.reshape(r, n).view(self.udtype)
            np.copyto(dst, y, casting="unsafe")  # y >= 0: the truncating cast is the floor
            if self.c:
                np.bitwise_xor(dst, self.udtype.type(1 << (8 * self.udtype.itemsize - 1)), out=dst)
        else:
            np.copyto(out.reshape(r, n), y, casting="unsafe")  # integers within the dtype: exact
