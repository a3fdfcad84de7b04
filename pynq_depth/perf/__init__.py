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
  per block, filled once per row (:func:`~.cycles.call_cycles`, :func:`~.cycles.pixel_steps`); resize calls
  one beat per output pixel group (:func:`~.cycles.resize_cycles`).  Pipeline depths are in
  :class:`~.cycles.KernelTiming` (ASSUMPTIONS: there is no C-synthesis report in this environment;
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

The package is laid out by role: :mod:`.network` (layers, transfers and register
writes per call), :mod:`.cycles` (kernel cycles and DMA time of one call),
:mod:`.host` (processor work, measured), :mod:`.resources` (DSP/BRAM estimate),
:mod:`.model` (one frame: :func:`model`, :class:`Report`), :mod:`.report` (table,
pictures) and :mod:`.whatif` (proposed changes).  ``pynq-depth bench --board BOARD``
prints the model; ``--what-if`` models the proposed kernel and driver changes
(see ``docs/performance.md``).  Board data comes from :mod:`pynq_depth.boards`.
"""

from __future__ import annotations

from ..boards import Board, UnknownBoardError, board_names, detect_board, get_board
from .cycles import (
                      IDEAL_TIMING,
                      SHIPPED,
                      CallCost,
                      KernelTiming,
                      Variant,
                      call_cost,
                      call_cycles,
                      pixel_steps,
                      resize_cycles,
)
from .host import measure_host_seconds
from .model import LayerReport, Report, model
from .network import (
                      DMA_TRANSFERS_PER_CALL,
                      REGISTERS_PER_CALL,
                      SIDE_TRANSFERS_PER_SIDE_CALL,
                      LayerSpec,
                      call_overhead_us,
                      call_transfers,
                      dummy_command,
                      fused_concat_layers,
                      network_layers,
                      register_writes,
)
from .report import format_table, plot
from .resources import (
                      CONTROL_PRODUCTS,
                      RESIZE_PRODUCTS_PER_LANE,
                      dsp48_per_product,
                      estimate_resources,
                      format_resources,
)
from .whatif import format_what_if, what_if, what_if_variants

__all__ = ["Board", "UnknownBoardError", "board_names", "detect_board", "get_board", "IDEAL_TIMING", "SHIPPED",
           "CallCost", "KernelTiming", "Variant", "call_cost", "call_cycles", "pixel_steps", "resize_cycles",
           "measure_host_seconds", "LayerReport", "Report", "model", "DMA_TRANSFERS_PER_CALL", "REGISTERS_PER_CALL",
           "SIDE_TRANSFERS_PER_SIDE_CALL", "LayerSpec", "call_overhead_us", "call_transfers", "dummy_command", "fused_concat_layers",
           "network_layers", "register_writes", "format_table", "plot", "estimate_resources", "format_resources", "dsp48_per_product", "CONTROL_PRODUCTS", "RESIZE_PRODUCTS_PER_LANE", "format_what_if",
           "what_if", "what_if_variants"]
