"""The PYNQ driver of the accelerator: overlay, HLS IP driver, AXI DMA channels, and the backend.

Imported only when a board backend is asked for (it imports ``pynq``).

Layers run exactly as :mod:`pynq_depth.protocol` plans them (the C-simulation
backend runs the same plan), and exactly as :mod:`pynq_depth.perf` models them:
constants and weights are packed once per program into a resident CMA buffer,
activations stay in DMA buffers in the stream layout, and per kernel call the
driver writes the call's registers at the offsets the ``.hwh`` register map
gives, arms the S2MM channel for exactly ``output_beats * 8`` bytes into the
call's output slot, sets ``ap_start``, streams the input segments through MM2S
(the pre-packed head, then the activations from where they lie; split below the
DMA's maximum transfer length) and, for a call with partial sums or a residual,
at the same time the ``side`` stream through the second, MM2S-only DMA (from
where the previous call's partial sums or the residual lie), waits for
``ap_done``, checks ``ap_return`` and the received length, and invalidates the
output slot.  Every wait polls with
:func:`time.monotonic` against a timeout.  On a stall or an error the DMA is
reset and the kernel brought back to idle (drained, or the bitstream downloaded
again) before the error is raised, so the next call works.  Both DMAs are reset.

Compatibility: pynq 3.0 - 4.0 (``pynq.allocate``, ``pynq.MMIO``,
``pynq.DefaultIP``, ``pynq.Overlay(bitfile, download=, ignore_version=,
device=)``).  ``pynq.Xlnk`` (pynq 2.x) is not supported.  The DMA is driven at
register level, not through ``pynq.lib.dma.DMA``: that class's ``wait()`` has
no timeout, and its channel attributes changed between releases (pynq 2.7 moved
to ``_SDMAChannel``/``_SGDMAChannel``; 3.0 raises ``ValueError`` above
``2**c_sg_length_width - 1`` bytes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pynq

from .. import protocol
from ..config import HwConfig, default_config, load_config
from ..emulator import NUMPY_DTYPES, ProgramRunner, check_frame, quantize_input_into
from ..program import ConvCmd, HostCmd, Program
from . import BoardError, DmaError, KernelTimeout, OverlayError, overlay_stem

# ------------------------------------------------------------------ AXI DMA (simple mode)
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
MM2S_BASE, S2MM_BASE = 0x00, 0x30
CR_RS, CR_RESET = 0x1, 0x4
SR_BITS = {0x1: "Halted", 0x2: "Idle", 0x8: "SGIncld", 0x10: "DMAIntErr", 0x20: "DMASlvErr", 0x40: "DMADecErr",
           0x100: "SGIntErr", 0x200: "SGSlvErr", 0x400: "SGDecErr", 0x1000: "IOC_Irq", 0x2000: "Dly_Irq",
           0x4000: "Err_Irq"}
SR_HALTED, SR_IDLE, SR_ERRORS, SR_IRQS = 0x1, 0x2, 0x70, 0x7000
# ------------------------------------------------------------------ HLS ap_ctrl_hs
AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8

DEFAULT_TIMEOUT_S = float(os.environ.get("PYNQ_DEPTH_TIMEOUT", "5"))
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


# ------------------------------------------------------------------ overlay
class DepthOverlay(pynq.Overlay):
    """The pynq-depth overlay; refuses bitstreams built for another configuration.

    Parameters
    ----------
    bitfile : str or Path
        ``pynq_depth_<hw_id>.bit``; its ``.hwh`` must lie beside it.
    config : HwConfig, optional
        The configuration the driver runs (packaged default).
    download : bool
        Program the FPGA (pynq's own ``download``).
    device : pynq.Device, optional
        Device (the active one when omitted).
    """

    def __init__(self, bitfile: str | Path, config: HwConfig | None = None, download: bool = True,
                 device: Any = None) -> None:
        config = config or default_config()
        path = Path(bitfile).resolve()
        check_overlay_files(path, config)
        accel_driver_class(config.vlnv)
        try:
            super().__init__(str(path), download=download, device=device)
        except OverlayError:
            raise
        except Exception as exc:
            raise OverlayError(f"{path}: pynq cannot load this overlay ({type(exc).__name__}: {exc})") from exc
        self.hw_config = config
        self.accel_name, self.dma_name, self.side_dma_name = self._check_hwh(config)

    def _check_hwh(self, config: HwConfig) -> tuple[str, str, str]:
        ips = {name: desc for name, desc in self.ip_dict.items() if isinstance(desc, dict)}
        accel = [n for n, d in ips.items() if d.get("type") == config.vlnv]
        if not accel:
            vendor_lib_name = config.vlnv.rpartition(":")[0]
            other = [f"{n} ({d.get('type')})" for n, d in ips.items() if str(d.get("type", "")).startswith(vendor_lib_name)]
            hint = f"; found {', '.join(other)}: built for another configuration" if other else ""
            raise OverlayError(f"{self.bitfile_name}: no HLS IP {config.vlnv} in the .hwh{hint}")
        dmas = [n for n, d in ips.items() if str(d.get("type", "")).startswith("xilinx.com:ip:axi_dma:")]
        if len(dmas) != 2:
            raise OverlayError(f"{self.bitfile_name}: expected two AXI DMAs in the .hwh (axi_dma: MM2S + S2MM; "
                               f"axi_dma_side: MM2S only, feeding the kernel's side stream), found "
                               f"{dmas or 'none'}: the overlay was built before the side stream; rebuild it")
        s2mm = {n: int(_param(ips[n].get("parameters", {}), "c_include_s2mm", 1)) for n in dmas}
        main = [n for n in dmas if s2mm[n]]
        side = [n for n in dmas if not s2mm[n]]
        if len(main) != 1 or len(side) != 1:
            raise OverlayError(f"{self.bitfile_name}: expected one AXI DMA with S2MM and one MM2S-only DMA (the side "
                               f"stream), found c_include_s2mm {s2mm}")
        for name in dmas:
            params = ips[name].get("parameters", {})
            if int(_param(params, "c_include_sg", 0)) != 0:
                raise OverlayError(f"{name}: scatter-gather is enabled; the driver needs simple mode (c_include_sg=0)")
            if int(_param(params, "c_include_mm2s", 1)) != 1:
                raise OverlayError(f"{name}: has no MM2S channel")
            width = int(_param(params, "c_m_axis_mm2s_tdata_width", config.stream_bits))
            if width != config.stream_bits:
                raise OverlayError(f"{name}: stream width {width} bits, this configuration uses {config.stream_bits}")
        return accel[0], main[0], side[0]

    @property
    def accel(self) -> ConvAccelIP:
        """The bound HLS IP driver (through pynq's attribute lookup)."""
        obj: Any = self
        for part in self.accel_name.split("/"):
            obj = getattr(obj, part)
        if not isinstance(obj, ConvAccelIP):
            raise OverlayError(f"{self.accel_name} is bound to {type(obj).__name__}, not the pynq-depth driver")
        return obj

    def dma(self, side: bool = False) -> AxiDma:
        """The main AXI DMA (or the side one), at register level, with its length-register width from the .hwh."""
        desc = self.ip_dict[self.side_dma_name if side else self.dma_name]
        params = desc.get("parameters", {})
        bits = int(_param(params, "c_sg_length_width", 14))  # Vivado's default when absent
        addr_bits = int(_param(params, "c_addr_width", 32))
        return AxiDma(pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=self.device), bits, addr_bits,
                      has_s2mm=not side, prefix="side " if side else "")


def check_overlay_files(bitfile: Path, config: HwConfig) -> None:
    """File-level checks before pynq parses anything: name, ``.hwh`` beside, ``.json`` identity."""
    if not bitfile.is_file():
        raise OverlayError(f"{bitfile}: bitstream not found")
    expected = overlay_stem(config)
    if bitfile.stem != expected:
        raise OverlayError(f"{bitfile.name} was built for configuration {bitfile.stem.removeprefix('pynq_depth_')}, "
                           f"this driver runs {config.hw_id} (expected {expected}.bit): rebuild the overlay "
                           f"(make -C vivado) or pass the matching --hw configuration")
    hwh = bitfile.with_suffix(".hwh")
    if not hwh.is_file():
        raise OverlayError(f"{hwh}: missing; PYNQ needs the .hwh hardware handoff beside the .bit "
                           f"(copy both from the Vivado build: vivado/build/.../overlays)")
    meta = bitfile.with_suffix(".json")
    if meta.is_file():
        try:
            built = load_config(meta).hw_id
        except Exception as exc:  # noqa: BLE001
            raise OverlayError(f"{meta}: unreadable configuration ({exc})") from None
        if built != config.hw_id:
            raise OverlayError(f"{meta}: the overlay was built for {built}, this driver runs {config.hw_id}")


# ------------------------------------------------------------------ backend
def _pieces(parts: list[tuple[int, int]], max_bytes: int, name: str) -> list[tuple[int, int, str]]:
    """(physical address, bytes) segments cut below a DMA's maximum transfer, with step names."""
    chunk = max_bytes // _BEAT * _BEAT
    total = sum(n for _, n in parts)
    out, sent = [], 0
    for phys, nbytes in parts:
        for off in range(0, nbytes, chunk):
            size = min(chunk, nbytes - off)
            out.append((phys + off, size, f"{name} transfer (bytes {sent}..{sent + size - 1} of {total})"))
            sent += size
    return out


def _address(arr: np.ndarray) -> int:
    """Virtual address of an array's first byte."""
    return int(arr.__array_interface__["data"][0])


class _Resident:
    """The DMA buffers of one prepared program, kept across frames.

    ``heads`` holds every call's pre-packed constants + weights (and the resize
    coefficient tables), written and flushed once; ``arena`` holds every
    activation the program produces (each kernel call's output, each concat its
    reader cannot take in two parts), one slot per producer, in the stream layout,
    so a layer's input rows are sent straight from the producer's slot.
    ``fused`` names the concats left unmade (``protocol.fused_concats``): their
    reader gets the two parts, the second on the side DMA.
    """

    def __init__(self) -> None:
        self.program: Program | None = None
        self.preps: dict[str, protocol.PreparedLayer] = {}
        self.resize: dict[str, protocol.Call] = {}
        self.head_at: dict[tuple[str, int], tuple[int, int]] = {}  # (layer, call) -> (beat offset, beats)
        self.slot_at: dict[tuple[str, int], tuple[int, int]] = {}
        self.fused: set[str] = set()
        self.heads: Any = None
        self.arena: Any = None
        #: Recorded kernel calls of the layers that can be replayed (see ``FpgaBackend.run_conv``).
        self.replay: dict[str, protocol.RecordedLayer] = {}
        #: Concats left unmade, by output: the same parts give the same object every frame.
        self.cats: dict[str, protocol.CatInput] = {}
        #: The frame's view of its slot (the same object every frame): quantised, or a
        #: ``protocol.RawFrame`` when the first layer's kernel call quantises it.
        self.input_view: Any = None
        #: Whether the frame is sent raw (its only reader is prepared with ``rgb``).
        self.raw_frame = False


class FpgaBackend(ProgramRunner):
    """Runs convolutions on the accelerator through PYNQ (a real board or the simulated one).

    What the driver does per frame is what :mod:`pynq_depth.perf` models:

    * :meth:`prepare` (once per program) plans every layer with
      :func:`pynq_depth.protocol.prepare_program`, packs every call's constants +
      weights (and the resize tables) into one CMA buffer that stays resident,
      and reserves one slot per produced activation in a second CMA buffer.
    * Each kernel call is one S2MM transfer into its output slot and the MM2S
      transfers of :func:`pynq_depth.protocol.input_segments`: the pre-packed head
      from the resident buffer, then the activations, and for a call with partial
      sums or a residual one transfer of its ``side`` stream on the second DMA at
      the same time.  A segment that already lies in a DMA buffer (a previous
      layer's output slot, the previous call's partial sums, the residual) is sent
      from where it is; one the processor had to build (column tiles, partial sums
      and residual of the same call interleaved) is copied into a staging buffer first.  The frame is
      quantised straight into a resident slot padded to ``pe_in`` channels
      (:meth:`input_tensor`), so the first layer's rows need no packing.  Transfers longer than the DMA's length register are
      split.  With the packaged configuration that is 3 transfers per call
      (``perf.DMA_TRANSFERS_PER_CALL``) + 1 on the side DMA for calls with a side stream
      (``perf.call_transfers``).
    * Resize runs on the kernel (kind resize); a concat read by one convolution
      that takes it in two parts (``protocol.fused_concats``) is never made: the
      first part's rows go on the main DMA, the second's on the side DMA, both
      from their producers' slots (register ``cat_groups``); any other concat
      writes straight into its slot (``np.concatenate(out=)``) and flushes it.

    Tensors inside :meth:`run` are views of the resident buffers (``on_layer``
    sees them; they are overwritten by the next frame); what :meth:`run` returns
    is copied out.  :meth:`run_conv` outside a prepared program (single layers,
    ``verify --random-layers``) packs the layer on the spot and returns a copy.

    Parameters
    ----------
    bitfile : str or Path
        The overlay's ``.bit`` (``.hwh`` beside it).
    config : HwConfig, optional
        Accelerator configuration.
    device : pynq.Device, optional
        Device to use (the active one when omitted).
    timeout_s : float
        Limit of every DMA or done wait (``$PYNQ_DEPTH_TIMEOUT``, default 5 s).
    download : bool
        Program the FPGA when opening.
    name : str
        Backend name for reports (``fpga`` or ``sim``).
    """

    name = "fpga"

    def __init__(self, bitfile: str | Path, config: HwConfig | None = None, device: Any = None,
                 timeout_s: float | None = None, download: bool = True, name: str = "fpga") -> None:
        super().__init__(config)
        self.name = name
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
        self.overlay = DepthOverlay(bitfile, self.config, download=download, device=device)
        self.device = self.overlay.device
        self.accel = self.overlay.accel
        self.dma = self.overlay.dma()
        self.side = self.overlay.dma(side=True)
        self._in: Any = None   # staging buffer for segments the processor builds
        self._out: Any = None  # scratch output (single calls, draining a stuck kernel)
        self._res = _Resident()
        self._running: Program | None = None
        self._extra: list[Any] = []  # buffers of a layer run outside a prepared program
        #: Kernel calls made so far.
        self.calls = 0
        #: Bytes the processor copied into the staging buffer (segments it had to build).
        self.staged_bytes = 0
        self.dma.reset(self.timeout_s)
        self.side.reset(self.timeout_s)
        if not self.accel.idle:
            self.recover()

    # ------------------------------------------------------------ buffers
    def _allocate(self, beats: int, what: str) -> Any:
        try:
            return pynq.allocate(shape=(max(beats, 1),), dtype=np.uint64, target=self.device, cacheable=True)
        except Exception as exc:  # pynq raises RuntimeError/MemoryError/XRT errors depending on the release
            raise BoardError(f"cannot allocate the {what} buffer ({beats * _BEAT} bytes of contiguous CMA "
                             f"memory): {type(exc).__name__}: {exc}. Free buffers held by other programs or "
                             f"notebooks, or enlarge CMA (cma= on the kernel command line)") from exc

    def ensure_buffers(self, in_beats: int, out_beats: int) -> None:
        """Allocate (or grow) the staging input and scratch output buffers (reused across layers and frames)."""
        if self._in is None or self._in.shape[0] < in_beats:
            self._free("_in")
            self._in = self._allocate(in_beats, "input")
        if self._out is None or self._out.shape[0] < out_beats:
            self._free("_out")
            self._out = self._allocate(out_beats, "output")

    def _free(self, attr: str) -> None:
        buf = getattr(self, attr)
        if buf is not None:
            buf.freebuffer()
            setattr(self, attr, None)

    def _free_resident(self) -> None:
        for attr in ("heads", "arena"):
            buf = getattr(self._res, attr)
            if buf is not None:
                buf.freebuffer()
        self._res = _Resident()

    def _free_extra(self) -> None:
        for buf in self._extra:
            buf.freebuffer()
        self._extra = []

    def prepare(self, program: Program) -> tuple[int, int]:
        """Plan ``program``, pack its constants/weights into the resident buffer and reserve its
        activation slots (once per program); returns (staging, scratch output) beats."""
        res = self._res
        if res.program is program:
            return int(self._in.shape[0]), int(self._out.shape[0])
        self._free_resident()
        res = _Resident()
        res.preps = protocol.prepare_program(program, self.config)
        res.fused = protocol.fused_concats(program, self.config)
        first = protocol.frame_reader(program)
        res.raw_frame = first is not None and res.preps[first.name].rgb
        heads: list[np.ndarray] = []
        head_beats = slot_beats = 0
        body_beats = out_beats = 1
        h, w, c = program.tensors["input"].shape
        cp = -(-c // self.config.pe_in) * self.config.pe_in
        res.slot_at["input", 0] = (0, -(-h * w * cp // _BEAT))  # quantised straight into the stream layout
        slot_beats = res.slot_at["input", 0][1]
        for cmd in program.commands:
            if isinstance(cmd, ConvCmd):
                prep = res.preps[cmd.name]
                out_dtype = program.tensors[cmd.output].dtype
                if prep.assembled:
                    # outputs of several calls assembled on the processor, in the stream layout
                    # (channels padded to pe_in), so that the next layer's rows are sent from here
                    ho, wo, cout = program.tensors[cmd.output].shape
                    cp = -(-cout // self.config.pe_in) * self.config.pe_in
                    n = -(-ho * wo * cp * np.dtype(NUMPY_DTYPES[out_dtype]).itemsize // _BEAT)
                    res.slot_at[cmd.name, "assembled"] = (slot_beats, n)
                    slot_beats += n
                for i, (call, head) in enumerate(zip(prep.calls, prep.heads)):
                    res.head_at[cmd.name, i] = (head_beats, head.size)
                    heads.append(head)
                    head_beats += head.size
                    n = protocol.output_beats(call, out_dtype)
                    res.slot_at[cmd.name, i] = (slot_beats, n)
                    slot_beats += n
                    body_beats = max(body_beats, protocol.stream_beats(cmd, call, self.config, prep.rgb)
                                     - head.size + protocol.side_beats(cmd, call, self.config))
                    out_beats = max(out_beats, n)
            elif cmd.op == "resize":
                h, w, _ = program.tensors[cmd.output].shape
                try:
                    call = protocol.resize_call(tuple(program.tensors[cmd.inputs[0]].shape), (h, w), self.config)
                except protocol.ProtocolError:
                    continue  # the processor resizes it
                res.resize[cmd.output] = call
                head = protocol.resize_head(call, self.config)
                res.head_at[cmd.output, 0] = (head_beats, head.size)
                heads.append(head)
                head_beats += head.size
                n = protocol.resize_output_beats(call, self.config)
                res.slot_at[cmd.output, 0] = (slot_beats, n)
                slot_beats += n
                body_beats = max(body_beats, protocol.resize_stream_beats(call, self.config) - head.size)
                out_beats = max(out_beats, n)
            elif cmd.op == "concat" and cmd.output not in res.fused:
                info = program.tensors[cmd.output]
                itemsize = np.result_type(*(NUMPY_DTYPES[program.tensors[name].dtype] for name in cmd.inputs)).itemsize
                n = -(-int(np.prod(info.shape)) * itemsize // _BEAT)
                res.slot_at[cmd.output, 0] = (slot_beats, n)
                slot_beats += n
        self.ensure_buffers(body_beats, out_beats)
        res.heads = self._allocate(head_beats, "weight")
        if heads:
            res.heads[:] = np.concatenate(heads)
        res.heads.flush()
        try:
            res.arena = self._allocate(slot_beats, "activation")
        except BoardError:
            res.heads.freebuffer()
            raise
        res.program = program
        self._res = res
        return int(self._in.shape[0]), int(self._out.shape[0])

    def run(self, program: Program, rgb: np.ndarray, trace: bool = False, on_layer=None):  # type: ignore[override]
        """As :meth:`ProgramRunner.run`, on the program's resident buffers (prepared on first use).

        The result (every tensor when ``trace``) is copied out of the DMA buffers.
        """
        self.prepare(program)
        self._running = program
        try:
            result = super().run(program, rgb, trace=trace, on_layer=on_layer)
        finally:
            self._running = None
        if isinstance(result, dict):
            return {name: np.array(value) for name, value in result.items()}
        return np.array(result)

    def input_tensor(self, program: Program, rgb: np.ndarray) -> np.ndarray:
        """Put the frame into its resident DMA slot and flush it: as it is (a
        :class:`~pynq_depth.protocol.RawFrame`, one copy) when the first layer's kernel call
        quantises it (``in_rgb``), else quantised here with channels padded to ``pe_in`` (the
        first layer's rows are then sent from there, no packing)."""
        res = self._res
        if res.program is not program or program.tensors["input"].dtype != "int8":
            return super().input_tensor(program, rgb)
        h, w, c = program.tensors["input"].shape
        cp = -(-c // self.config.pe_in) * self.config.pe_in
        s0, sn = res.slot_at["input", 0]
        slot = res.arena[s0:s0 + sn]
        if res.raw_frame:
            check_frame(program, rgb)
            if res.input_view is None:
                res.input_view = protocol.RawFrame(np.asarray(slot)[:-(-h * w * 3 // _BEAT)], (h, w),
                                                   program.input_lut)
            res.input_view.rgb[...] = rgb
            slot.flush()
            return res.input_view
        x = quantize_input_into(program, rgb, np.asarray(slot).view(np.int8)[:h * w * cp].reshape(h, w, cp))
        slot.flush()
        if res.input_view is None:  # the same object every frame: the first layer's record stays valid
            res.input_view = x
        return res.input_view

    def close(self) -> None:
        """Free the DMA buffers."""
        self._free_resident()
        self._free_extra()
        self._free("_in")
        self._free("_out")

    def __enter__(self) -> "FpgaBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ one kernel call
    def _locate(self, arr: np.ndarray) -> int | None:
        """Physical address of ``arr`` when it is contiguous inside a resident DMA buffer."""
        if not arr.flags.c_contiguous:
            return None
        start = _address(arr)
        for buf in (self._res.arena, self._res.heads, *self._extra):
            if buf is None:
                continue
            off = start - _address(buf)
            if 0 <= off and off + arr.nbytes <= buf.nbytes:
                return int(buf.physical_address) + off
        return None

    def _segment(self, seg: Any, staged: int) -> tuple[int, int, int]:
        """(physical address, bytes, staging beats used) of one input segment."""
        if isinstance(seg, tuple):
            return seg[0], seg[1], staged
        arr = np.asarray(seg).reshape(-1)
        if arr.dtype != np.uint64:
            arr = np.ascontiguousarray(arr).view(np.uint64)
        phys = self._locate(arr)
        if phys is not None:
            return phys, arr.nbytes, staged
        # built by the processor: copy into the staging buffer
        self.ensure_buffers(staged + arr.size, 1)
        region = self._in[staged:staged + arr.size]
        region[:] = arr
        region.flush()
        self.staged_bytes += arr.nbytes
        return int(region.physical_address), arr.nbytes, staged + arr.size

    def transfer_call(self, regs: dict[str, int], segments: list[Any], out: Any, where: Any = "",
                      side: Any = None, record: list | None = None) -> np.ndarray:
        """One kernel call: S2MM into ``out`` (a slice of a DMA buffer), MM2S of every segment in order,
        and ``side`` (None, or the beats of the kernel's side stream) through the side DMA meanwhile.

        ``segments`` and ``side`` are beat arrays (sent from where they are when they lie in a resident
        DMA buffer, else staged) or ``(physical address, bytes)`` pairs.  Returns ``out`` as a plain
        array (invalidated).  ``record`` (a list) gets the call as :meth:`execute_call`'s arguments.
        """
        out_bytes = int(out.nbytes)
        if out_bytes > self.dma.max_bytes:
            raise BoardError(f"{where}: the call's output ({out_bytes} bytes) is longer than one DMA transfer "
                             f"({self.dma.max_bytes} bytes, c_sg_length_width={self.dma.length_bits}); the "
                             f"overlay's DMA length register is too narrow: rebuild it with "
                             f"dma.buffer_length_bits=26")
        parts = []
        staged = 0
        for seg in segments:
            phys, nbytes, staged = self._segment(seg, staged)
            if nbytes:
                parts.append((phys, nbytes))
        side_parts = []
        if side is not None:
            phys, nbytes, staged = self._segment(side, staged)
            if nbytes:
                side_parts.append((phys, nbytes))
        call = (regs, tuple(_pieces(parts, self.dma.max_bytes, "MM2S")),
                tuple(_pieces(side_parts, self.side.max_bytes, "side MM2S")), out, str(where))
        if record is not None:
            record.append(call)
        return self.execute_call(*call)

    def execute_call(self, regs: dict[str, int], pieces: tuple, side_pieces: tuple, out: Any,
                     where: str) -> np.ndarray:
        """Make one kernel call whose DMA pieces ((physical address, bytes, name), split to the DMAs'
        length registers) are known: registers, S2MM, start, both MM2S queues, done, checks."""
        out_bytes = int(out.nbytes)
        t = self.timeout_s
        step = "starting"
        try:
            if not self.accel.idle:
                raise KernelTimeout("kernel not idle before the call")
            self.accel.write_args(regs)
            step = "S2MM transfer"
            self.dma.s2mm.transfer(int(out.physical_address), out_bytes)
            self.dma.s2mm.check()
            self.accel.start()
            # The kernel reads `in` and `side` concurrently: keep both DMAs going.
            queues = [(self.dma.mm2s, list(pieces)), (self.side.mm2s, list(side_pieces))]
            active: dict[int, str] = {}
            deadline = time.monotonic() + t
            while any(q for _, q in queues) or active:
                progress = False
                for i, (channel, queue) in enumerate(queues):
                    if i in active and channel.poll():
                        del active[i]
                        progress = True
                    if i not in active and queue:
                        phys, size, step = queue.pop(0)
                        channel.transfer(phys, size)
                        active[i] = step
                        progress = True
                self.dma.s2mm.check()
                now = time.monotonic()
                if progress:
                    deadline = now + t
                elif now > deadline:
                    step = " and ".join(active.values())
                    raise KernelTimeout(f"transfer not finished after {t:g} s")
            step = "kernel done"
            self.accel.wait_done(t, watch=(self.dma.s2mm,))
            status = self.accel.result
            if status:
                bits = ", ".join(text for bit, text in protocol.KERNEL_ERRORS.items() if status & bit)
                raise protocol.ProtocolError(f"{where}: kernel refused the call (ap_return {status}: {bits}); "
                                             f"registers {regs}")
            step = "S2MM transfer"
            self.dma.s2mm.wait(t)
            got = self.dma.s2mm.transferred
            if got != out_bytes:
                raise DmaError(f"S2MM received {got} bytes, expected {out_bytes} (TLAST misplaced)")
        except (BoardError, protocol.ProtocolError) as exc:
            states = f"{self.dma.describe()}; {self.side.describe()}"
            ctrl = self._ctrl_text()
            try:
                self.recover()
                recovered = "DMA reset, kernel idle"
            except BoardError as again:
                recovered = f"recovery failed: {again}"
            if isinstance(exc, protocol.ProtocolError):
                raise protocol.ProtocolError(f"{exc} [{recovered}]") from None
            raise type(exc)(f"{where}: {step}: {exc}; {states}; {ctrl}; {recovered}") from None
        out.invalidate()
        self.calls += 1
        return np.asarray(out)

    def call_kernel(self, regs: dict[str, int], stream: np.ndarray, n_out_beats: int, where: str = "",
                    side: np.ndarray | None = None) -> np.ndarray:
        """One kernel call on beat arrays (same contract as ``CsimBackend.call_kernel``; output copied)."""
        self.ensure_buffers(1, n_out_beats)
        return np.array(self.transfer_call(regs, [stream], self._out[:max(n_out_beats, 1)], where,
                                           side)[:n_out_beats])

    def _ctrl_text(self) -> str:
        try:
            return f"kernel CTRL=0x{self.accel.ctrl:02x}"
        except Exception as exc:  # noqa: BLE001
            return f"kernel CTRL unreadable ({exc})"

    def recover(self) -> None:
        """Reset the DMA and bring the kernel back to idle (drain it, else download the bitstream again)."""
        t = self.timeout_s
        self.accel.forget_registers()
        self.dma.reset(t)
        self.side.reset(t)
        if self.accel.idle:
            return
        # A kernel waiting for input or for room to write: feed zeros / accept its output.
        if self._in is not None and self._out is not None:
            self._in[:] = 0
            self._in.flush()
            for _ in range(4):
                try:
                    self.dma.s2mm.transfer(self._out.physical_address, min(self._out.nbytes, self.dma.max_bytes // 8 * 8))
                    self.dma.mm2s.transfer(self._in.physical_address, min(self._in.nbytes, self.dma.max_bytes // 8 * 8))
                    self.side.mm2s.transfer(self._in.physical_address, min(self._in.nbytes, self.side.max_bytes // 8 * 8))
                except BoardError:
                    break
                deadline = time.monotonic() + min(t, 0.5)
                while not self.accel.idle and time.monotonic() < deadline:
                    pass
                self.dma.reset(t)
                self.side.reset(t)
                if self.accel.idle:
                    return
        # Last resort: reprogramming the PL resets every IP.
        self.overlay.download()
        self.dma.reset(t)
        self.side.reset(t)
        deadline = time.monotonic() + t
        while not self.accel.idle:
            if time.monotonic() > deadline:
                raise BoardError("the kernel stays busy even after the bitstream was downloaded again; "
                                 "power-cycle the board")

    # ------------------------------------------------------------ layers
    def _kernel_for(self, name: str, n_calls: int, heads: Any, head_at, arena: Any, slot_at,
                    record: list | None = None):
        """The ``kernel`` callback of :func:`protocol.run_layer` for one layer's resident buffers
        (``record``: see :meth:`transfer_call`)."""
        index = iter(range(n_calls))

        def kernel(regs, segments, side, n_out_beats, where):
            i = next(index)
            h0, hn = head_at[name, i]
            s0, sn = slot_at[name, i]
            assert hn == segments[0].size and sn == n_out_beats
            c = where.call
            text = (f"layer {name}: call {i + 1}/{n_calls} (channels {c.c0}..{c.c0 + c.n - 1}, "
                    f"columns {c.ox0}..{c.ox1 - 1}, chunk {c.chunk + 1}/{c.n_chunks})")
            head = (int(heads.physical_address) + h0 * _BEAT, hn * _BEAT)
            return self.transfer_call(regs, [head, segments[1]], arena[s0:s0 + sn], text, side, record)

        return kernel

    def _replay(self, key: str, inputs: tuple[Any, ...]) -> Any:
        """The output of a recorded layer made again, or None when ``key`` has no record for these inputs."""
        rec = self._res.replay.get(key)
        if rec is None or not rec.matches(inputs):
            return None
        return rec.replay(self.execute_call)

    def _remember(self, key: str, inputs: tuple[Any, ...], calls: list, n_calls: int, staged_before: int,
                  output: Any, copies: list | None = None, flush: Any = None) -> None:
        """Record a layer for replay when its calls used resident buffers only (nothing staged) and its
        output lies in the activation buffer (a call's slot, or the slot its calls are assembled in)."""
        arena = self._res.arena
        if (len(calls) != n_calls or self.staged_bytes != staged_before or not isinstance(output, np.ndarray)
                or arena is None or not np.shares_memory(output, np.asarray(arena))):
            return
        self._res.replay[key] = protocol.RecordedLayer(inputs, tuple(calls), output, tuple(copies or ()), flush)

    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Run one layer as :func:`pynq_depth.protocol.run_layer` plans it, on resident buffers."""
        res = self._res
        prep = res.preps.get(cmd.name) if self._running is not None and res.program is self._running else None
        if prep is not None and prep.cmd is cmd and prep.in_shape == tuple(x.shape):
            inputs = (x, skip)
            out = self._replay(cmd.name, inputs)
            if out is not None:
                return out
            calls: list = []
            copies: list = []
            staged = self.staged_bytes
            kernel = self._kernel_for(cmd.name, len(prep.calls), res.heads, res.head_at, res.arena, res.slot_at,
                                      calls)
            slot = assembled = None
            if (cmd.name, "assembled") in res.slot_at:
                s0, sn = res.slot_at[cmd.name, "assembled"]
                slot = res.arena[s0:s0 + sn]
                ho, wo = prep.calls[0].out_h, max(c.ox1 for c in prep.calls)
                cout = x.shape[2] if cmd.kind == "dw3x3" else int(cmd.weights.shape[0])
                dtype = np.dtype(NUMPY_DTYPES[out_dtype])
                cp = -(-cout // self.config.pe_in) * self.config.pe_in
                assembled = np.asarray(slot).view(np.uint8)[:ho * wo * cp * dtype.itemsize].view(dtype)
                assembled = assembled.reshape(ho, wo, cp)[:, :, :cout]
            out = protocol.run_layer(prep, x, skip, out_dtype, kernel, NUMPY_DTYPES[out_dtype], assembled, copies)
            if slot is not None:
                slot.flush()
            self._remember(cmd.name, inputs, calls, len(prep.calls), staged, out, copies, slot)
            return out
        # A layer outside a prepared program: pack it now, on buffers of its own.
        prep = protocol.prepare_layer(cmd, tuple(x.shape), self.config)
        head_at, slot_at = {}, {}
        h = s = 0
        body = 1
        for i, (call, head) in enumerate(zip(prep.calls, prep.heads)):
            n = protocol.output_beats(call, out_dtype)
            head_at[cmd.name, i], slot_at[cmd.name, i] = (h, head.size), (s, n)
            h, s = h + head.size, s + n
            body = max(body, protocol.stream_beats(cmd, call, self.config) - head.size
                       + protocol.side_beats(cmd, call, self.config))
        self._free_extra()
        self.ensure_buffers(body, 1)
        heads = self._allocate(h, "weight")
        self._extra.append(heads)
        heads[:] = np.concatenate(prep.heads)
        heads.flush()
        arena = self._allocate(s, "activation")
        self._extra.append(arena)
        kernel = self._kernel_for(cmd.name, len(prep.calls), heads, head_at, arena, slot_at)
        try:
            return np.array(protocol.run_layer(prep, x, skip, out_dtype, kernel, NUMPY_DTYPES[out_dtype]))
        finally:
            self._free_extra()

    def run_host(self, cmd: HostCmd, tensors: dict[str, np.ndarray], program: Program) -> np.ndarray:
        """Resize on the kernel, concat straight into its activation slot (processor otherwise)."""
        res = self._res
        if self._running is not program or res.program is not program:
            return super().run_host(cmd, tensors, program)
        if cmd.op == "resize" and cmd.output in res.resize:
            x = tensors[cmd.inputs[0]]
            out = self._replay(cmd.output, (x,))
            if out is not None:
                return out
            call = res.resize[cmd.output]
            h, w, _ = program.tensors[cmd.output].shape
            regs = protocol.resize_registers(call, x.dtype.name, self.config)
            rows = protocol.packed_rows(x, call, self.config.pe_in)
            h0, hn = res.head_at[cmd.output, 0]
            s0, sn = res.slot_at[cmd.output, 0]
            head = (int(res.heads.physical_address) + h0 * _BEAT, hn * _BEAT)
            calls: list = []
            staged = self.staged_bytes
            beats = self.transfer_call(regs, [head, rows], res.arena[s0:s0 + sn], f"resize {cmd.output}",
                                       record=calls)
            out = beats.view(x.dtype).reshape(h, w, -1)[:, :, :x.shape[2]]
            self._remember(cmd.output, (x,), calls, 1, staged, out)
            return out
        if cmd.op == "concat" and cmd.output in res.fused:  # its reader sends both parts
            parts = tuple(tensors[name] for name in cmd.inputs)
            cat = res.cats.get(cmd.output)
            if cat is None or any(a is not b for a, b in zip(cat.parts, parts)):
                cat = res.cats[cmd.output] = protocol.CatInput(*parts)
            return cat
        if cmd.op == "concat" and (cmd.output, 0) in res.slot_at:
            parts = [tensors[name] for name in cmd.inputs]
            dtype = np.result_type(*parts)
            shape = tuple(program.tensors[cmd.output].shape)
            s0, sn = res.slot_at[cmd.output, 0]
            slot = res.arena[s0:s0 + sn]
            nbytes = int(np.prod(shape)) * dtype.itemsize
            out = np.asarray(slot).view(np.uint8)[:nbytes].view(dtype).reshape(shape)
            np.concatenate(parts, axis=-1, out=out)
            slot.flush()
            return out
        return super().run_host(cmd, tensors, program)
