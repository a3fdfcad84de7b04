"""The PYNQ board backends (``fpga``, ``sim``): board detection, overlay lookup, errors.

Importing this package does not import ``pynq``: :func:`board_available` and
:func:`open_runner` import it (and :mod:`.runner`, :mod:`.sim`) when called.
The driver is split by role: :mod:`.dma` (AXI DMA), :mod:`.ip` (the HLS IP),
:mod:`.overlay` (bitstream + ``.hwh``), :mod:`.runner` (the backend: resident
buffers, record/replay); :mod:`.sim` is the simulated board the tests drive it on.

Overlays are named after the configuration they were built for,
``pynq_depth_<hw_id>.bit`` with ``.hwh`` (and optionally ``.json``) beside it,
and are searched in ``$PYNQ_DEPTH_OVERLAY_DIR``, the package's ``overlays/``
folder, then the repository's ``overlays/`` folder.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

from ...config import HwConfig, default_config
from ..base import BackendError

PACKAGE_OVERLAYS = Path(__file__).resolve().parents[2] / "overlays"
REPO_OVERLAYS = Path(__file__).resolve().parents[3] / "overlays"


class BoardError(RuntimeError):
    """The board, its overlay or a transfer failed (the message says which layer/call and why)."""


class OverlayError(BoardError):
    """The overlay files are missing or were built for another configuration."""


class DmaError(BoardError):
    """An AXI DMA channel reported an error or could not be started."""


class KernelTimeout(BoardError):
    """A DMA transfer or the kernel's ap_done did not complete within the timeout."""


def overlay_stem(config: HwConfig | None = None) -> str:
    """``pynq_depth_<hw_id>``: the base name of this configuration's bitstream."""
    return f"pynq_depth_{(config or default_config()).hw_id}"


def overlay_search_dirs() -> list[Path]:
    """Folders searched for overlays, in order."""
    dirs = []
    env = os.environ.get("PYNQ_DEPTH_OVERLAY_DIR")
    if env:
        dirs.append(Path(env))
    dirs += [PACKAGE_OVERLAYS, REPO_OVERLAYS]
    return dirs


def find_overlay(config: HwConfig | None = None) -> Path:
    """Path of this configuration's ``.bit`` (with its ``.hwh``).

    Raises
    ------
    OverlayError
        Saying where it looked and what it found instead (a ``.bit`` without
        ``.hwh``, bitstreams for other configurations).
    """
    config = config or default_config()
    stem = overlay_stem(config)
    others: list[str] = []
    for folder in overlay_search_dirs():
        bit = folder / f"{stem}.bit"
        if bit.is_file():
            if not bit.with_suffix(".hwh").is_file():
                raise OverlayError(f"{bit} has no {bit.with_suffix('.hwh').name} beside it; PYNQ needs both")
            return bit
        if folder.is_dir():
            others += [p.name for p in sorted(folder.glob("pynq_depth_*.bit"))]
    where = ", ".join(str(d) for d in overlay_search_dirs())
    hint = f"; found only bitstreams for other configurations: {', '.join(others)}" if others else ""
    raise OverlayError(f"no overlay {stem}.bit for configuration {config.hw_id} in {where}{hint}; build it "
                       f"(`make` in a checkout) or put its .bit and .hwh in $PYNQ_DEPTH_OVERLAY_DIR")


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
