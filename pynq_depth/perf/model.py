"""One frame of a network on a board: per-layer compute, DMA, processor and driver time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import protocol
from ..boards import Board, get_board
from ..config import HwConfig, default_config
from ..netspec import get_spec
from .cycles import SHIPPED, KernelTiming, Variant, call_cost, variant_config
from .host import best_of, measure_host_seconds
from .network import (
    DMA_TRANSFERS_PER_CALL,
    SIDE_TRANSFERS_PER_SIDE_CALL,
    call_overhead_us,
    call_transfers,
    fused_concat_layers,
    network_layers,
    packaged_program,
    reads_raw_frame,
    register_writes,
)
from .resources import estimate_resources


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
                "call_overhead_us": call_overhead_us(self.board, registers=0, transfers=DMA_TRANSFERS_PER_CALL),
                "register_write_us": self.board.driver_us["mmio_write"],
                "dma_transfers_per_call": DMA_TRANSFERS_PER_CALL,
                "dram_gbps": self.board.dram_gbps, "dram_efficiency": self.board.dram_efficiency,
                "hp_gbps_per_direction": self.board.hp_bytes_per_s(self.clock_mhz) / 1e9,
                "cpu_work": "measured on this host with NumPy, multiplied by cpu_factor",
            },
            "layers": [layer.as_dict() for layer in self.layers],
        }


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
        :func:`register_writes`) and whose channel counts (replicated channels included) fix the
        work; ``"packaged"``: the packaged program when it is this network.
    """
    board = get_board(board) if isinstance(board, str) else board
    config = config or default_config()
    spec = get_spec(model_name)
    hw = tuple(size or spec.input_hw)
    cfg, lanes = variant_config(config, variant)
    clock = cfg.clock_mhz
    # per call without its register writes, which are counted per layer (only changed registers)
    call_us = call_overhead_us(board, registers=0, transfers=DMA_TRANSFERS_PER_CALL) * variant.call_overhead_scale
    d = board.driver_us
    write_us = d["mmio_write"] * variant.call_overhead_scale
    side_us = (d["dma_start"] + d["dma_wait"]) * SIDE_TRANSFERS_PER_SIDE_CALL * variant.call_overhead_scale
    layers = []
    if isinstance(program, str) and program == "packaged":
        program = packaged_program(spec.name)
    specs = network_layers(spec.name, hw, program)  # type: ignore[arg-type]
    fused = fused_concat_layers(specs, cfg)
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
            from ..arith import resize_bilinear

            xin = np.zeros(layer.in_shape, dtype=np.int8)
            cpu = best_of(lambda: resize_bilinear(xin, h, w, cfg.resize_frac_bits), repeats) * board.cpu_factor
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
