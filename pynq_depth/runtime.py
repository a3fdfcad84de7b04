"""Backend selection and the image -> metric depth path used by the CLI and notebooks.

Backends:

``emulator``  bit-exact NumPy emulator of the accelerator (runs anywhere)
``csim``      the HLS C++ compiled with g++ and driven with the board's stream protocol
``float``     the torch float reference model (host tooling; needs torch and a checkpoint)
``fpga``      the accelerator on a PYNQ board
``auto``      ``fpga`` when a board with the overlay is present, otherwise ``emulator``

Nothing here imports torch or pynq until the backend that needs it is asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import HwConfig, default_config
from .depth import prediction_to_metres
from .preprocess import normalize, resize_rgb

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = PACKAGE_DIR / "data" / "z2-mnv2-int8.npz"
#: The float checkpoint ships in the repository (not in the wheel): models/ beside the package.
DEFAULT_CHECKPOINT = PACKAGE_DIR.parent / "models" / "z2-mnv2.pt"
BACKENDS = ("auto", "emulator", "csim", "float", "fpga", "sim")


class BackendError(RuntimeError):
    """A backend cannot be used here (missing dependency, board, overlay or file)."""


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
    """Wrap a :class:`~pynq_depth.emulator.ProgramRunner` and a program into an estimator."""
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
    """The torch float reference model as an estimator."""
    try:
        import torch
    except ImportError:
        raise BackendError("the float backend needs torch (pip install 'pynq-depth[torch]')") from None
    from .model import CheckpointError, load_checkpoint

    path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise BackendError(f"{path}: float checkpoint not found (pass --checkpoint)")
    try:
        model, _ = load_checkpoint(path)
    except CheckpointError as exc:
        raise BackendError(str(exc)) from None
    model.float()
    if threads:
        torch.set_num_threads(threads)
    hw = tuple(input_hw or model.spec.input_hw)
    times: dict[str, float] = {}

    def infer(rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(normalize(rgb)[None]).permute(0, 3, 1, 2).contiguous()
        times.clear()
        with torch.inference_mode():
            pred = model(x, layer_times=times)[0, 0].numpy()
        return prediction_to_metres(pred)

    return DepthEstimator(backend="float", input_hw=hw, _infer=infer, _layer_times=lambda: dict(times),  # type: ignore[arg-type]
                          reason="requested", description=f"{model.spec.name} float32 ({path.name})",
                          extra={"model": model})


def board_available() -> tuple[bool, str]:
    """Whether a PYNQ board with this configuration's overlay is usable, and why not."""
    try:
        from . import board
        return board.board_available()
    except Exception as exc:  # detection must never stop the emulator fallback
        return False, f"board detection failed ({type(exc).__name__}: {exc})"


def create_estimator(backend: str = "auto", weights: str | Path | None = None,
                     checkpoint: str | Path | None = None, config: HwConfig | None = None) -> DepthEstimator:
    """Create the estimator for a backend name.

    Parameters
    ----------
    backend : str
        One of :data:`BACKENDS`.
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
    if backend == "float":
        return float_estimator(checkpoint)
    from .program import load_program

    reason = "requested"
    if backend == "auto":
        ok, why = board_available()
        backend = "fpga" if ok else "emulator"
        reason = "board and overlay found" if ok else f"no board: {why}"
    program = load_program(weights or DEFAULT_WEIGHTS, config)
    return integer_estimator(create_runner(backend, config), program, backend, reason)


def create_runner(backend: str, config: HwConfig | None = None) -> Any:
    """The :class:`~pynq_depth.emulator.ProgramRunner` of an integer backend.

    Raises
    ------
    BackendError
        For an unknown backend or one that cannot run here.
    """
    config = config or default_config()
    if backend == "emulator":
        from .emulator import Emulator

        return Emulator(config)
    if backend == "csim":
        from .backends import get_backend

        try:
            return get_backend("csim", config=config)
        except (ImportError, OSError, RuntimeError) as exc:
            raise BackendError(f"csim backend unavailable ({exc})") from None
    if backend in ("fpga", "sim"):
        try:
            from . import board
        except ImportError:
            raise BackendError(f"the {backend} backend needs the PYNQ driver, which is not in this build") from None
        return board.open_runner(backend, config)  # type: ignore[attr-defined]
    raise BackendError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


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
