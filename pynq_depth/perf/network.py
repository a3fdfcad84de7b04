"""The network as the performance model sees it, and what the driver sends per layer.

Layer shapes and dtypes (:func:`network_layers`), the concats the driver leaves
unmade (:func:`fused_concat_layers`), DMA transfers (:func:`call_transfers`) and
register writes (:func:`register_writes`) per call, counted the way
:mod:`pynq_depth.backends.fpga.runner` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .. import protocol
from ..boards import Board
from ..config import HwConfig
from ..netspec import Node, build_graph, get_spec
from ..program import ConvCmd


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


def network_layers(model: str | None = None, size: tuple[int, int] | None = None,
                   program: Any = None) -> list[LayerSpec]:
    """The network's nodes with input shapes and output dtypes (as the quantiser assigns them).

    With ``program`` (a quantised :class:`~pynq_depth.program.Program` of this network, any input
    size), every tensor has the program's channel count, which exceeds the network's where the
    quantiser replicated channels (:func:`pynq_depth.quantize.replicate_channels`).
    """
    from dataclasses import replace

    spec = get_spec(model)
    hw = tuple(size or spec.input_hw)
    shapes: dict[str, tuple[int, int, int]] = {"input": (hw[0], hw[1], 3)}
    channels = {name: info.shape[2] for name, info in program.tensors.items()} if program is not None else {}
    layers = []
    for node in build_graph(spec, hw):  # type: ignore[arg-type]
        if node.op == "conv" and node.output in channels:
            h, w, _ = node.out_shape
            node = replace(node, out_shape=(h, w, channels[node.output]),
                           cin=channels.get(node.inputs[0], node.cin))
        ins = tuple(shapes[name] for name in node.inputs)
        shapes[node.output] = node.out_shape
        if node.op == "conv":
            dtype = "int16" if node.output == "depth" else ("uint8" if node.act == "relu6" else "int8")
            layers.append(LayerSpec(node, ins[0], dtype, dummy_command(node), ins))
        else:
            layers.append(LayerSpec(node, ins[0], "int8", None, ins))
    return layers


#: Registers written per call (the kernel's AXI-Lite arguments).
REGISTERS_PER_CALL = len(protocol.REGISTERS)
#: DMA transfers per call: two MM2S segments (pre-packed head, activations) + one S2MM ...
DMA_TRANSFERS_PER_CALL = 3
#: ... + one MM2S transfer on the side DMA for a call with partial sums or a residual
#: (``protocol.side_beats > 0``).
SIDE_TRANSFERS_PER_SIDE_CALL = 1


def call_overhead_us(board: Board, registers: int = REGISTERS_PER_CALL, transfers: int = 2) -> float:
    """Driver time per kernel call on ``board``: register writes, ``transfers`` DMA starts and waits, start/done.

    The shipped protocol uses 3 transfers per call (MM2S: the pre-packed constants + weights,
    then the activations; S2MM: the output), see :data:`DMA_TRANSFERS_PER_CALL`, and one more
    on the side DMA when the call has partial sums or a residual (:func:`call_transfers`).
    """
    d = board.driver_us
    return registers * d["mmio_write"] + transfers * (d["dma_start"] + d["dma_wait"]) + d["kernel_start_done"]


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
    from ..program import WeightsError, load_program
    from ..runtime import DEFAULT_WEIGHTS

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
