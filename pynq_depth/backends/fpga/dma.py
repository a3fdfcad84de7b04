"""Register-level driver of Xilinx AXI DMA (simple mode): channels with bounded waits.

Driven at register level rather than through ``pynq.lib.dma.DMA``: that class's
``wait()`` has no timeout, and its channel attributes changed between pynq releases.
Register offsets and status bits are from Xilinx PG021 (AXI DMA v7.1).
"""

from __future__ import annotations

import time
from typing import Any

from .errors import DmaError, KernelTimeout

# ------------------------------------------------------------------ AXI DMA (simple mode)
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
MM2S_BASE, S2MM_BASE = 0x00, 0x30
CR_RS, CR_RESET = 0x1, 0x4
SR_BITS = {0x1: "Halted", 0x2: "Idle", 0x8: "SGIncld", 0x10: "DMAIntErr", 0x20: "DMASlvErr", 0x40: "DMADecErr",
           0x100: "SGIntErr", 0x200: "SGSlvErr", 0x400: "SGDecErr", 0x1000: "IOC_Irq", 0x2000: "Dly_Irq",
           0x4000: "Err_Irq"}
SR_HALTED, SR_IDLE, SR_ERRORS, SR_IRQS = 0x1, 0x2, 0x70, 0x7000
_BEAT = 8




def decode_dmasr(value: int) -> str:
    """``0x00011002`` -> ``'0x00011002 (Idle, IOC_Irq)'``."""
    names = [name for bit, name in SR_BITS.items() if value & bit]
    return f"0x{value:08x} ({', '.join(names) or 'running'})"


def _param(params: dict[str, Any], name: str, default: Any = None) -> Any:
    """A .hwh parameter by case-insensitive name (Vivado writes ``c_...`` or ``C_...``)."""
    for key, value in params.items():
        if key.lower() == name.lower():
            return value
    return default


class DmaChannel:
    """One direction of an AXI DMA in simple (direct register) mode, with timeouts."""

    def __init__(self, mmio: Any, base: int, name: str, max_bytes: int, addr64: bool) -> None:
        self.mmio, self.base, self.name, self.max_bytes, self.addr64 = mmio, base, name, max_bytes, addr64
        self._first = True  # after RS=1, Idle is only set once a transfer completed

    def _rd(self, off: int) -> int:
        return int(self.mmio.read(self.base + off))

    def _wr(self, off: int, value: int) -> None:
        self.mmio.write(self.base + off, int(value) & 0xFFFFFFFF)

    @property
    def status(self) -> int:
        """DMASR."""
        return self._rd(DMASR)

    def describe(self) -> str:
        """``MM2S DMACR=0x... DMASR=0x... (Idle, ...)``."""
        return f"{self.name} DMACR=0x{self._rd(DMACR):08x} DMASR={decode_dmasr(self.status)}"

    def start(self, timeout: float) -> None:
        """Set RS and wait for Halted to clear."""
        self._wr(DMACR, CR_RS)
        deadline = time.monotonic() + timeout
        while self.status & SR_HALTED:
            if time.monotonic() > deadline:
                raise DmaError(f"{self.name} channel does not leave the halted state: {self.describe()}")
        self._first = True

    @property
    def ready(self) -> bool:
        """Idle, or started and not used yet."""
        sr = self.status
        return not sr & SR_HALTED and (bool(sr & SR_IDLE) or self._first)

    def transfer(self, address: int, nbytes: int) -> None:
        """Program one transfer (the LENGTH write starts it)."""
        if not 0 < nbytes <= self.max_bytes:
            raise DmaError(f"{self.name} transfer of {nbytes} bytes outside 1..{self.max_bytes}")
        if not self.ready:
            raise DmaError(f"{self.name} channel not ready for a transfer: {self.describe()}")
        self._wr(DMASR, SR_IRQS)  # clear IOC/Dly/Err interrupt flags (write 1 to clear)
        self._wr(ADDR, address & 0xFFFFFFFF)
        if self.addr64:
            self._wr(ADDR_MSB, address >> 32)
        elif address >> 32:
            raise DmaError(f"{self.name}: buffer at 0x{address:x} is above the DMA's 32-bit address space")
        self._first = False
        self._wr(LENGTH, nbytes)

    def check(self) -> None:
        """Raise :class:`DmaError` when DMASR has error bits."""
        sr = self.status
        if sr & SR_ERRORS:
            raise DmaError(f"{self.name} stopped with an error: {self.describe()}")

    def poll(self) -> bool:
        """True when the transfer finished (Idle); raise :class:`DmaError` on error bits or Halted."""
        sr = self.status
        if sr & SR_ERRORS:
            raise DmaError(f"{self.name} stopped with an error: {self.describe()}")
        if sr & SR_HALTED:
            raise DmaError(f"{self.name} channel halted during the transfer: {self.describe()}")
        return bool(sr & SR_IDLE)

    def wait(self, timeout: float, watch: tuple["DmaChannel", ...] = ()) -> None:
        """Poll DMASR until Idle; raise on error bits (also of ``watch``) or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for other in watch:
                other.check()
            if self.poll():
                return
            if time.monotonic() > deadline:
                raise KernelTimeout(f"{self.name} transfer not finished after {timeout:g} s")

    @property
    def transferred(self) -> int:
        """Bytes moved by the last transfer (S2MM: actually received, up to TLAST)."""
        return self._rd(LENGTH)


class AxiDma:
    """The channels of one AXI DMA instance, at register level.

    The main DMA (``axi_dma``) has both channels; the side DMA (``axi_dma_side``,
    ``has_s2mm=False``) only MM2S: it feeds the kernel's ``side`` stream.
    """

    def __init__(self, mmio: Any, length_bits: int, addr_bits: int = 32, has_s2mm: bool = True,
                 prefix: str = "") -> None:
        self.mmio = mmio
        self.length_bits = length_bits
        self.max_bytes = (1 << length_bits) - 1
        self.has_s2mm = has_s2mm
        self.mm2s = DmaChannel(mmio, MM2S_BASE, f"{prefix}MM2S", self.max_bytes, addr_bits > 32)
        self.s2mm = DmaChannel(mmio, S2MM_BASE, f"{prefix}S2MM", self.max_bytes, addr_bits > 32)

    def describe(self) -> str:
        """States of the channels."""
        try:
            if not self.has_s2mm:
                return self.mm2s.describe()
            return f"{self.mm2s.describe()}; {self.s2mm.describe()}"
        except Exception as exc:  # noqa: BLE001  (diagnostics must not mask the real error)
            return f"DMA registers unreadable ({exc})"

    def reset(self, timeout: float) -> None:
        """Soft reset (DMACR.Reset resets the whole core), then start its channels."""
        self.mmio.write(MM2S_BASE + DMACR, CR_RESET)
        deadline = time.monotonic() + timeout
        regs = (MM2S_BASE, S2MM_BASE) if self.has_s2mm else (MM2S_BASE,)
        while any(int(self.mmio.read(base + DMACR)) & CR_RESET for base in regs):
            if time.monotonic() > deadline:
                raise DmaError(f"AXI DMA reset did not complete within {timeout:g} s: {self.describe()}")
        self.mm2s.start(timeout)
        if self.has_s2mm:
            self.s2mm.start(timeout)
