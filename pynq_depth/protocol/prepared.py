"""Layers and programs prepared once (plans, packed heads), the inputs a call streams from where they lie, and unmade concats / raw frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arith import apply_input_table
from ..config import HwConfig, default_config
from ..program import ConvCmd
from .packing import (
    output_beats,
    pack_params,
    pack_weights,
    packed_rows,
    pixel_extras,
)
from .plan import _BEAT_DTYPE, Call, ProtocolError, _ceil, plan_layer, registers


@dataclass
class PreparedLayer:
    """A layer planned and its constants + weights packed once (per program, not per call).

    Attributes
    ----------
    cmd : ConvCmd
    in_shape : tuple of int
    calls : list of Call
        :func:`plan_layer`.
    heads : list of ndarray of uint64
        Per call, the constant and weight beats that open its input stream
        (a driver keeps them in one DMA buffer for the program's lifetime).
    config : HwConfig
    """

    cmd: ConvCmd
    in_shape: tuple[int, int, int]
    calls: list[Call]
    heads: list[np.ndarray]
    config: HwConfig
    pe_in: int = 8
    #: The layer reads the raw frame and quantises it on the kernel (register ``in_rgb``;
    #: its head ends with the input table).
    rgb: bool = False
    _regs: dict = field(default_factory=dict, repr=False)

    @property
    def assembled(self) -> bool:
        """Whether several calls write parts of the output (channel blocks, column tiles), which
        :func:`run_layer` then assembles on the processor (into ``result_out``)."""
        return sum(not c.psum_out for c in self.calls) > 1

    def registers(self, index: int, in_dtype: str, out_dtype: str, skip_dtype: str | None) -> dict[str, int]:
        """:func:`registers` of call ``index`` (computed once per dtype combination)."""
        key = (index, in_dtype, out_dtype, skip_dtype)
        regs = self._regs.get(key)
        if regs is None:
            regs = registers(self.cmd, self.calls[index], in_dtype, out_dtype, skip_dtype, self.config)
            regs["in_rgb"] = int(self.rgb)
            regs["_out_beats"] = output_beats(self.calls[index], out_dtype)
            self._regs[key] = regs
        return regs


def rgb_capable(cmd: ConvCmd, in_shape: tuple[int, int, int], calls: list[Call], config: HwConfig) -> bool:
    """Whether the kernel can quantise this layer's input itself (register ``in_rgb``): 3 channels
    (one group), a standard or pointwise kernel, and one call reading whole rows of the frame (it
    is streamed as it lies in memory, 3 bytes per pixel, rows back to back)."""
    h, w, c = in_shape
    return (c == 3 and config.pe_in >= 3 and cmd.kind != "dw3x3" and cmd.skip is None and len(calls) == 1
            and calls[0].ix0 == 0 and calls[0].ix1 == w and calls[0].iy0 == 0 and calls[0].iy1 == h
            and not calls[0].psum_in and not calls[0].psum_out)


def pack_input_table(lut: np.ndarray) -> np.ndarray:
    """The 3 x 256 int8 input table as :data:`INPUT_TABLE_BEATS` beats (channel c, byte v: beat
    c*32 + v//8, lane v%8)."""
    table = np.ascontiguousarray(np.asarray(lut, dtype=np.int8).reshape(3, 256))
    return table.view(np.uint8).reshape(-1).view(_BEAT_DTYPE).copy()


def prepare_layer(cmd: ConvCmd, in_shape: tuple[int, int, int], config: HwConfig | None = None,
                  input_lut: np.ndarray | None = None) -> PreparedLayer:
    """Plan a layer and pack every call's constants and weights (done once per program).

    ``input_lut`` (the program's 3 x 256 input table, for the layer that reads the frame):
    the kernel quantises the raw frame itself when :func:`rgb_capable`.
    """
    config = config or default_config()
    calls = plan_layer(cmd, in_shape, config)
    heads = [np.concatenate([pack_params(cmd, c, config), pack_weights(cmd, c, config)]) for c in calls]
    rgb = input_lut is not None and rgb_capable(cmd, tuple(in_shape), calls, config)  # type: ignore[arg-type]
    if rgb:
        heads[0] = np.concatenate([heads[0], pack_input_table(input_lut)])  # type: ignore[arg-type]
    return PreparedLayer(cmd, tuple(in_shape), calls, heads, config, config.pe_in, rgb)  # type: ignore[arg-type]


def frame_reader(program) -> ConvCmd | None:
    """The convolution that reads the network input, when it is its only reader (else None)."""
    readers = [c for c in program.commands if "input" in c.inputs]  # ConvCmd.inputs covers input and skip
    return readers[0] if len(readers) == 1 and isinstance(readers[0], ConvCmd) else None


def prepare_program(program, config: HwConfig | None = None) -> dict[str, PreparedLayer]:
    """:func:`prepare_layer` for every convolution of a program, keyed by command name (the frame's
    only reader with the program's input table: see :func:`rgb_capable`)."""
    first = frame_reader(program)
    return {cmd.name: prepare_layer(cmd, tuple(program.tensors[cmd.input].shape), config,
                                    program.input_lut if cmd is first else None)
            for cmd in program.conv_commands}


def input_segments(prep: PreparedLayer, index: int, x: np.ndarray, psums: np.ndarray | None = None,
                   skip: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The streams of call ``index``: ([head, rows] for ``in``, side beats or None).

    ``head`` is the pre-packed constants + weights; ``rows`` is a view of ``x``
    when ``x`` is in the stream layout (whole width, all channels), else a packed
    copy.  ``side`` carries the partial sums (the previous call's output beats)
    or the residual (a kernel output in its slot) as they lie, without a copy;
    only a call with both (the last chunk of a chained layer with a residual)
    interleaves them per block on the processor.  A driver sends the ``in``
    segments as consecutive MM2S transfers (the kernel ignores TLAST on its
    input) and ``side`` through the second DMA at the same time.
    """
    call = prep.calls[index]
    rows = packed_rows(x, call, prep.pe_in)
    side = pixel_extras(prep.cmd, call, psums, skip, prep.config)
    return [prep.heads[index], rows.reshape(-1)], (None if side is None else side.reshape(-1))


class CatInput:
    """A channel concat left unmade: its two parts, sent to the consuming layer as they lie.

    The first part's rows go on ``in``, the second part's on ``side`` (register
    ``cat_groups`` = the first part's channel groups; ``hls/conv_accel.h``).
    ``shape`` and ``dtype`` are those of the concat; :meth:`concatenate` makes it.
    """

    __slots__ = ("parts", "shape", "dtype")

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.parts = (a, b)
        self.shape = (*a.shape[:2], a.shape[2] + b.shape[2])
        self.dtype = a.dtype

    def concatenate(self) -> np.ndarray:
        """The concat as an array."""
        return np.concatenate(self.parts, axis=-1)


class RawFrame:
    """The network input as the camera gives it, for a kernel that quantises it (register ``in_rgb``).

    ``beats`` hold the (H, W, 3) uint8 frame as it lies in memory, the last beat
    zero-padded; ``lut`` is the program's 3 x 256 input table.  ``shape`` and
    ``dtype`` are those of the quantised input; :meth:`quantized` makes it (what
    :func:`~pynq_depth.backends.base.quantize_input` gives).
    """

    __slots__ = ("beats", "rgb", "lut", "shape", "dtype")

    def __init__(self, beats: np.ndarray, hw: tuple[int, int], lut: np.ndarray) -> None:
        h, w = hw
        if beats.dtype != _BEAT_DTYPE or beats.size != _ceil(h * w * 3, 8):
            raise ValueError(f"a {h}x{w} frame needs {_ceil(h * w * 3, 8)} beats, got {beats.size} {beats.dtype}")
        self.beats = beats
        self.rgb = beats.view(np.uint8)[:h * w * 3].reshape(h, w, 3)
        self.lut = lut
        self.shape = (h, w, 3)
        self.dtype = np.dtype(np.int8)

    @classmethod
    def of(cls, rgb: np.ndarray, lut: np.ndarray) -> "RawFrame":
        """A frame in a new beat buffer."""
        h, w, _ = rgb.shape
        beats = np.zeros(_ceil(h * w * 3, 8), dtype=_BEAT_DTYPE)
        beats.view(np.uint8)[:h * w * 3] = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1)
        return cls(beats, (h, w), lut)

    def quantized(self) -> np.ndarray:
        """The quantised (H, W, 3) int8 input."""
        return apply_input_table(self.lut, self.rgb, np.empty(self.shape, dtype=np.int8))


def materialize(x):
    """``x``, or the concat a :class:`CatInput` stands for, or the quantised :class:`RawFrame`."""
    if isinstance(x, CatInput):
        return x.concatenate()
    return x.quantized() if isinstance(x, RawFrame) else x


def cat_fusable(prep: PreparedLayer, first_channels: int) -> bool:
    """Whether a layer can take a two-part concat input through the side stream (:class:`CatInput`):
    the first part a whole number of channel groups, every call reading all channels of whole
    rows, and the side stream free (no partial sums in, no residual)."""
    h, w, c = prep.in_shape
    return (0 < first_channels < c and first_channels % prep.pe_in == 0 and prep.cmd.skip is None
            and all(call.ci0 == 0 and call.ci1 == c and call.ix0 == 0 and call.ix1 == w and not call.psum_in
                    for call in prep.calls))


def fused_concats(program, config: HwConfig | None = None) -> set[str]:
    """Concats of ``program`` left unmade (:class:`CatInput`): two parts of one dtype, read only by one
    convolution as its input, which :func:`cat_fusable` accepts (the kernel reads the second part on
    ``side``).  The others are made on the processor."""
    from ..program import HostCmd

    config = config or default_config()
    readers: dict[str, list] = {}
    for cmd in program.commands:
        for name in cmd.inputs:
            readers.setdefault(name, []).append(cmd)
    fused = set()
    for cmd in program.commands:
        if not isinstance(cmd, HostCmd) or cmd.op != "concat" or len(cmd.inputs) != 2:
            continue
        a, b = (program.tensors[name] for name in cmd.inputs)
        users = readers.get(cmd.output, [])
        if (cmd.output == program.output or a.dtype != b.dtype or len(users) != 1
                or not isinstance(users[0], ConvCmd) or users[0].input != cmd.output or users[0].skip == cmd.output):
            continue
        try:
            prep = PreparedLayer(users[0], tuple(program.tensors[cmd.output].shape),  # type: ignore[arg-type]
                                 plan_layer(users[0], tuple(program.tensors[cmd.output].shape), config), [],
                                 config, config.pe_in)
        except ProtocolError:
            continue
        if cat_fusable(prep, int(a.shape[2])):
            fused.add(cmd.output)
    return fused
