"""Training loop (torch, CPU friendly, resumable).

Data order is a pure function of (seed, step): sample ``i`` of step ``s`` is item
``(s * batch_size + i) % len(dataset)`` of the dataset, so a resumed run sees
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..depth import metres_to_prediction
from ..model import DepthModel, load_checkpoint, load_imagenet_encoder, save_checkpoint
from ..netspec import output_stride
from ..preprocess import normalize
from .data import open_dataset
from .losses import densedepth_loss

IMAGENET_FILENAME = "mobilenet_v2-b0353104.pth"


def default_imagenet_path() -> Path:
    """Where ``scripts/fetch_imagenet_weights.sh`` puts torchvision's MobileNetV2 ImageNet weights."""
    env = os.environ.get("PYNQ_DEPTH_IMAGENET")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "pynq-depth" / IMAGENET_FILENAME


def to_sample(rgb: np.ndarray, depth_m: np.ndarray, stride: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Input tensor (3, H, W) and target (1, H/s, W/s) in the space ``10 / depth_m``.

    The target is the s x s mean of depth (``stride`` s = the network's
    :func:`~pynq_depth.netspec.output_stride`; sizes rounded up, as the network's
    output) converted to DenseDepth's target.
    """
    x = torch.from_numpy(normalize(rgb)).permute(2, 0, 1).contiguous()
    depth = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32))[None, None]
    pooled = torch.nn.functional.avg_pool2d(depth, stride, ceil_mode=True)[0]
    return x, torch.from_numpy(metres_to_prediction(pooled.numpy()))


class _TorchView(Dataset):
    def __init__(self, dataset, order_offset: int, stride: int) -> None:
        self.dataset, self.order_offset, self.stride = dataset, order_offset, stride

    def __len__(self) -> int:
        return 1 << 30  # indices are taken modulo the dataset length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, depth = self.dataset[(self.order_offset + index) % len(self.dataset)]
        return to_sample(rgb, depth, self.stride)


@dataclass
class TrainConfig:
    """Options of one training run (stored in every checkpoint)."""

    data: str = "synthetic"
    model: str = "z2-mnv2"
    size: tuple[int, int] = (240, 320)
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    encoder_lr_scale: float = 0.1
    seed: int = 0
    workers: int = 1
    checkpoint_every: int = 100
    dataset_length: int = 200_000
    freeze_bn: bool = True
    #: Quantisation-aware fine-tuning: a weights file of this network whose integer grids the forward
    #: pass rounds to (``DepthModel.set_fake_quant``); None: plain float training.
    quant_aware: str | None = None
    #: With ``quant_aware``: uniform noise of one grid step instead of rounding (noise injection).
    quant_noise: bool = False


def _freeze_batchnorm(model: torch.nn.Module) -> None:
    # Small CPU batches give noisy BN statistics; keep ImageNet's running stats.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def train(cfg: TrainConfig, output: str | Path, resume: str | Path | None = None,
          imagenet: str | Path | None = None, pretrained: bool = True,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr), progress: bool = True,
          stop_at: int | None = None, init: str | Path | None = None) -> dict:
    """Train (or resume) and write checkpoints to ``output``.

    ``stop_at`` ends this run early at that step (checkpoint written) while the
    learning-rate schedule still follows ``cfg.steps``: a long CPU training can be
    split into several runs with ``resume`` and give the same result.

    ``init`` starts a new run (fresh optimiser and schedule, this ``cfg``) from the
    weights of an earlier checkpoint, e.g. to fine-tune at another resolution.

    Returns
    -------
    dict
        ``step``, ``losses`` (per step) and ``seconds``.
    """
    torch.manual_seed(cfg.seed)
    history: list[float] = []
    start_step = 0
    if resume:
        model, extra = load_checkpoint(resume)
        saved = extra.get("train_config") or {}
        for key in ("data", "model", "batch_size", "seed", "dataset_length"):
            if key in saved and saved[key] != getattr(cfg, key) and key != "model":
                log(f"resume: using the checkpoint's {key}={saved[key]!r}")
                setattr(cfg, key, saved[key])
        cfg.size = tuple(saved.get("size", cfg.size))  # type: ignore[assignment]
        start_step = int(extra.get("step", 0))
        history = list(extra.get("losses", []))
    elif init:
        model, extra = load_checkpoint(init, spec=cfg.model)
        log(f"initialised from {Path(init).name} (step {extra.get('step', '?')})")
    else:
        model = DepthModel(cfg.model)
        if pretrained:
            path = Path(imagenet) if imagenet else default_imagenet_path()
            if not path.is_file():
                raise FileNotFoundError(f"{path}: ImageNet MobileNetV2 weights not found; run "
                                        f"scripts/fetch_imagenet_weights.sh or pass --imagenet / --no-pretrained")
            count = load_imagenet_encoder(model, path)
            log(f"encoder initialised from {path.name} ({count} tensors)")
    if cfg.quant_aware:
        from ..program import load_program

        program = load_program(cfg.quant_aware)
        if program.model != model.spec.name:
            raise ValueError(f"{cfg.quant_aware}: weights of {program.model!r}, not {model.spec.name!r}")
        model.set_fake_quant(program, noise=cfg.quant_noise)
        how = "perturbed by one step of" if cfg.quant_noise else "rounded to"
        log(f"quantisation-aware: tensors {how} the integer grids of {Path(cfg.quant_aware).name}")
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    decoder = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.Adam([{"params": decoder, "lr": cfg.lr},
                                  {"params": encoder, "lr": cfg.lr * cfg.encoder_lr_scale}])
    if resume:
        blob = torch.load(str(resume), map_location="cpu", weights_only=True)
        if "optimizer" in blob:
            optimizer.load_state_dict(blob["optimizer"])
    base_lrs = [cfg.lr, cfg.lr * cfg.encoder_lr_scale]  # not the stored (decayed) ones

    dataset = open_dataset(cfg.data, cfg.size, split="train", length=cfg.dataset_length, seed=cfg.seed)
    view = _TorchView(dataset, order_offset=start_step * cfg.batch_size, stride=output_stride(model.spec))
    loader = DataLoader(view, batch_size=cfg.batch_size, num_workers=cfg.workers, shuffle=False,
                        persistent_workers=cfg.workers > 0, prefetch_factor=2 if cfg.workers > 0 else None)
    model.train()
    if cfg.freeze_bn:
        _freeze_batchnorm(model)
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=start_step, desc="train", file=sys.stderr, dynamic_ncols=True)
        except ImportError:
            bar = None

    def save(step: int) -> None:
        save_checkpoint(model, output, step=step, losses=history, optimizer=optimizer.state_dict(),
                        train_config={**cfg.__dict__, "size": list(cfg.size)})

    began = time.time()
    step = start_step
    iterator = iter(loader)
    last = min(cfg.steps, stop_at) if stop_at else cfg.steps
    while step < last:
        x, target = next(iterator)
        # Cosine decay to 10% over the planned steps: smooth, and the same on resume.
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(cfg.steps, 1)))
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * factor
        pred = model(x)
        terms = densedepth_loss(pred, target)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        step += 1
        history.append(float(terms["loss"].detach()))
        if bar is not None:
            bar.set_postfix(loss=f"{np.mean(history[-20:]):.4f}", l1=f"{float(terms['l1'].detach()):.2f}")
            bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == last:
            save(step)
    if bar is not None:
        bar.close()
    model.eval()
    if step == start_step:
        save(step)
    return {"step": step, "losses": history, "seconds": time.time() - began}
