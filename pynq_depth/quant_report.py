"""Where an int8 program loses accuracy: signal-to-quantisation-noise ratio per layer (``quantize --report``).

For every tensor the accelerator writes, the float model's value is the signal
and the difference to the dequantised integer value the noise.  Two numbers
per layer tell different stories:

* **network SQNR**: the integer network run end to end, so the noise of every
  layer before it is included; where it falls steeply, a layer is adding much.
* **own SQNR**: the layer alone, fed the float model's input quantised to its
  input format, so only its own weight, bias and output rounding (and clipping)
  count.  The layer with the lowest own SQNR limits the result.

Also reported: the share of float values beyond the layer's integer range
(clipped by saturation).

SQNR says where the noise is, not what it does to the depth of one photo:
:func:`depth_sensitivity` rounds one tensor at a time (then one channel at a
time of the worst tensors) in the float model and measures the depth's AbsRel
against float, per photo (``scripts/int8_vs_float.py --sensitivity PHOTO``).
Needs torch (host tooling).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .backends.emulator import Emulator
from .depth import prediction_to_metres
from .model import DepthModel
from .preprocess import normalize
from .program import ConvCmd, Program


@dataclass(frozen=True)
class LayerNoise:
    """Quantisation noise of one accelerator layer over a set of images."""

    name: str
    tensor: str
    network_sqnr_db: float
    own_sqnr_db: float
    clipped: float


def _sqnr_db(signal: float, noise: float) -> float:
    if noise <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(max(signal, 1e-30) / noise))


def layer_noise(model: DepthModel, program: Program, images: list[np.ndarray]) -> list[LayerNoise]:
    """SQNR of every accelerator layer of ``program`` against ``model`` on ``images``.

    Parameters
    ----------
    model : DepthModel
        The float model the program was quantised from.
    program : Program
        Its integer program.
    images : list of uint8 (H, W, 3)
        Images at ``program.input_hw``.

    Returns
    -------
    list of LayerNoise
        In program order.
    """
    import torch

    emulator = Emulator()
    model.eval()
    sums: dict[str, np.ndarray] = {}  # tensor -> [signal, network noise, own noise, clipped, count]
    for rgb in images:
        x = torch.from_numpy(normalize(rgb)[None]).permute(0, 3, 1, 2).float()
        with torch.no_grad():
            floats = {name: value[0].permute(1, 2, 0).double().numpy()
                      for name, value in model(x, return_all=True).items()}
        ints = emulator.run(program, rgb, trace=True)
        assert isinstance(ints, dict)
        for cmd in program.conv_commands:
            out = program.tensors[cmd.output]
            step, finer = out.network_grid()  # replicated channels: compared as the network tensor
            reference = floats[cmd.output]
            network = out.to_network(ints[cmd.output])
            own_input = program.tensors[cmd.input].from_network(floats[cmd.input])
            skip = None
            if cmd.skip is not None:
                skip = program.tensors[cmd.skip].from_network(floats[cmd.skip])
            own = out.to_network(emulator.run_conv(cmd, own_input, skip, out.dtype))
            beyond = (reference > cmd.hi * step * finer) | (reference < cmd.lo * step * finer)
            row = np.array([np.sum(reference ** 2), np.sum((reference - network) ** 2),
                            np.sum((reference - own) ** 2), np.sum(beyond), reference.size])
            sums[cmd.output] = sums.get(cmd.output, 0) + row
    report = []
    for cmd in program.conv_commands:
        signal, network_noise, own_noise, clipped, count = sums[cmd.output]
        report.append(LayerNoise(cmd.name or cmd.output, cmd.output, _sqnr_db(signal, network_noise),
                                 _sqnr_db(signal, own_noise), float(clipped / count)))
    return report


def format_report(report: list[LayerNoise], top: int = 5) -> str:
    """The per-layer table and the layers that limit the result, as text."""
    width = max(len(row.name) for row in report)
    lines = [f"{'layer':{width}s}  network SQNR  own SQNR  clipped"]
    for row in report:
        lines.append(f"{row.name:{width}s}  {row.network_sqnr_db:9.1f} dB  {row.own_sqnr_db:5.1f} dB  "
                     f"{100 * row.clipped:6.3f} %")
    worst = sorted(report, key=lambda row: row.own_sqnr_db)[:top]
    lines.append("limiting layers (lowest own SQNR): "
                 + ", ".join(f"{row.name} {row.own_sqnr_db:.1f} dB" for row in worst))
    lines.append(f"output: {report[-1].network_sqnr_db:.1f} dB end to end")
    return "\n".join(lines)


@dataclass(frozen=True)
class TensorSensitivity:
    """What rounding one tensor to its int8 grid, and nothing else, does to the depth.

    Attributes
    ----------
    tensor : str
        Tensor name (``input`` or a convolution's output).
    abs_rel : ndarray
        Per image: AbsRel of the depth against the float model's.
    channels : tuple of (int, ndarray)
        For the most harmful tensors only: the channels whose rounding alone hurts most, worst first,
        each with its per-image AbsRel.
    """

    tensor: str
    abs_rel: np.ndarray
    channels: tuple[tuple[int, np.ndarray], ...] = ()


def depth_sensitivity(model: DepthModel, program: Program, images: list[np.ndarray], top_tensors: int = 2,
                      top_channels: int = 5, candidates: Iterable[str] | None = None,
                      rank_by: str = "max") -> list[TensorSensitivity]:
    """Depth error caused by each tensor's activation rounding alone, worst first.

    The float model runs with exactly one tensor rounded and clamped to ``program``'s grid
    (:meth:`DepthModel.set_fake_quant` with float weights); the depth's AbsRel against the
    unrounded model is that tensor's share of the int8 error on each image.  For the
    ``top_tensors`` worst tensors the same is done per channel.  Weight rounding, bias correction
    and the interaction of many small errors are left out: a diagnostic of where a photo's error
    comes from, not a prediction of its total.

    Parameters
    ----------
    model : DepthModel
        The float model the program was quantised from.
    program : Program
        Its integer program.
    images : list of uint8 (H, W, 3)
        Images at ``program.input_hw``.
    top_tensors, top_channels : int
        How many of the worst tensors get a per-channel breakdown, and how many channels it lists.
    candidates : iterable of str, optional
        Only these tensors (default: the input and every convolution's output).
    rank_by : {"max", "mean"}
        Worst by the largest AbsRel over the images (one bad photo counts) or by the mean.

    Returns
    -------
    list of TensorSensitivity
        Sorted by the largest AbsRel over the images, descending.
    """
    import torch

    model.eval()
    x = torch.from_numpy(np.stack([normalize(rgb) for rgb in images])).permute(0, 3, 1, 2).float()
    model.set_fake_quant(None)
    with torch.no_grad():
        floats = model(x, return_all=True)
    reference = prediction_to_metres(floats["depth"][:, 0].numpy())
    order = [node.output for node in model.graph(tuple(program.input_hw))]

    def abs_rel(rounded_tensor: str) -> np.ndarray:
        # Everything before the rounded tensor is the float model's: reused, not recomputed.
        first = order.index(rounded_tensor) if rounded_tensor != "input" else -1
        known = {name: floats[name] for name in ["input"] + order[:first]} if first >= 0 else None
        with torch.no_grad():
            depth = prediction_to_metres(model(x, known=known)[:, 0].numpy())
        return np.mean(np.abs(depth - reference) / reference, axis=(1, 2))

    if rank_by not in ("max", "mean"):
        raise ValueError(f"rank_by must be 'max' or 'mean', not {rank_by!r}")
    worst = np.max if rank_by == "max" else np.mean
    rounded = ["input"] + [cmd.output for cmd in program.conv_commands]
    if candidates is not None:
        wanted = set(candidates)
        rounded = [name for name in rounded if name in wanted]
    rows = []
    try:
        for name in rounded:
            model.set_fake_quant(program, tensors=[name], weights=False)
            rows.append(TensorSensitivity(name, abs_rel(name)))
        rows.sort(key=lambda row: -float(worst(row.abs_rel)))
        for i, row in enumerate(rows[:top_tensors]):
            count = program.tensors[row.tensor].network_channels
            per_channel = []
            for channel in range(count):
                mask = np.zeros(count, dtype=bool)
                mask[channel] = True
                model.set_fake_quant(program, tensors=[row.tensor], channels={row.tensor: mask}, weights=False)
                per_channel.append((channel, abs_rel(row.tensor)))
            per_channel.sort(key=lambda item: -float(worst(item[1])))
            rows[i] = TensorSensitivity(row.tensor, row.abs_rel, tuple(per_channel[:top_channels]))
    finally:
        model.set_fake_quant(None)
    return rows


def format_sensitivity(rows: list[TensorSensitivity], names: list[str], top: int = 8) -> str:
    """The ``top`` tensors of :func:`depth_sensitivity` (and their worst channels), one column per image."""
    lines = [f"{'tensor rounded alone':24s} " + " ".join(f"{n[:12]:>12s}" for n in names)]
    for row in rows[:top]:
        lines.append(f"{row.tensor:24s} " + " ".join(f"{v:12.4f}" for v in row.abs_rel))
        for channel, values in row.channels:
            lines.append(f"{'  channel ' + str(channel):24s} " + " ".join(f"{v:12.4f}" for v in values))
    return "\n".join(lines)
