"""Float reference model (torch): MobileNetV2 encoder + DenseDepth decoder.

The module tree is built from :func:`pynq_depth.netspec.build_graph`, so that

* parameter names are torchvision's (``encoder.original_model.features.*``) and
  the public DenseDepth-MobileNetV2 port's (``decoder.up0.convA.*``), and
* ``forward`` executes exactly the node list the quantiser lowers, which keeps
  the float reference and the integer program structurally identical.

torch is only needed here and in host tooling; the runtime path never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .netspec import ModelSpec, Node, build_graph, get_spec

LEAKY_SLOPE = 0.2


def _ensure_path(root: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    """Create empty container modules along ``dotted`` and return (parent, leaf name)."""
    parts = dotted.split(".")
    parent = root
    for part in parts[:-1]:
        if not hasattr(parent, part):
            parent.add_module(part, nn.Module())
        parent = getattr(parent, part)
    return parent, parts[-1]


class DepthModel(nn.Module):
    """DenseDepth-style depth network on a MobileNetV2 encoder.

    Parameters
    ----------
    spec : ModelSpec or str, optional
        Network configuration or its name (board default when omitted).

    Notes
    -----
    ``forward`` takes an ImageNet-normalised batch (N, 3, H, W) and returns
    (N, 1, H/s, W/s) (s = :func:`~pynq_depth.netspec.output_stride`) in DenseDepth's target space ``1000 / depth_cm``; see
    :func:`pynq_depth.depth.prediction_to_metres`.  Any input size >= 32x32
    works; the graph is rebuilt (and cached) per input size.
    """

    def __init__(self, spec: ModelSpec | str | None = None) -> None:
        super().__init__()
        self.spec = spec if isinstance(spec, ModelSpec) else get_spec(spec)
        self._graphs: dict[tuple[int, int], list[Node]] = {}
        for node in self.graph(self.spec.input_hw):
            if node.op != "conv":
                continue
            groups = node.cin if node.kind == "dw3x3" else 1
            conv = nn.Conv2d(node.cin, node.cout, node.ksize, node.stride, node.pad,
                             groups=groups, bias=not node.bn)
            parent, leaf = _ensure_path(self, node.conv_name)
            parent.add_module(leaf, conv)
            if node.bn:
                parent, leaf = _ensure_path(self, node.bn_name)
                parent.add_module(leaf, nn.BatchNorm2d(node.cout))

    def set_fake_quant(self, program: Any | None, noise: bool = False, tensors: Iterable[str] | None = None,
                       channels: dict[str, np.ndarray] | None = None, weights: bool = True) -> None:
        """Quantisation-aware training: round every tensor the accelerator requantises (the input and each
        convolution's output) to ``program``'s integer grid in ``forward``, and every convolution's weights
        as the quantiser does (BatchNorm and the input channels' scales folded in, int8 per output
        channel), with straight-through gradients.

        ``program`` is a quantised :class:`~pynq_depth.program.Program` of this network (its per-channel
        scales and clamp bounds; the input to its 3 x 256 table's grid); ``None`` switches it off.
        ``noise``: instead of rounding, add uniform noise of one grid step (the rounding error's
        distribution), so that the float model itself becomes insensitive to the rounding.

        For finding where the rounding hurts (:func:`pynq_depth.quant_report.depth_sensitivity`):
        ``tensors`` (names) limits the activation rounding to those tensors, ``channels`` (name to a boolean
        mask per channel) to those channels of a tensor, and ``weights=False`` keeps every weight in float.

        A tensor whose channels the program replicates (:func:`pynq_depth.quantize.replicate_channels`) is
        rounded per network channel to the finer step its copies resolve together (exact); the weights
        that read it are rounded as if the channel came once at that step (an approximation: the program
        holds one share of the weight per copy).
        """
        self._fake_noise = bool(noise)
        if program is None:
            self._fake_quant = None
            self._tensor_scales = None
            return
        # Per channel of the network (a replicated tensor's copies resolve their channel together).
        network_grids = {name: info.network_grid() for name, info in program.tensors.items()}
        self._tensor_scales = {name: torch.from_numpy(step.astype(np.float32))
                               for name, (step, _) in network_grids.items()} if weights else None
        grids: dict[str, tuple[torch.Tensor, float | torch.Tensor, float | torch.Tensor, torch.Tensor | None]] = {}
        selected = None if tensors is None else set(tensors)
        bounds = {"int8": (-128.0, 127.0), "uint8": (0.0, 255.0), "int16": (-32768.0, 32767.0)}
        clamps = {c.output: (float(c.lo), float(c.hi)) for c in program.conv_commands}
        for name, info in program.tensors.items():
            if name != "input" and name not in clamps:
                continue  # resize/concat outputs: no requantisation of their own
            if selected is not None and name not in selected:
                continue
            lo, hi = clamps.get(name, bounds[info.dtype])
            step, finer = network_grids[name]
            scale = torch.from_numpy(step.astype(np.float32)).view(1, -1, 1, 1)
            if np.any(finer != 1):  # n copies with staggered offsets: n times the steps within the clamp
                finer_t = torch.from_numpy(finer.astype(np.float32)).view(1, -1, 1, 1)
                lo, hi = lo * finer_t, hi * finer_t
            mask = None
            if channels is not None and name in channels:
                mask = torch.from_numpy(np.asarray(channels[name], dtype=bool)).view(1, -1, 1, 1)
            grids[name] = (scale, lo, hi, mask)
        self._fake_quant = grids

    def _quantize_like_hardware(self, name: str, y: torch.Tensor) -> torch.Tensor:
        grid = (getattr(self, "_fake_quant", None) or {}).get(name)
        if grid is None:
            return y
        scale, lo, hi, mask = grid
        if getattr(self, "_fake_noise", False):
            q = torch.clamp(y / scale + torch.rand_like(y) - 0.5, lo, hi) * scale
        else:
            q = torch.clamp(torch.round(y / scale), lo, hi) * scale
        if mask is not None:
            q = torch.where(mask, q, y)
        return y + (q - y).detach()  # straight-through: the forward sees the integers, gradients pass

    def _conv(self, node: Node, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, x: torch.Tensor) -> torch.Tensor:
        """``conv(x)``; with fake quantisation, with the weights the int8 program will hold
        (``quantize._effective_weights``: BN and input scales folded in, int8 per output channel)."""
        scales = getattr(self, "_tensor_scales", None)
        if not scales or node.inputs[0] not in scales:
            return conv(x)
        weight = conv.weight
        factor = torch.ones(weight.shape[0], dtype=weight.dtype)
        if bn is not None:
            factor = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        in_scale = scales[node.inputs[0]].to(weight.dtype)
        if node.kind == "dw3x3":
            fold = factor.view(-1, 1, 1, 1) * in_scale.view(-1, 1, 1, 1)
        else:
            fold = factor.view(-1, 1, 1, 1) * in_scale.view(1, -1, 1, 1)
        effective = weight * fold
        step = effective.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127.0
        step = torch.where(step > 0, step, torch.ones_like(step))
        if getattr(self, "_fake_noise", False):
            rounded = (effective + (torch.rand_like(effective) - 0.5) * step) / fold
        else:
            rounded = torch.clamp(torch.round(effective / step), -127, 127) * step / fold
        weight = weight + (rounded - weight).detach()
        return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def graph(self, input_hw: tuple[int, int]) -> list[Node]:
        """Node list for an input size (cached)."""
        if input_hw not in self._graphs:
            self._graphs[input_hw] = build_graph(self.spec, input_hw)
        return self._graphs[input_hw]

    def conv_modules(self, node: Node) -> tuple[nn.Conv2d, nn.BatchNorm2d | None]:
        """The Conv2d and optional BatchNorm2d of a conv node."""
        conv = self.get_submodule(node.conv_name)
        bn = self.get_submodule(node.bn_name) if node.bn else None
        return conv, bn  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, return_all: bool = False,
                layer_times: dict[str, float] | None = None, known: dict[str, torch.Tensor] | None = None) -> Any:
        """Run the network.

        Parameters
        ----------
        x : torch.Tensor
            (N, 3, H, W) ImageNet-normalised input.
        return_all : bool
            Also return every intermediate tensor by name (for calibration).
        layer_times : dict, optional
            Filled with seconds per node (for ``pynq-depth bench``).
        known : dict, optional
            Tensors already computed (from an earlier ``return_all`` run): those nodes are skipped, so a
            caller that changes only later layers reruns only them.
        """
        tensors: dict[str, torch.Tensor] = {"input": self._quantize_like_hardware("input", x)}
        tensors.update(known or {})
        for node in self.graph((int(x.shape[2]), int(x.shape[3]))):
            if node.output in tensors:
                continue
            start = time.perf_counter() if layer_times is not None else 0.0
            if node.op == "conv":
                conv, bn = self.conv_modules(node)
                y = self._conv(node, conv, bn, tensors[node.inputs[0]])
                if bn is not None:
                    y = bn(y)
                if node.act == "relu6":
                    y = F.relu6(y)
                elif node.act == "leaky":
                    y = F.leaky_relu(y, LEAKY_SLOPE)
                if node.residual is not None:
                    y = y + tensors[node.residual]
                y = self._quantize_like_hardware(node.output, y)
            elif node.op == "resize":
                h, w, _ = node.out_shape
                y = F.interpolate(tensors[node.inputs[0]], size=(h, w), mode="bilinear", align_corners=True)
            elif node.op == "concat":
                y = torch.cat([tensors[name] for name in node.inputs], dim=1)
            else:  # pragma: no cover - netspec only makes the three kinds
                raise ValueError(node.op)
            tensors[node.output] = y
            if layer_times is not None:
                layer_times[node.name or node.output] = time.perf_counter() - start
        return tensors if return_all else tensors["depth"]


def load_imagenet_encoder(model: DepthModel, path: str | Path) -> int:
    """Initialise the encoder from a torchvision MobileNetV2 ImageNet checkpoint.

    Parameters
    ----------
    model : DepthModel
        Model to update in place.
    path : str or Path
        ``mobilenet_v2-b0353104.pth`` (torchvision key names ``features.*``).

    Returns
    -------
    int
        Number of tensors loaded.
    """
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    mapped = {f"encoder.original_model.{k}": v for k, v in state.items() if k.startswith("features.")}
    own = model.state_dict()
    missing = [k for k in own if k.startswith("encoder.") and k not in mapped and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: not a MobileNetV2 checkpoint, {len(missing)} encoder tensors missing (e.g. {missing[0]})")
    for key, value in mapped.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(f"{path}: shape mismatch for {key}: {tuple(value.shape)} vs {tuple(own[key].shape)}")
    model.load_state_dict({**own, **{k: v for k, v in mapped.items() if k in own}})
    return len(mapped)


def save_checkpoint(model: DepthModel, path: str | Path, **extra: Any) -> None:
    """Save a float checkpoint ``{"spec": name, "state_dict": ..., **extra}`` atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"spec": model.spec.name, "state_dict": model.state_dict(), **extra}, str(tmp))
    tmp.replace(path)


class CheckpointError(ValueError):
    """A float checkpoint is missing, unreadable or does not match the model configuration."""


def load_checkpoint(path: str | Path, spec: str | None = None) -> tuple[DepthModel, dict[str, Any]]:
    """Load a float checkpoint written by :func:`save_checkpoint` or a bare state dict.

    A bare state dict with the public port's keys loads into ``densedepth-mnv2``
    (or ``spec``); extra keys such as torchvision's ``classifier.*`` are ignored.

    Returns
    -------
    (DepthModel, dict)
        The model in eval mode and the checkpoint's extra entries.

    Raises
    ------
    CheckpointError
        With the path and the reason, for any file that cannot be used.
    """
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip, key and runtime errors for junk files
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(blob).__name__}, not a dict)")
    if isinstance(blob, dict) and "state_dict" in blob:
        state, extra = blob["state_dict"], {k: v for k, v in blob.items() if k != "state_dict"}
        spec = spec or extra.get("spec")
    else:
        state, extra = blob, {}
        spec = spec or "densedepth-mnv2"
    try:
        model = DepthModel(spec)
    except KeyError as exc:
        raise CheckpointError(f"{path}: {exc.args[0]}") from None
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise CheckpointError(f"{path}: checkpoint does not match model {model.spec.name!r} "
                         f"({len(missing)} tensors missing, e.g. {missing[0]})")
    try:
        model.load_state_dict({**own, **state})
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{path}: checkpoint does not match model {model.spec.name!r} "
                              f"({str(exc).splitlines()[-1].strip()})") from None
    model.eval()
    return model, extra
