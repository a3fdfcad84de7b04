"""The backend registry: every backend known once, with why it can or cannot run here, and how auto chooses."""

from __future__ import annotations

import numpy as np
import pytest

from pynq_depth import backends
from pynq_depth.backends.base import Backend
from pynq_depth.backends.emulator import Emulator
from pynq_depth.backends.kernel import KernelBackend


def test_registry_knows_every_backend_once():
    assert set(backends.BACKENDS) == {"emulator", "csim", "fpga", "sim", "float"}
    assert backends.CHOICES[0] == "auto" and set(backends.CHOICES[1:]) == set(backends.BACKENDS)
    assert [name for name, info in backends.BACKENDS.items() if not info.integer] == ["float"]


def test_availability_says_why():
    assert backends.available("emulator") == (True, "NumPy, runs anywhere")
    ok, why = backends.available("csim")
    assert ok and "HLS sources" in why
    ok, why = backends.available("fpga")  # no board on a host
    assert not ok and why


def test_auto_falls_back_to_the_emulator_with_the_reason(monkeypatch):
    name, reason = backends.choose("auto")
    assert name == "emulator" and reason.startswith("no board: ")
    monkeypatch.setitem(backends.BACKENDS, "fpga", backends.BACKENDS["fpga"].__class__(
        "fpga", "stub", True, lambda config: (True, "stub board"), backends.BACKENDS["fpga"].factory))
    assert backends.choose("auto") == ("fpga", "board and overlay found")


def test_unknown_backend_lists_the_choices():
    with pytest.raises(backends.BackendError, match="choose from auto, emulator"):
        backends.open_backend("gpu")


def test_a_failing_check_is_reported_not_raised(monkeypatch):
    def broken(config):
        raise OSError("device tree unreadable")

    monkeypatch.setitem(backends.BACKENDS, "fpga", backends.BACKENDS["fpga"].__class__(
        "fpga", "stub", True, broken, backends.BACKENDS["fpga"].factory))
    assert backends.available("fpga") == (False, "OSError: device tree unreadable")
    assert backends.choose("auto")[0] == "emulator"


def test_members_share_one_interface():
    emulator = backends.open_backend("emulator")
    csim = backends.open_backend("csim")
    assert isinstance(emulator, Emulator) and isinstance(emulator, Backend)
    assert isinstance(csim, KernelBackend) and isinstance(csim, Backend)
    with pytest.raises(NotImplementedError):
        Backend().run_conv(None, np.zeros((1, 1, 8), np.int8), None, "int8")  # type: ignore[arg-type]
