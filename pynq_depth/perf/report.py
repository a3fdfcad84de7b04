"""The model's report as a table and as pictures (per-layer bars, roofline; matplotlib imported only here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .model import Report
from .resources import format_resources


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
