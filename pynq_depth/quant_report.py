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
(clipped by saturation).  Needs torch (host tooling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.emulator import Emulator
from .model import DepthModel
from .preprocess import normalize
from .program import NUMPY_DTYPES, ConvCmd, Program


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


def _quantize_float(value: np.ndarray, scale: np.ndarray, dtype: str) -> np.ndarray:
    """A float (H, W, C) tensor in an integer format: round to the per-channel scale, saturate."""
    info = np.iinfo(NUMPY_DTYPES[dtype])
    return np.clip(np.round(value / scale), info.min, info.max).astype(NUMPY_DTYPES[dtype])


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
            scale = out.scale.astype(np.float64)
            reference = floats[cmd.output]
            network = ints[cmd.output].astype(np.float64) * scale
            source = program.tensors[cmd.input]
            own_input = _quantize_float(floats[cmd.input], source.scale.astype(np.float64), source.dtype)
            skip = None
            if cmd.skip is not None:
                info = program.tensors[cmd.skip]
                skip = _quantize_float(floats[cmd.skip], info.scale.astype(np.float64), info.dtype)
            own = emulator.run_conv(cmd, own_input, skip, out.dtype).astype(np.float64) * scale
            beyond = (reference > cmd.hi * scale) | (reference < cmd.lo * scale)
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
