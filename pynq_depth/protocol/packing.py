"""Packing constants, weights, rows, partial sums and residuals into the kernel's 64-bit beats, and back."""

from __future__ import annotations

import numpy as np

from ..config import HwConfig, default_config
from ..geometry import PARAM_BEATS_PER_LANE, KernelGeometry, geometry
from ..program import ConvCmd
from .plan import _BEAT_DTYPE, INPUT_TABLE_BEATS, Call, ProtocolError, _ceil


def pack_params(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> np.ndarray:
    """The ``PARAM_BEATS_PER_LANE * n`` constant beats of a call (bias only in chunk 0)."""
    sl = slice(call.c0, call.c0 + call.n)
    lanes = np.zeros((call.n, PARAM_BEATS_PER_LANE), dtype=np.uint64)
    bias = cmd.bias[sl].astype(np.int64) if call.chunk == 0 else np.zeros(call.n, np.int64)
    b0 = (bias & 0xFFFFFFFF).astype(np.uint64)
    b0 |= (cmd.mult[sl].astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(32)
    b0 |= (cmd.mult_neg[sl].astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(48)
    lanes[:, 0] = b0
    lanes[:, 1] = cmd.shift[sl].astype(np.uint64) & np.uint64(0x3F)
    return lanes.reshape(-1)


def pack_weights(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> np.ndarray:
    """Weight beats of a call (layout in ``hls/conv_accel.h``)."""
    g = geometry(config or default_config())
    if cmd.kind == "dw3x3":
        cg = _ceil(call.n, g.pe_in)
        w = np.zeros((cg * g.pe_in, 9), dtype=np.int8)
        w[:call.n] = cmd.weights[call.c0:call.c0 + call.n].reshape(call.n, 9)
        w = w.reshape(cg, g.pe_in, 9).transpose(0, 2, 1)  # (group, tap, channel byte)
        return np.ascontiguousarray(w).reshape(-1).view(np.uint8).view(_BEAT_DTYPE)
    k = cmd.weights.shape[1]
    cg = _ceil(call.ci1 - call.ci0, g.pe_in)
    nb = _ceil(call.n, g.pe_out)
    w = np.zeros((nb * g.pe_out, k * k, cg * g.pe_in), dtype=np.int8)  # (lane, tap, channel)
    sub = cmd.weights[call.c0:call.c0 + call.n, :, :, call.ci0:call.ci1]  # (n, k, k, c)
    w[:call.n, :, :call.ci1 - call.ci0] = sub.reshape(call.n, k * k, -1)
    # -> (block, tap, group, lane, byte): one beat per (block, tap, group, lane)
    w = w.reshape(nb, g.pe_out, k * k, cg, g.pe_in).transpose(0, 2, 3, 1, 4)
    return np.ascontiguousarray(w).reshape(-1).view(np.uint8).view(_BEAT_DTYPE)


def block_lanes(cmd: ConvCmd, config: HwConfig | None = None) -> int:
    """Output lanes per block: ``pe_out`` (conv/pw) or ``pe_in`` (depthwise)."""
    g = geometry(config or default_config())
    return g.pe_in if cmd.kind == "dw3x3" else g.pe_out


def pack_pixels(x: np.ndarray, pe_in: int) -> np.ndarray:
    """Pack an (H, W, C) 8-bit map into beats (H, W * ceil(C/pe_in)), channels zero-padded."""
    h, w, c = x.shape
    cp = _ceil(c, pe_in) * pe_in
    if cp == c:
        buf = np.ascontiguousarray(x).view(np.uint8)
    else:
        buf = np.zeros((h, w, cp), dtype=np.uint8)
        buf[:, :, :c] = x.view(np.uint8)
    return buf.reshape(h, -1).view(_BEAT_DTYPE)


def pack_psums(p: np.ndarray) -> np.ndarray:
    """Pack (H, W, n) int32 partial sums into (H, W, ceil(n/2)) beats."""
    h, w, n = p.shape
    buf = np.zeros((h, w, _ceil(n, 2) * 2), dtype="<i4")
    buf[:, :, :n] = p
    return buf.view(_BEAT_DTYPE)


def rows_before(call: Call, stride: int, k: int) -> np.ndarray:
    """Real input rows the kernel has read once it starts output row ``oy`` (length ``out_h + 1``)."""
    in_h = call.iy1 - call.iy0
    need = np.minimum(np.arange(call.out_h) * stride + k, call.pad_t + in_h + call.pad_b)
    loaded = np.clip(need - call.pad_t, 0, in_h)
    return np.concatenate([[0], loaded])


def build_input_stream(cmd: ConvCmd, call: Call, rows: np.ndarray, psums: np.ndarray | None = None,
                       skip: np.ndarray | None = None, config: HwConfig | None = None) -> np.ndarray:
    """The beats of the call's ``in`` stream (constants, weights, rows), in kernel read order.

    Parameters
    ----------
    cmd, call : ConvCmd, Call
        The layer and the call.
    rows : ndarray of uint64, shape (in_h, in_w * cin_groups)
        The call's input rows packed by :func:`pack_pixels`.
    psums, skip : ignored
        Accepted for symmetry with :func:`build_side_stream` (they travel on ``side``).
    """
    head = [pack_params(cmd, call, config), pack_weights(cmd, call, config)]
    return np.concatenate(head + [rows.reshape(-1)])


def build_side_stream(cmd: ConvCmd, call: Call, psums: np.ndarray | None = None, skip: np.ndarray | None = None,
                      config: HwConfig | None = None) -> np.ndarray:
    """The beats of the call's ``side`` stream (empty when it has no partial sums and no residual).

    psums : ndarray of int32 (out_h, out_w, n) or their beats, optional
        Partial sums from the previous chunk (when ``call.psum_in``).
    skip : ndarray of int8/uint8 (out_h, out_w, n), optional
        Residual tile (for the last chunk of a layer with a skip).
    """
    side = pixel_extras(cmd, call, psums, skip, config)
    return np.zeros(0, dtype=_BEAT_DTYPE) if side is None else side.reshape(-1)


def pixel_extras(cmd: ConvCmd, call: Call, psums: np.ndarray | None, skip: np.ndarray | None,
                 config: HwConfig | None = None) -> np.ndarray | None:
    """Per-pixel input beats (out_h, out_w, beats): per output block its partial sums, then its residual."""
    parts = []
    if call.psum_in:
        if psums is None:
            raise ProtocolError("partial sums missing for a chained chunk")
        parts.append(pack_psums(psums) if psums.dtype != _BEAT_DTYPE else psums)
    if skip is not None:
        view = stream_view(skip, 8) if skip.dtype != _BEAT_DTYPE else skip
        parts.append(pack_pixels(skip, 8) if view is None else view)  # 8 lanes per beat
    if not parts:
        return None
    if len(parts) == 1:  # the tensor's own layout: no copy
        return parts[0].reshape(call.out_h, call.out_w, -1)
    parts = [p.reshape(call.out_h, call.out_w, -1) for p in parts]
    bl = block_lanes(cmd, config)
    pieces = []
    for b0 in range(0, call.n, bl):  # interleave per block: its psum beats, then its skip beats
        pieces.append(parts[0][:, :, b0 // 2:_ceil(min(call.n, b0 + bl), 2)])
        pieces.append(parts[1][:, :, b0 // 8:_ceil(min(call.n, b0 + bl), 8)])
    return np.concatenate(pieces, axis=2)


def output_beats(call: Call, out_dtype: str) -> int:
    """Exact number of output beats of a call (the S2MM transfer length / 8)."""
    if call.psum_out:
        per_pixel = _ceil(call.n, 2)
    else:
        per_pixel = _ceil(call.n * (2 if out_dtype == "int16" else 1), 8)
    return call.out_h * call.out_w * per_pixel


def unpack_output(beats: np.ndarray, call: Call, out_dtype: str) -> np.ndarray:
    """Output beats -> (out_h, out_w, n): int32 partial sums, or values of ``out_dtype``."""
    beats = np.ascontiguousarray(beats, dtype=_BEAT_DTYPE)
    h, w = call.out_h, call.out_w
    if call.psum_out:
        return beats.view("<i4").reshape(h, w, -1)[:, :, :call.n]
    dtype = {"int8": np.int8, "uint8": np.uint8, "int16": np.dtype("<i2")}[out_dtype]
    return beats.view(dtype).reshape(h, w, -1)[:, :, :call.n]


def stream_beats(cmd: ConvCmd, call: Call, config: HwConfig | None = None, rgb: bool = False) -> int:
    """Exact number of beats of a call's ``in`` stream (its MM2S transfers / 8); ``rgb``: the call
    reads the raw frame (register ``in_rgb``): the input table, then 3 bytes per pixel."""
    g = geometry(config or default_config())
    cg = _ceil(call.ci1 - call.ci0, g.pe_in)
    k = 1 if cmd.kind == "pw1x1" else 3
    weights = 9 * cg if cmd.kind == "dw3x3" else _ceil(call.n, g.pe_out) * k * k * cg * g.pe_out
    pixels = (call.iy1 - call.iy0) * (call.ix1 - call.ix0)
    if rgb:
        return PARAM_BEATS_PER_LANE * call.n + weights + INPUT_TABLE_BEATS + _ceil(pixels * 3, 8)
    return PARAM_BEATS_PER_LANE * call.n + weights + pixels * cg


def side_beats(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> int:
    """Exact number of beats of a call's ``side`` stream (the side DMA's transfer / 8; 0: none)."""
    extra = (_ceil(call.n, 2) if call.psum_in else 0) + (_ceil(call.n, 8) if cmd.skip is not None
                                                          and not call.psum_out else 0)
    return call.out_h * call.out_w * extra


def describe_geometry(config: HwConfig | None = None) -> KernelGeometry:
    """The kernel geometry the protocol is computed for (re-exported for drivers)."""
    return geometry(config or default_config())


def _owner_end(x: np.ndarray) -> int:
    """Address one past the last byte of the array that owns ``x``'s memory."""
    owner = x
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    return int(owner.__array_interface__["data"][0]) + owner.nbytes


def stream_view(x: np.ndarray, pe_in: int) -> np.ndarray | None:
    """``x`` (H, W, C), 8-bit, as beats (H, W * ceil(C/pe_in)) without a copy, or None.

    Works for a contiguous map with C a multiple of ``pe_in`` and for a channel slice
    ``buf[:, :, :C]`` of a contiguous (H, W, ceil(C/pe_in) * pe_in) map (a kernel output
    with unused lanes, or the network input quantised into a padded buffer).  The lanes
    past C are then sent as they are: the kernel ignores them (their weights are zero;
    depthwise lanes past ``n_out`` are not written).
    """
    h, w, c = x.shape
    cp = _ceil(c, pe_in) * pe_in
    if x.itemsize != 1 or x.size == 0:
        return None
    if cp == c and x.flags.c_contiguous:
        return x.reshape(h, -1).view(_BEAT_DTYPE)
    if x.strides != (w * cp, cp, 1):
        return None
    start = int(x.__array_interface__["data"][0])
    if start + h * w * cp > _owner_end(x) or start % 8:
        return None
    full = np.lib.stride_tricks.as_strided(x, shape=(h, w * cp), strides=(w * cp, 1), writeable=False)
    return full.view(np.uint8).view(_BEAT_DTYPE)


def packed_rows(x: np.ndarray, call: Call, pe_in: int) -> np.ndarray:
    """The call's input rows as beats (in_h, in_w * cin_groups): a view of ``x`` when it is already
    in the stream layout (whole width, all channels, channels padded to ``pe_in`` in memory:
    :func:`stream_view`), else a packed copy."""
    h, w, c = x.shape
    if call.ix0 == 0 and call.ix1 == w and call.ci0 == 0 and call.ci1 == c:
        view = stream_view(x[call.iy0:call.iy1], pe_in)
        if view is not None:
            return view
    return pack_pixels(x[call.iy0:call.iy1, call.ix0:call.ix1, call.ci0:call.ci1], pe_in)
