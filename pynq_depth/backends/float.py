"""The ``float`` backend: the torch float reference model (host tooling; needs torch and a checkpoint).

It runs the network, not an int8 program, so it is not a
:class:`~pynq_depth.backends.base.Backend`; :func:`pynq_depth.runtime.create_estimator`
wraps it like the others.  torch is imported only here, when it is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..depth import prediction_to_metres
from ..preprocess import normalize
from .base import BackendError

#: The float checkpoint ships in the repository (not in the wheel): models/ beside the package.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "z2-mnv2.pt"


class FloatReference:
    """The float model of a checkpoint: uint8 RGB at the network input in, metric depth out.

    Parameters
    ----------
    checkpoint : str or Path, optional
        Float checkpoint (:data:`DEFAULT_CHECKPOINT` when omitted).
    threads : int, optional
        torch intra-op threads.

    Raises
    ------
    BackendError
        Without torch, or when the checkpoint is missing or unusable.
    """

    name = "float"

    def __init__(self, checkpoint: str | Path | None = None, threads: int | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise BackendError("the float backend needs torch (pip install 'pynq-depth[torch]')") from None
        from ..model import CheckpointError, load_checkpoint

        self.path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        if not self.path.is_file():
            raise BackendError(f"{self.path}: float checkpoint not found (pass --checkpoint)")
        try:
            model, _ = load_checkpoint(self.path)
        except CheckpointError as exc:
            raise BackendError(str(exc)) from None
        model.float()
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.model = model
        self.input_hw: tuple[int, int] = tuple(model.spec.input_hw)  # type: ignore[assignment]
        #: Seconds per layer of the last inference.
        self.layer_times: dict[str, float] = {}

    def depth(self, rgb: np.ndarray) -> np.ndarray:
        """Metric depth (float32 metres) of a uint8 RGB image already at the network input."""
        torch = self._torch
        x = torch.from_numpy(normalize(rgb)[None]).permute(0, 3, 1, 2).contiguous()
        self.layer_times.clear()
        with torch.inference_mode():
            pred = self.model(x, layer_times=self.layer_times)[0, 0].numpy()
        return prediction_to_metres(pred)

    def describe(self) -> str:
        """One line: network, precision, checkpoint file."""
        return f"{self.model.spec.name} float32 ({self.path.name})"
