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

The package is laid out by role: :mod:`.plan` (calls and registers),
:mod:`.packing` (beats in and out), :mod:`.prepared` (layers and programs packed
once; unmade concats, raw frames), :mod:`.run` (a layer through any kernel;
record/replay) and :mod:`.resize` (resize on the kernel).

Padding is made on chip (registers ``pad_t/b/l/r``), so ``pw1x1`` with
``pad=1`` (the ``densedepth-mnv2`` bottleneck quirk) runs natively like any
other padded layer; no host-side zero padding is needed.
"""

from __future__ import annotations

from ..commands import KERNEL_ERRORS, KIND_CODES, REGISTERS
from .packing import (
    block_lanes,
    build_input_stream,
    build_side_stream,
    describe_geometry,
    output_beats,
    pack_params,
    pack_pixels,
    pack_psums,
    pack_weights,
    packed_rows,
    pixel_extras,
    rows_before,
    side_beats,
    stream_beats,
    stream_view,
    unpack_output,
)
from .plan import (
    INPUT_TABLE_BEATS,
    Call,
    ProtocolError,
    changed_registers,
    plan_layer,
    registers,
)
from .prepared import (
    CatInput,
    PreparedLayer,
    RawFrame,
    cat_fusable,
    frame_reader,
    fused_concats,
    input_segments,
    materialize,
    pack_input_table,
    prepare_layer,
    prepare_program,
    rgb_capable,
)
from .resize import (
    resize_call,
    resize_head,
    resize_output_beats,
    resize_registers,
    resize_stream_beats,
)
from .run import RecordedLayer, run_layer

__all__ = ['KERNEL_ERRORS', 'KIND_CODES', 'REGISTERS', 'pack_params', 'pack_weights', 'block_lanes', 'pack_pixels', 'pack_psums', 'rows_before', 'build_input_stream', 'build_side_stream', 'pixel_extras', 'output_beats', 'unpack_output', 'stream_beats', 'side_beats', 'describe_geometry', 'INPUT_TABLE_BEATS', 'ProtocolError', 'Call', 'plan_layer', 'registers', 'changed_registers', 'PreparedLayer', 'rgb_capable', 'pack_input_table', 'prepare_layer', 'frame_reader', 'prepare_program', 'stream_view', 'packed_rows', 'input_segments', 'CatInput', 'RawFrame', 'materialize', 'cat_fusable', 'fused_concats', 'resize_call', 'resize_registers', 'resize_head', 'resize_stream_beats', 'resize_output_beats', 'run_layer', 'RecordedLayer']

