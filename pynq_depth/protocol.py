"""The host side of the accelerator's stream protocol (NumPy only).

Everything the processor must do to run one :class:`~pynq_depth.program.ConvCmd`
on ``hls/conv_accel.cpp`` lives here, shared by the C-simulation backend and
the PYNQ board driver so that both speak exactly the same protocol:

* :func:`plan_layer` cuts a layer into kernel *calls*: output-channel groups of
  at most ``pe_out`` channels, input-channel chunks whose weights fit the weight
  buffer (chained through int32 partial sums), and column tiles whose padded
  rows fit the line buffer.  Rows are never tiled: the kernel keeps three rows.
* :func:`registers` gives the AXI-Lite register values of a call.
* :func:`build_input_stream` packs constants, weights, input rows and per-pixel
  extras (partial sums, residual) into 64-bit beats in the order the kernel
  reads them; :func:`output_beats` / :func:`unpack_output` do the other side.

Stream summary (see ``hls/conv_accel.h`` for the authoritative text): input =
``2*pe_out`` constant beats, weight beats, then per output row the input rows it
newly needs (``in_w * cin_groups`` beats each, ``pe_in`` channels per beat) and
per output pixel ``ceil(n/2)`` partial-sum beats and ``ceil(n/8)`` residual
beats when enabled.  Output = per pixel ``ceil(n*bytes/8)`` beats (int32 pairs
for partial sums); TLAST on the final beat.

Padding is made on chip (registers ``pad_t/b/l/r``), so ``pw1x1`` with
``pad=1`` (the ``densedepth-mnv2`` bottleneck quirk) runs natively like any
other padded layer; no host-side zero padding is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arith import conv_out_size
from .codegen import PARAM_BEATS_PER_LANE, KernelGeometry, geometry
from .config import HwConfig, default_config
from .program import ConvCmd

#: Register names in the order of the kernel's arguments (and of ``pd_conv_call``).
REGISTERS: tuple[str, ...] = (
    "kind", "stride", "in_h", "in_w", "pad_t", "pad_b", "pad_l", "pad_r", "out_h", "out_w", "cin_groups",
    "n_out", "in_signed", "out_bytes", "has_skip", "skip_signed", "skip_mult", "skip_shift", "lo", "hi",
    "psum_in", "psum_out",
)
KIND_CODES = {"conv3x3": 0, "dw3x3": 1, "pw1x1": 2}
#: Error bits of the kernel's return value.
KERNEL_ERRORS = {1: "kind/stride/padding", 2: "shape", 4: "line buffer overflow", 8: "weight buffer overflow",
                 16: "lane count"}
_BEAT_DTYPE = np.dtype("<u8")


class ProtocolError(RuntimeError):
    """The kernel refused a call or the stream did not match the protocol."""


@dataclass(frozen=True)
class Call:
    """One kernel invocation of a layer.

    Attributes
    ----------
    c0, n : int
        Output channels ``[c0, c0 + n)`` (``n <= pe_out``).
    ci0, ci1 : int
        Input channels streamed in this call.
    chunk, n_chunks : int
        Position in the chain of input-channel chunks (partial sums flow from
        chunk ``i`` to ``i + 1``; only the last requantises).
    ox0, ox1 : int
        Output columns of the tile.
    ix0, ix1, pad_l, pad_r : int
        Input columns streamed and the on-chip padding around them.
    iy0, iy1, pad_t, pad_b : int
        Input rows streamed and their padding (all output rows per call).
    out_h : int
        Output rows.
    """

    c0: int
    n: int
    ci0: int
    ci1: int
    chunk: int
    n_chunks: int
    ox0: int
    ox1: int
    ix0: int
    ix1: int
    pad_l: int
    pad_r: int
    iy0: int
    iy1: int
    pad_t: int
    pad_b: int
    out_h: int

    @property
    def out_w(self) -> int:
        """Output columns of the tile."""
        return self.ox1 - self.ox0

    @property
    def psum_in(self) -> bool:
        """Accumulators start from the previous chunk's partial sums."""
        return self.chunk > 0

    @property
    def psum_out(self) -> bool:
        """The call writes partial sums (not the last chunk)."""
        return self.chunk < self.n_chunks - 1


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _span(out0: int, out1: int, stride: int, pad: int, k: int, size: int) -> tuple[int, int, int, int]:
    """Input range [i0, i1) and padding (before, after) that output range [out0, out1) reads."""
    start = out0 * stride - pad
    end = (out1 - 1) * stride - pad + k  # exclusive
    i0, i1 = max(0, start), min(size, end)
    return i0, i1, i0 - start, end - i1


def _split(total: int, most: int) -> list[tuple[int, int]]:
    """Cut ``range(total)`` into near-equal pieces of at most ``most``."""
    pieces = _ceil(total, most)
    size = _ceil(total, pieces)
    return [(s, min(total, s + size)) for s in range(0, total, size)]


def plan_layer(cmd: ConvCmd, in_shape: tuple[int, int, int], config: HwConfig | None = None) -> list[Call]:
    """Cut one layer into kernel calls (execution order: chunks of a tile are consecutive).

    Parameters
    ----------
    cmd : ConvCmd
        The layer.
    in_shape : tuple of int
        (H, W, Cin) of its input.
    config : HwConfig, optional
        Accelerator configuration.

    Returns
    -------
    list of Call
    """
    g = geometry(config or default_config())
    h, w, cin = in_shape
    k = 1 if cmd.kind == "pw1x1" else 3
    s, pad = cmd.stride, cmd.pad
    ho, wo = conv_out_size(h, k, s, pad), conv_out_size(w, k, s, pad)
    iy0, iy1, pad_t, pad_b = _span(0, ho, s, pad, k, h)
    dw = cmd.kind == "dw3x3"
    cout = cin if dw else int(cmd.weights.shape[0])
    calls: list[Call] = []
    for c0 in range(0, cout, g.pe_out):
        n = min(g.pe_out, cout - c0)
        if dw:
            chunks = [(c0, c0 + n)]
        else:
            groups = _ceil(cin, g.pe_in)
            chunks = [(a * g.pe_in, min(cin, b * g.pe_in))
                      for a, b in _split(groups, g.wbuf_words // (k * k))]
        # One set of column tiles for all chunks (partial sums chain tile by tile),
        # sized for the chunk with the most channel groups.
        cg = max(_ceil(b - a, g.pe_in) for a, b in chunks)
        widest = g.lb_row_words // cg  # padded input columns one line-buffer row holds
        if widest < k:
            raise ProtocolError(f"{cmd.name}: {cg} channel groups do not fit one line-buffer row")
        most = (widest - k) // s + 1
        for ox0, ox1 in _split(wo, most):
            ix0, ix1, pad_l, pad_r = _span(ox0, ox1, s, pad, k, w)
            for ci, (ci0, ci1) in enumerate(chunks):
                calls.append(Call(c0, n, ci0, ci1, ci, len(chunks), ox0, ox1, ix0, ix1, pad_l, pad_r,
                                  iy0, iy1, pad_t, pad_b, ho))
    return calls


def registers(cmd: ConvCmd, call: Call, in_dtype: str, out_dtype: str, skip_dtype: str | None,
              config: HwConfig | None = None) -> dict[str, int]:
    """AXI-Lite register values of one call, in :data:`REGISTERS` order."""
    g = geometry(config or default_config())
    last = not call.psum_out
    has_skip = cmd.skip is not None and last
    regs = {
        "kind": KIND_CODES[cmd.kind], "stride": cmd.stride,
        "in_h": call.iy1 - call.iy0, "in_w": call.ix1 - call.ix0,
        "pad_t": call.pad_t, "pad_b": call.pad_b, "pad_l": call.pad_l, "pad_r": call.pad_r,
        "out_h": call.out_h, "out_w": call.out_w,
        "cin_groups": _ceil(call.ci1 - call.ci0, g.pe_in), "n_out": call.n,
        "in_signed": int(in_dtype == "int8"), "out_bytes": 2 if out_dtype == "int16" else 1,
        "has_skip": int(has_skip), "skip_signed": int(skip_dtype == "int8") if has_skip else 0,
        "skip_mult": int(cmd.skip_mult) if has_skip else 0, "skip_shift": int(cmd.skip_shift) if has_skip else 1,
        "lo": int(cmd.lo), "hi": int(cmd.hi),
        "psum_in": int(call.psum_in), "psum_out": int(call.psum_out),
    }
    return {name: regs[name] for name in REGISTERS}


def pack_params(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> np.ndarray:
    """The ``PARAM_BEATS_PER_LANE * pe_out`` constant beats of a call (bias only in chunk 0)."""
    g = geometry(config or default_config())
    sl = slice(call.c0, call.c0 + call.n)
    lanes = np.zeros((g.pe_out, PARAM_BEATS_PER_LANE), dtype=np.uint64)
    bias = cmd.bias[sl].astype(np.int64) if call.chunk == 0 else np.zeros(call.n, np.int64)
    b0 = (bias & 0xFFFFFFFF).astype(np.uint64)
    b0 |= (cmd.mult[sl].astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(32)
    b0 |= (cmd.mult_neg[sl].astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(48)
    lanes[:call.n, 0] = b0
    lanes[:call.n, 1] = cmd.shift[sl].astype(np.uint64) & np.uint64(0x3F)
    return lanes.reshape(-1)


def pack_weights(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> np.ndarray:
    """Weight beats of a call (layout in ``hls/conv_accel.h``)."""
    g = geometry(config or default_config())
    if cmd.kind == "dw3x3":
        w = np.zeros((9, g.pe_out), dtype=np.int8)
        w[:, :call.n] = cmd.weights[call.c0:call.c0 + call.n].reshape(call.n, 9).T
        return w.reshape(-1).view(np.uint8).view(_BEAT_DTYPE)
    k = cmd.weights.shape[1]
    cg = _ceil(call.ci1 - call.ci0, g.pe_in)
    w = np.zeros((k * k, cg * g.pe_in, g.pe_out), dtype=np.int8)  # (tap, channel, lane)
    sub = cmd.weights[call.c0:call.c0 + call.n, :, :, call.ci0:call.ci1]  # (n, k, k, c)
    w[:, :call.ci1 - call.ci0, :call.n] = sub.reshape(call.n, k * k, -1).transpose(1, 2, 0)
    # -> (tap, group, lane, byte): one beat per (tap, group, lane)
    w = w.reshape(k * k, cg, g.pe_in, g.pe_out).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(w).reshape(-1).view(np.uint8).view(_BEAT_DTYPE)


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
    """All input beats of one call, in kernel read order.

    Parameters
    ----------
    cmd, call : ConvCmd, Call
        The layer and the call.
    rows : ndarray of uint64, shape (in_h, in_w * cin_groups)
        The call's input rows packed by :func:`pack_pixels`.
    psums : ndarray of int32 (out_h, out_w, n), optional
        Partial sums from the previous chunk (when ``call.psum_in``).
    skip : ndarray of int8/uint8 (out_h, out_w, n), optional
        Residual tile (for the last chunk of a layer with a skip).
    """
    head = [pack_params(cmd, call, config), pack_weights(cmd, call, config)]
    extras = []
    if call.psum_in:
        if psums is None:
            raise ProtocolError("partial sums missing for a chained chunk")
        extras.append(pack_psums(psums))
    if skip is not None:
        extras.append(pack_pixels(skip, 8).reshape(skip.shape[0], skip.shape[1], -1))  # 8 lanes per beat
    if not extras:
        return np.concatenate(head + [rows.reshape(-1)])
    per_pixel = np.concatenate(extras, axis=2) if len(extras) > 1 else extras[0]
    per_row = per_pixel.reshape(call.out_h, -1)
    k = 1 if cmd.kind == "pw1x1" else 3
    marks = rows_before(call, cmd.stride, k)
    parts = head
    for oy in range(call.out_h):
        parts.append(rows[marks[oy]:marks[oy + 1]].reshape(-1))
        parts.append(per_row[oy])
    return np.concatenate(parts)


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


def stream_beats(cmd: ConvCmd, call: Call, config: HwConfig | None = None) -> int:
    """Exact number of input beats of a call (the MM2S transfer length / 8)."""
    g = geometry(config or default_config())
    cg = _ceil(call.ci1 - call.ci0, g.pe_in)
    k = 1 if cmd.kind == "pw1x1" else 3
    weights = 9 * g.pe_out // g.pe_in if cmd.kind == "dw3x3" else k * k * cg * g.pe_out
    rows = (call.iy1 - call.iy0) * (call.ix1 - call.ix0) * cg
    extra = (_ceil(call.n, 2) if call.psum_in else 0) + (_ceil(call.n, 8) if cmd.skip is not None
                                                          and not call.psum_out else 0)
    return PARAM_BEATS_PER_LANE * g.pe_out + weights + rows + call.out_h * call.out_w * extra


def describe_geometry(config: HwConfig | None = None) -> KernelGeometry:
    """The kernel geometry the protocol is computed for (re-exported for drivers)."""
    return geometry(config or default_config())
