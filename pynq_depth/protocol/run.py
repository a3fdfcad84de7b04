"""Running a prepared layer through any kernel (csim, the board), and replaying a recorded one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .packing import pack_pixels, stream_view, unpack_output
from .plan import Call
from .prepared import CatInput, PreparedLayer, RawFrame, cat_fusable, input_segments


def _rows_of(x: np.ndarray, call: Call, pe_in: int) -> np.ndarray:
    view = stream_view(x[call.iy0:call.iy1], pe_in)
    return view if view is not None else pack_pixels(x[call.iy0:call.iy1], pe_in)


class _Where:
    """Lazy description of a call for error messages (formatted only when one is raised)."""

    __slots__ = ("name", "call")

    def __init__(self, name: str, call: Call) -> None:
        self.name, self.call = name, call

    def __str__(self) -> str:
        c = self.call
        return (f"layer {self.name}: channels {c.c0}..{c.c0 + c.n - 1}, columns {c.ox0}..{c.ox1 - 1}, "
                f"chunk {c.chunk + 1}/{c.n_chunks}")

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731


def run_layer(prep: PreparedLayer, x: np.ndarray, skip: np.ndarray | None, out_dtype: str, kernel,
              result_dtype=None, result_out: np.ndarray | None = None,
              assembly: list | None = None) -> np.ndarray:
    """Run one layer through ``kernel(regs, segments, side, n_out_beats, where) -> beats`` (the host
    side shared by the csim backend, the board driver and the performance model's measurement).
    ``segments`` feed the kernel's ``in`` stream, ``side`` (None or beats) its ``side`` stream.

    ``regs`` holds the :data:`REGISTERS` (and ``_out_beats``, a copy of the third argument).
    A call that writes every output channel and column returns its output as a
    view of the beats (no copy): the HWC layout padded to whole beats *is* the
    next layer's input layout.  Partial sums chain from call to call as beats.
    The outputs of a layer made of several calls (channel blocks, column tiles)
    are assembled on the processor into ``result_out`` (an (Ho, Wo, Cout) array,
    e.g. a view of a DMA slot) or a new array; ``assembly`` (a list) then gets
    every (destination, source) pair copied, so that a driver can repeat them.
    """
    cmd, calls = prep.cmd, prep.calls
    if isinstance(x, RawFrame):
        if prep.rgb:  # the kernel quantises the frame: one call, the frame's bytes as they lie
            regs = prep.registers(0, "int8", out_dtype, None)
            beats = kernel(regs, [prep.heads[0], x.beats], None, regs["_out_beats"], _Where(cmd.name, calls[0]))
            return unpack_output(beats, calls[0], out_dtype)
        x = x.quantized()
    cat = None
    if isinstance(x, CatInput):
        a, b = x.parts
        if a.dtype == b.dtype and cat_fusable(prep, a.shape[2]):
            cat = a.shape[2] // prep.pe_in
        else:
            x = x.concatenate()
    in_dtype = x.dtype.name
    skip_dtype = skip.dtype.name if skip is not None else None
    ho, wo = calls[0].out_h, max(c.ox1 for c in calls)
    cout = x.shape[2] if cmd.kind == "dw3x3" else int(cmd.weights.shape[0])
    result = None
    psums = None
    for i, call in enumerate(calls):
        regs = prep.registers(i, in_dtype, out_dtype, skip_dtype)
        skip_tile = None
        if regs["has_skip"]:
            skip_tile = skip[:, call.ox0:call.ox1, call.c0:call.c0 + call.n]
        if cat is not None:  # concat through the side stream: first part on `in`, second on `side`
            regs = dict(regs, cat_groups=cat)
            segments = [prep.heads[i], _rows_of(x.parts[0], call, prep.pe_in).reshape(-1)]
            side = _rows_of(x.parts[1], call, prep.pe_in).reshape(-1)
        else:
            segments, side = input_segments(prep, i, x, psums if call.psum_in else None, skip_tile)
        beats = kernel(regs, segments, side, regs["_out_beats"], _Where(cmd.name, call))
        if call.psum_out:
            psums = beats if call.n % 2 == 0 else unpack_output(beats, call, out_dtype)
            continue
        value = unpack_output(beats, call, out_dtype)
        if len(calls) == 1 or (call.c0 == 0 and call.n == cout and call.ox0 == 0 and call.ox1 == wo
                               and result is None and call is calls[-1]):
            return value
        if result is None:
            result = result_out if result_out is not None else np.empty((ho, wo, cout),
                                                                         dtype=result_dtype or value.dtype)
        target = result[:, call.ox0:call.ox1, call.c0:call.c0 + call.n]
        target[...] = value
        if assembly is not None:
            assembly.append((target, value))
    assert result is not None
    return result


@dataclass(frozen=True)
class RecordedLayer:
    """A layer whose kernel calls depend on nothing but resident DMA buffers, recorded on its first frame.

    Once a program is prepared, every call's register values, DMA pieces and output
    slot are fixed.  When the layer gets the same input (and residual) objects again
    (their producers were replayed too, or they are fixed slots), a driver makes the
    same calls (:meth:`replay`) without :func:`run_layer`'s per-frame planning,
    packing and locating, and returns the same output view.  The performance model
    times :meth:`matches` + :meth:`replay` with a no-op ``execute`` as the layer's
    processor work (the calls themselves are the driver's per-call cost).

    Attributes
    ----------
    inputs : tuple
        The objects the layer was recorded with (compared by identity).
    calls : tuple of tuple
        The arguments of ``execute`` for every call, in order.
    output : ndarray
        The layer's output (a view of a DMA buffer).
    copies : tuple of (ndarray, ndarray)
        (destination, source) copies after the calls: a layer of several calls
        assembled on the processor (``run_layer``'s ``assembly``).
    flush : object or None
        Buffer to ``flush()`` after the copies (a cacheable DMA slot).
    """

    inputs: tuple[Any, ...]
    calls: tuple[tuple[Any, ...], ...]
    output: Any
    copies: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    flush: Any = None

    def matches(self, inputs: tuple[Any, ...]) -> bool:
        """Whether ``inputs`` are the very objects the layer was recorded with."""
        return len(inputs) == len(self.inputs) and all(a is b for a, b in zip(inputs, self.inputs))

    def replay(self, execute: Callable[..., Any]) -> Any:
        """Make the recorded calls through ``execute`` and the copies; returns the output."""
        for call in self.calls:
            execute(*call)
        if self.copies:
            for target, value in self.copies:
                target[...] = value
            if self.flush is not None:
                self.flush.flush()
        return self.output
