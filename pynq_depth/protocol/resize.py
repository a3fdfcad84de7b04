"""Bilinear resize on the accelerator (kind ``resize``): its call, registers, coefficient head and beat counts."""

from __future__ import annotations

import numpy as np

from ..commands import KIND_CODES, REGISTERS
from ..config import HwConfig, default_config
from ..geometry import LB_BANKS, geometry
from .plan import Call, ProtocolError, _ceil


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
    from ..arith import resize_coeffs

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
