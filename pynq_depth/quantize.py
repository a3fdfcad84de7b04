"""Post-training int8 quantisation of the float model into an accelerator :class:`Program`.

Per convolution: batch norm folded into the conv; the scale of every input
channel folded into the weights (this is what lets a concat of differently
scaled tensors feed one conv with no arithmetic on the processor); symmetric
per-output-channel int8 weights; int32 bias; one 15-bit multiplier and a right
shift per output channel.  Activations get per-tensor scales from calibration
images: uint8 after ReLU6, int8 elsewhere, int16 for the depth output.

Needs torch (host tooling); the result loads and runs without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import torch

from .arith import conv_acc, quantize_multiplier, requantize
from .config import HwConfig, default_config
from .model import LEAKY_SLOPE, DepthModel
from .netspec import Node
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize
from .program import ConvCmd, HostCmd, Program, TensorInfo

#: DenseDepth's target 1000/depth_cm lies in [1, 100]; int16 covers +-160 with 0.005 steps.
DEPTH_OUTPUT_RANGE = 160.0


def fold_batchnorm(model: DepthModel, node: Node) -> tuple[np.ndarray, np.ndarray]:
    """Float64 weights (torch layout) and bias of a conv node with its BatchNorm folded in."""
    conv, bn = model.conv_modules(node)
    weight = conv.weight.detach().double().numpy()
    bias = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(node.cout)
    if bn is not None:
        gamma = bn.weight.detach().double().numpy()
        beta = bn.bias.detach().double().numpy()
        mean = bn.running_mean.detach().double().numpy()
        var = bn.running_var.detach().double().numpy()
        factor = gamma / np.sqrt(var + bn.eps)
        weight = weight * factor[:, None, None, None]
        bias = (bias - mean) * factor + beta
    return weight, bias


def input_scales() -> np.ndarray:
    """Per-channel scale of the int8 network input (covers every uint8 pixel value)."""
    extreme = np.maximum(np.abs((0.0 - IMAGENET_MEAN) / IMAGENET_STD), np.abs((1.0 - IMAGENET_MEAN) / IMAGENET_STD))
    return (extreme / 127.0).astype(np.float64)


def input_lut(scales: np.ndarray) -> np.ndarray:
    """(3, 256) int8 table: uint8 pixel value -> quantised normalised input, per channel."""
    values = normalize(np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None], (256, 1, 3)))[:, 0, :]
    return np.clip(np.round(values / scales), -127, 127).astype(np.int8).T.copy()


def calibrate(model: DepthModel, images: Iterable[np.ndarray], batch_size: int = 4,
              progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Run the float model on calibration images and return the |max| of every channel of every tensor.

    The plain maximum, not a percentile: clipping the decoder's rare large
    activations cost more depth accuracy than it gained in resolution (measured:
    int8-vs-float AbsRel 0.02-0.09 at the 99.9th/99.99th percentile vs <= 0.02 at
    the maximum on the packaged model); per-channel output scales (see
    :func:`quantize_model`) keep one large channel from coarsening the others.

    Parameters
    ----------
    model : DepthModel
        Float model (put in eval mode here).
    images : iterable of uint8 (H, W, 3)
        Calibration images at the quantisation input size.
    batch_size : int
        Images per forward pass.
    progress : callable, optional
        Called with the number of images done after each batch.
    """
    model.eval()
    maxima: dict[str, np.ndarray] = {}
    batch: list[np.ndarray] = []
    done = 0

    def flush() -> None:
        nonlocal done
        x = torch.from_numpy(np.stack([normalize(img) for img in batch])).permute(0, 3, 1, 2).float()
        with torch.no_grad():
            outputs = model(x, return_all=True)
        for name, value in outputs.items():
            channel_max = value.detach().abs().amax(dim=(0, 2, 3)).double().numpy()
            maxima[name] = np.maximum(maxima[name], channel_max) if name in maxima else channel_max
        done += len(batch)
        batch.clear()
        if progress:
            progress(done)

    for image in images:
        batch.append(image)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not maxima:
        raise ValueError("no calibration images")
    return maxima


def depthwise_moments(model: DepthModel, images: list[np.ndarray], batch_size: int = 4) -> dict[str, np.ndarray]:
    """Second moments of every depthwise layer's 3x3 input windows, per channel: (C, 9, 9) by layer output.

    E[x x^T] over the output positions of the calibration images (float model), the
    matrix that turns a change of a channel's 9 weights into the mean squared change
    of its output: see :func:`round_depthwise`.
    """
    import torch.nn.functional as F

    model.eval()
    hw = tuple(images[0].shape[:2])
    nodes = [n for n in model.graph(hw) if n.op == "conv" and n.kind == "dw3x3"]  # type: ignore[arg-type]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        x = torch.from_numpy(np.stack([normalize(img) for img in batch])).permute(0, 3, 1, 2).float()
        with torch.no_grad():
            outputs = model(x, return_all=True)
            for node in nodes:
                src = outputs[node.inputs[0]].double()
                n, c = src.shape[:2]
                cols = F.unfold(src, 3, padding=node.pad, stride=node.stride).view(n, c, 9, -1)
                moment = torch.einsum("ncil,ncjl->cij", cols, cols).numpy()
                sums[node.output] = sums.get(node.output, 0) + moment
                counts[node.output] = counts.get(node.output, 0) + n * cols.shape[-1]
    return {name: sums[name] / counts[name] for name in sums}


#: Largest weight row (k * k * Cin) that :func:`round_weights_gptq` handles; wider layers round to nearest.
GPTQ_MAX_ROW = 4096


def input_moments(model: DepthModel, images: list[np.ndarray], batch_size: int = 4,
                  max_row: int = GPTQ_MAX_ROW) -> dict[str, np.ndarray]:
    """E[x x^T] of every pointwise and standard conv's input vectors, in the accelerator's weight order.

    x is a layer's receptive field at one output position (Cin values for a 1x1
    conv; 3 x 3 x Cin, tap-major as the weights are stored, for a 3x3 conv), taken
    from the float model on the calibration images.  Keyed by layer output; layers
    with more than ``max_row`` weights per output channel are left out.
    """
    import torch.nn.functional as F

    model.eval()
    hw = tuple(images[0].shape[:2])
    nodes = [n for n in model.graph(hw) if n.op == "conv" and n.kind in ("pw1x1", "conv3x3")  # type: ignore[arg-type]
             and n.cin * (9 if n.kind == "conv3x3" else 1) <= max_row]
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.stack([normalize(img) for img in images[start:start + batch_size]]))
        with torch.no_grad():
            outputs = model(x.permute(0, 3, 1, 2).float(), return_all=True)
            for node in nodes:
                src = outputs[node.inputs[0]].double()
                if node.kind == "pw1x1":
                    cols = src.permute(0, 2, 3, 1).reshape(-1, node.cin)
                else:
                    unfolded = F.unfold(src, 3, padding=node.pad, stride=node.stride)      # (N, Cin*9, L)
                    n, _, positions = unfolded.shape
                    # unfold orders (Cin, tap); the accelerator stores weights as (tap, Cin)
                    cols = unfolded.view(n, node.cin, 9, positions).permute(0, 3, 2, 1).reshape(-1, 9 * node.cin)
                moment = cols.T @ cols
                sums[node.output] = sums[node.output] + moment if node.output in sums else moment
                counts[node.output] = counts.get(node.output, 0) + cols.shape[0]
    return {name: (sums[name] / counts[name]).numpy() for name in sums}


def round_weights_gptq(values: np.ndarray, moments: np.ndarray, damping: float = 0.01) -> np.ndarray:
    """Round weight rows (in int8 steps) one column at a time, moving each rounding error onto later columns.

    Minimises the mean squared change of every output, (q - w)^T M (q - w) with
    M = E[x x^T] of the layer's input (:func:`input_moments`), approximately: each
    column is rounded, and its error is compensated on the columns not yet rounded
    through the inverse of M (Frantar et al. 2023, "GPTQ", the optimal-brain-
    quantisation update).  Per-channel activation scales fold into the next layer's
    weights and make a weak channel's weights small; this keeps their rounding from
    costing the layer its accuracy.

    Parameters
    ----------
    values : ndarray, shape (Cout, K)
        Weights divided by their per-output-channel step (so int8 is [-127, 127]).
    moments : ndarray, shape (K, K)
        Second moments of the inputs the weights multiply, in the same units as the integer inputs.
    damping : float
        Added to M's diagonal, relative to its mean, to keep the inverse well conditioned.
    """
    weights = values.astype(np.float64).copy()
    hessian = moments.astype(np.float64).copy()
    dead = np.diag(hessian) <= 0
    hessian[dead, dead] = 1.0
    weights[:, dead] = 0.0
    hessian[np.diag_indices_from(hessian)] += damping * np.mean(np.diag(hessian))
    # Upper Cholesky factor U of the inverse (inverse = U^T U): row i of U carries column i's rounding error onto
    # the later columns, with the inverse already conditioned on the columns before i.
    upper = np.linalg.cholesky(np.linalg.inv(hessian)).T
    quantized = np.zeros_like(weights)
    for column in range(weights.shape[1]):
        q = np.clip(np.round(weights[:, column]), -127, 127)
        quantized[:, column] = q
        error = (weights[:, column] - q) / upper[column, column]
        weights[:, column + 1:] -= np.outer(error, upper[column, column + 1:])
    return quantized.astype(np.int8)


#: Every way of rounding a 3x3 kernel's 9 values down (0) or up (1).
_ROUNDINGS = ((np.arange(512)[:, None] >> np.arange(9)[None, :]) & 1).astype(np.float64)


def round_depthwise(values: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """Round each channel's 9 depthwise weights (in int8 steps) the way that changes its output least.

    Of the 2**9 ways to round a 3x3 kernel down or up, take the one minimising
    d^T M d, d = rounded - values, M = E[x x^T] of the channel's input windows
    (:func:`depthwise_moments`): the mean squared output error, the square of its mean
    (a depth bias downstream) included.  Nearest rounding is one of the candidates, so
    the result is never worse on the calibration statistics (exhaustive, in the spirit
    of Nagel et al. 2020, "Up or Down? Adaptive Rounding").

    Parameters
    ----------
    values : ndarray, shape (C, 3, 3)
        Weights divided by their per-channel step.
    moments : ndarray, shape (C, 9, 9)
    """
    flat = values.reshape(values.shape[0], 9)
    low = np.floor(flat)
    diff = _ROUNDINGS[None, :, :] - (flat - low)[:, None, :]          # (C, 512, 9)
    cost = np.einsum("cki,cij,ckj->ck", diff, moments, diff)
    best = low + _ROUNDINGS[np.argmin(cost, axis=1)]
    return np.clip(best, -127, 127).astype(np.int8).reshape(values.shape)


#: Coarser weight steps :func:`round_depthwise_rescaled` tries, as fractions of the largest value's step.
DEPTHWISE_STEP_FACTORS = tuple(np.linspace(1.0, 0.8, 41))


def round_depthwise_rescaled(values: np.ndarray, moments: np.ndarray,
                             factors: Iterable[float] = DEPTHWISE_STEP_FACTORS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`round_depthwise` with each channel's weight step chosen too.

    Many depthwise kernels of MobileNetV2's first blocks are edge detectors whose 9
    values nearly cancel: their rounding error is small against the largest value but
    large against the kernel's sum, and that error times the local brightness is an
    output error that no constant bias can correct (it differs per image).  The step
    is free in hardware (the per-channel requantisation multiplier absorbs it), so
    each channel also tries steps coarser by the ``factors`` (the largest value then
    maps to 127 * factor, never beyond 127) and keeps the step and rounding with the
    least expected squared output error, d^T M d in units of the original step.

    Parameters
    ----------
    values : ndarray, shape (C, 3, 3)
        Weights divided by their per-channel step (largest magnitude 127).
    moments : ndarray, shape (C, 9, 9)
        :func:`depthwise_moments` of the layer.
    factors : iterable of float
        Candidate factors in (0, 1]; 1 (the plain step) is always tried.

    Returns
    -------
    weights : ndarray of int8, shape (C, 3, 3)
        The rounded weights in units of their chosen step.
    factors : ndarray, shape (C,)
        Per channel, the chosen factor: its step is the original step divided by it.
    """
    channels = values.shape[0]
    flat = values.reshape(channels, 9).astype(np.float64)
    best_cost = np.full(channels, np.inf)
    best_q = np.zeros((channels, 9))
    best_factor = np.ones(channels)
    for factor in sorted(set(factors) | {1.0}, reverse=True):
        q = round_depthwise((flat * factor).reshape(values.shape), moments).reshape(channels, 9).astype(np.float64)
        error = q / factor - flat
        cost = np.einsum("ci,cij,cj->c", error, moments, error)
        better = cost < best_cost
        best_cost = np.where(better, cost, best_cost)
        best_q[better], best_factor[better] = q[better], factor
    return np.clip(best_q, -127, 127).astype(np.int8).reshape(values.shape), best_factor


def _effective_weights(node: Node, weight: np.ndarray, in_scale: np.ndarray,
                       out_scale: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights in the accelerator layout with every input channel's scale folded in, and their scales.

    Returns
    -------
    (effective, w_scale)
        ``(Cout, k, k, Cin)`` (or ``(C, 3, 3)`` depthwise) float weights and the
        per-output-channel scale that maps them to int8 (also the accumulator scale).
    """
    if node.kind == "dw3x3":
        effective = weight[:, 0] * in_scale[:, None, None]
    else:
        effective = np.transpose(weight, (0, 2, 3, 1)) * in_scale[None, None, None, :]
    flat = np.abs(effective.reshape(effective.shape[0], -1)).max(axis=1)
    # An all-zero channel outputs its bias only: give it a scale fine enough to keep the bias exact
    # (a scale of 1.0 rounded biases below one real unit to 0).
    return effective, np.where(flat > 0, flat / 127.0, out_scale / 256.0)


@dataclass(frozen=True)
class QuantizeOptions:
    """Choices of :func:`quantize_model`; all are free in hardware (they only change constants).

    Attributes
    ----------
    per_channel_relu6 : bool
        A scale per channel for ReLU6 outputs (else one per layer, set by its largest channel).
    per_channel_residual : bool
        A scale per channel, shared along each residual chain, for tensors that take part in residual adds
        (else one per tensor).
    relu6_spread : float
        How far per-channel ReLU6 scales follow their channel: channel c's range is
        ``top_c ** spread * top_max ** (1 - spread)`` (1: its own maximum; 0: the layer's).  A weak channel
        with a tiny scale makes the next layer's folded weights for it tiny too, and their int8 rounding coarse;
        a spread below 1 trades some of the activation's resolution for the weights'.  0.75 was chosen by
        cross-validation inside the calibration part of the packaged photos (docs/results.md).
    range_factors : dict of str to float
        Per tensor, a factor on its calibrated range (< 1 clips the largest values to resolve the rest finer),
        e.g. from :func:`search_ranges`.  Tensors of one residual chain must share a factor.
    replicas : dict of str to dict of int to int
        Per tensor, channels to carry in several copies with staggered rounding (channel: copies, >= 2), which
        resolves them ``copies`` times finer at the cost of extra channels (:func:`replicate_channels`), e.g.
        from :func:`choose_replicas`.
    """

    per_channel_relu6: bool = True
    per_channel_residual: bool = True
    relu6_spread: float = 0.75
    range_factors: dict[str, float] = field(default_factory=dict)
    replicas: dict[str, dict[int, int]] = field(default_factory=dict)


def replicate_channels(channels: int, copies: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Channel map and rounding offsets of a tensor that carries some channels in several copies.

    An 8-bit channel whose rounding error is the same over a large flat area (a
    sky, a wall) does not average out, however many pixels the next layers sum.
    Carry it in ``n`` channels instead, computed alike but rounded with the offsets
    ``(k + 1/2) / n - 1/2`` of a step (``k < n``, put into each copy's bias):
    the sum of the copies is then exactly ``round(n * v)`` (Hermite's identity,
    ``sum_k floor(y + k/n) = floor(n y)``), the channel rounded to a step ``n`` times
    finer, and a next layer that gives each copy ``1/n`` of the channel's weight sees
    exactly that.  Offsets stay inside (-1/2, 1/2), so each copy's clamp is exact too
    (``round(lo + offset) = lo``).  The hardware does not change; the layers around the
    tensor get the extra channels.

    Parameters
    ----------
    channels : int
        Channels of the network tensor.
    copies : dict of int to int
        Channel to number of copies (>= 1; 1 leaves it alone).

    Returns
    -------
    sources : ndarray of int64, shape (channels + extra,)
        The network channel each channel carries: the network's own channels in order, then the extra
        copies, by channel.
    offsets : ndarray of float32
        Each channel's rounding offset in steps (0 for channels carried once).
    """
    extra = []
    for channel, count in sorted(copies.items()):
        if not 0 <= int(channel) < channels:
            raise ValueError(f"channel {channel} outside 0..{channels - 1}")
        if int(count) < 1:
            raise ValueError(f"channel {channel}: {count} copies (at least 1)")
        extra += [int(channel)] * (int(count) - 1)
    sources = np.concatenate([np.arange(channels), np.asarray(extra, dtype=np.int64)]).astype(np.int64)
    offsets = np.zeros(len(sources), dtype=np.float32)
    for channel in range(channels):
        positions = np.flatnonzero(sources == channel)
        n = len(positions)
        offsets[positions] = (np.arange(n) + 0.5) / n - 0.5
    return sources, offsets


def _replica_plan(graph: list[Node], replicas: dict[str, dict[int, int]]
                  ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Per tensor, ``(sources, offsets)`` of :func:`replicate_channels` for the ``replicas`` option.

    A replicated tensor's consumers must all be pointwise or 3x3 convolutions (they merge the copies, a
    depthwise layer cannot); if a depthwise layer produces it, that layer's input is replicated alike
    (identical copies, no offsets: each depthwise copy needs its own input channel), up to the nearest
    non-depthwise producer.  Tensors of residual adds, host operations and the depth are refused.
    """
    producer = {node.output: node for node in graph if node.op == "conv"}
    consumers: dict[str, list[Node]] = {}
    for node in graph:
        for name in node.inputs:
            consumers.setdefault(name, []).append(node)
        if node.op == "conv" and node.residual is not None:
            consumers.setdefault(node.residual, []).append(node)
    residual = {n.residual for n in graph if n.op == "conv" and n.residual is not None}

    def check(name: str, why: str) -> Node:
        node = producer.get(name)
        if node is None or name == "depth":
            raise ValueError(f"replicas: {name} is not a convolution's output inside the network{why}")
        if name in residual or node.residual is not None:
            raise ValueError(f"replicas: {name} takes part in a residual add{why}")
        return node

    plan: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name, copies in replicas.items():
        node = check(name, "")
        users = consumers.get(name, [])
        if not users or any(user.op != "conv" or user.kind == "dw3x3" for user in users):
            raise ValueError(f"replicas: {name} must feed only pointwise or 3x3 convolutions "
                             "(they merge the copies)")
        sources, offsets = replicate_channels(node.cout, copies)
        for tensor, tensor_offsets in ((name, offsets), *_depthwise_inputs(node, producer, consumers, check)):
            if tensor in plan:
                raise ValueError(f"replicas: {tensor} would be replicated twice")
            plan[tensor] = (sources, tensor_offsets)
    return plan


def replicable_tensors(graph: list[Node]) -> list[str]:
    """The tensors :class:`QuantizeOptions` ``replicas`` may name (see :func:`replicate_channels`), in graph order."""
    names = []
    for node in graph:
        if node.op == "conv":
            try:
                _replica_plan(graph, {node.output: {}})
            except ValueError:
                continue
            names.append(node.output)
    return names


#: Channels :func:`choose_replicas` replicates by default, and into how many copies each: chosen by 2-fold
#: cross-validation inside the calibration part of the packaged photos (scripts/cross_validate_quantizer.py,
#: docs/results.md).
REPLICA_CHANNELS = 8
REPLICA_COPIES = 2


def choose_replicas(model: DepthModel, program: Program, images: list[np.ndarray],
                    channels: int = REPLICA_CHANNELS, copies: int = REPLICA_COPIES) -> dict[str, dict[int, int]]:
    """The channels whose rounding hurts the depth most, for :class:`QuantizeOptions` ``replicas``.

    Of the tensors that can be replicated (:func:`replicable_tensors`), the one whose rounding alone
    gives the largest mean depth error on ``images`` (:func:`pynq_depth.quant_report.depth_sensitivity`),
    then its ``channels`` worst channels, each rounded alone, get ``copies`` copies.  Each extra copy
    costs one output channel of the producing layer (and of the depthwise layers between) and one input
    channel of the consumers.

    Parameters
    ----------
    model : DepthModel
        The float model.
    program : Program
        Its integer program without replicas (the grids whose rounding is judged).
    images : list of uint8 (H, W, 3)
        Calibration images at ``program.input_hw`` (never the images that judge the result).
    channels, copies : int
        How many channels, and copies of each (>= 2); ``channels=0`` replicates nothing.

    Returns
    -------
    dict of str to dict of int to int
        Tensor to {channel: copies}; empty when nothing is replicated.
    """
    from .quant_report import depth_sensitivity

    if channels <= 0:
        return {}
    if copies < 2:
        raise ValueError(f"copies must be at least 2, not {copies}")
    if any(info.sources is not None for info in program.tensors.values()):
        raise ValueError("choose_replicas needs the program without replicas")
    candidates = replicable_tensors(model.graph(tuple(program.input_hw)))
    if not candidates:
        return {}
    rows = depth_sensitivity(model, program, images, top_tensors=1, top_channels=channels,
                             candidates=candidates, rank_by="mean")
    return {rows[0].tensor: {int(channel): int(copies) for channel, _ in rows[0].channels}}


def _depthwise_inputs(node: Node, producer: dict[str, Node], consumers: dict[str, list[Node]],
                      check: Callable[[str, str], Node]) -> list[tuple[str, None]]:
    """The tensors up a chain of depthwise layers from ``node`` that must carry its copies too."""
    chain = []
    while node.kind == "dw3x3":
        name = node.inputs[0]
        if name == "input" or len(consumers.get(name, [])) != 1:
            raise ValueError(f"replicas: {node.output} comes from a depthwise layer whose input {name} "
                             "is also used elsewhere (or is the network input)")
        node = check(name, f" (the input of depthwise {node.output})")
        chain.append((name, None))
    return chain


def residual_chains(graph: list[Node]) -> list[list[str]]:
    """Tensors linked by residual adds, one list per chain, in graph order.

    A residual add links its skip input and the output it is added to; linked
    tensors (a block's input, its output, the next block's output, ...) form a
    chain that must share one per-channel scale, because the hardware has one skip
    multiplier per layer.
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for node in graph:
        if node.residual is not None:
            parent.setdefault(node.residual, node.residual)
            parent.setdefault(node.output, node.output)
            parent[root(node.output)] = root(node.residual)
    chains: dict[str, list[str]] = {}
    for node in graph:  # graph order inside each chain
        for name in (node.residual, node.output):
            if name in parent and name not in chains.get(root(name), []):
                chains.setdefault(root(name), []).append(name)
    return list(chains.values())


def _residual_chain_scales(graph: list[Node], maxima: dict[str, np.ndarray], q8: int,
                           factors: dict[str, float]) -> dict[str, np.ndarray]:
    """One per-channel int8 scale for every tensor of each :func:`residual_chains` chain: the channel's
    maximum over the chain (times the chain's range factor), so that every skip multiplier is exactly 1."""
    scales = {}
    for members in residual_chains(graph):
        chain_factors = {factors.get(name, 1.0) for name in members}
        if len(chain_factors) != 1:
            raise ValueError(f"residual chain {', '.join(members)}: range factors differ ({sorted(chain_factors)})")
        top = np.max([np.asarray(maxima[name], dtype=np.float64) for name in members], axis=0)
        top = top * chain_factors.pop()
        for name in members:
            scales[name] = np.maximum(top, 1e-6) / q8
    return scales


def quantize_model(model: DepthModel, maxima: dict[str, float], input_hw: tuple[int, int],
                   config: HwConfig | None = None, meta: dict | None = None,
                   moments: dict[str, np.ndarray] | None = None,
                   options: QuantizeOptions | None = None) -> Program:
    """Build the integer program from a float model and calibration maxima.

    Parameters
    ----------
    model : DepthModel
        Float model.
    maxima : dict of str to array
        Output of :func:`calibrate`: |max| per channel (or one number) per tensor name.
    input_hw : tuple of int
        Input size the program is built for.
    config : HwConfig, optional
        Accelerator configuration.
    meta : dict, optional
        Provenance stored in the weights file.
    moments : dict, optional
        By layer output: :func:`depthwise_moments` for depthwise layers (their step and rounding are then
        chosen by :func:`round_depthwise_rescaled`) and :func:`input_moments` for pointwise and 3x3 layers
        (rounded by :func:`round_weights_gptq`); layers without moments round to nearest.
    options : QuantizeOptions, optional
        Scale choices (default: :class:`QuantizeOptions`' defaults).
    """
    config = config or default_config()
    options = options or QuantizeOptions()
    graph = model.graph(input_hw)
    q8 = (1 << (config.act_bits - 1)) - 1
    # Per-channel output scales cost no hardware (the multiplier is per channel and the next conv folds
    # input-channel scales into its weights). Two constraints remain, and both are met per channel too:
    # * ReLU6's clamp is one upper bound per layer: with the bound at 255 and channel c's scale
    #   min(6, max_c) / 255, the clamp is exactly 6.0 for channels that reach 6 and the calibrated maximum
    #   (a clip, as for any int8 channel) for the others.
    # * a residual add has one skip multiplier per layer: every tensor of a residual chain (a block's input,
    #   its output, the next block's output, ...) gets the same per-channel scale, so the skip ratio is 1.
    chain_scale = (_residual_chain_scales(graph, maxima, q8, options.range_factors)
                   if options.per_channel_residual else {})
    plan = _replica_plan(graph, options.replicas)

    def channel_max(name: str, channels: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(maxima[name], dtype=np.float64), (channels,))

    tensors: dict[str, TensorInfo] = {
        "input": TensorInfo("input", (input_hw[0], input_hw[1], 3), "int8", input_scales().astype(np.float32)),
    }
    commands: list[ConvCmd | HostCmd] = []
    residual_tensors = {n.residual for n in graph if n.residual is not None}
    for node in graph:
        if node.op == "resize":
            src = tensors[node.inputs[0]]
            tensors[node.output] = TensorInfo(node.output, node.out_shape, src.dtype, src.scale)
            commands.append(HostCmd("resize", node.inputs, node.output, name=node.output))
            continue
        if node.op == "concat":
            parts = [tensors[name] for name in node.inputs]
            if len({p.dtype for p in parts}) != 1:
                raise ValueError(f"{node.output}: concat of mixed signedness is not supported")
            tensors[node.output] = TensorInfo(node.output, node.out_shape, parts[0].dtype,
                                              np.concatenate([p.scale for p in parts]))
            commands.append(HostCmd("concat", node.inputs, node.output, name=node.output))
            continue
        # ---- convolution ----
        src = tensors[node.inputs[0]]
        out_scale: float | np.ndarray
        factor = options.range_factors.get(node.output, 1.0)
        if node.output == "depth":
            dtype, out_scale = "int16", DEPTH_OUTPUT_RANGE / 32767.0
            lo, hi = -32768, 32767
        elif node.act == "relu6":
            dtype, lo, hi = "uint8", 0, 255
            top = np.minimum(6.0, channel_max(node.output, node.cout))
            if options.per_channel_relu6 and options.relu6_spread < 1.0:
                top = top ** options.relu6_spread * top.max() ** (1.0 - options.relu6_spread)
            if not options.per_channel_relu6:
                top = np.full(node.cout, top.max())
            out_scale = np.maximum(np.minimum(top * factor, 6.0), 1e-6) / 255.0  # the clamp stays at 6
            if not options.per_channel_relu6:
                out_scale = float(out_scale[0])
                hi = int(min(255, round(6.0 / out_scale)))
        elif node.output in chain_scale:
            dtype, lo, hi = "int8", -128, 127
            out_scale = chain_scale[node.output]  # the chain's factor is in it
        elif node.residual is None and node.output not in residual_tensors:
            dtype, lo, hi = "int8", -128, 127
            out_scale = np.maximum(channel_max(node.output, node.cout) * factor, 1e-6) / q8
        else:
            dtype, out_scale = "int8", max(float(channel_max(node.output, node.cout).max()) * factor, 1e-6) / q8
            lo, hi = -128, 127
        weight, bias = fold_batchnorm(model, node)
        sources, offsets = plan.get(node.output, (None, None))
        if src.sources is not None and node.kind != "dw3x3":
            # a replicated input: each copy gets its share of the channel's weight (the copies sum to n x it)
            share = 1.0 / np.bincount(src.sources)[src.sources]
            weight = weight[:, src.sources] * share[None, :, None, None]
        if sources is not None:
            weight, bias = weight[sources], bias[sources]
            out_scale = np.broadcast_to(np.asarray(out_scale, np.float64), (node.cout,))[sources]
            if offsets is not None:
                bias = bias + offsets * out_scale  # staggered rounding: round(v / scale + offset)
        effective, w_scale = _effective_weights(node, weight, src.scale.astype(np.float64), out_scale)
        channel_moments = None
        if moments is not None and node.output in moments:
            channel_moments = moments[node.output]
            if node.kind == "dw3x3" and sources is not None:
                channel_moments = channel_moments[sources]
            elif node.kind != "dw3x3" and src.sources is not None:
                taps = 9 if node.kind == "conv3x3" else 1
                cin = node.cin
                index = (np.arange(taps)[:, None] * cin + src.sources[None, :]).reshape(-1)
                channel_moments = channel_moments[np.ix_(index, index)]
        shape = (-1,) + (1,) * (effective.ndim - 1)
        if node.kind == "dw3x3" and channel_moments is not None:
            weights_q, step_factor = round_depthwise_rescaled(effective / w_scale.reshape(shape), channel_moments)
            w_scale = w_scale / step_factor
        elif node.kind != "dw3x3" and channel_moments is not None:
            # moments are of float inputs; the integer weights multiply inputs in units of their scales
            in_scale = src.scale.astype(np.float64)
            unit = np.tile(in_scale, 9) if node.kind == "conv3x3" else in_scale
            scaled = channel_moments / np.outer(unit, unit)
            weights_q = round_weights_gptq(effective.reshape(len(effective), -1) / w_scale[:, None],
                                           scaled).reshape(effective.shape)
        else:
            weights_q = np.clip(np.round(effective / w_scale.reshape(shape)), -127, 127).astype(np.int8)
        bias_q = np.clip(np.round(bias / w_scale), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        mult, shift = quantize_multiplier(w_scale / out_scale, config.mult_bits, config.max_shift)
        if node.act == "leaky":
            mult_neg = np.round(mult * LEAKY_SLOPE).astype(np.int32)
        else:
            mult_neg = mult.copy()
        cmd = ConvCmd(name=node.name, kind=node.kind, stride=node.stride, pad=node.pad, act=node.act,
                      input=node.inputs[0], output=node.output, weights=weights_q, bias=bias_q,
                      mult=mult, mult_neg=mult_neg, shift=shift, lo=lo, hi=hi)
        if node.residual is not None:
            skip = tensors[node.residual]
            if skip.dtype != "int8":
                raise ValueError(f"{node.name}: residual input must be int8")
            ratio = skip.scale.astype(np.float64) / np.broadcast_to(np.asarray(out_scale, np.float64), (node.cout,))
            if not np.allclose(ratio, ratio[0], rtol=1e-6):
                raise ValueError(f"{node.name}: residual input and output scales differ in shape across channels")
            skip_mult, skip_shift = quantize_multiplier(ratio[:1], config.mult_bits, config.max_shift)
            cmd.skip, cmd.skip_mult, cmd.skip_shift = node.residual, int(skip_mult[0]), int(skip_shift[0])
        commands.append(cmd)
        channels = node.cout if sources is None else len(sources)
        tensors[node.output] = TensorInfo(node.output, node.out_shape[:2] + (channels,), dtype,  # type: ignore[arg-type]
                                          np.broadcast_to(np.asarray(out_scale, np.float32), (channels,)).copy(),
                                          sources=sources, offsets=offsets)
    return Program(arith_id=config.arith_id, model=model.spec.name, input_hw=tuple(input_hw),  # type: ignore[arg-type]
                   input_lut=input_lut(input_scales()), tensors=tensors, commands=commands, output="depth",
                   meta=dict(meta or {}))


#: Range factors :func:`search_ranges` tries for int8 tensors (signed, often heavy-tailed) and uint8 (ReLU6).
INT8_RANGE_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.85, 1.0)
UINT8_RANGE_FACTORS = (0.7, 0.85, 1.0)


def search_ranges(model: DepthModel, program: Program, images: list[np.ndarray],
                  int8_factors: Iterable[float] = INT8_RANGE_FACTORS,
                  uint8_factors: Iterable[float] = UINT8_RANGE_FACTORS,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Per tensor, the clipping of its calibrated range that keeps the network's depth closest to float.

    A tensor's own squared error (what MSE-optimal clipping minimises) is a poor
    guide: a few channels of the first blocks decide most of the depth error, and
    how much of a tensor's tail may be clipped depends on what the rest of the
    network makes of it.  So the float model is run with every requantised tensor
    rounded to ``program``'s grid (:meth:`DepthModel.set_fake_quant`, weights kept
    float), and each tensor in network order (each residual chain as one, its
    members share a scale) gets the factor on its range from the candidates that
    gives the lowest mean relative depth error (AbsRel) against the float model on
    ``images``, the factors before it already chosen (one greedy pass).

    Parameters
    ----------
    model : DepthModel
        The float model.
    program : Program
        Its integer program, quantised with no range factors.
    images : list of uint8 (H, W, 3)
        Calibration images at ``program.input_hw`` (never the images that judge the result).
    int8_factors, uint8_factors : iterable of float
        Candidate factors for signed and for ReLU6 (unsigned) tensors; 1.0 is always among them.
    progress : callable, optional
        Called with (tensors done, tensors in all) after each one.

    Returns
    -------
    dict of str to float
        Factor per tensor, for :class:`QuantizeOptions` ``range_factors`` (only those below 1).
    """
    from .depth import prediction_to_metres

    model.eval()
    graph = model.graph(tuple(program.input_hw))
    x = torch.from_numpy(np.stack([normalize(img) for img in images])).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        reference = prediction_to_metres(model(x)[:, 0].numpy())
    chains = {name: tuple(chain) for chain in residual_chains(graph) for name in chain}
    units: list[tuple[str, ...]] = []
    for node in graph:
        unit = chains.get(node.output, (node.output,))
        if node.op == "conv" and node.output != "depth" and unit not in units:
            units.append(unit)
    model.set_fake_quant(program, weights=False)  # activations only: the weights stay float
    try:
        grids = dict(model._fake_quant or {})

        order = [node.output for node in graph]

        def run(factors: dict[str, float], known: dict[str, torch.Tensor] | None = None,
                return_all: bool = False) -> Any:
            model._fake_quant = {name: (scale * factors.get(name, 1.0), lo, hi, mask)
                                 for name, (scale, lo, hi, mask) in grids.items()}
            with torch.no_grad():
                return model(x, return_all=return_all, known=known)

        def depth_error(depth: torch.Tensor) -> float:
            metres = prediction_to_metres(depth[:, 0].numpy())
            return float(np.mean(np.abs(metres - reference) / reference))

        chosen: dict[str, float] = {}
        best = depth_error(run(chosen))
        for done, unit in enumerate(units, 1):
            # Everything before the unit's first tensor is the same for every candidate: computed once.
            first = min(order.index(name) for name in unit)
            upstream = run(chosen, return_all=True)
            known = {name: upstream[name] for name in order[:first]}
            signed = program.tensors[unit[0]].dtype == "int8"
            kept = chosen
            for factor in sorted(set(int8_factors if signed else uint8_factors) - {1.0}):
                trial = {**kept, **{name: factor for name in unit}}
                error = depth_error(run(trial, known))
                if error < best:
                    best, chosen = error, trial
            if progress:
                progress(done, len(units))
    finally:
        model.set_fake_quant(None)
    return {name: factor for name, factor in chosen.items() if factor != 1.0}


def correct_biases(model: DepthModel, program: Program, images: list[np.ndarray],
                   config: HwConfig | None = None) -> dict[str, float]:
    """Empirical bias correction, layer by layer, in place.

    Rounding weights and activations shifts the mean of each layer's
    accumulators a little, and the shifts add up through the network (here a
    few percent of depth).  Going through the program in order, each conv's
    int32 bias gets the integer that makes the mean of its accumulators over
    the images equal the float model's pre-activation mean, with the inputs
    coming from the already corrected integer layers, so every layer also
    absorbs what is left upstream (Nagel et al., 2019, "Data-Free Quantization",
    empirical variant).  Only biases change; the arithmetic does not.

    Parameters
    ----------
    model : DepthModel
        The float model the program was quantised from.
    program : Program
        Its integer program (modified in place).
    images : list of uint8 (H, W, 3)
        Images at ``program.input_hw`` (a few suffice; calibration images are fine).

    Returns
    -------
    dict of str to float
        Mean |correction| per layer in accumulator units.
    """
    from .backends.base import quantize_input, run_host_command
    from .program import NUMPY_DTYPES

    config = config or default_config()
    graph = {node.output: node for node in model.graph(tuple(program.input_hw))}
    model.eval()
    batch = torch.from_numpy(np.stack([normalize(img) for img in images])).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        floats = model(batch, return_all=True)
    ints = [{"input": quantize_input(program, img)} for img in images]
    corrections: dict[str, float] = {}
    for cmd in program.commands:
        if isinstance(cmd, HostCmd):
            for tensors in ints:
                tensors[cmd.output] = run_host_command(cmd, tensors, program, config)
            continue
        node = graph[cmd.output]
        conv, bn = model.conv_modules(node)
        with torch.no_grad():
            pre = conv(floats[node.inputs[0]])
            pre = bn(pre) if bn is not None else pre
        float_mean = pre.double().mean(dim=(0, 2, 3)).numpy()
        out_info = program.tensors[cmd.output]
        if out_info.sources is not None:
            float_mean = float_mean[out_info.sources]
            if out_info.offsets is not None:  # keep the copies' staggered rounding
                float_mean = float_mean + out_info.offsets * out_info.scale.astype(np.float64)
        # One accumulator step in float units, as the program itself defines it (the weight step may be
        # any per-channel value the quantiser chose): output scale times the requantisation multiplier.
        w_scale = (out_info.scale.astype(np.float64) * cmd.mult.astype(np.float64)
                   * np.exp2(-cmd.shift.astype(np.float64)))
        accs = [conv_acc(t[cmd.input], cmd.weights, cmd.bias, cmd.kind, cmd.stride, cmd.pad) for t in ints]
        quant_mean = np.mean([a.reshape(-1, a.shape[-1]).mean(axis=0) for a in accs], axis=0)
        safe = np.where(w_scale > 0, w_scale, 1.0)  # a multiplier of 0 (a dead channel): nothing to correct
        delta = np.where(w_scale > 0, np.round(float_mean / safe - quant_mean), 0).astype(np.int64)
        cmd.bias = np.clip(cmd.bias.astype(np.int64) + delta, -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        corrections[cmd.name] = float(np.mean(np.abs(delta)))
        for tensors, acc in zip(ints, accs):
            skip = tensors[cmd.skip] if cmd.skip is not None else None
            out = requantize(acc + delta, cmd.mult, cmd.mult_neg, cmd.shift, cmd.lo, cmd.hi,
                             skip=skip, skip_mult=cmd.skip_mult, skip_shift=cmd.skip_shift)
            tensors[cmd.output] = out.astype(NUMPY_DTYPES[out_info.dtype])
    return corrections
