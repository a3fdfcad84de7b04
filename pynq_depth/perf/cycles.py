"""Kernel cycles and DMA time of one call, following the loop structure of ``hls/conv_accel.cpp``.

Pipeline depths are in :class:`KernelTiming` (ASSUMPTIONS: no C-synthesis report
exists here); :class:`Variant` describes a kernel/driver change for what-if modelling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import protocol
from ..boards import Board
from ..config import HwConfig
from ..geometry import PARAM_BEATS_PER_LANE, geometry
from ..program import ConvCmd


@dataclass(frozen=True)
class KernelTiming:
    """Cycle constants of the kernel's loops (ASSUMPTIONS, see the module notes).

    A pipelined loop of ``n`` iterations at initiation interval ``ii`` and depth
    ``d`` takes ``(n - 1) * ii + d`` cycles plus ``loop_overhead`` to enter and
    leave it; every iteration of a non-pipelined loop costs ``loop_overhead``.

    Attributes
    ----------
    call_setup : int
        Register checks and ``ap_start``/``ap_done`` handshake per call.
    io_depth : int
        PARAMS / WEIGHTS / PSUM_IN / SKIP_IN pipelines (read a beat, split it, write registers/BRAM).
    load_depth : int
        ``ROW_GROUPS`` (read a beat, sign-extend, BRAM write).
    mac_depth : int
        ``MAC_GROUPS`` / ``DW_KX``: BRAM reads (2), int8 x int9 multiply (2), adder tree of
        ``PE_IN`` products (2), accumulate (1).
    out_depth : int
        ``OUT_BEATS``: 32x16-bit multiply over two DSP48 (4), rounding shift (2), residual add
        and clamp (2), stream write (1).
    loop_overhead : int
        FSM state to enter/leave a loop (or one non-pipelined iteration).
    """

    call_setup: int = 12
    io_depth: int = 3
    load_depth: int = 3
    mac_depth: int = 7
    out_depth: int = 9
    loop_overhead: int = 1

    def pipe(self, n: int, ii: int, depth: int) -> int:
        """Cycles of one pipelined loop execution (0 iterations: just the check)."""
        if n <= 0:
            return self.loop_overhead
        return (n - 1) * ii + depth + self.loop_overhead


#: An ideal kernel: no pipeline fill, no loop overhead (for "how far from peak").
IDEAL_TIMING = KernelTiming(call_setup=0, io_depth=1, load_depth=1, mac_depth=1, out_depth=1, loop_overhead=0)


@dataclass(frozen=True)
class Variant:
    """A kernel/driver variant for what-if modelling (the default is the shipped design).

    Attributes
    ----------
    name : str
        Label.
    overlap_loads : bool
        Row loads overlap the previous row's compute (ping-pong line buffer).
    pe_out : int or None
        MAC array lanes (None = the configuration's).
    clock_mhz : float or None
        Kernel clock (None = the configuration's ``target.clock_mhz``).
    call_overhead_scale : float
        Multiplies the per-call driver time (e.g. a C driver or command queue).
    cpu_scale : float
        Multiplies the measured processor work of convolutions (interleaving, unpacking).
    host_ops_on_accel : bool
        Concat fused into the next convolution's row loads (no processor time).
    macs_per_dsp : int
        2 with int8 operand packing (two products sharing one operand per DSP48).
    """

    name: str = "shipped"
    overlap_loads: bool = False
    pe_out: int | None = None
    clock_mhz: float | None = None
    call_overhead_scale: float = 1.0
    cpu_scale: float = 1.0
    host_ops_on_accel: bool = False
    macs_per_dsp: int = 1


SHIPPED = Variant()


def variant_config(config: HwConfig, variant: Variant) -> tuple[HwConfig, int]:
    """Configuration of a variant (MAC lanes, clock; weight-buffer depth kept) and its MAC lanes."""
    lanes = variant.pe_out or config.pe_out
    clock = variant.clock_mhz or config.clock_mhz
    if lanes == config.pe_out and clock == config.clock_mhz:
        return config, lanes
    raw = json.loads(json.dumps(config.raw))
    scale = lanes / config.pe_out
    raw["parallel"]["pe_out"] = lanes
    raw["buffers"]["weight_buffer_bytes"] = int(raw["buffers"]["weight_buffer_bytes"] * scale)
    raw["target"]["clock_mhz"] = clock
    return HwConfig(raw=raw, path=config.path), lanes


@dataclass
class CallCost:
    """Cycles, bytes and time of one kernel call."""

    cycles: dict[str, int]
    in_bytes: int
    out_bytes: int
    load_in_bytes: int
    pixel_in_bytes: int
    seconds: float = 0.0
    dma_seconds: float = 0.0

    @property
    def total_cycles(self) -> int:
        """All kernel cycles of the call."""
        return sum(self.cycles.values())


def pixel_steps(cmd: ConvCmd, call: protocol.Call, out_dtype: str, config: HwConfig) -> tuple[int, int]:
    """(output blocks, pipeline steps per (pixel, block)) of a call, as ``conv_accel`` computes them.

    A block is ``pe_out`` lanes (depthwise: ``pe_in`` channels); a step is one II=1 iteration
    of ``PIXEL_PIPE``: ``max(MAC steps, partial-sum + residual beats, output beats)`` of a full block.
    """
    g = geometry(config)
    dw = cmd.kind == "dw3x3"
    k = 1 if cmd.kind == "pw1x1" else 3
    cg = -(-(call.ci1 - call.ci0) // g.pe_in)
    bl = g.pe_in if dw else g.pe_out
    nb = -(-call.n // bl)
    macs = 1 if dw else k * k * cg
    pin = bl // 2 if call.psum_in else 0
    skin = bl // 8 if (cmd.skip is not None and not call.psum_out) else 0
    out = bl // 2 if call.psum_out else bl * (2 if out_dtype == "int16" else 1) // 8
    return nb, max(macs, pin + skin, out)


def call_cycles(cmd: ConvCmd, call: protocol.Call, out_dtype: str, config: HwConfig,
                timing: KernelTiming = KernelTiming(), variant: Variant = SHIPPED,
                mac_lanes: int | None = None, rgb: bool = False) -> dict[str, int]:
    """Kernel cycles of one call by phase, following the loops of ``hls/conv_accel.cpp``.

    Phases: ``setup``; ``params`` (``PARAMS``: ``n`` channels at II=2); ``weights``
    (``WEIGHT_BEATS``: one beat per cycle); ``table`` (``rgb``: ``LUT_BEATS``, the input table, one
    beat per cycle; the row loop still takes one pixel per cycle); ``rows`` (per padded row one ``ROW_BEATS`` pipeline
    of ``padded_w * cin_groups`` beats, zero padding included, plus the ``LOAD_ROWS`` iteration);
    per output row one flattened ``PIXEL_PIPE`` of ``(out_w * blocks + 1) * steps`` iterations
    (:func:`pixel_steps`): ``mac`` = the pixel-block iterations, ``out`` = the final drain block,
    ``pixel`` = the pipeline fill (MAC and requantisation depths) and the loop overheads.
    Partial sums and residual beats ride in the same iterations (``psum``/``skip`` are 0).
    """
    g = geometry(config)
    t = timing
    dw = cmd.kind == "dw3x3"
    k = 1 if cmd.kind == "pw1x1" else 3
    cg = -(-(call.ci1 - call.ci0) // g.pe_in)
    padded_h = call.pad_t + (call.iy1 - call.iy0) + call.pad_b
    padded_w = call.pad_l + (call.ix1 - call.ix0) + call.pad_r
    nb, steps = pixel_steps(cmd, call, out_dtype, config)
    c: dict[str, int] = {"setup": t.call_setup}
    c["params"] = t.pipe(call.n * PARAM_BEATS_PER_LANE // 2, 2, t.io_depth)
    w_beats = 9 * cg if dw else nb * k * k * cg * g.pe_out
    c["weights"] = t.pipe(w_beats, 1, t.io_depth)
    c["table"] = t.pipe(protocol.INPUT_TABLE_BEATS, 1, t.io_depth) if rgb else 0
    c["rows"] = padded_h * (t.pipe(padded_w * cg, 1, t.load_depth) + t.loop_overhead)
    c["mac"] = call.out_h * call.out_w * nb * steps
    c["out"] = call.out_h * steps
    c["psum"] = c["skip"] = 0
    # PIXEL_PIPE fill (MAC and requantisation in one pipeline) + its entry/exit + the OUT_ROWS iteration
    c["pixel"] = call.out_h * (t.mac_depth + t.out_depth - 1 + 2 * t.loop_overhead)
    return c


def resize_cycles(call: protocol.Call, config: HwConfig, timing: KernelTiming = KernelTiming()) -> dict[str, int]:
    """Kernel cycles of a resize call (``run_resize``): tables, every source row once, one beat per
    output pixel group at II=1 per output row."""
    g = geometry(config)
    t = timing
    cg = -(-call.n // g.pe_in)
    c = {"setup": t.call_setup, "params": 0, "weights": t.pipe(call.out_w + call.out_h, 1, t.io_depth),
         "rows": call.iy1 * (t.pipe(call.ix1 * cg, 1, t.load_depth) + t.loop_overhead),
         "mac": call.out_h * call.out_w * cg, "out": 0, "psum": 0, "skip": 0,
         "pixel": call.out_h * (t.out_depth - 1 + 2 * t.loop_overhead)}
    return c


def call_cost(cmd: ConvCmd | None, call: protocol.Call, out_dtype: str, config: HwConfig, board: Board,
              timing: KernelTiming = KernelTiming(), variant: Variant = SHIPPED,
              mac_lanes: int | None = None, rgb: bool = False) -> CallCost:
    """Cycles, DMA bytes and modelled seconds of one call on a board (``cmd`` None: a resize call;
    ``rgb``: the call reads the raw frame, register ``in_rgb``)."""
    if cmd is None:
        cycles = resize_cycles(call, config, timing)
        in_bytes = protocol.resize_stream_beats(call, config) * 8
        out_bytes = protocol.resize_output_beats(call, config) * 8
        pixel_in = 0
    else:
        cycles = call_cycles(cmd, call, out_dtype, config, timing, variant, mac_lanes, rgb)
        # both input DMAs (in + side) share the HP port
        pixel_in = protocol.side_beats(cmd, call, config) * 8
        in_bytes = protocol.stream_beats(cmd, call, config, rgb) * 8 + pixel_in
        out_bytes = protocol.output_beats(call, out_dtype) * 8
    load_in = in_bytes - pixel_in
    f = config.clock_mhz * 1e6
    hp = board.hp_bytes_per_s(config.clock_mhz)
    dram = board.dram_bytes_per_s
    bw_in = min(hp, dram)
    pixel_cycles = sum(v for key, v in cycles.items() if key not in ("params", "weights", "table", "rows", "setup"))
    t_pix_c = pixel_cycles / f
    row_c = cycles["rows"] / f
    if variant.overlap_loads:
        # rows of output row i+1 stream in while row i computes: per call, loads hide behind compute
        row_c = max(0.0, row_c - t_pix_c)
    t_load = max((cycles["params"] + cycles["weights"] + cycles.get("table", 0)) / f + row_c, load_in / bw_in)
    t_pix = max(t_pix_c, pixel_in / bw_in, out_bytes / hp, (pixel_in + out_bytes) / dram)
    seconds = cycles["setup"] / f + t_load + t_pix
    dma = max(in_bytes / hp, out_bytes / hp, (in_bytes + out_bytes) / dram)
    seconds = max(seconds, dma)
    return CallCost(cycles, in_bytes, out_bytes, load_in, pixel_in, seconds, dma)
