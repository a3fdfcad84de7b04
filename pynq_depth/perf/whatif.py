"""What-if: the shipped design against proposed kernel and driver changes, each modelled."""

from __future__ import annotations

from ..boards import Board, get_board
from ..config import HwConfig, default_config
from .cycles import SHIPPED, Variant
from .model import Report, model


def g_mac(config: HwConfig) -> int:
    """DSPs of the configuration's MAC array (one MAC per DSP)."""
    return config.pe_in * config.pe_out


def what_if_variants(board: Board, config: HwConfig | None = None) -> list[Variant]:
    """Further changes beyond the shipped design, each alone and combined (see docs/performance.md)."""
    config = config or default_config()
    fast_clock = float(min(board.kernel_clock_mhz_max, 250))
    fast_clock = max(fast_clock, config.clock_mhz)
    out = [
        SHIPPED,
        Variant("A: C driver / command queue (call overhead /10)", call_overhead_scale=0.1),
        Variant("D: row loads overlap compute", overlap_loads=True),
        Variant("A+D", call_overhead_scale=0.1, overlap_loads=True),
    ]
    if fast_clock > config.clock_mhz:
        out.append(Variant(f"kernel clock {fast_clock:g} MHz", clock_mhz=fast_clock))
    if board.dsp >= 2 * g_mac(config) + 34:
        out.append(Variant(f"pe {config.pe_in}x{2 * config.pe_out}", pe_out=2 * config.pe_out))
    return out


def what_if(board: Board | str, config: HwConfig | None = None, model_name: str | None = None,
            size: tuple[int, int] | None = None, repeats: int = 3) -> list[Report]:
    """Model every variant of :func:`what_if_variants` (processor work measured once per plan)."""
    board = get_board(board) if isinstance(board, str) else board
    cache: dict[tuple, float] = {}
    return [model(board, config, model_name, size, variant=v, repeats=repeats, cpu_cache=cache)
            for v in what_if_variants(board, config)]


def format_what_if(reports: list[Report]) -> str:
    """One line per variant: fps, ms split, resources."""
    base = reports[0].total_s
    lines = [f"{'variant':52s} {'fps':>6s} {'gain':>5s} {'ms':>7s} {'compute':>8s} {'stall':>6s} {'cpu':>6s} "
             f"{'driver':>7s} {'calls':>5s} {'DMA MB':>7s} {'DSP':>9s} {'BRAM36':>8s}"]
    for r in reports:
        b = r.breakdown_ms()
        res = r.resources
        lines.append(f"{r.variant.name[:52]:52s} {r.fps:6.2f} {base / r.total_s:5.2f} {r.total_s * 1e3:7.1f} "
                     f"{b['accel_compute']:8.1f} {b['accel_dma_stall']:6.1f} "
                     f"{b['cpu_stream_packing'] + b['cpu_resize_concat']:6.1f} {b['driver_overhead']:7.1f} "
                     f"{int(r.total('calls')):5d} {(r.total('in_bytes') + r.total('out_bytes')) / 1e6:7.1f} "
                     f"{res['dsp']:4d}/{res['dsp_budget']:<4d} {res['bram36']:3d}/{res['bram36_budget']:<4d}"
                     + (" OVER" if res["over_budget"] else ""))
    return "\n".join(lines)
