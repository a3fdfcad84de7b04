"""Every backend pynq-depth can run on, in one registry.

========== ==================================================== ===============================
name       what runs the network                                needs
========== ==================================================== ===============================
emulator   :mod:`.emulator`: the hardware's integer arithmetic  numpy (runs anywhere)
           in NumPy, the executable specification
csim       :mod:`.csim`: the HLS C++ compiled with g++, driven  a C++ compiler, the HLS sources,
           with the board's stream protocol                     Xilinx's ap types (hls4ml)
fpga       :mod:`.fpga`: the accelerator on a PYNQ board        pynq, a board, the overlay
sim        :mod:`.fpga.sim`: the fpga driver through the real   pynq (installed, no board) and
           ``pynq`` package on a simulated board running csim   what csim needs
float      :mod:`.float`: the torch float reference model       torch and a float checkpoint
========== ==================================================== ===============================

``auto`` picks ``fpga`` when :func:`available` says it can run, otherwise
``emulator``, and says why.  The integer backends share one interface,
:class:`~pynq_depth.backends.base.Backend`; csim and fpga also share the
kernel-side host ops of :class:`~pynq_depth.backends.kernel.KernelBackend`.
``float`` runs the network rather than an int8 program
(:class:`~pynq_depth.backends.float.FloatReference`).

Nothing here imports torch, pynq or a compiler until the backend that needs it
is opened, so ``import pynq_depth`` stays free of side effects.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from ..config import HwConfig, default_config
from .base import Backend, BackendError, check_frame, quantize_input, quantize_input_into, run_host_command

__all__ = ["BACKENDS", "CHOICES", "Backend", "BackendError", "BackendInfo", "available", "choose", "open_backend",
           "check_frame", "quantize_input", "quantize_input_into", "run_host_command"]


def _always(config: HwConfig) -> tuple[bool, str]:
    return True, "NumPy, runs anywhere"


def _csim_available(config: HwConfig) -> tuple[bool, str]:
    from .csim import BuildError, find_compiler, hls_dir

    try:
        cxx = find_compiler()
    except BuildError as exc:
        return False, str(exc)

    if not (hls_dir() / "conv_accel.cpp").is_file():
        return False, f"HLS sources not found in {hls_dir()} (set PYNQ_DEPTH_HLS_DIR)"
    from ..hls_types import ApTypesMissing, ap_types_dir

    try:
        ap_dir = ap_types_dir()
    except ApTypesMissing as exc:
        return False, str(exc)
    return True, f"{cxx}, the HLS sources in {hls_dir()} and Xilinx's ap_int.h in {ap_dir}"


def _fpga_available(config: HwConfig) -> tuple[bool, str]:
    from .fpga import board_available

    return board_available(config)


def _sim_available(config: HwConfig) -> tuple[bool, str]:
    if importlib.util.find_spec("pynq") is None:
        return False, "pynq is not installed (the simulated board runs the real pynq package)"
    return _csim_available(config)


def _float_available(config: HwConfig) -> tuple[bool, str]:
    from .float import DEFAULT_CHECKPOINT

    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed (pip install 'pynq-depth[torch]')"
    if not DEFAULT_CHECKPOINT.is_file():
        return False, f"no float checkpoint at {DEFAULT_CHECKPOINT} (pass one explicitly)"
    return True, f"torch and {DEFAULT_CHECKPOINT.name}"


def _open_emulator(config: HwConfig, **kwargs: Any) -> Backend:
    from .emulator import Emulator

    return Emulator(config, **kwargs)


def _open_csim(config: HwConfig, **kwargs: Any) -> Backend:
    from .csim import CsimBackend

    return CsimBackend(config, **kwargs)


def _open_board(kind: str) -> Callable[..., Backend]:
    def open_board(config: HwConfig, **kwargs: Any) -> Backend:
        from .fpga import open_runner

        return open_runner(kind, config, **kwargs)

    return open_board


def _open_float(config: HwConfig, **kwargs: Any) -> Any:
    from .float import FloatReference

    return FloatReference(**kwargs)


@dataclass(frozen=True)
class BackendInfo:
    """One member of the registry.

    Attributes
    ----------
    name : str
        Name on the command line (``--backend``).
    summary : str
        One line: what runs the network.
    integer : bool
        Runs an int8 program (a :class:`Backend`); False for ``float``.
    check : callable
        ``check(config) -> (usable, why)``, cheap, imports nothing heavy.
    factory : callable
        ``factory(config, **kwargs)`` opens it.
    """

    name: str
    summary: str
    integer: bool
    check: Callable[[HwConfig], tuple[bool, str]]
    factory: Callable[..., Any]


BACKENDS: dict[str, BackendInfo] = {info.name: info for info in (
    BackendInfo("emulator", "bit-exact NumPy emulator of the accelerator", True, _always, _open_emulator),
    BackendInfo("csim", "the HLS C++ compiled with g++ (C simulation)", True, _csim_available, _open_csim),
    BackendInfo("fpga", "the accelerator on a PYNQ board", True, _fpga_available, _open_board("fpga")),
    BackendInfo("sim", "the PYNQ driver on a simulated board running the C simulation", True, _sim_available,
                _open_board("sim")),
    BackendInfo("float", "the torch float reference model", False, _float_available, _open_float),
)}
#: What ``--backend`` accepts.
CHOICES: tuple[str, ...] = ("auto", *BACKENDS)


def info(name: str) -> BackendInfo:
    """The registry entry of ``name``; :class:`BackendError` naming the choices when unknown."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(CHOICES)}") from None


def available(name: str, config: HwConfig | None = None) -> tuple[bool, str]:
    """Whether backend ``name`` can run here, and why (never raises for a known name)."""
    entry = info(name)
    try:
        return entry.check(config or default_config())
    except Exception as exc:  # noqa: BLE001  (a failing check means "not here", with the reason)
        return False, f"{type(exc).__name__}: {exc}"


def choose(name: str, config: HwConfig | None = None) -> tuple[str, str]:
    """Resolve ``auto``: (backend, reason). ``fpga`` when a board with the overlay is here, else ``emulator``."""
    if name != "auto":
        info(name)
        return name, "requested"
    ok, why = available("fpga", config)
    return ("fpga", "board and overlay found") if ok else ("emulator", f"no board: {why}")


def open_backend(name: str, config: HwConfig | None = None, **kwargs: Any) -> Any:
    """Open a backend by name (``auto`` resolved by :func:`choose`).

    Parameters
    ----------
    name : str
        One of :data:`CHOICES`.
    config : HwConfig, optional
        Accelerator configuration (packaged default).
    **kwargs
        Passed to the backend (``sanitize`` for csim, ``timeout_s`` for fpga/sim,
        ``checkpoint`` for float, ...).

    Returns
    -------
    Backend, or FloatReference for ``float``.

    Raises
    ------
    BackendError
        Unknown name, or the backend cannot run here; the message says what to do.
    """
    name, _ = choose(name, config)
    entry = info(name)
    config = config or default_config()
    try:
        return entry.factory(config, **kwargs)
    except BackendError:
        raise
    except (ImportError, OSError) as exc:
        raise BackendError(f"{name} backend unavailable ({exc})") from None
