"""What every backend that drives the real kernel (csim, fpga) does beyond convolutions.

The kernel also resizes (kind ``resize``) and reads a decoder concat in two
parts (register ``cat_groups``: the first channel groups from ``in``, the rest
from ``side``), so such a concat is never made.  These host ops are defined
once, here; a backend says only how one kernel call is sent
(:meth:`KernelBackend.send_resize`) and, if it keeps plans of its own, which
resizes it prepared (:meth:`KernelBackend.resize_call`).
"""

from __future__ import annotations

import numpy as np

from .. import protocol
from ..program import HostCmd, Program
from .base import Backend


class KernelBackend(Backend):
    """A :class:`~pynq_depth.backends.base.Backend` whose resize and concat go through the kernel.

    Subclasses implement :meth:`run_conv` and :meth:`send_resize`.
    """

    def run_host(self, cmd: HostCmd, tensors: dict[str, np.ndarray], program: Program) -> np.ndarray:
        """Resize on the kernel where it can take it; a concat its reader takes in two parts is left
        unmade (a :class:`~pynq_depth.protocol.CatInput`); anything else on the processor."""
        if cmd.op == "resize":
            out = self.resize_on_kernel(cmd, tensors[cmd.inputs[0]], program)
            if out is not None:
                return out
        elif cmd.op == "concat" and cmd.output in self.fused_concats(program):
            return self.concat_input(cmd, tensors)
        return super().run_host(cmd, tensors, program)

    # ------------------------------------------------------------ resize
    def resize_call(self, cmd: HostCmd, x: np.ndarray, program: Program) -> protocol.Call | None:
        """The kernel call of a resize, or None when the kernel cannot take it (the processor resizes)."""
        h, w, _ = program.tensors[cmd.output].shape
        try:
            return protocol.resize_call(tuple(x.shape), (h, w), self.config)  # type: ignore[arg-type]
        except protocol.ProtocolError:
            return None

    def resize_on_kernel(self, cmd: HostCmd, x: np.ndarray, program: Program) -> np.ndarray | None:
        """Bilinear resize of ``x`` by one kernel call; None when :meth:`resize_call` declines."""
        call = self.resize_call(cmd, x, program)
        if call is None:
            return None
        h, w, _ = program.tensors[cmd.output].shape
        regs = protocol.resize_registers(call, x.dtype.name, self.config)
        rows = protocol.packed_rows(x, call, self.config.pe_in)
        beats = self.send_resize(cmd, call, regs, rows, f"resize {cmd.output}")
        return beats.view(x.dtype).reshape(h, w, -1)[:, :, :x.shape[2]]

    def send_resize(self, cmd: HostCmd, call: protocol.Call, regs: dict[str, int], rows: np.ndarray,
                    where: str) -> np.ndarray:
        """Send one resize call (its coefficient head, then ``rows``); returns the output beats."""
        raise NotImplementedError

    # ------------------------------------------------------------ concat
    def fused_concats(self, program: Program) -> set[str]:
        """:func:`protocol.fused_concats` of ``program`` (computed once per program)."""
        cached = getattr(self, "_fused", None)
        if cached is None or cached[0] is not program:
            cached = self._fused = (program, protocol.fused_concats(program, self.config))
        return cached[1]

    def concat_input(self, cmd: HostCmd, tensors: dict[str, np.ndarray]) -> protocol.CatInput:
        """The unmade concat for its reader; the same parts give the same object every frame (so a
        driver's recorded calls of the reader stay valid)."""
        cats: dict[str, protocol.CatInput] = self.__dict__.setdefault("_cats", {})
        parts = tuple(tensors[name] for name in cmd.inputs)
        cat = cats.get(cmd.output)
        if cat is None or len(cat.parts) != len(parts) or any(a is not b for a, b in zip(cat.parts, parts)):
            cat = cats[cmd.output] = protocol.CatInput(*parts)
        return cat
