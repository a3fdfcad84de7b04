"""A simulated PYNQ board, injected into the real ``pynq`` package as its device.

:class:`SimDevice` subclasses ``pynq.pl_server.device.Device`` (the XRT-less
base), so ``pynq.Overlay``, ``pynq.MMIO`` and ``pynq.allocate`` run unchanged
on it:

* **Metadata**: the ``.hwh`` is parsed by pynq's own parser
  (``pynqmetadata``'s ``RuntimeMetadataParser``, what ``EmbeddedDevice`` uses)
  and the ``.bit`` header by pynq's ``bit2bin``.
* **Registers**: the device has the ``REGISTER_RW`` capability, so every
  ``MMIO.read``/``write`` reaches :meth:`SimDevice.read_registers` /
  :meth:`SimDevice.write_registers` and the register models below: the HLS IP
  (``CTRL`` with ap_start / ap_done clear-on-read / ap_idle / ap_ready,
  ``ap_return``, the argument registers at the offsets of the ``.hwh``), the
  two AXI DMAs in simple mode (DMACR RS/Reset, DMASR Halted/Idle/error/IRQ bits
  with write-1-to-clear, SA/DA, LENGTH starting a transfer, S2MM LENGTH read
  back as the bytes received; the MM2S-only side DMA feeds the kernel's
  ``side`` stream), and the Zynq SLCR clock registers pynq programs on download.
* **Memory**: ``allocate`` returns ``pynq.buffer.PynqBuffer`` views of a
  simulated contiguous memory with physical addresses.  Cacheable buffers
  have a separate CPU-side copy: the DMA sees the CPU's writes only after
  ``flush()`` and the CPU sees the DMA's writes only after ``invalidate()``,
  so a driver that forgets either reads stale data, as on the board.
  ``freebuffer()`` returns the memory; exhaustion raises like a failed CMA
  allocation.
* **Kernel**: when ap_start is set and the S2MM channel armed, the MM2S bytes
  delivered so far (of both DMAs: ``in`` and ``side`` streams) are run through the HLS C simulation
  (:class:`~pynq_depth.backends.csim.CsimBackend`'s library).  A kernel that
  wants more input waits for the next MM2S transfer; unread input keeps the
  MM2S channel busy; the S2MM transfer ends at the first TLAST beat (bytes
  received in LENGTH), and a stream longer than the programmed length sets
  DMAIntErr and halts the channel; no TLAST leaves it busy.

Fault injection (:class:`Faults`): a kernel that never asserts ap_done, a
kernel that stalls reading, DMA slave errors, a memory size (CMA) limit.

Not modelled: timing and clocks, AXI bursts and alignment, interrupts,
scatter-gather mode, partial reconfiguration, the kernel's internal state
after a reset (a download resets everything).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from ...config import HwConfig, default_config
from ...protocol import REGISTERS
from . import hwh as hwh_mod

MEM_BASE = 0x1000_0000
SLCR_BASE, SLCR_SIZE = 0xF800_0000, 0x1000
_PAGE = 4096


@dataclass
class Faults:
    """Faults the simulated hardware injects (each ``*_calls`` counts down per kernel start / DMA transfer).

    Attributes
    ----------
    no_done_calls : int
        Kernel starts that compute and write their output but never assert ap_done.
    stall_calls : int
        Kernel starts that never read their input (MM2S stays busy).
    dma_error : str or None
        ``"mm2s"`` or ``"s2mm"``: the next transfer of that channel ends with
        DMASlvErr (then cleared).
    """

    no_done_calls: int = 0
    stall_calls: int = 0
    dma_error: str | None = None


class SimMemory:
    """Contiguous DDR with per-buffer CPU caches (for cacheable buffers)."""

    def __init__(self, size: int, base: int = MEM_BASE) -> None:
        self.base, self.size = base, size
        self.ddr = np.zeros(size, dtype=np.uint8)
        self.cpu = np.zeros(size, dtype=np.uint8)
        self.blocks: dict[int, tuple[int, bool]] = {}  # phys -> (bytes, cacheable)
        #: Number of allocations made (buffers are meant to be reused).
        self.allocations = 0

    @property
    def used(self) -> int:
        """Bytes allocated."""
        return sum(n for n, _ in self.blocks.values())

    def allocate(self, nbytes: int, cacheable: bool) -> int:
        """First fit, page aligned; RuntimeError when no hole is large enough."""
        need = max(_PAGE, -(-nbytes // _PAGE) * _PAGE)
        cursor = self.base
        for phys in sorted(self.blocks):
            if phys - cursor >= need:
                break
            cursor = max(cursor, phys + -(-self.blocks[phys][0] // _PAGE) * _PAGE)
        if cursor + need > self.base + self.size:
            raise RuntimeError(f"simulated CMA exhausted: cannot allocate {nbytes} bytes "
                               f"({self.used} of {self.size} bytes in use)")
        self.blocks[cursor] = (nbytes, cacheable)
        self.allocations += 1
        return cursor

    def free(self, phys: int) -> None:
        """Return a block."""
        self.blocks.pop(phys, None)

    def view(self, phys: int, nbytes: int, cpu: bool) -> np.ndarray:
        """Bytes ``[phys, phys + nbytes)`` of the CPU copy or of DDR."""
        start = phys - self.base
        return (self.cpu if cpu else self.ddr)[start:start + nbytes]

    def contains(self, phys: int, nbytes: int) -> bool:
        """Whether the range lies inside the memory."""
        return self.base <= phys and phys + nbytes <= self.base + self.size


class SimBuffer(PynqBuffer):
    """``PynqBuffer`` whose ``device`` attribute is writable under NumPy 2.

    NumPy 2 gave ``ndarray`` a read-only ``device`` attribute (array API), which
    ``PynqBuffer.__new__`` assigns; pynq pins ``numpy<2`` for this reason.  On a
    board (NumPy 1.x) the plain class is used; the simulation keeps the host's
    NumPy and stores the device here instead.
    """

    @property
    def device(self) -> Any:  # type: ignore[override]
        return self.__dict__.get("_pynq_device") if hasattr(self, "__dict__") else None

    @device.setter
    def device(self, value: Any) -> None:
        self.__dict__["_pynq_device"] = value

    def freebuffer(self) -> None:
        """Return the block to the simulated memory (views own nothing)."""
        pointer = self.__dict__.get("pointer", 0)
        if pointer:
            self.__dict__["pointer"] = 0
            self.return_to.return_pointer(pointer)


class _Returner:
    """``PynqBuffer.freebuffer`` hands the pointer back here."""

    def __init__(self, memory: SimMemory) -> None:
        self.memory = memory

    def return_pointer(self, pointer: int) -> None:
        self.memory.free(pointer)


# ------------------------------------------------------------------ register models
class SimConvAccel:
    """Register model of the HLS IP (ap_ctrl_hs, ap_return, argument registers)."""

    def __init__(self, board: "SimBoard", registers: dict[str, dict[str, Any]]) -> None:
        self.board = board
        self.offsets = {name: int(reg["address_offset"]) for name, reg in registers.items()}
        self.by_offset = {off: name for name, off in self.offsets.items()}
        self.values: dict[str, int] = {name: 0 for name in self.offsets}
        self.reset()

    def reset(self) -> None:
        self.start = self.done = self.ready = False
        self.idle = True
        self.running = False
        self.consumed: list[bytes] = []
        self.consumed_side: list[bytes] = []
        self.no_done = False
        self.stalled = False
        self.ap_return = 0

    def read(self, off: int) -> int:
        name = self.by_offset.get(off)
        if name == "CTRL":
            value = int(self.start) | int(self.done) << 1 | int(self.idle) << 2 | int(self.ready) << 3
            self.done = self.ready = False  # clear on read
            return value
        if name == "ap_return":
            return self.ap_return & 0xFFFFFFFF
        return self.values.get(name, 0) if name else 0

    def write(self, off: int, value: int) -> None:
        name = self.by_offset.get(off)
        if name == "CTRL":
            if value & 1 and self.idle:
                self.start, self.idle, self.running, self.done = True, False, True, False
                self.consumed = []
                self.consumed_side = []
                faults = self.board.faults
                self.no_done = faults.no_done_calls > 0
                faults.no_done_calls -= int(self.no_done)
                self.stalled = faults.stall_calls > 0
                faults.stall_calls -= int(self.stalled)
                self.board.kick()
        elif name is not None and name != "ap_return":
            self.values[name] = value & 0xFFFFFFFF

    def args(self) -> list[int]:
        """Argument values in protocol order, as the signed ints the C kernel receives."""
        return [int(np.int32(np.uint32(self.values.get(name, 0)))) for name in REGISTERS]


class _Channel:
    def __init__(self, name: str) -> None:
        self.name = name
        #: Transfers started and their bytes (survive resets).
        self.transfers = 0
        self.bytes = 0
        self.reset()

    def reset(self) -> None:
        self.dmacr = 0
        self.sr = 0x1  # halted
        self.addr = 0
        self.addr_msb = 0
        self.length = 0
        self.busy = False
        self.first = True

    @property
    def running(self) -> bool:
        return bool(self.dmacr & 1) and not self.sr & 1

    def complete(self, nbytes: int | None = None) -> None:
        self.busy = False
        if nbytes is not None:
            self.length = nbytes
        self.sr = (self.sr | 0x2 | 0x1000) & ~0x1

    def fail(self, bit: int) -> None:
        self.busy = False
        self.dmacr &= ~1
        self.sr = (self.sr | bit | 0x4000 | 0x1) & ~0x2


class SimAxiDma:
    """Register model of an AXI DMA in simple mode (``side``: the MM2S-only DMA of the side stream)."""

    def __init__(self, board: "SimBoard", length_bits: int, side: bool = False) -> None:
        self.board = board
        self.side = side
        self.length_mask = (1 << length_bits) - 1
        prefix = "side_" if side else ""
        self.mm2s, self.s2mm = _Channel(prefix + "mm2s"), _Channel(prefix + "s2mm")
        self.pending: list[bytes] = []  # MM2S transfers not yet consumed by the kernel

    def reset(self) -> None:
        self.mm2s.reset()
        self.s2mm.reset()
        self.pending = []

    def _chan(self, off: int) -> tuple[_Channel, int]:
        if off >= 0x30 and self.side:  # no S2MM channel: its registers read 0, writes are ignored
            return _Channel("none"), off - 0x30
        return (self.mm2s, off) if off < 0x30 else (self.s2mm, off - 0x30)

    def read(self, off: int) -> int:
        ch, reg = self._chan(off)
        if reg == 0x00:
            return ch.dmacr
        if reg == 0x04:
            return ch.sr
        if reg == 0x18:
            return ch.addr
        if reg == 0x1C:
            return ch.addr_msb
        if reg == 0x28:
            return ch.length
        return 0

    def write(self, off: int, value: int) -> None:
        ch, reg = self._chan(off)
        if reg == 0x00:
            if value & 0x4:  # soft reset: the whole core
                self.reset()
                self.board.accel_reset_streams(side=self.side)
                return
            ch.dmacr = value & 0xFFFFFFFF
            if value & 1:
                ch.sr &= ~0x1
            else:
                ch.sr |= 0x1
        elif reg == 0x04:
            ch.sr &= ~(value & 0x7000)  # write 1 to clear the interrupt flags
        elif reg == 0x18:
            ch.addr = value
        elif reg == 0x1C:
            ch.addr_msb = value
        elif reg == 0x28:
            self._start(ch, value & self.length_mask)

    def _start(self, ch: _Channel, nbytes: int) -> None:
        if not ch.running or ch.busy or nbytes == 0:
            if ch.running:
                ch.fail(0x10)  # DMAIntErr: zero length or a second transfer while busy
            return
        faults = self.board.faults
        ch.length, ch.busy, ch.first = nbytes, True, False
        ch.transfers += 1
        ch.bytes += nbytes
        ch.sr &= ~0x2
        if faults.dma_error == ch.name:
            faults.dma_error = None
            ch.fail(0x20)  # DMASlvErr
            return
        phys = ch.addr_msb << 32 | ch.addr
        if not self.board.memory.contains(phys, nbytes):
            ch.fail(0x40)  # DMADecErr
            return
        if ch is self.mm2s:
            self.pending.append(self.board.memory.view(phys, nbytes, cpu=False).tobytes())
        self.board.kick()


class SimBoard:
    """The simulated PL: memory, register models, the kernel execution and faults."""

    def __init__(self, config: HwConfig, memory_bytes: int = 64 << 20) -> None:
        self.config = config
        self.memory = SimMemory(memory_bytes)
        self.faults = Faults()
        self.slcr = np.zeros(SLCR_SIZE // 4, dtype=np.uint32)
        for off, fdiv in ((0x100, 40), (0x104, 32), (0x108, 30)):  # ARM, DDR, IO PLL feedback dividers
            self.slcr[off // 4] = fdiv << 12
        self.regions: list[tuple[int, int, Any]] = []
        self.accel: SimConvAccel | None = None
        self.dma: SimAxiDma | None = None
        self.side_dma: SimAxiDma | None = None
        self.kernel_runs = 0
        self._lib: Any = None

    # ------------------------------------------------------------ programming
    def program(self, parser: Any) -> None:
        """Build the register models from the parsed ``.hwh`` (a download resets everything)."""
        self.regions, self.accel, self.dma, self.side_dma = [], None, None, None
        self.faults = Faults()
        for desc in parser.ip_dict.values():
            kind = str(desc.get("type", ""))
            if desc.get("phys_addr") is None or not desc.get("addr_range"):
                continue
            if kind.startswith("xilinx.com:ip:axi_dma:"):
                params = {k.lower(): v for k, v in desc.get("parameters", {}).items()}
                side = int(params.get("c_include_s2mm", 1)) == 0
                model: Any = SimAxiDma(self, int(params.get("c_sg_length_width", 14)), side=side)
                if side:
                    self.side_dma = model
                else:
                    self.dma = model
            elif kind.rpartition(":")[0] == self.config.vlnv.rpartition(":")[0]:
                self.accel = SimConvAccel(self, desc.get("registers") or {})
                model = self.accel
            else:
                continue
            self.regions.append((int(desc["phys_addr"]), int(desc["addr_range"]), model))

    @property
    def library(self) -> Any:
        """The compiled C simulation of the kernel."""
        if self._lib is None:
            from ..csim import CsimBackend

            self._lib = CsimBackend(self.config, threads=1).library
        return self._lib

    # ------------------------------------------------------------ bus
    def _region(self, address: int) -> tuple[Any, int]:
        if SLCR_BASE <= address < SLCR_BASE + SLCR_SIZE:
            return "slcr", address - SLCR_BASE
        for base, size, model in self.regions:
            if base <= address < base + size:
                return model, address - base
        raise RuntimeError(f"simulated bus error: no peripheral at 0x{address:08x}")

    def read(self, address: int) -> int:
        model, off = self._region(address)
        if model == "slcr":
            return int(self.slcr[off // 4])
        return int(model.read(off)) & 0xFFFFFFFF

    def write(self, address: int, value: int) -> None:
        model, off = self._region(address)
        if model == "slcr":
            self.slcr[off // 4] = value & 0xFFFFFFFF
        else:
            model.write(off, value & 0xFFFFFFFF)

    # ------------------------------------------------------------ the kernel
    def accel_reset_streams(self, side: bool = False) -> None:
        """A DMA reset empties its stream; a kernel blocked on it stays blocked."""
        if self.accel is not None:
            if side:
                self.accel.consumed_side = []
            else:
                self.accel.consumed = []

    def kick(self) -> None:
        """Advance the kernel as far as the armed transfers allow."""
        acc, dma, side = self.accel, self.dma, self.side_dma
        if acc is None or dma is None or side is None or not acc.running or acc.stalled:
            return
        if not dma.s2mm.busy or not (dma.pending or acc.consumed or side.pending or acc.consumed_side):
            return
        streams = []
        for consumed, pending in ((acc.consumed, dma.pending), (acc.consumed_side, side.pending)):
            data = b"".join(consumed + pending)
            streams.append(np.frombuffer(data[:len(data) // 8 * 8], dtype=np.uint64).copy())
        stream, side_stream = streams
        cap = dma.s2mm.length // 8 + 1
        out = np.zeros(cap, dtype=np.uint64)
        regs = np.array(acc.args(), dtype=np.int32)
        info = np.zeros(8, dtype=np.int64)
        lib = self.library
        status = lib.pd_conv_call(stream.ctypes.data, stream.size, side_stream.ctypes.data, side_stream.size,
                                  out.ctypes.data, cap, regs.ctypes.data, info.ctypes.data)
        self.kernel_runs += 1
        produced, left, underflows, first_last, n_last, _, side_left, side_under = (int(v) for v in info)
        if status:  # registers refused: nothing read or written
            self._finish(status)
            return
        if underflows or side_under:  # waiting for more input: everything sent so far is consumed
            for model, consumed in ((dma, acc.consumed), (side, acc.consumed_side)):
                if model.pending:
                    consumed.extend(model.pending)
                    model.pending = []
                    model.mm2s.complete()
            return
        # Finished: input transfers consumed up to the unread tail complete; the rest stay busy.
        for model, consumed, sent, unread in ((dma, acc.consumed, stream, left),
                                              (side, acc.consumed_side, side_stream, side_left)):
            used = sent.size - unread
            total = sum(len(c) for c in consumed) // 8
            keep: list[bytes] = []
            for chunk in model.pending:
                beats = len(chunk) // 8
                if total + beats <= used:
                    total += beats
                else:
                    keep.append(chunk)
            had = bool(model.pending)
            model.pending = keep
            if had and not keep:
                model.mm2s.complete()
        # Output: the S2MM transfer ends at the first TLAST; a longer packet than the buffer is an error.
        s2mm = dma.s2mm
        dest = s2mm.addr_msb << 32 | s2mm.addr
        if n_last:
            packet = first_last + 1
            nbytes = min(packet * 8, s2mm.length)
            view = self.memory.view(dest, nbytes, cpu=False)
            view[:] = out.view(np.uint8)[:nbytes]
            if packet * 8 > s2mm.length:
                s2mm.fail(0x10)  # DMAIntErr: packet longer than the programmed length
            else:
                s2mm.complete(nbytes)
        self._finish(0)

    def _finish(self, status: int) -> None:
        acc = self.accel
        assert acc is not None
        acc.ap_return = status
        acc.running = False
        acc.consumed = []
        acc.consumed_side = []
        if acc.no_done:  # the fault: the kernel never reports completion
            return
        acc.start, acc.done, acc.idle, acc.ready = False, True, True, True


# ------------------------------------------------------------------ the pynq device
class SimDevice(Device):
    """A pynq ``Device`` backed by :class:`SimBoard` (no ``_probe_``: it is never auto-detected).

    Use ``pynq.Device.active_device = SimDevice(board)`` or pass ``device=``.
    """

    def __init__(self, board: SimBoard, tag: str = "sim_pynq_board") -> None:
        super().__init__(tag)
        self.board = board
        self.name = "sim-" + board.config.raw.get("target", {}).get("board", "pynq")
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.arch = "armv7l"  # a Zynq-7000 for pynq's clock code
        self.timestamp = ""
        self.bitfile_name = ""
        self._returner = _Returner(board.memory)
        self.downloads = 0

    # --------------------------------------------------------- metadata and download
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False) -> Any:
        """Parse the ``.hwh`` beside the bitstream with pynq's own parser."""
        from pynq.pl_server.embedded_device import bit2bin
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError("Unable to find metadata for bitstream")
        parser = RuntimeMetadataParser(Metadata(input=str(hwh)))
        parser.refresh_hierarchy_dict()
        parser.bin_data = bit2bin(Path(bitfile_name).read_bytes())
        parser.xclbin_data = None
        parser.dtbo_data = None
        return parser

    def download(self, bitstream: Any, parser: Any = None) -> None:
        """"Program" the PL: build the register models and reset them."""
        if parser is None:
            parser = self.get_bitfile_metadata(bitstream.bitfile_name)
        self.board.program(parser)
        self.downloads += 1
        self.post_download(bitstream, parser, self.name)

    # --------------------------------------------------------- registers
    def read_registers(self, address: int, length: int) -> bytes:
        """``length`` bytes from the register space (32-bit words)."""
        words = [self.board.read(address + 4 * i) for i in range(max(1, length // 4))]
        return np.array(words, dtype="<u4").tobytes()[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        """Write 32-bit words."""
        data = bytes(data) + b"\0" * (-len(data) % 4)
        for i, word in enumerate(np.frombuffer(data, dtype="<u4")):
            self.board.write(address + 4 * i, int(word))

    # --------------------------------------------------------- memory
    def allocate(self, shape: Any, dtype: Any, cacheable: bool = False, **kwargs: Any) -> PynqBuffer:
        """A contiguous buffer with a physical address (``cacheable`` as ``pynq.allocate``)."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        nbytes = count * dtype.itemsize
        phys = self.board.memory.allocate(nbytes, bool(cacheable))
        raw = self.board.memory.view(phys, nbytes, cpu=bool(cacheable))
        raw[:] = 0
        if cacheable:
            self.board.memory.view(phys, nbytes, cpu=False)[:] = 0
        buf = SimBuffer(shape, dtype, buffer=raw.data, offset=0, device=self, device_address=phys, bo=phys,
                         coherent=not cacheable)
        buf.memory = self.board.memory
        buf.pointer = phys
        buf.return_to = self._returner
        return buf

    def flush(self, bo: int, offset: int, vaddr: int, nbytes: int) -> None:
        """CPU copy -> DDR for a cacheable buffer's range."""
        start = bo + offset
        self.board.memory.view(start, nbytes, cpu=False)[:] = self.board.memory.view(start, nbytes, cpu=True)

    def invalidate(self, bo: int, offset: int, vaddr: int, nbytes: int) -> None:
        """DDR -> CPU copy for a cacheable buffer's range."""
        start = bo + offset
        self.board.memory.view(start, nbytes, cpu=True)[:] = self.board.memory.view(start, nbytes, cpu=False)


# ------------------------------------------------------------------ runner
def make_sim_overlay(directory: str | Path, config: HwConfig | None = None, **spec_changes: Any) -> Path:
    """Write the simulated overlay's ``.bit``/``.hwh`` (see :class:`~pynq_depth.backends.fpga.hwh.OverlaySpec`)."""
    config = config or default_config()
    with_hwh = spec_changes.pop("with_hwh", True)
    return hwh_mod.write_overlay(directory, hwh_mod.OverlaySpec.for_config(config, **spec_changes), with_hwh, config)


def open_sim_runner(config: HwConfig | None = None, timeout_s: float | None = None, memory_bytes: int = 64 << 20,
                    directory: str | Path | None = None, bitfile: str | Path | None = None,
                    set_active: bool = True, **spec_changes: Any) -> Any:
    """The :class:`~pynq_depth.backends.fpga.runner.FpgaBackend` driving a fresh simulated board.

    Parameters
    ----------
    config : HwConfig, optional
        Accelerator configuration.
    timeout_s : float, optional
        Driver timeout.
    memory_bytes : int
        Size of the simulated contiguous memory (CMA).
    directory : path, optional
        Where to write the overlay files (a temporary folder removed on ``close``).
    bitfile : path, optional
        Use these overlay files instead of generating them.
    set_active : bool
        Also make the simulated device ``pynq.Device.active_device`` (restored on close).
    **spec_changes
        Changes to the generated ``.hwh`` (``length_bits=14``, ``vlnv=``, ``registers=``...).
    """
    from .runner import FpgaBackend

    config = config or default_config()
    tmp = None
    if bitfile is None:
        if directory is None:
            tmp = directory = tempfile.mkdtemp(prefix="pynq_depth_sim_")
        bitfile = make_sim_overlay(directory, config, **spec_changes)
    board = SimBoard(config, memory_bytes)
    device = SimDevice(board)
    previous = Device.__dict__.get("_active_device")  # set by the metaclass setter on the class
    if set_active:
        Device.active_device = device

    class SimRunner(FpgaBackend):
        def close(self) -> None:
            super().close()
            if set_active and Device.__dict__.get("_active_device") is device:
                if previous is None:
                    delattr(Device, "_active_device")
                else:
                    Device.active_device = previous
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    try:
        runner = SimRunner(bitfile, config, device=device, timeout_s=timeout_s, name="sim")
    except BaseException:
        if set_active:
            if previous is None:
                if Device.__dict__.get("_active_device") is device:
                    delattr(Device, "_active_device")
            else:
                Device.active_device = previous
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    runner.board = board
    if tmp is not None:  # runners the CLI never closes still leave no folder behind
        weakref.finalize(runner, shutil.rmtree, tmp, True)
    return runner


__all__ = ["Faults", "SimBoard", "SimDevice", "SimMemory", "make_sim_overlay", "open_sim_runner"]
