"""The PYNQ driver of the accelerator: overlay, HLS IP driver, AXI DMA channels, and the backend.

Imported only when a board backend is asked for (it imports ``pynq``).

Layers run exactly as :mod:`pynq_depth.protocol` plans them (the C-simulation
backend runs the same plan): per kernel call the driver packs the input beats
into one contiguous buffer, writes the call's registers at the offsets the
``.hwh`` register map gives, arms the S2MM channel for exactly
``output_beats * 8`` bytes, sets ``ap_start``, streams the input through MM2S
(split into pieces below the DMA's maximum transfer length), waits for
``ap_done``, checks ``ap_return`` and the received length, and unpacks the
output.  Every wait polls with :func:`time.monotonic` against a timeout.  On a
stall or an error the DMA is reset and the kernel brought back to idle (drained,
or the bitstream downloaded again) before the error is raised, so the next
call works.

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
from ..emulator import NUMPY_DTYPES, ProgramRunner
from ..program import ConvCmd, Program
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

    def wait(self, timeout: float, watch: tuple["DmaChannel", ...] = ()) -> None:
        """Poll DMASR until Idle; raise on error bits (also of ``watch``) or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for other in watch:
                other.check()
            sr = self.status
            if sr & SR_ERRORS:
                raise DmaError(f"{self.name} stopped with an error: {self.describe()}")
            if sr & SR_HALTED:
                raise DmaError(f"{self.name} channel halted during the transfer: {self.describe()}")
            if sr & SR_IDLE:
                return
            if time.monotonic() > deadline:
                raise KernelTimeout(f"{self.name} transfer not finished after {timeout:g} s")

    @property
    def transferred(self) -> int:
        """Bytes moved by the last transfer (S2MM: actually received, up to TLAST)."""
        return self._rd(LENGTH)


class AxiDma:
    """Both channels of the overlay's ``axi_dma`` instance, at register level."""

    def __init__(self, mmio: Any, length_bits: int, addr_bits: int = 32) -> None:
        self.mmio = mmio
        self.length_bits = length_bits
        self.max_bytes = (1 << length_bits) - 1
        self.mm2s = DmaChannel(mmio, MM2S_BASE, "MM2S", self.max_bytes, addr_bits > 32)
        self.s2mm = DmaChannel(mmio, S2MM_BASE, "S2MM", self.max_bytes, addr_bits > 32)

    def describe(self) -> str:
        """States of both channels."""
        try:
            return f"{self.mm2s.describe()}; {self.s2mm.describe()}"
        except Exception as exc:  # noqa: BLE001  (diagnostics must not mask the real error)
            return f"DMA registers unreadable ({exc})"

    def reset(self, timeout: float) -> None:
        """Soft reset (DMACR.Reset resets the whole core), then start both channels."""
        self.mmio.write(MM2S_BASE + DMACR, CR_RESET)
        deadline = time.monotonic() + timeout
        while (int(self.mmio.read(MM2S_BASE + DMACR)) | int(self.mmio.read(S2MM_BASE + DMACR))) & CR_RESET:
            if time.monotonic() > deadline:
                raise DmaError(f"AXI DMA reset did not complete within {timeout:g} s: {self.describe()}")
        self.mm2s.start(timeout)
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

    @property
    def ctrl(self) -> int:
        """The CTRL register (reading clears ap_done)."""
        return int(self.mmio.read(self.layout.ctrl))

    def write_args(self, regs: dict[str, int]) -> None:
        """Write every argument register (values are 32-bit two's complement)."""
        for name, offset in self.layout.args.items():
            self.mmio.write(offset, int(regs[name]) & 0xFFFFFFFF)

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
        self.accel_name, self.dma_name = self._check_hwh(config)

    def _check_hwh(self, config: HwConfig) -> tuple[str, str]:
        ips = {name: desc for name, desc in self.ip_dict.items() if isinstance(desc, dict)}
        accel = [n for n, d in ips.items() if d.get("type") == config.vlnv]
        if not accel:
            vendor_lib_name = config.vlnv.rpartition(":")[0]
            other = [f"{n} ({d.get('type')})" for n, d in ips.items() if str(d.get("type", "")).startswith(vendor_lib_name)]
            hint = f"; found {', '.join(other)}: built for another configuration" if other else ""
            raise OverlayError(f"{self.bitfile_name}: no HLS IP {config.vlnv} in the .hwh{hint}")
        dmas = [n for n, d in ips.items() if str(d.get("type", "")).startswith("xilinx.com:ip:axi_dma:")]
        if len(dmas) != 1:
            raise OverlayError(f"{self.bitfile_name}: expected one AXI DMA in the .hwh, found {dmas or 'none'}")
        params = ips[dmas[0]].get("parameters", {})
        if int(_param(params, "c_include_sg", 0)) != 0:
            raise OverlayError(f"{dmas[0]}: scatter-gather is enabled; the driver needs simple mode (c_include_sg=0)")
        width = int(_param(params, "c_m_axis_mm2s_tdata_width", config.stream_bits))
        if width != config.stream_bits:
            raise OverlayError(f"{dmas[0]}: stream width {width} bits, this configuration uses {config.stream_bits}")
        return accel[0], dmas[0]

    @property
    def accel(self) -> ConvAccelIP:
        """The bound HLS IP driver (through pynq's attribute lookup)."""
        obj: Any = self
        for part in self.accel_name.split("/"):
            obj = getattr(obj, part)
        if not isinstance(obj, ConvAccelIP):
            raise OverlayError(f"{self.accel_name} is bound to {type(obj).__name__}, not the pynq-depth driver")
        return obj

    def dma(self) -> AxiDma:
        """The AXI DMA, at register level, with its length-register width from the .hwh."""
        desc = self.ip_dict[self.dma_name]
        params = desc.get("parameters", {})
        bits = int(_param(params, "c_sg_length_width", 14))  # Vivado's default when absent
        addr_bits = int(_param(params, "c_addr_width", 32))
        return AxiDma(pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=self.device), bits, addr_bits)


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
class FpgaBackend(ProgramRunner):
    """Runs convolutions on the accelerator through PYNQ (a real board or the simulated one).

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
        self._in: Any = None
        self._out: Any = None
        self._scratch_ok = True
        #: Kernel calls made so far.
        self.calls = 0
        self.dma.reset(self.timeout_s)
        if not self.accel.idle:
            self.recover()

    # ------------------------------------------------------------ buffers
    def _allocate(self, beats: int, what: str) -> Any:
        try:
            return pynq.allocate(shape=(beats,), dtype=np.uint64, target=self.device, cacheable=True)
        except Exception as exc:  # pynq raises RuntimeError/MemoryError/XRT errors depending on the release
            raise BoardError(f"cannot allocate the {what} buffer ({beats * _BEAT} bytes of contiguous CMA "
                             f"memory): {type(exc).__name__}: {exc}. Free buffers held by other programs or "
                             f"notebooks, or enlarge CMA (cma= on the kernel command line)") from exc

    def ensure_buffers(self, in_beats: int, out_beats: int) -> None:
        """Allocate (or grow) the input/output buffers; they are reused across layers and frames."""
        if self._in is None or self._in.shape[0] < in_beats:
            self._free("_in")
            self._in = self._allocate(max(in_beats, 1), "input")
        if self._out is None or self._out.shape[0] < out_beats:
            self._free("_out")
            self._out = self._allocate(max(out_beats, 1), "output")

    def _free(self, attr: str) -> None:
        buf = getattr(self, attr)
        if buf is not None:
            buf.freebuffer()
            setattr(self, attr, None)

    def prepare(self, program: Program) -> tuple[int, int]:
        """Size the buffers for the largest call of ``program``; returns (input, output) beats."""
        in_beats = out_beats = 0
        for cmd in program.conv_commands:
            shape = tuple(program.tensors[cmd.input].shape)
            out_dtype = program.tensors[cmd.output].dtype
            for call in protocol.plan_layer(cmd, shape, self.config):
                in_beats = max(in_beats, protocol.stream_beats(cmd, call, self.config))
                out_beats = max(out_beats, protocol.output_beats(call, out_dtype))
        self.ensure_buffers(in_beats, out_beats)
        return in_beats, out_beats

    def run(self, program: Program, rgb: np.ndarray, trace: bool = False, on_layer=None):  # type: ignore[override]
        """As :meth:`ProgramRunner.run`, with the buffers sized for the whole program first."""
        self.prepare(program)
        return super().run(program, rgb, trace=trace, on_layer=on_layer)

    def close(self) -> None:
        """Free the DMA buffers."""
        self._free("_in")
        self._free("_out")

    def __enter__(self) -> "FpgaBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ one kernel call
    def call_kernel(self, regs: dict[str, int], stream: np.ndarray, n_out_beats: int, where: str = "") -> np.ndarray:
        """One kernel call on beat arrays (same contract as ``CsimBackend.call_kernel``)."""
        stream = np.ascontiguousarray(stream, dtype=np.uint64)
        in_bytes, out_bytes = stream.size * _BEAT, n_out_beats * _BEAT
        if out_bytes > self.dma.max_bytes:
            raise BoardError(f"{where}: the call's output ({out_bytes} bytes) is longer than one DMA transfer "
                             f"({self.dma.max_bytes} bytes, c_sg_length_width={self.dma.length_bits}); the "
                             f"overlay's DMA length register is too narrow: rebuild it with "
                             f"dma.buffer_length_bits=26")
        self.ensure_buffers(stream.size, n_out_beats)
        self._in[:stream.size] = stream
        self._in.flush()
        chunk = self.dma.max_bytes // _BEAT * _BEAT
        base_in, base_out = self._in.physical_address, self._out.physical_address
        t = self.timeout_s
        step = "starting"
        try:
            if not self.accel.idle:
                raise KernelTimeout("kernel not idle before the call")
            self.accel.write_args(regs)
            step = "S2MM transfer"
            self.dma.s2mm.transfer(base_out, out_bytes)
            self.dma.s2mm.check()
            self.accel.start()
            for off in range(0, in_bytes, chunk):
                step = f"MM2S transfer (bytes {off}..{min(in_bytes, off + chunk) - 1} of {in_bytes})"
                self.dma.mm2s.transfer(base_in + off, min(chunk, in_bytes - off))
                self.dma.mm2s.wait(t, watch=(self.dma.s2mm,))
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
            states = self.dma.describe()
            ctrl = self._ctrl_text()
            try:
                self.recover()
                recovered = "DMA reset, kernel idle"
            except BoardError as again:
                recovered = f"recovery failed: {again}"
            if isinstance(exc, protocol.ProtocolError):
                raise protocol.ProtocolError(f"{exc} [{recovered}]") from None
            raise type(exc)(f"{where}: {step}: {exc}; {states}; {ctrl}; {recovered}") from None
        self._out.invalidate()
        self.calls += 1
        return np.array(self._out[:n_out_beats], dtype=np.uint64)

    def _ctrl_text(self) -> str:
        try:
            return f"kernel CTRL=0x{self.accel.ctrl:02x}"
        except Exception as exc:  # noqa: BLE001
            return f"kernel CTRL unreadable ({exc})"

    def recover(self) -> None:
        """Reset the DMA and bring the kernel back to idle (drain it, else download the bitstream again)."""
        t = self.timeout_s
        self.dma.reset(t)
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
                except BoardError:
                    break
                deadline = time.monotonic() + min(t, 0.5)
                while not self.accel.idle and time.monotonic() < deadline:
                    pass
                self.dma.reset(t)
                if self.accel.idle:
                    return
        # Last resort: reprogramming the PL resets every IP.
        self.overlay.download()
        self.dma.reset(t)
        deadline = time.monotonic() + t
        while not self.accel.idle:
            if time.monotonic() > deadline:
                raise BoardError("the kernel stays busy even after the bitstream was downloaded again; "
                                 "power-cycle the board")

    # ------------------------------------------------------------ layers
    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Run one layer as the sequence of kernel calls :func:`pynq_depth.protocol.plan_layer` gives."""
        calls = protocol.plan_layer(cmd, x.shape, self.config)
        in_dtype = x.dtype.name
        skip_dtype = skip.dtype.name if skip is not None else None
        ho, wo = calls[0].out_h, max(c.ox1 for c in calls)
        cout = x.shape[2] if cmd.kind == "dw3x3" else int(cmd.weights.shape[0])
        result = np.zeros((ho, wo, cout), dtype=NUMPY_DTYPES[out_dtype])
        packed: dict[tuple[int, int, int, int], np.ndarray] = {}
        psums: np.ndarray | None = None
        for index, call in enumerate(calls):
            key = (call.ci0, call.ci1, call.ix0, call.ix1)
            if key not in packed:
                tile = x[call.iy0:call.iy1, call.ix0:call.ix1, call.ci0:call.ci1]
                packed[key] = protocol.pack_pixels(tile, self.config.pe_in)
            regs = protocol.registers(cmd, call, in_dtype, out_dtype, skip_dtype, self.config)
            skip_tile = skip[:, call.ox0:call.ox1, call.c0:call.c0 + call.n] if regs["has_skip"] else None
            stream = protocol.build_input_stream(cmd, call, packed[key], psums if call.psum_in else None,
                                                 skip_tile, self.config)
            where = (f"layer {cmd.name}: call {index + 1}/{len(calls)} (channels {call.c0}..{call.c0 + call.n - 1}, "
                     f"columns {call.ox0}..{call.ox1 - 1}, chunk {call.chunk + 1}/{call.n_chunks})")
            beats = self.call_kernel(regs, stream, protocol.output_beats(call, out_dtype), where)
            value = protocol.unpack_output(beats, call, out_dtype)
            if call.psum_out:
                psums = value
            else:
                result[:, call.ox0:call.ox1, call.c0:call.c0 + call.n] = value
                psums = None
        return result
