"""DSP and BRAM estimate of the kernel from its array shapes (not a synthesis report)."""

from __future__ import annotations

import math
from typing import Any

from ..boards import Board
from ..config import HwConfig
from ..geometry import LB_BANKS, LB_ROWS, geometry
from .cycles import SHIPPED, Variant, variant_config

#: ``ctl_mul`` call sites in ``hls/conv_accel.cpp``: the kernel's run-time x run-time control products
#: (buffer checks, loop bounds, resize column addresses), one DSP48 each at most (HLS may share some).
#: ``host_tests/test_hls_sources.py`` counts them in the code.
CONTROL_PRODUCTS = 8
#: Products per lane of the resize datapath (``RS_LANES``), bound to fabric (LUTs) by BIND_OP pragmas.
RESIZE_PRODUCTS_PER_LANE = 3


def dsp48_per_product(a_bits: int, b_bits: int) -> int:
    """DSP48E1 slices of one product of two signed operands (25 x 18 signed multiplier).

    An operand wider than 25 bits is split over cascaded slices (17 more bits each);
    ``a_bits``/``b_bits`` count the sign bit (an unsigned ``w``-bit value is ``w + 1``).
    """
    wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
    if narrow > 18:
        raise ValueError(f"{a_bits} x {b_bits} bits: both operands wider than 18 bits")
    return 1 if wide <= 25 else 1 + math.ceil((wide - 25) / 17)


def estimate_resources(config: HwConfig, board: Board, variant: Variant = SHIPPED) -> dict[str, Any]:
    """DSP and BRAM36 of the kernel (+ the AXI DMA) from its array shapes, against the part's budget.

    DSP (DSP48E1 count, :func:`dsp48_per_product`): the MAC array is ``pe_in x pe_out``
    int8 x int9 products, one slice each (depthwise reuses it: 9 taps x ``pe_in``
    channels); the output stage requantises one beat per cycle, ``beat_bytes`` lanes, each
    an ``acc_bits`` x ``mult_bits`` product (32 x 16 unsigned: 2 slices) and the residual's
    9 x 16-bit product (``skip_mult`` narrowed to the multipliers' width: 1 slice); plus the
    :data:`CONTROL_PRODUCTS` narrow control products.  The resize's
    :data:`RESIZE_PRODUCTS_PER_LANE` products per lane are bound to fabric (no DSP; about
    2.5k LUTs, not modelled).  BRAM36 (512 x 72 each): the weight buffer is ``pe_out``
    memories of ``wbuf_words`` x ``8*pe_in`` bits; the line buffer 3 rows x 3 banks of
    ``lb_row_words / 3`` x ``9*pe_in`` bits (act_t is 9 bits); the per-channel constants
    (``max_out`` x 70 bits), the input table and the two resize coefficient tables are
    LUTRAM; the AXI DMA's FIFOs about 4, the side (MM2S-only) DMA about 2.
    ``hls/README.md`` shows the table and ``host_tests/test_hls_sources.py`` re-derives it
    from the C++ declarations.
    """
    cfg, lanes = variant_config(config, variant)
    g = geometry(cfg)
    arith = cfg.raw["arith"]
    act, acc, mult = int(arith["act_bits"]) + 1, int(arith["acc_bits"]), int(arith["mult_bits"]) + 1
    mac = g.pe_in * lanes * dsp48_per_product(int(arith["weight_bits"]), act) // variant.macs_per_dsp
    requant = g.beat_bytes * dsp48_per_product(acc, mult)
    residual = g.beat_bytes * dsp48_per_product(act, mult)
    control = CONTROL_PRODUCTS
    resize = 0  # RESIZE_PRODUCTS_PER_LANE * pe_in products, all in fabric
    dsp = mac + requant + residual + control + resize

    def bram36(depth: int, width: int) -> int:
        return math.ceil(width / 72) * math.ceil(depth / 512)

    wbuf = lanes * bram36(g.wbuf_words, 8 * g.pe_in)
    lbuf = LB_ROWS * (2 if variant.overlap_loads else 1) * LB_BANKS * bram36(g.lb_bank_words, 9 * g.pe_in)
    tables = 0  # LUTRAM (BIND_STORAGE in run_resize): their BRAM36 went to the side DMA
    dma = 4 + 2
    bram = wbuf + lbuf + tables + dma
    return {
        "dsp": dsp, "dsp_budget": board.dsp,
        "dsp_detail": {"mac_array": mac, "requant": requant, "residual": residual, "control": control,
                       "resize": resize},
        "resize_fabric_products": RESIZE_PRODUCTS_PER_LANE * g.pe_in,
        "bram36": bram, "bram36_budget": board.bram36,
        "bram36_detail": {"weight_buffer": wbuf, "line_buffer": lbuf, "resize_tables": tables, "axi_dma": dma},
        "over_budget": [name for name, used, budget in (("dsp", dsp, board.dsp), ("bram36", bram, board.bram36))
                        if used > budget],
        "note": "estimated from the kernel's array shapes (no synthesis report); LUT/FF not modelled",
    }


def format_resources(r: dict[str, Any]) -> str:
    """The resource line of ``pynq-depth bench`` (totals and their parts)."""
    flag = "  OVER BUDGET: " + ", ".join(r["over_budget"]) if r["over_budget"] else ""
    dsp = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["dsp_detail"].items())
    bram = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["bram36_detail"].items())
    return (f"resources (estimate): DSP {r['dsp']} / {r['dsp_budget']} ({dsp}), "
            f"BRAM36 {r['bram36']} / {r['bram36_budget']} ({bram}){flag}")
