"""Cutting a layer into kernel calls and the AXI-Lite register values of each call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arith import conv_out_size
from ..commands import KIND_CODES, REGISTERS
from ..config import HwConfig, default_config
from ..geometry import LB_BANKS, KernelGeometry, geometry
from ..program import ConvCmd

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
