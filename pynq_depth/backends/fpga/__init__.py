"""The PYNQ board backends (``fpga``, ``sim``): board detection, overlay lookup, errors.

Importing this package does not import ``pynq``: :func:`board_available` and
:func:`open_runner` import it (and :mod:`.runner`, :mod:`.sim`) when called.
The driver is split by role: :mod:`.dma` (AXI DMA), :mod:`.ip` (the HLS IP),
:mod:`.overlay` (bitstream + ``.hwh``), :mod:`.runner` (the backend: resident
buffers, record/replay); :mod:`.sim` is the simulated board the tests drive it on.

Where overlays are searched and how they are named is :mod:`.files`; the
errors are :mod:`.errors`.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

from ...config import HwConfig, default_config
from ..base import BackendError
from .errors import BoardError, DmaError, KernelTimeout, OverlayError
from .files import find_overlay, overlay_search_dirs, overlay_stem

__all__ = ["BoardError", "DmaError", "KernelTimeout", "OverlayError", "board_available", "find_overlay",
           "open_runner", "overlay_search_dirs", "overlay_stem"]


def pynq_installed() -> bool:
    """Whether ``pynq`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("pynq") is not None


def board_marker() -> str | None:
    """Name of the board from ``/proc/device-tree/chosen/pynq_board`` or ``$BOARD``, if any."""
    marker = Path("/proc/device-tree/chosen/pynq_board")
    try:
        if marker.is_file():
            return marker.read_text().strip("\0\n ") or "unknown"
    except OSError:
        pass
    return os.environ.get("BOARD") or None


def device_present() -> tuple[bool, str]:
    """Whether pynq sees a device (imports pynq)."""
    try:
        import pynq
    except Exception as exc:  # noqa: BLE001  (a broken install is "no board", with the reason)
        return False, f"pynq cannot be imported ({type(exc).__name__}: {exc})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            devices = list(pynq.Device.devices)
    except Exception as exc:  # noqa: BLE001
        return False, f"pynq found no device ({exc})"
    if not devices:
        return False, "pynq found no device (no FPGA manager / XRT device on this machine)"
    return True, f"device {getattr(devices[0], 'name', devices[0])}"


def board_available(config: HwConfig | None = None) -> tuple[bool, str]:
    """Whether the ``fpga`` backend can run here, and if not, why.

    Checks, in order: pynq importable, a board (device-tree marker or ``$BOARD``)
    and a pynq device, this configuration's overlay files.  Never raises: a
    detection failure is "no board", with the reason, so ``auto`` falls back.
    """
    try:
        return _board_available(config or default_config())
    except Exception as exc:  # noqa: BLE001  (detection must never stop the emulator fallback)
        return False, f"board detection failed ({type(exc).__name__}: {exc})"


def _board_available(config: HwConfig) -> tuple[bool, str]:
    if not pynq_installed():
        return False, "pynq is not installed"
    if board_marker() is None and not Path("/sys/class/fpga_manager/fpga0").exists():
        return False, "not a PYNQ board (no /proc/device-tree/chosen/pynq_board, $BOARD or FPGA manager)"
    ok, why = device_present()
    if not ok:
        return False, why
    try:
        bit = find_overlay(config)
    except OverlayError as exc:
        return False, str(exc)
    return True, f"{why}, overlay {bit}"


def open_runner(kind: str, config: HwConfig | None = None, **kwargs: Any) -> Any:
    """The :class:`~pynq_depth.backends.base.Backend` of a board backend.

    Parameters
    ----------
    kind : str
        ``"fpga"`` (a real board) or ``"sim"`` (the simulated board driven through pynq).
    config : HwConfig, optional
        Accelerator configuration.
    **kwargs
        Passed to the runner (``timeout_s``; for ``fpga`` also ``bitfile``).

    Raises
    ------
    pynq_depth.backends.BackendError
        When the backend cannot run here (no pynq, no board, no overlay).
    """
    config = config or default_config()
    if not pynq_installed():
        raise BackendError(f"the {kind} backend needs pynq (pip install 'pynq-depth[board]')")
    try:
        if kind == "sim":
            from .sim import open_sim_runner

            return open_sim_runner(config, **kwargs)
        if kind == "fpga":
            from .runner import FpgaBackend

            bitfile = kwargs.pop("bitfile", None) or find_overlay(config)
            return FpgaBackend(bitfile, config, **kwargs)
    except BoardError as exc:
        raise BackendError(f"{kind} backend unavailable: {exc}") from None
    raise BackendError(f"unknown board backend {kind!r} (fpga or sim)")
