"""The host side of the accelerator's stream protocol (NumPy only).

Everything the processor must do to run one :class:`~pynq_depth.program.ConvCmd`
on ``hls/conv_accel.cpp`` lives here, shared by the C-simulation backend and
the PYNQ board driver so that both speak exactly the same protocol:

* :func:`plan_layer` cuts a layer into kernel *calls*: output-channel groups of
  at most ``pe_out`` channels, input-channel chunks whose weights fit the weight
  buffer (chained through int32 partial sums), and column tiles whose padded
  rows fit the line buffer.  Rows are never tiled: the kernel keeps three rows.
* :func:`registers` gives the AXI-Lite register values of a call.
* :func:`build_input_stream` packs constants, weights and input rows into
  64-bit beats in the order the kernel reads them from its ``in`` stream;
  :func:`build_side_stream` gives the per-pixel extras (partial sums,
  residual) of its second input ``side`` (fed by a second, MM2S-only DMA);
  :func:`output_beats` / :func:`unpack_output` do the other side.

Stream summary (see ``hls/conv_accel.h`` for the authoritative text): input =
``2*pe_out`` constant beats, weight beats, then the input rows in order
(``in_w * cin_groups`` beats each, ``pe_in`` channels per beat); side = per
output pixel and output block ``ceil(nl/2)`` partial-sum beats and
``ceil(nl/8)`` residual beats when enabled (with only one of them: the tensor's
own layout, sent without a copy).  Output = per pixel ``ceil(n*bytes/8)`` beats (int32 pairs
for partial sums); TLAST on the final beat.

Padding is made on chip (registers ``pad_t/b/l/r``), so ``pw1x1`` with
``pad=1`` (the ``densedepth-mnv2`` bottleneck quirk) runs natively like any
other padded layer; no host-side zero padding is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .arith import apply_input_table, conv_out_size
# The command format (register names in the order of the kernel's arguments and of ``pd_conv_call``,
# layer-kind codes, error bits of the return value) is defined once in pynq_depth/commands.py.
from .commands import KERNEL_ERRORS, KIND_CODES, REGISTERS  # noqa: F401 (re-exported)
from .config import HwConfig, default_config
from .geometry import LB_BANKS, PARAM_BEATS_PER_LANE, KernelGeometry, geometry
from .program import ConvCmd

#: Beats of the input quantisation table a call with ``in_rgb`` reads after its weights (3 x 256 bytes).
INPUT_TABLE_BEATS = 3 * 256 // 8
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


def _conv_blocks(groups: int, ogroups: int, k: int, g: KernelGeometry) -> tuple[int, int]:
    """(input chunks, output groups per call) with the fewest calls whose weights fit the buffer."""
    best: tuple[int, int, int] | None = None
    for n_chunks in range(1, groups + 1):
        cgc = _ceil(groups, n_chunks)
        if n_chunks > 1 and _ceil(groups, cgc) < n_chunks:
            continue  # same chunk size as a smaller count
        gpc = min(g.wbuf_words // (k * k * cgc), g.max_out // g.pe_out, ogroups)
        if gpc < 1:
            continue
        calls = n_chunks * _ceil(ogroups, gpc)
        if best is None or calls < best[0]:
            best = (calls, n_chunks, gpc)
        if gpc == ogroups:
            break  # more chunks only add partial-sum traffic
    if best is None:
        raise ProtocolError(f"{k}x{k} weights of one channel group do not fit the weight buffer")
    return best[1], best[2]


def plan_layer(cmd: ConvCmd, in_shape: tuple[int, int, int], config: HwConfig | None = None) -> list[Call]:
    """Cut one layer into kernel calls (execution order: chunks of a tile are consecutive).

    A call computes every output channel whose weights fit the weight buffer
    (``n`` up to ``max_out``, in blocks of ``pe_out`` lanes; depthwise in blocks
    of ``pe_in`` channels), so the input rows are streamed once per call; the
    plan picks the input-channel chunking with the fewest calls.

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
    groups = _ceil(cin, g.pe_in)
    if dw:
        most = min(g.max_out // g.pe_in, g.wbuf_words)
        blocks = [(a * g.pe_in, min(cin, b * g.pe_in)) for a, b in _split(groups, most)]
        chunk_sets = [[blk] for blk in blocks]
    else:
        n_chunks, gpc = _conv_blocks(groups, _ceil(cout, g.pe_out), k, g)
        chunks = [(a * g.pe_in, min(cin, b * g.pe_in)) for a, b in _split(groups, _ceil(groups, n_chunks))]
        blocks = [(a * g.pe_out, min(cout, b * g.pe_out)) for a, b in _split(_ceil(cout, g.pe_out), gpc)]
        chunk_sets = [chunks] * len(blocks)
    calls: list[Call] = []
    for (c0, c1), chunks in zip(blocks, chunk_sets):
        # One set of column tiles for all chunks (partial sums chain tile by tile),
        # sized for the chunk with the most channel groups.
        cg = max(_ceil(b - a, g.pe_in) for a, b in chunks)
        widest = (g.lb_bank_words // cg) * LB_BANKS  # padded input columns one line-buffer row holds
        if widest < k:
            raise ProtocolError(f"{cmd.name}: {cg} channel groups do not fit one line-buffer row")
        most = (widest - k) // s + 1
        for ox0, ox1 in _split(wo, most):
            ix0, ix1, pad_l, pad_r = _span(ox0, ox1, s, pad, k, w)
            for ci, (ci0, ci1) in enumerate(chunks):
                calls.append(Call(c0, c1 - c0, ci0, ci1, ci, len(chunks), ox0, ox1, ix0, ix1, pad_l, pad_r,
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
        "psum_in": int(call.psum_in), "psum_out": int(call.psum_out), "cat_groups": 0, "in_rgb": 0,
    }
    return {name: regs[name] for name in REGISTERS}


def changed_registers(previous: dict[str, int] | None, regs: dict[str, int]) -> list[str]:
    """The :data:`REGISTERS` a driver writes for a call whose values are ``regs`` when the kernel
    still holds ``previous`` (the last call's values; None: unknown, all of them).

    HLS AXI-Lite argument registers keep their value between calls, so only changed ones
    are written (``ConvAccelIP.write_args``; counted by :mod:`pynq_depth.perf`).
    """
    if previous is None:
        return list(REGISTERS)
    return [name for name in REGISTERS if previous.get(name) != regs[name]]


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


# ---------------------------------------------------------------- prepared programs
@dataclass
class PreparedLayer:
    """A layer planned and its constants + weights packed once (per program, not per call).

    Attributes
    ----------
    cmd : ConvCmd
    in_shape : tuple of int
    calls : list of Call
        :func:`plan_layer`.
    heads : list of ndarray of uint64
        Per call, the constant and weight beats that open its input stream
        (a driver keeps them in one DMA buffer for the program's lifetime).
    config : HwConfig
    """

    cmd: ConvCmd
    in_shape: tuple[int, int, int]
    calls: list[Call]
    heads: list[np.ndarray]
    config: HwConfig
    pe_in: int = 8
    #: The layer reads the raw frame and quantises it on the kernel (register ``in_rgb``;
    #: its head ends with the input table).
    rgb: bool = False
    _regs: dict = field(default_factory=dict, repr=False)

    @property
    def assembled(self) -> bool:
        """Whether several calls write parts of the output (channel blocks, column tiles), which
        :func:`run_layer` then assembles on the processor (into ``result_out``)."""
        return sum(not c.psum_out for c in self.calls) > 1

    def registers(self, index: int, in_dtype: str, out_dtype: str, skip_dtype: str | None) -> dict[str, int]:
        """:func:`registers` of call ``index`` (computed once per dtype combination)."""
        key = (index, in_dtype, out_dtype, skip_dtype)
        regs = self._regs.get(key)
        if regs is None:
            regs = registers(self.cmd, self.calls[index], in_dtype, out_dtype, skip_dtype, self.config)
            regs["in_rgb"] = int(self.rgb)
            regs["_out_beats"] = output_beats(self.calls[index], out_dtype)
            self._regs[key] = regs
        return regs


def rgb_capable(cmd: ConvCmd, in_shape: tuple[int, int, int], calls: list[Call], config: HwConfig) -> bool:
    """Whether the kernel can quantise this layer's input itself (register ``in_rgb``): 3 channels
    (one group), a standard or pointwise kernel, and one call reading whole rows of the frame (it
    is streamed as it lies in memory, 3 bytes per pixel, rows back to back)."""
    h, w, c = in_shape
    return (c == 3 and config.pe_in >= 3 and cmd.kind != "dw3x3" and cmd.skip is None and len(calls) == 1
            and calls[0].ix0 == 0 and calls[0].ix1 == w and calls[0].iy0 == 0 and calls[0].iy1 == h
            and not calls[0].psum_in and not calls[0].psum_out)


def pack_input_table(lut: np.ndarray) -> np.ndarray:
    """The 3 x 256 int8 input table as :data:`INPUT_TABLE_BEATS` beats (channel c, byte v: beat
    c*32 + v//8, lane v%8)."""
    table = np.ascontiguousarray(np.asarray(lut, dtype=np.int8).reshape(3, 256))
    return table.view(np.uint8).reshape(-1).view(_BEAT_DTYPE).copy()


def prepare_layer(cmd: ConvCmd, in_shape: tuple[int, int, int], config: HwConfig | None = None,
                  input_lut: np.ndarray | None = None) -> PreparedLayer:
    """Plan a layer and pack every call's constants and weights (done once per program).

    ``input_lut`` (the program's 3 x 256 input table, for the layer that reads the frame):
    the kernel quantises the raw frame itself when :func:`rgb_capable`.
    """
    config = config or default_config()
    calls = plan_layer(cmd, in_shape, config)
    heads = [np.concatenate([pack_params(cmd, c, config), pack_weights(cmd, c, config)]) for c in calls]
    rgb = input_lut is not None and rgb_capable(cmd, tuple(in_shape), calls, config)  # type: ignore[arg-type]
    if rgb:
        heads[0] = np.concatenate([heads[0], pack_input_table(input_lut)])  # type: ignore[arg-type]
    return PreparedLayer(cmd, tuple(in_shape), calls, heads, config, config.pe_in, rgb)  # type: ignore[arg-type]


def frame_reader(program) -> ConvCmd | None:
    """The convolution that reads the network input, when it is its only reader (else None)."""
    readers = [c for c in program.commands if "input" in c.inputs]  # ConvCmd.inputs covers input and skip
    return readers[0] if len(readers) == 1 and isinstance(readers[0], ConvCmd) else None


def prepare_program(program, config: HwConfig | None = None) -> dict[str, PreparedLayer]:
    """:func:`prepare_layer` for every convolution of a program, keyed by command name (the frame's
    only reader with the program's input table: see :func:`rgb_capable`)."""
    first = frame_reader(program)
    return {cmd.name: prepare_layer(cmd, tuple(program.tensors[cmd.input].shape), config,
                                    program.input_lut if cmd is first else None)
            for cmd in program.conv_commands}


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


def input_segments(prep: PreparedLayer, index: int, x: np.ndarray, psums: np.ndarray | None = None,
                   skip: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The streams of call ``index``: ([head, rows] for ``in``, side beats or None).

    ``head`` is the pre-packed constants + weights; ``rows`` is a view of ``x``
    when ``x`` is in the stream layout (whole width, all channels), else a packed
    copy.  ``side`` carries the partial sums (the previous call's output beats)
    or the residual (a kernel output in its slot) as they lie, without a copy;
    only a call with both (the last chunk of a chained layer with a residual)
    interleaves them per block on the processor.  A driver sends the ``in``
    segments as consecutive MM2S transfers (the kernel ignores TLAST on its
    input) and ``side`` through the second DMA at the same time.
    """
    call = prep.calls[index]
    rows = packed_rows(x, call, prep.pe_in)
    side = pixel_extras(prep.cmd, call, psums, skip, prep.config)
    return [prep.heads[index], rows.reshape(-1)], (None if side is None else side.reshape(-1))


class CatInput:
    """A channel concat left unmade: its two parts, sent to the consuming layer as they lie.

    The first part's rows go on ``in``, the second part's on ``side`` (register
    ``cat_groups`` = the first part's channel groups; ``hls/conv_accel.h``).
    ``shape`` and ``dtype`` are those of the concat; :meth:`concatenate` makes it.
    """

    __slots__ = ("parts", "shape", "dtype")

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.parts = (a, b)
        self.shape = (*a.shape[:2], a.shape[2] + b.shape[2])
        self.dtype = a.dtype

    def concatenate(self) -> np.ndarray:
        """The concat as an array."""
        return np.concatenate(self.parts, axis=-1)


class RawFrame:
    """The network input as the camera gives it, for a kernel that quantises it (register ``in_rgb``).

    ``beats`` hold the (H, W, 3) uint8 frame as it lies in memory, the last beat
    zero-padded; ``lut`` is the program's 3 x 256 input table.  ``shape`` and
    ``dtype`` are those of the quantised input; :meth:`quantized` makes it (what
    :func:`~pynq_depth.backends.base.quantize_input` gives).
    """

    __slots__ = ("beats", "rgb", "lut", "shape", "dtype")

    def __init__(self, beats: np.ndarray, hw: tuple[int, int], lut: np.ndarray) -> None:
        h, w = hw
        if beats.dtype != _BEAT_DTYPE or beats.size != _ceil(h * w * 3, 8):
            raise ValueError(f"a {h}x{w} frame needs {_ceil(h * w * 3, 8)} beats, got {beats.size} {beats.dtype}")
        self.beats = beats
        self.rgb = beats.view(np.uint8)[:h * w * 3].reshape(h, w, 3)
        self.lut = lut
        self.shape = (h, w, 3)
        self.dtype = np.dtype(np.int8)

    @classmethod
    def of(cls, rgb: np.ndarray, lut: np.ndarray) -> "RawFrame":
        """A frame in a new beat buffer."""
        h, w, _ = rgb.shape
        beats = np.zeros(_ceil(h * w * 3, 8), dtype=_BEAT_DTYPE)
        beats.view(np.uint8)[:h * w * 3] = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1)
        return cls(beats, (h, w), lut)

    def quantized(self) -> np.ndarray:
        """The quantised (H, W, 3) int8 input."""
        return apply_input_table(self.lut, self.rgb, np.empty(self.shape, dtype=np.int8))


def materialize(x):
    """``x``, or the concat a :class:`CatInput` stands for, or the quantised :class:`RawFrame`."""
    if isinstance(x, CatInput):
        return x.concatenate()
    return x.quantized() if isinstance(x, RawFrame) else x


def cat_fusable(prep: PreparedLayer, first_channels: int) -> bool:
    """Whether a layer can take a two-part concat input through the side stream (:class:`CatInput`):
    the first part a whole number of channel groups, every call reading all channels of whole
    rows, and the side stream free (no partial sums in, no residual)."""
    h, w, c = prep.in_shape
    return (0 < first_channels < c and first_channels % prep.pe_in == 0 and prep.cmd.skip is None
            and all(call.ci0 == 0 and call.ci1 == c and call.ix0 == 0 and call.ix1 == w and not call.psum_in
                    for call in prep.calls))


def fused_concats(program, config: HwConfig | None = None) -> set[str]:
    """Concats of ``program`` left unmade (:class:`CatInput`): two parts of one dtype, read only by one
    convolution as its input, which :func:`cat_fusable` accepts (the kernel reads the second part on
    ``side``).  The others are made on the processor."""
    from .program import HostCmd

    config = config or default_config()
    readers: dict[str, list] = {}
    for cmd in program.commands:
        for name in cmd.inputs:
            readers.setdefault(name, []).append(cmd)
    fused = set()
    for cmd in program.commands:
        if not isinstance(cmd, HostCmd) or cmd.op != "concat" or len(cmd.inputs) != 2:
            continue
        a, b = (program.tensors[name] for name in cmd.inputs)
        users = readers.get(cmd.output, [])
        if (cmd.output == program.output or a.dtype != b.dtype or len(users) != 1
                or not isinstance(users[0], ConvCmd) or users[0].input != cmd.output or users[0].skip == cmd.output):
            continue
        try:
            prep = PreparedLayer(users[0], tuple(program.tensors[cmd.output].shape),  # type: ignore[arg-type]
                                 plan_layer(users[0], tuple(program.tensors[cmd.output].shape), config), [],
                                 config, config.pe_in)
        except ProtocolError:
            continue
        if cat_fusable(prep, int(a.shape[2])):
            fused.add(cmd.output)
    return fused


def _rows_of(x: np.ndarray, call: Call, pe_in: int) -> np.ndarray:
    view = stream_view(x[call.iy0:call.iy1], pe_in)
    return view if view is not None else pack_pixels(x[call.iy0:call.iy1], pe_in)


class _Where:
    """Lazy description of a call for error messages (formatted only when one is raised)."""

    __slots__ = ("name", "call")

    def __init__(self, name: str, call: Call) -> None:
        self.name, self.call = name, call

    def __str__(self) -> str:
        c = self.call
        return (f"layer {self.name}: channels {c.c0}..{c.c0 + c.n - 1}, columns {c.ox0}..{c.ox1 - 1}, "
                f"chunk {c.chunk + 1}/{c.n_chunks}")

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731


def run_layer(prep: PreparedLayer, x: np.ndarray, skip: np.ndarray | None, out_dtype: str, kernel,
              result_dtype=None, result_out: np.ndarray | None = None,
              assembly: list | None = None) -> np.ndarray:
    """Run one layer through ``kernel(regs, segments, side, n_out_beats, where) -> beats`` (the host
    side shared by the csim backend, the board driver and the performance model's measurement).
    ``segments`` feed the kernel's ``in`` stream, ``side`` (None or beats) its ``side`` stream.

    ``regs`` holds the :data:`REGISTERS` (and ``_out_beats``, a copy of the third argument).
    A call that writes every output channel and column returns its output as a
    view of the beats (no copy): the HWC layout padded to whole beats *is* the
    next layer's input layout.  Partial sums chain from call to call as beats.
    The outputs of a layer made of several calls (channel blocks, column tiles)
    are assembled on the processor into ``result_out`` (an (Ho, Wo, Cout) array,
    e.g. a view of a DMA slot) or a new array; ``assembly`` (a list) then gets
    every (destination, source) pair copied, so that a driver can repeat them.
    """
    cmd, calls = prep.cmd, prep.calls
    if isinstance(x, RawFrame):
        if prep.rgb:  # the kernel quantises the frame: one call, the frame's bytes as they lie
            regs = prep.registers(0, "int8", out_dtype, None)
            beats = kernel(regs, [prep.heads[0], x.beats], None, regs["_out_beats"], _Where(cmd.name, calls[0]))
            return unpack_output(beats, calls[0], out_dtype)
        x = x.quantized()
    cat = None
    if isinstance(x, CatInput):
        a, b = x.parts
        if a.dtype == b.dtype and cat_fusable(prep, a.shape[2]):
            cat = a.shape[2] // prep.pe_in
        else:
            x = x.concatenate()
    in_dtype = x.dtype.name
    skip_dtype = skip.dtype.name if skip is not None else None
    ho, wo = calls[0].out_h, max(c.ox1 for c in calls)
    cout = x.shape[2] if cmd.kind == "dw3x3" else int(cmd.weights.shape[0])
    result = None
    psums = None
    for i, call in enumerate(calls):
        regs = prep.registers(i, in_dtype, out_dtype, skip_dtype)
        skip_tile = None
        if regs["has_skip"]:
            skip_tile = skip[:, call.ox0:call.ox1, call.c0:call.c0 + call.n]
        if cat is not None:  # concat through the side stream: first part on `in`, second on `side`
            regs = dict(regs, cat_groups=cat)
            segments = [prep.heads[i], _rows_of(x.parts[0], call, prep.pe_in).reshape(-1)]
            side = _rows_of(x.parts[1], call, prep.pe_in).reshape(-1)
        else:
            segments, side = input_segments(prep, i, x, psums if call.psum_in else None, skip_tile)
        beats = kernel(regs, segments, side, regs["_out_beats"], _Where(cmd.name, call))
        if call.psum_out:
            psums = beats if call.n % 2 == 0 else unpack_output(beats, call, out_dtype)
            continue
        value = unpack_output(beats, call, out_dtype)
        if len(calls) == 1 or (call.c0 == 0 and call.n == cout and call.ox0 == 0 and call.ox1 == wo
                               and result is None and call is calls[-1]):
            return value
        if result is None:
            result = result_out if result_out is not None else np.empty((ho, wo, cout),
                                                                         dtype=result_dtype or value.dtype)
        target = result[:, call.ox0:call.ox1, call.c0:call.c0 + call.n]
        target[...] = value
        if assembly is not None:
            assembly.append((target, value))
    assert result is not None
    return result


@dataclass(frozen=True)
class RecordedLayer:
    """A layer whose kernel calls depend on nothing but resident DMA buffers, recorded on its first frame.

    Once a program is prepared, every call's register values, DMA pieces and output
    slot are fixed.  When the layer gets the same input (and residual) objects again
    (their producers were replayed too, or they are fixed slots), a driver makes the
    same calls (:meth:`replay`) without :func:`run_layer`'s per-frame planning,
    packing and locating, and returns the same output view.  The performance model
    times :meth:`matches` + :meth:`replay` with a no-op ``execute`` as the layer's
    processor work (the calls themselves are the driver's per-call cost).

    Attributes
    ----------
    inputs : tuple
        The objects the layer was recorded with (compared by identity).
    calls : tuple of tuple
        The arguments of ``execute`` for every call, in order.
    output : ndarray
        The layer's output (a view of a DMA buffer).
    copies : tuple of (ndarray, ndarray)
        (destination, source) copies after the calls: a layer of several calls
        assembled on the processor (``run_layer``'s ``assembly``).
    flush : object or None
        Buffer to ``flush()`` after the copies (a cacheable DMA slot).
    """

    inputs: tuple[Any, ...]
    calls: tuple[tuple[Any, ...], ...]
    output: Any
    copies: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    flush: Any = None

    def matches(self, inputs: tuple[Any, ...]) -> bool:
        """Whether ``inputs`` are the very objects the layer was recorded with."""
        return len(inputs) == len(self.inputs) and all(a is b for a, b in zip(inputs, self.inputs))

    def replay(self, execute: Callable[..., Any]) -> Any:
        """Make the recorded calls through ``execute`` and the copies; returns the output."""
        for call in self.calls:
            execute(*call)
        if self.copies:
            for target, value in self.copies:
                target[...] = value
            if self.flush is not None:
                self.flush.flush()
        return self.output


# ---------------------------------------------------------------- resize on the accelerator
def resize_call(in_shape: tuple[int, int, int], out_hw: tuple[int, int], config: HwConfig | None = None) -> Call:
    """The single kernel call of a bilinear resize (ProtocolError when it does not fit the kernel)."""
    g = geometry(config or default_config())
    h, w, c = in_shape
    oh, ow = out_hw
    cg = _ceil(c, g.pe_in)
    if c % g.pe_in or _ceil(w, LB_BANKS) * cg > g.lb_bank_words or max(ow, oh) > g.max_width:
        raise ProtocolError(f"resize {in_shape} -> {out_hw} does not fit the kernel")
    return Call(0, c, 0, c, 0, 1, 0, ow, 0, w, 0, 0, 0, h, 0, 0, oh)


def resize_registers(call: Call, in_dtype: str, config: HwConfig | None = None) -> dict[str, int]:
    """Register values of a resize call (unused registers 0)."""
    g = geometry(config or default_config())
    regs = dict.fromkeys(REGISTERS, 0)
    regs.update(kind=KIND_CODES["resize"], stride=1, in_h=call.iy1, in_w=call.ix1, out_h=call.out_h,
                out_w=call.out_w, cin_groups=_ceil(call.n, g.pe_in), n_out=call.n,
                in_signed=int(in_dtype == "int8"), out_bytes=1, skip_shift=1)
    return regs


def resize_head(call: Call, config: HwConfig | None = None) -> np.ndarray:
    """The coefficient beats of a resize call: x table (out_w) then y table (out_h)."""
    from .arith import resize_coeffs

    frac_bits = (config or default_config()).resize_frac_bits
    tables = []
    for n_in, n_out in ((call.ix1, call.out_w), (call.iy1, call.out_h)):
        i0, i1, frac = resize_coeffs(n_in, n_out, frac_bits)
        tables.append((i0.astype(np.uint64) | (i1.astype(np.uint64) << np.uint64(16))
                       | (frac.astype(np.uint64) << np.uint64(32))))
    return np.concatenate(tables)


def resize_stream_beats(call: Call, config: HwConfig | None = None) -> int:
    """Input beats of a resize call."""
    g = geometry(config or default_config())
    return call.out_w + call.out_h + call.iy1 * call.ix1 * _ceil(call.n, g.pe_in)


def resize_output_beats(call: Call, config: HwConfig | None = None) -> int:
    """Output beats of a resize call."""
    g = geometry(config or default_config())
    return call.out_h * call.out_w * _ceil(call.n, g.pe_in)
