"""Driver of the ``conv_accel`` HLS IP: register layout from the ``.hwh``, ap_ctrl_hs handshake."""

from __future__ import annotations

import time
from typing import Any

import pynq

from ... import protocol
from ...config import default_config
from .dma import DmaChannel
from .errors import KernelTimeout, OverlayError

# ------------------------------------------------------------------ HLS ap_ctrl_hs
AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8


# ------------------------------------------------------------------ HLS IP driver
class RegisterLayout:
    """Offsets of the kernel's registers, read from the ``.hwh`` register map.

    Raises
    ------
    OverlayError
        When an argument of :data:`pynq_depth.protocol.REGISTERS` is missing, the
        arguments are not in that order, or ``ap_return`` is absent.
    """

    def __init__(self, registers: dict[str, dict[str, Any]] | None, where: str = "HLS IP") -> None:
        if not registers:
            raise OverlayError(f"{where}: the .hwh has no register map for the HLS IP")
        offsets = {name: int(reg["address_offset"]) for name, reg in registers.items()}
        missing = [name for name in protocol.REGISTERS if name not in offsets]
        if missing or "ap_return" not in offsets:
            raise OverlayError(f"{where}: register map lacks {', '.join(missing + (['ap_return'] if 'ap_return' not in offsets else []))}"
                               f" (has {', '.join(sorted(offsets, key=offsets.get))}); the overlay was built "
                               f"from another kernel interface than pynq_depth.protocol.REGISTERS")
        order = sorted(protocol.REGISTERS, key=lambda n: offsets[n])
        if tuple(order) != protocol.REGISTERS:
            raise OverlayError(f"{where}: argument registers are in the order {', '.join(order)}, the protocol "
                               f"expects {', '.join(protocol.REGISTERS)}")
        self.ctrl = offsets.get("CTRL", 0)
        self.ap_return = offsets["ap_return"]
        self.args = {name: offsets[name] for name in protocol.REGISTERS}


class ConvAccelIP(pynq.DefaultIP):
    """Driver of the ``conv_accel`` HLS IP (bound by VLNV; see :func:`accel_driver_class`)."""

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description)
        self.layout = RegisterLayout(description.get("registers"), description.get("fullpath", "HLS IP"))
        #: Last value written to each argument register (None: unknown, write everything).
        self.shadow: dict[str, int] | None = None
        #: Argument-register writes made so far (the performance model counts the same).
        self.register_writes = 0

    @property
    def ctrl(self) -> int:
        """The CTRL register (reading clears ap_done)."""
        return int(self.mmio.read(self.layout.ctrl))

    def write_args(self, regs: dict[str, int]) -> None:
        """Write the argument registers whose value differs from the last one written (32-bit two's complement).

        AXI-Lite argument registers of an ``ap_ctrl_hs`` HLS block hold their value across
        calls, so a register that keeps its value needs no MMIO write (an ~3 us Python call on
        the Cortex-A9): :func:`pynq_depth.protocol.changed_registers` is the rule, shared with
        the performance model.  :meth:`forget_registers` (after a reset or a download) makes
        the next call write all of them.
        """
        shadow = self.shadow
        changed = protocol.changed_registers(shadow, regs)
        offsets = self.layout.args
        for name in changed:
            self.mmio.write(offsets[name], int(regs[name]) & 0xFFFFFFFF)
        self.register_writes += len(changed)
        if shadow is None:
            self.shadow = {name: int(regs[name]) for name in offsets}
        else:
            for name in changed:
                shadow[name] = int(regs[name])

    def forget_registers(self) -> None:
        """Write every argument register on the next call (their content is no longer known)."""
        self.shadow = None

    def start(self) -> None:
        """Set ap_start."""
        self.mmio.write(self.layout.ctrl, AP_START)

    def wait_done(self, timeout: float, watch: tuple[DmaChannel, ...] = ()) -> None:
        """Poll CTRL until ap_done (or ap_idle) within ``timeout`` seconds; DMA errors of ``watch`` abort."""
        deadline = time.monotonic() + timeout
        while not self.ctrl & (AP_DONE | AP_IDLE):
            for channel in watch:
                channel.check()
            if time.monotonic() > deadline:
                raise KernelTimeout(f"kernel did not assert ap_done within {timeout:g} s "
                                    f"(CTRL=0x{self.ctrl:02x})")

    @property
    def idle(self) -> bool:
        """ap_idle."""
        return bool(self.ctrl & AP_IDLE)

    @property
    def result(self) -> int:
        """ap_return (0 or the kernel's CONV_ERR_* bits)."""
        return int(self.mmio.read(self.layout.ap_return))


_DRIVERS: dict[str, type] = {}


def accel_driver_class(vlnv: str) -> type:
    """The :class:`ConvAccelIP` subclass bound (``bindto``) to ``vlnv``."""
    if vlnv not in _DRIVERS:
        _DRIVERS[vlnv] = type("ConvAccel", (ConvAccelIP,), {"bindto": [vlnv], "__module__": __name__})
    return _DRIVERS[vlnv]


accel_driver_class(default_config().vlnv)
