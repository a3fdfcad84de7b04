"""DSP and BRAM estimate of the kernel from its array shapes (not a synthesis report)."""

from __future__ import annotations

import math
from typing import Any

from ..boards import Board
from ..geometry import LB_BANKS, LB_ROWS, geometry
from ..config import HwConfig
from .cycles import SHIPPED, Variant, variant_config


def estimate_resources(config: HwConfig, board: Board, variant: Variant = SHIPPED) -> dict[str, Any]:
    """DSP and BRAM36 of the kernel (+ the AXI DMA) from its array shapes, against the part's budget.

    DSP: one DSP48 per product of the ``pe_in x pe_out`` array (int8 x int9; depthwise reuses
    it: 9 taps x ``pe_in`` channels); the output stage requantises 8 lanes per beat, each a
    32x16-bit product (2 DSP48) and the residual 9x16-bit product (1); about 10 for address
    products (``(p / 3) * cin_groups``, ``oy * stride``, the register checks).  The resize's
    per-lane 9x9/20x9-bit products (3 per lane) are mapped to fabric (about 2.5k LUTs).
    BRAM36 (512 x 72 each): the weight buffer is ``pe_out`` memories of ``wbuf_words`` x
    ``8*pe_in`` bits; the line buffer 3 rows x 3 banks of ``lb_row_words / 3`` x ``9*pe_in``
    bits (act_t is 9 bits); the per-channel constants (``max_out`` x 70 bits) and the two resize
    coefficient tables (``max_width`` x 41 bits each, 52 kbit for 640: ~820 LUTs as 64x1 LUTRAM) are
    LUTRAM; the AXI DMA's FIFOs about 4, the side (MM2S-only) DMA about 2.
    """
    cfg, lanes = variant_config(config, variant)
    g = geometry(cfg)
    mac = g.pe_in * lanes // variant.macs_per_dsp
    requant = 8 * 3
    address = 10
    dsp = mac + requant + address

    def bram36(depth: int, width: int) -> int:
        return math.ceil(width / 72) * math.ceil(depth / 512)

    wbuf = lanes * bram36(g.wbuf_words, 8 * g.pe_in)
    lbuf = LB_ROWS * (2 if variant.overlap_loads else 1) * LB_BANKS * bram36(g.lb_bank_words, 9 * g.pe_in)
    tables = 0  # LUTRAM (BIND_STORAGE in run_resize): their BRAM36 went to the side DMA
    dma = 4 + 2
    bram = wbuf + lbuf + tables + dma
    return {
        "dsp": dsp, "dsp_budget": board.dsp, "dsp_detail": {"mac_array": mac, "requant": requant, "address": address},
        "bram36": bram, "bram36_budget": board.bram36,
        "bram36_detail": {"weight_buffer": wbuf, "line_buffer": lbuf, "resize_tables": tables, "axi_dma": dma},
        "over_budget": [name for name, used, budget in (("dsp", dsp, board.dsp), ("bram36", bram, board.bram36))
                        if used > budget],
        "note": "estimated from the kernel's array shapes (no synthesis report); LUT/FF not modelled",
    }
