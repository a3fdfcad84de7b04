"""The ``fpga`` backend: runs programs on the accelerator through PYNQ (a real board or the simulated one).

Imported only when a board backend is asked for (it imports ``pynq``).  The
overlay is :mod:`.overlay`, the HLS IP driver :mod:`.ip`, the AXI DMA driver :mod:`.dma`.

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

from ... import protocol
from ...config import HwConfig
from ...program import NUMPY_DTYPES, ConvCmd, HostCmd, Program
from ..base import Backend, check_frame, quantize_input_into
from ..kernel import KernelBackend
from .errors import BoardError, DmaError, KernelTimeout
from .overlay import DepthOverlay

DEFAULT_TIMEOUT_S = float(os.environ.get("PYNQ_DEPTH_TIMEOUT", "5"))
_BEAT = 8


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
        #: The frame's view of its slot (the same object every frame): quantised, or a
        #: ``protocol.RawFrame`` when the first layer's kernel call quantises it.
        self.input_view: Any = None
        #: Whether the frame is sent raw (its only reader is prepared with ``rgb``).
        self.raw_frame = False


class FpgaBackend(KernelBackend):
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
        self._recording: list | None = None  # the calls of the resize being recorded for replay
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
        res.fused = self.fused_concats(program)
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
        """Resize on the kernel into its slot (replayed from the second frame on), concat left unmade for
        a reader that takes two parts or made straight into its activation slot; outside a prepared
        program everything on the processor."""
        res = self._res
        if self._running is not program or res.program is not program:
            return Backend.run_host(self, cmd, tensors, program)
        if cmd.op == "resize" and cmd.output in res.resize:
            x = tensors[cmd.inputs[0]]
            out = self._replay(cmd.output, (x,))
            if out is None:
                calls: list = []
                staged = self.staged_bytes
                self._recording = calls
                try:
                    out = self.resize_on_kernel(cmd, x, program)
                finally:
                    self._recording = None
                self._remember(cmd.output, (x,), calls, 1, staged, out)
            return out
        if cmd.op == "concat" and cmd.output not in res.fused and (cmd.output, 0) in res.slot_at:
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

    def resize_call(self, cmd: HostCmd, x: np.ndarray, program: Program) -> protocol.Call | None:
        """The resize planned by :meth:`prepare` (None: the processor resizes it)."""
        return self._res.resize.get(cmd.output)

    def send_resize(self, cmd: HostCmd, call: protocol.Call, regs: dict[str, int], rows: np.ndarray,
                    where: str) -> np.ndarray:
        """One resize call: the coefficient head from the resident buffer, the output into its slot."""
        res = self._res
        h0, hn = res.head_at[cmd.output, 0]
        s0, sn = res.slot_at[cmd.output, 0]
        head = (int(res.heads.physical_address) + h0 * _BEAT, hn * _BEAT)
        return self.transfer_call(regs, [head, rows], res.arena[s0:s0 + sn], where, record=self._recording)
