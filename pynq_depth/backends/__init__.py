"""Execution backends besides the NumPy emulator.

Every backend is a :class:`~pynq_depth.emulator.ProgramRunner` subclass that
overrides only ``run_conv``.  Backends are imported lazily by name so that
``import pynq_depth`` stays free of side effects (no compiler, no pynq).
"""

from __future__ import annotations

from ..emulator import Emulator, ProgramRunner

BACKENDS = ("emulator", "csim")


def get_backend(name: str, **kwargs) -> ProgramRunner:
    """Instantiate a backend by name (``"emulator"`` or ``"csim"``).

    Parameters
    ----------
    name : str
        Backend name.
    **kwargs
        Passed to the backend's constructor (e.g. ``config``, ``sanitize``).
    """
    if name == "emulator":
        return Emulator(**kwargs)
    if name == "csim":
        from .csim import CsimBackend

        return CsimBackend(**kwargs)
    raise KeyError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
