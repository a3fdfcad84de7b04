"""The image -> metric depth path used by the CLI and notebooks, on any backend.

:func:`create_estimator` opens a backend of the registry (:mod:`pynq_depth.backends`:
which backends exist, what each needs, how ``auto`` chooses) and wraps it into a
:class:`DepthEstimator`: a photo of any size in, depth in metres out.  Nothing
here imports torch or pynq until the backend that needs it is asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import backends
from .backends import BackendError
from .backends.float import DEFAULT_CHECKPOINT
from .config import HwConfig, default_config
from .depth import prediction_to_metres
from .preprocess import resize_rgb

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = PACKAGE_DIR / "data" / "z2-mnv2-int8.npz"

__all__ = ["BackendError", "DEFAULT_CHECKPOINT", "DEFAULT_WEIGHTS", "PACKAGE_DIR", "DepthEstimator",
           "create_estimator", "float_estimator", "integer_estimator", "time_inference"]


@dataclass
class DepthEstimator:
    """Image in, metric depth out, on one backend.

    Attributes
    ----------
    backend : str
        Name of the backend actually used.
    input_hw : tuple of int
        Network input size; images are resized to it.
    reason : str
        Why this backend was chosen (shown with ``--verbose``).
    """

    backend: str
    input_hw: tuple[int, int]
    _infer: Callable[[np.ndarray], np.ndarray]
    _layer_times: Callable[[], dict[str, float]]
    reason: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Resize a uint8 RGB image to the network input."""
        return resize_rgb(rgb, *self.input_hw)

    def depth(self, rgb: np.ndarray) -> np.ndarray:
        """Metric depth (float32 metres) at output resolution for a uint8 RGB image of any size."""
        return self._infer(self.prepare(rgb))

    @property
    def layer_times(self) -> dict[str, float]:
        """Seconds per layer of the last inference."""
        return self._layer_times()


def integer_estimator(runner: Any, program: Any, backend: str, reason: str = "") -> DepthEstimator:
    """Wrap an integer :class:`~pynq_depth.backends.Backend` and a program into an estimator."""
    scale = program.output_scale

    def infer(rgb: np.ndarray) -> np.ndarray:
        q = runner.run(program, rgb)
        return prediction_to_metres(q[..., 0].astype(np.float32) * scale)

    return DepthEstimator(backend=backend, input_hw=tuple(program.input_hw), _infer=infer,  # type: ignore[arg-type]
                          _layer_times=lambda: dict(runner.layer_times), reason=reason,
                          description=f"{program.model} int8, {program.arith_id}",
                          extra={"program": program, "runner": runner})


def float_estimator(checkpoint: str | Path | None = None, input_hw: tuple[int, int] | None = None,
                    threads: int | None = None) -> DepthEstimator:
    """The torch float reference model (:class:`~pynq_depth.backends.float.FloatReference`) as an estimator."""
    model = backends.open_backend("float", checkpoint=checkpoint, threads=threads)
    return DepthEstimator(backend="float", input_hw=tuple(input_hw or model.input_hw), _infer=model.depth,  # type: ignore[arg-type]
                          _layer_times=lambda: dict(model.layer_times), reason="requested",
                          description=model.describe(), extra={"model": model.model})


def create_estimator(backend: str = "auto", weights: str | Path | None = None,
                     checkpoint: str | Path | None = None, config: HwConfig | None = None) -> DepthEstimator:
    """Create the estimator for a backend name.

    Parameters
    ----------
    backend : str
        One of :data:`pynq_depth.backends.CHOICES` (``auto``: see :func:`pynq_depth.backends.choose`).
    weights : str or Path, optional
        int8 weights file (the packaged default when omitted).
    checkpoint : str or Path, optional
        Float checkpoint for ``backend="float"``.
    config : HwConfig, optional
        Accelerator configuration.

    Raises
    ------
    BackendError
        When the backend cannot run here.
    pynq_depth.program.WeightsError
        When the weights file is unusable.
    """
    config = config or default_config()
    name, reason = backends.choose(backend, config)
    if not backends.info(name).integer:
        return float_estimator(checkpoint)
    from .program import load_program

    program = load_program(weights or DEFAULT_WEIGHTS, config)
    return integer_estimator(backends.open_backend(name, config), program, name, reason)


def time_inference(estimator: DepthEstimator, rgb: np.ndarray, runs: int) -> tuple[list[float], dict[str, list[float]]]:
    """Run ``runs`` inferences (after one warm-up) and return total and per-layer seconds."""
    prepared = estimator.prepare(rgb)
    estimator._infer(prepared)  # warm-up: caches, thread pools, lazy builds
    totals: list[float] = []
    layers: dict[str, list[float]] = {}
    for _ in range(runs):
        start = time.perf_counter()
        estimator._infer(prepared)
        totals.append(time.perf_counter() - start)
        for name, seconds in estimator.layer_times.items():
            layers.setdefault(name, []).append(seconds)
    return totals, layers
