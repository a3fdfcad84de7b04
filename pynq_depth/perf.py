"""Performance model of the accelerator on PYNQ boards (NumPy only; matplotlib only for pictures).

The model follows the *shipped* kernel and driver protocol, not an ideal machine:

* **Calls and beats** come from :func:`pynq_depth.protocol.plan_layer`,
  :func:`~pynq_depth.protocol.stream_beats`, :func:`~pynq_depth.protocol.side_beats`
  and :func:`~pynq_depth.protocol.output_beats` (the exact MM2S (both DMAs) / S2MM
  transfer lengths of every call; the tests check them against the beats the
  C-simulation backend really moves).
* **Kernel cycles** follow the loop structure of ``hls/conv_accel.cpp``: per call
  ``PARAMS`` (``n`` channels at II=2), ``WEIGHT_BEATS`` (one beat per cycle), then per
  output row the input rows it needs (one ``ROW_BEATS`` pipeline per padded row, *not*
  overlapped with compute) and one flattened ``PIXEL_PIPE`` at II=1 over (pixel, output
  block, step) with ``steps = max(MAC steps, partial-sum + residual beats, output beats)``
  per block, filled once per row (:func:`call_cycles`, :func:`pixel_steps`); resize calls
  one beat per output pixel group (:func:`resize_cycles`).  Pipeline depths are in
  :class:`KernelTiming` (ASSUMPTIONS: there is no C-synthesis report in this environment;
  the numbers are typical of Vitis HLS at 100-150 MHz and are stated, not fitted).
* **Memory**: the overlay has one 64-bit HP port for both DMA directions at the
  kernel clock (the second, MM2S-only DMA that feeds the kernel's ``side`` input
  shares it); DRAM is shared by both directions (peak x ``dram_efficiency``).
  Stream-fed phases (constants, weights, row loads) run at
  ``max(cycles, bytes / bandwidth)``; output beats drain while the next pixels
  compute (``max`` over the pixel phase).
* **Processor work** (:func:`pynq_depth.protocol.run_layer` with constants and weights
  packed once per program, the copies of segments the host must build, concat) is
  *measured on this host* with the real NumPy code and multiplied by the board's
  ``cpu_factor`` (an assumption in ``boards.json``); resize runs on the kernel.
* **Driver overhead** per call: register writes x MMIO cost + three DMA transfers
  (start + wait each; a fourth on the side DMA for calls with partial sums or a
  residual) + kernel start/done (assumed microseconds in ``boards.json``).
* Per layer: ``accelerator + processor + overhead`` (the driver runs the calls
  one after another and packs each stream before starting it: nothing overlaps
  across calls).

``python -m pynq_depth.perf BOARD --what-if`` models the proposed kernel and
driver changes (see ``docs/performance.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import protocol
from .geometry import LB_BANKS, LB_ROWS, PARAM_BEATS_PER_LANE, geometry
from .config import ConfigError, HwConfig, default_config, load_config
from .netspec import Node, build_graph, get_spec
from .program import ConvCmd

BOARDS_PATH = Path(__file__).with_name("boards.json")
#: Registers written per call (the kernel's AXI-Lite arguments).
REGISTERS_PER_CALL = len(protocol.REGISTERS)
#: DMA transfers per call: two MM2S segments (pre-packed head, activations) + one S2MM ...
DMA_TRANSFERS_PER_CALL = 3
#: ... + one MM2S transfer on the side DMA for a call with partial sums or a residual
#: (``protocol.side_beats > 0``).
SIDE_TRANSFERS_PER_SIDE_CALL = 1


def call_transfers(cmd: ConvCmd, call: protocol.Call, config: HwConfig | None = None, cat: bool = False) -> int:
    """DMA transfers the driver makes for one convolution call (both MM2S DMAs + S2MM); ``cat``: the
    input is a concat left unmade, whose second part goes on the side DMA (``protocol.CatInput``)."""
    side = cat or protocol.side_beats(cmd, call, config) > 0
    return DMA_TRANSFERS_PER_CALL + SIDE_TRANSFERS_PER_SIDE_CALL * side


def fused_concat_layers(layers: list[LayerSpec], config: HwConfig) -> dict[str, int]:
    """Outputs of the concats the driver leaves unmade (as ``protocol.fused_concats`` decides for a
    program: two parts of one dtype, read only by one convolution whose plan takes them in two parts),
    with the channels of their first part."""
    dtypes = {"input": "int8"}
    readers: dict[str, list[LayerSpec]] = {}
    for layer in layers:
        dtypes[layer.node.output] = layer.out_dtype
        for name in layer.node.inputs:
            readers.setdefault(name, []).append(layer)
        if layer.cmd is not None and layer.cmd.skip is not None and layer.cmd.skip not in layer.node.inputs:
            readers.setdefault(layer.cmd.skip, []).append(layer)
    fused: dict[str, int] = {}
    for layer in layers:
        node = layer.node
        if node.op != "concat" or len(node.inputs) != 2 or node.output == "depth":
            continue
        users = readers.get(node.output, [])
        if len({dtypes[n] for n in node.inputs}) != 1 or len(users) != 1 or users[0].cmd is None:
            continue
        user = users[0]
        if user.cmd.input != node.output or user.cmd.skip == node.output:
            continue
        try:
            prep = protocol.prepare_layer(user.cmd, user.in_shape, config)
        except protocol.ProtocolError:
            continue
        if protocol.cat_fusable(prep, int(layer.in_shapes[0][2])):
            fused[node.output] = int(layer.in_shapes[0][2])
    return fused


@lru_cache(maxsize=1)
def packaged_program(model_name: str) -> Any:
    """The packaged int8 program when it is a quantisation of ``model_name`` (else None)."""
    from .program import WeightsError, load_program
    from .runtime import DEFAULT_WEIGHTS

    try:
        program = load_program(DEFAULT_WEIGHTS)
    except (OSError, WeightsError):
        return None
    return program if getattr(program, "model", None) == model_name else None


def reads_raw_frame(layer: LayerSpec, calls: list[protocol.Call], config: HwConfig) -> bool:
    """Whether the driver sends this layer the raw frame for the kernel to quantise (``in_rgb``)."""
    return (layer.cmd is not None and layer.cmd.input == "input"
            and protocol.rgb_capable(layer.cmd, layer.in_shape, calls, config))


def register_writes(layers: list[LayerSpec], config: HwConfig, fused: dict[str, int],
                    program: Any = None) -> dict[str, int]:
    """Argument-register writes per frame of every layer, as the driver makes them
    (``ConvAccelIP.write_args``: only registers whose value differs from the previous call's,
    :func:`protocol.changed_registers`), in the steady state (the first call follows the
    previous frame's last).

    The clamp bounds, residual multipliers and tensor types depend on the quantisation:
    they are taken from ``program`` (a quantised :class:`~pynq_depth.program.Program` of
    this network, any input size) when given, else from the placeholders of
    :func:`dummy_command`.
    """
    from dataclasses import replace

    dtypes: dict[str, str] = {"input": "int8"}
    quantised = {c.name: c for c in program.conv_commands} if program is not None else {}
    if program is not None:
        dtypes.update({name: info.dtype for name, info in program.tensors.items()})
    sequence: list[tuple[str, dict[str, int]]] = []
    for layer in layers:
        node = layer.node
        if layer.cmd is not None:
            cmd = layer.cmd
            q = quantised.get(cmd.name)
            if q is not None:
                cmd = replace(cmd, lo=q.lo, hi=q.hi, skip_mult=q.skip_mult, skip_shift=q.skip_shift)
            in_dtype = dtypes.get(cmd.input, "int8")
            skip_dtype = dtypes.get(cmd.skip, "int8") if cmd.skip is not None else None
            cat = fused.get(cmd.input, 0)
            out_dtype = dtypes.setdefault(node.output, layer.out_dtype)
            calls = protocol.plan_layer(cmd, layer.in_shape, config)
            rgb = reads_raw_frame(layer, calls, config)
            for call in calls:
                regs = protocol.registers(cmd, call, in_dtype, out_dtype, skip_dtype, config)
                if cat:
                    regs["cat_groups"] = cat // config.pe_in
                regs["in_rgb"] = int(rgb)
                sequence.append((layer.name, regs))
        elif node.op == "resize":
            dtype = dtypes.setdefault(node.output, dtypes.get(node.inputs[0], "int8"))
            h, w, _ = node.out_shape
            try:
                call = protocol.resize_call(layer.in_shape, (h, w), config)
            except protocol.ProtocolError:
                continue
            sequence.append((layer.name, protocol.resize_registers(call, dtype, config)))
        else:
            kinds = {dtypes.get(name, "int8") for name in node.inputs}
            dtypes.setdefault(node.output, kinds.pop() if len(kinds) == 1 else "int16")
    writes = {layer.name: 0 for layer in layers}
    previous = sequence[-1][1] if sequence else None
    for name, regs in sequence:
        writes[name] += len(protocol.changed_registers(previous, regs))
        previous = regs
    return writes


class BoardError(ConfigError):
    """Unknown board (or model configuration) name, or a malformed board table."""


# ---------------------------------------------------------------- boards
@dataclass(frozen=True)
class Board:
    """One board of ``boards.json`` (see its ``notes`` for the sources and assumptions)."""

    name: str
    raw: dict[str, Any]

    def __getattr__(self, key: str) -> Any:  # plain fields: board.dsp, board.part, ...
        try:
            return self.raw[key]
        except KeyError:
            raise AttributeError(key) from None

    def hp_bytes_per_s(self, clock_mhz: float) -> float:
        """One direction of the HP port at the kernel clock."""
        return self.raw["hp_port_bits"] / 8 * clock_mhz * 1e6

    @property
    def dram_bytes_per_s(self) -> float:
        """Usable DRAM bandwidth shared by both DMA directions (peak x efficiency)."""
        return self.raw["dram_gbps"] * 1e9 * self.raw["dram_efficiency"]

    def call_overhead_us(self, registers: int = REGISTERS_PER_CALL, transfers: int = 2) -> float:
        """Driver time per kernel call: register writes, ``transfers`` DMA starts and waits, start/done.

        The shipped protocol uses 3 transfers per call (MM2S: the pre-packed constants + weights,
        then the activations; S2MM: the output), see :data:`DMA_TRANSFERS_PER_CALL`, and one more
        on the side DMA when the call has partial sums or a residual (:func:`call_transfers`).
        """
        d = self.raw["driver_us"]
        return (registers * d["mmio_write"] + transfers * (d["dma_start"] + d["dma_wait"])
                + d["kernel_start_done"])


@lru_cache(maxsize=1)
def _board_table() -> dict[str, Any]:
    try:
        return json.loads(BOARDS_PATH.read_text())["boards"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise BoardError(f"{BOARDS_PATH}: cannot read the board table ({exc})") from None


def board_names() -> list[str]:
    """Names of the known boards."""
    return list(_board_table())


def detect_board(default: str = "pynq-z2") -> str:
    """The board this runs on, the PYNQ way (``/proc/device-tree/chosen/pynq_board`` or ``$BOARD``), else ``default``."""
    import os

    names = [os.environ.get("BOARD", "")]
    node = Path("/proc/device-tree/chosen/pynq_board")
    try:
        names.insert(0, node.read_text().strip("\x00\n "))
    except OSError:
        pass
    for name in names:
        if name:
            try:
                return get_board(name).name
            except BoardError:
                continue
    return default


def get_board(name: str) -> Board:
    """Look a board up by name or alias (case-insensitive).

    Raises
    ------
    BoardError
        With the list of known boards.
    """
    table = _board_table()
    key = name.strip().lower()
    for board, raw in table.items():
        if key == board or key in raw.get("aliases", ()):
            return Board(board, raw)
    raise BoardError(f"unknown board {name!r}; known boards: {', '.join(table)}")


# ---------------------------------------------------------------- kernel timing
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


def _variant_config(config: HwConfig, variant: Variant) -> tuple[HwConfig, int]:
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


# ---------------------------------------------------------------- network
@dataclass
class LayerSpec:
    """One node of the network as the model sees it."""

    node: Node
    in_shape: tuple[int, int, int]
    out_dtype: str
    cmd: ConvCmd | None = None
    in_shapes: tuple[tuple[int, int, int], ...] = ()

    @property
    def name(self) -> str:
        """Name used by the runners' ``layer_times`` (conv name, or the host op's output)."""
        return self.node.name or self.node.output

    @property
    def kind(self) -> str:
        """conv3x3 / dw3x3 / pw1x1 / resize / concat."""
        return self.node.kind if self.node.op == "conv" else self.node.op


def dummy_command(node: Node) -> ConvCmd:
    """A :class:`ConvCmd` with the node's geometry and zero parameters (for planning and packing)."""
    k = node.ksize
    wshape = (node.cin, 3, 3) if node.kind == "dw3x3" else (node.cout, k, k, node.cin)
    zeros = np.zeros(node.cout, dtype=np.int32)
    return ConvCmd(name=node.name, kind=node.kind, stride=node.stride, pad=node.pad, act=node.act,
                   input=node.inputs[0], output=node.output, weights=np.zeros(wshape, dtype=np.int8),
                   bias=zeros, mult=zeros + (1 << 14), mult_neg=zeros + (1 << 14), shift=zeros + 15,
                   lo=-128, hi=127, skip=node.residual, skip_mult=1 << 14 if node.residual else 0,
                   skip_shift=15)


def network_layers(model: str | None = None, size: tuple[int, int] | None = None) -> list[LayerSpec]:
    """The network's nodes with input shapes and output dtypes (as the quantiser assigns them)."""
    spec = get_spec(model)
    hw = tuple(size or spec.input_hw)
    shapes: dict[str, tuple[int, int, int]] = {"input": (hw[0], hw[1], 3)}
    layers = []
    for node in build_graph(spec, hw):  # type: ignore[arg-type]
        ins = tuple(shapes[name] for name in node.inputs)
        shapes[node.output] = node.out_shape
        if node.op == "conv":
            dtype = "int16" if node.output == "depth" else ("uint8" if node.act == "relu6" else "int8")
            layers.append(LayerSpec(node, ins[0], dtype, dummy_command(node), ins))
        else:
            layers.append(LayerSpec(node, ins[0], "int8", None, ins))
    return layers


# ---------------------------------------------------------------- one call
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


# ---------------------------------------------------------------- processor work (measured)
def _best_of(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class _InputLut:
    """The two fields of a Program that input quantisation reads."""

    input_lut: np.ndarray
    input_hw: tuple[int, int]


def measure_host_seconds(layer: LayerSpec, config: HwConfig, repeats: int = 3, cat: int = 0) -> float:
    """Seconds *on this host* of the processor-side work of one layer per frame, with the real code.

    Convolutions: :func:`protocol.run_layer` on a layer prepared once (constants and weights
    packed at program load, not per frame) with a stand-in kernel that does what the driver
    must do with the segments on the processor: nothing for the pre-packed head and for
    activations that are views of the input tensor (they already sit in DMA buffers), a copy
    into the DMA buffer for any segment the host had to build (channel padding, column
    tiles, the side stream of a call with both partial sums and a residual; partial sums and
    residual alone go to the side DMA as they lie).  Unpacking and placing outputs
    (a view for single-call layers) are part of ``run_layer``.  The input is held as the
    driver holds it (channels padded to ``pe_in`` in memory); the first layer also pays for
    quantising the frame into that buffer (``FpgaBackend.input_tensor``), or, when the kernel
    quantises it (``in_rgb``), copying the raw frame into its slot.  A layer whose calls needed
    nothing built on the host is what the driver replays from frame two on
    (:class:`protocol.RecordedLayer`): its processor time is that replay's dispatch, the
    calls themselves being the driver's per-call cost.
    Resize runs on the accelerator (host work: none); concat: ``np.concatenate``, or (``cat`` > 0: the
    channels of its first part) none: left unmade, its reader (``cat`` too) gets the two parts as the
    driver holds them (producer slots, channels padded to ``pe_in``), the second on the side DMA
    (:class:`protocol.CatInput`).
    """
    node = layer.node
    if node.op == "resize":
        return 0.0
    if node.op == "concat":
        if cat:
            return 0.0
        parts = [np.zeros(s, dtype=np.int8) for s in layer.in_shapes]
        return _best_of(lambda: np.concatenate(parts, axis=-1), repeats)
    cmd = layer.cmd
    assert cmd is not None
    # The input as the driver holds it: a kernel output (or the quantised frame) in a DMA buffer,
    # channels padded to pe_in in memory (protocol.stream_view sends it without a copy).
    h, w, c = layer.in_shape
    cp = -(-c // config.pe_in) * config.pe_in
    padded = np.zeros((h, w, cp), dtype=np.int8)
    x = padded[:, :, :c]
    held = [padded]  # buffers the driver sends from as they lie
    if cat:  # a concat left unmade: its two parts, each in its producer's slot
        ca = int(cat)
        cb = c - ca
        pa = np.zeros((h, w, -(-ca // config.pe_in) * config.pe_in), dtype=np.int8)
        pb = np.zeros((h, w, -(-cb // config.pe_in) * config.pe_in), dtype=np.int8)
        held = [pa, pb]
        x = protocol.CatInput(pa[:, :, :ca], pb[:, :, :cb])  # type: ignore[assignment]
    put_frame = None  # the per-frame work of FpgaBackend.input_tensor
    lut = np.zeros((3, 256), dtype=np.int8)
    prep = protocol.prepare_layer(cmd, layer.in_shape, config, lut if cmd.input == "input" else None)
    if cmd.input == "input":
        frame = np.zeros((h, w, 3), dtype=np.uint8)
        if prep.rgb:  # the frame is copied into its slot as it is; the kernel quantises it (in_rgb)
            beats = np.zeros(-(-h * w * 3 // 8), dtype=np.uint64)
            raw = protocol.RawFrame(beats, (h, w), lut)
            x = raw  # type: ignore[assignment]
            held = [beats]

            def put_frame() -> None:
                raw.rgb[...] = frame
        else:  # quantised into the padded slot on the processor
            from .emulator import quantize_input_into

            lut_program = _InputLut(lut, (h, w))

            def put_frame() -> None:
                quantize_input_into(lut_program, frame, padded)  # type: ignore[arg-type]
    ho, wo, cout = node.out_shape
    # the residual as the driver holds it: a kernel output, channels padded to a whole beat
    skip_buf = np.zeros((ho, wo, -(-cout // 8) * 8), dtype=np.int8)
    skip = skip_buf[:, :, :cout] if cmd.skip is not None else None
    largest_in = max(protocol.stream_beats(cmd, c, config) + protocol.side_beats(cmd, c, config)
                     for c in prep.calls)
    dma_in = np.zeros(largest_in, dtype=np.uint64)
    dma_out = {i: np.zeros(protocol.output_beats(c, layer.out_dtype), dtype=np.uint64)
               for i, c in enumerate(prep.calls)}
    assembled = None
    if prep.assembled:  # the driver assembles the calls' outputs in a slot
        from .emulator import NUMPY_DTYPES

        cp = -(-cout // config.pe_in) * config.pe_in
        assembled = np.zeros((ho, wo, cp), dtype=NUMPY_DTYPES[layer.out_dtype])[:, :, :cout]
    counter = iter(())
    recorded: list = []
    staged = [False]

    def kernel(regs, segments, side, n_out, where):
        body = segments[1]
        used = 0
        if not any(np.shares_memory(body, b) for b in held):
            dma_in[:body.size] = body.reshape(-1)  # built on the host: copied into the DMA buffer
            used = body.size
            staged[0] = True
        if side is not None and not (np.shares_memory(side, skip_buf) or any(np.shares_memory(side, b) for b in held)
                                     or any(np.shares_memory(side, o) for o in dma_out.values())):
            dma_in[used:used + side.size] = side.reshape(-1)  # interleaved on the host: copied
            staged[0] = True
        recorded.append((regs, segments, side, n_out, where))
        return dma_out[next(counter)]

    def run(assembly: list | None = None) -> Any:
        nonlocal counter
        counter = iter(range(len(prep.calls)))
        if put_frame is not None:
            put_frame()
        return protocol.run_layer(prep, x, skip, layer.out_dtype, kernel, None, assembled, assembly)

    # The first frame: planned by run_layer and recorded; the driver replays a layer whose calls
    # used resident buffers only (FpgaBackend.run_conv / protocol.RecordedLayer).
    copies: list = []
    output = run(copies)
    if staged[0]:
        return _best_of(run, repeats)
    inputs = (x, skip)
    record = protocol.RecordedLayer(inputs, tuple(recorded), output, tuple(copies))

    def replay() -> None:
        if put_frame is not None:
            put_frame()
        if record.matches(inputs):
            record.replay(_no_driver_operation)

    return _best_of(replay, repeats)


def _no_driver_operation(*call: Any) -> None:
    """Stands for the driver's register writes and DMA transfers of a call (counted by ``driver_us``)."""


# ---------------------------------------------------------------- whole network
@dataclass
class LayerReport:
    """Modelled cost of one layer (seconds; bytes per frame)."""

    name: str
    kind: str
    macs: int
    calls: int
    compute_s: float
    dma_s: float
    accel_s: float
    cpu_s: float
    overhead_s: float
    in_bytes: int
    out_bytes: int
    cycles: dict[str, int] = field(default_factory=dict)
    measured_s: float | None = None
    #: DMA transfers of the layer (MM2S of both DMAs + S2MM).
    transfers: int = 0
    #: Argument-register writes of the layer (only changed registers are written).
    register_writes: int = 0

    @property
    def total_s(self) -> float:
        """Accelerator (with overlap) + processor + driver overhead."""
        return self.accel_s + self.cpu_s + self.overhead_s

    @property
    def bottleneck(self) -> str:
        """The largest of compute, DMA, processor and driver overhead."""
        parts = {"compute": self.compute_s, "dma": self.dma_s, "cpu": self.cpu_s, "overhead": self.overhead_s}
        return max(parts, key=parts.get)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (milliseconds)."""
        d = {"name": self.name, "kind": self.kind, "mmac": self.macs / 1e6, "calls": self.calls,
             "compute_ms": self.compute_s * 1e3, "dma_ms": self.dma_s * 1e3, "accel_ms": self.accel_s * 1e3,
             "cpu_ms": self.cpu_s * 1e3, "overhead_ms": self.overhead_s * 1e3, "total_ms": self.total_s * 1e3,
             "bottleneck": self.bottleneck, "dma_in_bytes": self.in_bytes, "dma_out_bytes": self.out_bytes,
             "dma_transfers": self.transfers, "register_writes": self.register_writes,
             "cycles": dict(self.cycles)}
        if self.measured_s is not None:
            d["measured_ms"] = self.measured_s * 1e3
        return d


@dataclass
class Report:
    """The model's result for one board, configuration, network and input size."""

    board: Board
    config: HwConfig
    model: str
    input_hw: tuple[int, int]
    variant: Variant
    layers: list[LayerReport]
    resources: dict[str, Any]
    clock_mhz: float
    peak_macs_per_cycle: int

    def total(self, attr: str) -> float:
        """Sum of a LayerReport attribute over layers."""
        return float(sum(getattr(layer, attr) for layer in self.layers))

    @property
    def total_s(self) -> float:
        """Modelled seconds per frame."""
        return self.total("total_s")

    @property
    def fps(self) -> float:
        """Modelled frames per second."""
        return 1.0 / self.total_s

    def breakdown_ms(self) -> dict[str, float]:
        """Where a frame's time goes (ms): accelerator split into compute/DMA stall, processor, overhead."""
        accel, compute = self.total("accel_s"), sum(min(l.compute_s, l.accel_s) for l in self.layers)
        return {"accel_compute": compute * 1e3, "accel_dma_stall": (accel - compute) * 1e3,
                "cpu_resize_concat": sum(l.cpu_s for l in self.layers if l.kind in ("resize", "concat")) * 1e3,
                "cpu_stream_packing": sum(l.cpu_s for l in self.layers if l.kind not in ("resize", "concat")) * 1e3,
                "driver_overhead": self.total("overhead_s") * 1e3}

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        macs = self.total("macs")
        cycles: dict[str, int] = {}
        for layer in self.layers:
            for key, value in layer.cycles.items():
                cycles[key] = cycles.get(key, 0) + value
        return {
            "board": self.board.name, "board_title": self.board.title, "part": self.board.part,
            "config": self.model, "input_hw": list(self.input_hw), "hw_id": self.config.hw_id,
            "variant": self.variant.name, "clock_mhz": self.clock_mhz,
            "pe_in": self.config.pe_in, "mac_lanes": self.peak_macs_per_cycle // self.config.pe_in,
            "modelled_fps": self.fps, "total_ms": self.total_s * 1e3,
            "gmac": macs / 1e9, "calls": int(self.total("calls")),
            "register_writes": int(self.total("register_writes")),
            "dma_in_mb": self.total("in_bytes") / 1e6, "dma_out_mb": self.total("out_bytes") / 1e6,
            "mac_utilisation": macs / (self.peak_macs_per_cycle * self.clock_mhz * 1e6 * self.total_s),
            "breakdown_ms": self.breakdown_ms(), "kernel_cycles": cycles,
            "resources": self.resources,
            "assumptions": {
                "kernel_timing": KernelTiming().__dict__, "cpu_factor": self.board.cpu_factor,
                "driver_us": self.board.driver_us,
                "call_overhead_us": self.board.call_overhead_us(registers=0, transfers=DMA_TRANSFERS_PER_CALL),
                "register_write_us": self.board.driver_us["mmio_write"],
                "dma_transfers_per_call": DMA_TRANSFERS_PER_CALL,
                "dram_gbps": self.board.dram_gbps, "dram_efficiency": self.board.dram_efficiency,
                "hp_gbps_per_direction": self.board.hp_bytes_per_s(self.clock_mhz) / 1e9,
                "cpu_work": "measured on this host with NumPy, multiplied by cpu_factor",
            },
            "layers": [layer.as_dict() for layer in self.layers],
        }


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
    cfg, lanes = _variant_config(config, variant)
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


def model(board: Board | str, config: HwConfig | None = None, model_name: str | None = None,
          size: tuple[int, int] | None = None, variant: Variant = SHIPPED, timing: KernelTiming = KernelTiming(),
          measure_cpu: bool = True, repeats: int = 3,
          cpu_cache: dict[tuple, float] | None = None, program: Any = "packaged") -> Report:
    """Model one frame of a network on a board.

    Parameters
    ----------
    board : Board or str
        Board (or its name).
    config : HwConfig, optional
        Accelerator configuration (packaged default).
    model_name : str, optional
        Network configuration (``z2-mnv2`` default).
    size : tuple of int, optional
        Input (H, W); the network's default when omitted.
    variant : Variant
        Kernel/driver variant (the shipped design by default).
    timing : KernelTiming
        Loop cycle constants.
    measure_cpu : bool
        Measure the processor-side work on this host (else count it as zero).
    repeats : int
        Timing repeats (best of) for the measurements.
    cpu_cache : dict, optional
        Reuse measurements between calls (keyed by layer and planning configuration).
    program : Program, None or "packaged"
        Quantised network whose clamp bounds, residual multipliers and tensor types fix the
        register values (hence how many registers change between calls, see
        :func:`register_writes`); ``"packaged"``: the packaged program when it is this network.
    """
    board = get_board(board) if isinstance(board, str) else board
    config = config or default_config()
    spec = get_spec(model_name)
    hw = tuple(size or spec.input_hw)
    cfg, lanes = _variant_config(config, variant)
    clock = cfg.clock_mhz
    # per call without its register writes, which are counted per layer (only changed registers)
    call_us = board.call_overhead_us(registers=0, transfers=DMA_TRANSFERS_PER_CALL) * variant.call_overhead_scale
    d = board.driver_us
    write_us = d["mmio_write"] * variant.call_overhead_scale
    side_us = (d["dma_start"] + d["dma_wait"]) * SIDE_TRANSFERS_PER_SIDE_CALL * variant.call_overhead_scale
    layers = []
    specs = network_layers(spec.name, hw)  # type: ignore[arg-type]
    fused = fused_concat_layers(specs, cfg)
    if isinstance(program, str) and program == "packaged":
        program = packaged_program(spec.name)
    writes = register_writes(specs, cfg, fused, program)
    for layer in specs:
        # a concat left unmade (fused) and its reader, which gets the parts (second on the side DMA)
        cat = fused.get(layer.node.output, 0) if layer.node.op == "concat" else (
            fused.get(layer.cmd.input, 0) if layer.cmd is not None else 0)
        key = (layer.name, layer.in_shape, cfg.hw_id, cat)
        if measure_cpu:
            if cpu_cache is not None and key in cpu_cache:
                host = cpu_cache[key]
            else:
                host = measure_host_seconds(layer, cfg, repeats, cat)
                if cpu_cache is not None:
                    cpu_cache[key] = host
        else:
            host = 0.0
        cpu = host * board.cpu_factor
        if layer.cmd is None and layer.node.op == "resize":
            # on the accelerator: one resize call (or the processor when it does not fit the kernel)
            h, w, _ = layer.node.out_shape
            try:
                rcall = protocol.resize_call(layer.in_shape, (h, w), cfg)
            except protocol.ProtocolError:
                rcall = None
            if rcall is not None:
                cost = call_cost(None, rcall, "int8", cfg, board, timing, variant, lanes)
                layers.append(LayerReport(layer.name, layer.kind, 0, 1, cost.total_cycles / (clock * 1e6),
                                          cost.dma_seconds, cost.seconds, 0.0,
                                          (call_us + writes[layer.name] * write_us) * 1e-6, cost.in_bytes,
                                          cost.out_bytes, dict(cost.cycles), transfers=DMA_TRANSFERS_PER_CALL,
                                          register_writes=writes[layer.name]))
                continue
            from .arith import resize_bilinear

            xin = np.zeros(layer.in_shape, dtype=np.int8)
            cpu = _best_of(lambda: resize_bilinear(xin, h, w, cfg.resize_frac_bits), repeats) * board.cpu_factor
        if layer.cmd is None:
            cpu = 0.0 if variant.host_ops_on_accel else cpu
            layers.append(LayerReport(layer.name, layer.kind, 0, 0, 0.0, 0.0, 0.0, cpu, 0.0, 0, 0))
            continue
        cpu *= variant.cpu_scale
        calls = protocol.plan_layer(layer.cmd, layer.in_shape, cfg)
        rgb = reads_raw_frame(layer, calls, cfg)
        costs = [call_cost(layer.cmd, c, layer.out_dtype, cfg, board, timing, variant, lanes, rgb) for c in calls]
        side_calls = sum(bool(cat) or protocol.side_beats(layer.cmd, c, cfg) > 0 for c in calls)
        cycles: dict[str, int] = {}
        for cost in costs:
            for k, v in cost.cycles.items():
                cycles[k] = cycles.get(k, 0) + v
        compute = sum(c.total_cycles for c in costs) / (clock * 1e6)
        layers.append(LayerReport(
            name=layer.name, kind=layer.kind, macs=layer.node.macs, calls=len(calls), compute_s=compute,
            dma_s=sum(c.dma_seconds for c in costs), accel_s=sum(c.seconds for c in costs), cpu_s=cpu,
            overhead_s=(len(calls) * call_us + writes[layer.name] * write_us + side_calls * side_us) * 1e-6,
            in_bytes=sum(c.in_bytes for c in costs), out_bytes=sum(c.out_bytes for c in costs), cycles=cycles,
            transfers=sum(call_transfers(layer.cmd, c, cfg, bool(cat)) for c in calls),
            register_writes=writes[layer.name]))
    return Report(board=board, config=cfg, model=spec.name, input_hw=hw, variant=variant,  # type: ignore[arg-type]
                  layers=layers, resources=estimate_resources(config, board, variant), clock_mhz=clock,
                  peak_macs_per_cycle=cfg.pe_in * lanes)


# ---------------------------------------------------------------- output
def format_table(report: Report, measured: bool = False) -> str:
    """The per-layer table, totals, modelled fps and resources as text."""
    head = (f"{'layer':44s} {'kind':8s} {'MMAC':>7s} {'calls':>5s} {'comp ms':>8s} {'DMA ms':>7s} "
            f"{'cpu ms':>7s} {'ovh ms':>7s} {'total ms':>8s}" + (f" {'meas ms':>8s}" if measured else "")
            + "  bottleneck")
    lines = [f"board {report.board.name} ({report.board.title}, {report.board.part}), model {report.model} "
             f"{report.input_hw[0]}x{report.input_hw[1]}, {report.config.pe_in}x"
             f"{report.peak_macs_per_cycle // report.config.pe_in} MACs at {report.clock_mhz:g} MHz, "
             f"variant {report.variant.name}", head, "-" * len(head)]
    for layer in report.layers:
        name = layer.name if len(layer.name) <= 44 else "..." + layer.name[-41:]
        meas = ""
        if measured:
            meas = f" {layer.measured_s * 1e3:8.2f}" if layer.measured_s is not None else f" {'-':>8s}"
        lines.append(f"{name:44s} {layer.kind:8s} {layer.macs / 1e6:7.1f} {layer.calls:5d} "
                     f"{layer.compute_s * 1e3:8.2f} {layer.dma_s * 1e3:7.2f} {layer.cpu_s * 1e3:7.2f} "
                     f"{layer.overhead_s * 1e3:7.2f} {layer.total_s * 1e3:8.2f}{meas}  {layer.bottleneck}")
    lines.append("-" * len(head))
    total_meas = ""
    if measured:
        vals = [layer.measured_s for layer in report.layers if layer.measured_s is not None]
        total_meas = f" {sum(vals) * 1e3:8.1f}" if vals else f" {'-':>8s}"
    lines.append(f"{'total':44s} {'':8s} {report.total('macs') / 1e6:7.0f} {int(report.total('calls')):5d} "
                 f"{report.total('compute_s') * 1e3:8.1f} {report.total('dma_s') * 1e3:7.1f} "
                 f"{report.total('cpu_s') * 1e3:7.1f} {report.total('overhead_s') * 1e3:7.1f} "
                 f"{report.total_s * 1e3:8.1f}{total_meas}")
    d = report.as_dict()
    b = d["breakdown_ms"]
    lines.append(f"modelled: {report.total_s * 1e3:.1f} ms per frame = {report.fps:.2f} frames/s "
                 f"(MAC utilisation {d['mac_utilisation'] * 100:.1f}%, {d['calls']} kernel calls, "
                 f"{d['register_writes']} register writes, "
                 f"DMA {d['dma_in_mb']:.1f} MB in + {d['dma_out_mb']:.1f} MB out per frame)")
    lines.append("  accelerator compute {accel_compute:.1f} ms + DMA stall {accel_dma_stall:.1f} ms, processor: "
                 "stream packing {cpu_stream_packing:.1f} ms + resize/concat {cpu_resize_concat:.1f} ms, "
                 "driver overhead {driver_overhead:.1f} ms".format(**b))
    lines.append(format_resources(report.resources))
    a = d["assumptions"]
    lines.append(f"assumptions: processor work measured on this host x {a['cpu_factor']:g} (cpu_factor), "
                 f"driver {a['call_overhead_us']:.0f} us per call + {a['register_write_us']:g} us per register "
                 f"written (only changed ones), DRAM {a['dram_gbps']:g} GB/s x "
                 f"{a['dram_efficiency']:g}, HP port {a['hp_gbps_per_direction']:.2f} GB/s per direction "
                 f"(pynq_depth/boards.json, docs/performance.md)")
    return "\n".join(lines)


def plot(report: Report, path: Any) -> Any:
    """Write a PNG: per-layer stacked bars (compute, DMA stall, processor, overhead) and a roofline.

    ``path`` is a file name or a binary file object (e.g. ``io.BytesIO`` in a notebook).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = report.layers
    fig = Figure(figsize=(14, 9), dpi=100)
    FigureCanvasAgg(fig)
    bars, roof = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.1, 1]})
    x = np.arange(len(layers))
    compute = np.array([min(l.compute_s, l.accel_s) for l in layers]) * 1e3
    stall = np.array([l.accel_s for l in layers]) * 1e3 - compute
    cpu = np.array([l.cpu_s for l in layers]) * 1e3
    ovh = np.array([l.overhead_s for l in layers]) * 1e3
    bottom = np.zeros(len(layers))
    for values, label, colour in ((compute, "accelerator compute", "#3b75af"), (stall, "DMA stall", "#ef8636"),
                                  (cpu, "processor (packing, resize, concat)", "#519e3e"),
                                  (ovh, "driver overhead per call", "#c53a32")):
        bars.bar(x, values, bottom=bottom, label=label, color=colour, width=0.8)
        bottom += values
    bars.set_xticks(x)
    bars.set_xticklabels([l.name.replace("encoder.original_model.features.", "f").replace("decoder.", "")
                          for l in layers], rotation=90, fontsize=6)
    bars.set_ylabel("ms per frame")
    bars.set_title(f"{report.board.title}: {report.model} {report.input_hw[0]}x{report.input_hw[1]}, modelled "
                   f"{report.total_s * 1e3:.1f} ms = {report.fps:.2f} frames/s ({report.variant.name})")
    bars.legend(fontsize=8)
    # roofline
    peak = 2 * report.peak_macs_per_cycle * report.clock_mhz * 1e6 / 1e9  # GOP/s
    bw = min(report.board.hp_bytes_per_s(report.clock_mhz), report.board.dram_bytes_per_s)
    bw_total = min(2 * report.board.hp_bytes_per_s(report.clock_mhz), report.board.dram_bytes_per_s)
    convs = [l for l in layers if l.macs]
    intensity = np.array([2 * l.macs / max(1, l.in_bytes + l.out_bytes) for l in convs])
    achieved = np.array([2 * l.macs / l.total_s / 1e9 for l in convs])
    accel_only = np.array([2 * l.macs / l.accel_s / 1e9 for l in convs])
    xs = np.logspace(math.log10(max(0.05, intensity.min() / 3)), math.log10(intensity.max() * 3), 200)
    roof.loglog(xs, np.minimum(peak, xs * bw_total / 1e9), color="k", lw=1.5, label=f"roof: {peak:.1f} GOP/s, "
                f"DMA {bw_total / 1e9:.2f} GB/s (both directions)")
    roof.loglog(xs, xs * bw / 1e9, color="grey", lw=1, ls=":", label=f"one direction {bw / 1e9:.2f} GB/s")
    colours = {"conv3x3": "#3b75af", "dw3x3": "#ef8636", "pw1x1": "#519e3e"}
    for kind, colour in colours.items():
        sel = np.array([l.kind == kind for l in convs])
        if sel.any():
            roof.scatter(intensity[sel], accel_only[sel], color=colour, marker="o", s=18,
                         label=f"{kind}: accelerator only")
            roof.scatter(intensity[sel], achieved[sel], color=colour, marker="x", s=18,
                         label=f"{kind}: with processor + driver")
    roof.set_xlabel("operational intensity (ops per DMA byte)")
    roof.set_ylabel("GOP/s (2 ops per MAC)")
    roof.legend(fontsize=7, loc="lower right")
    roof.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    if isinstance(path, (str, Path)):
        path = Path(path)
    fig.savefig(path, format="png")
    return path


# ---------------------------------------------------------------- what-if
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


# ---------------------------------------------------------------- CLI
def _measured_layer_times(args: argparse.Namespace) -> dict[str, float]:
    """Median per-layer seconds of the fpga backend (``runtime.time_inference``)."""
    import statistics

    from .preprocess import load_image
    from .runtime import PACKAGE_DIR, create_estimator, time_inference

    estimator = create_estimator("fpga", weights=args.weights, config=args.hw)
    image = getattr(args, "image", None) or PACKAGE_DIR / "data" / "example.jpg"
    _, layers = time_inference(estimator, load_image(image), args.runs)
    return {name: statistics.median(v) for name, v in layers.items()}


def cmd_bench_board(args: argparse.Namespace) -> int:
    """``pynq-depth bench --board NAME``: the modelled per-layer table (and measured times with --backend fpga)."""
    board = get_board(args.board)  # BoardError is a ConfigError: the CLI prints it and exits 1
    try:
        spec = get_spec(getattr(args, "config", None))
    except KeyError as exc:
        raise BoardError(str(exc).strip('"')) from None
    config = getattr(args, "hw", None) or default_config()
    report = model(board, config, spec.name, getattr(args, "size", None))
    backends = [b.strip() for b in str(getattr(args, "backend", "emulator") or "emulator").split(",")]
    measured = "fpga" in backends
    if measured:
        times = _measured_layer_times(args)
        for layer in report.layers:
            layer.measured_s = times.get(layer.name)
    if getattr(args, "plot", None):
        plot(report, args.plot)
    if getattr(args, "json", False):
        out = report.as_dict()
        if measured:
            vals = [layer.measured_s for layer in report.layers if layer.measured_s is not None]
            out["measured_ms"] = sum(vals) * 1e3 if vals else None
        print(json.dumps(out, indent=1))
    else:
        print(format_table(report, measured=measured))
        if getattr(args, "plot", None):
            print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m pynq_depth.perf BOARD [--what-if]``: the model without the CLI (and the what-if table)."""
    parser = argparse.ArgumentParser(description="performance model of pynq-depth on a board")
    parser.add_argument("board", help=f"one of {', '.join(board_names())}")
    parser.add_argument("--config", help="model configuration (default z2-mnv2)")
    parser.add_argument("--size", help="HxW input size")
    parser.add_argument("--hw-config", metavar="JSON", help="accelerator configuration (default: packaged; "
                        "pynq_depth/configs/zu-8x64.json for the ZCU104)")
    parser.add_argument("--what-if", action="store_true", help="model further kernel/driver changes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    try:
        board = get_board(args.board)
        hw = load_config(args.hw_config) if args.hw_config else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.what_if:
        reports = what_if(board, hw, args.config, size)  # type: ignore[arg-type]
        if args.json:
            print(json.dumps([{"variant": r.variant.name, "modelled_fps": r.fps, "total_ms": r.total_s * 1e3,
                               "breakdown_ms": r.breakdown_ms(), "resources": r.resources} for r in reports],
                             indent=1))
        else:
            print(f"{board.name}: {reports[0].model} {reports[0].input_hw[0]}x{reports[0].input_hw[1]}")
            print(format_what_if(reports))
        return 0
    report = model(board, hw, args.config, size)  # type: ignore[arg-type]
    print(json.dumps(report.as_dict(), indent=1) if args.json else format_table(report))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
