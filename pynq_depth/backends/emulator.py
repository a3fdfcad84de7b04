"""The bit-exact NumPy emulator: the executable specification of the hardware."""

from __future__ import annotations

import numpy as np

from ..arith import FusedConv, conv_acc_float, fast_weights, requant_scales, requantize_float
from ..program import NUMPY_DTYPES, ConvCmd
from .base import Backend


class Emulator(Backend):
    """The bit-exact NumPy emulator: the executable specification of the hardware.

    Runs every convolution with :mod:`pynq_depth.arith`; resize and concat run on
    the processor as :class:`~pynq_depth.backends.base.Backend` defines them.
    """

    name = "emulator"

    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Convolution + requantisation exactly as :mod:`pynq_depth.arith` defines them.

        Uses arith's fused strip path (:class:`~pynq_depth.arith.FusedConv`), or for a
        layer outside its proven bounds the whole-layer fast path
        (:func:`~pynq_depth.arith.conv_acc_float` + :func:`~pynq_depth.arith.requantize_float`);
        both are proven to give the integers of :func:`~pynq_depth.arith.conv_acc` and
        :func:`~pynq_depth.arith.requantize`.  Each layer is prepared once and cached.
        """
        fused = self._fused(cmd, x.dtype, None if skip is None else skip.dtype, out_dtype)
        if fused is not None:
            return fused(x, skip)
        weights, bias, scale, scale_neg, skip_scale = self._constants(cmd)
        acc = conv_acc_float(x, weights, cmd.kind, cmd.stride, cmd.pad)
        out = requantize_float(acc, bias, scale, scale_neg, cmd.lo, cmd.hi, skip=skip, skip_scale=skip_scale)
        return out.astype(NUMPY_DTYPES[out_dtype])

    def _cached(self, cmd: ConvCmd, key: tuple, make):
        """``make()`` cached per command and ``key`` while the command's arrays and constants stay the same."""
        cache = self.__dict__.setdefault("_constant_cache", {})
        sources = (cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift, cmd.skip_mult, cmd.skip_shift,
                   cmd.lo, cmd.hi, cmd.kind, cmd.stride, cmd.pad)
        hit = cache.get((id(cmd),) + key)
        if hit is not None and all(a is b or (type(a) is int and a == b) or (type(a) is str and a == b)
                                   for a, b in zip(hit[0], sources)):
            return hit[1]
        value = make()
        cache[(id(cmd),) + key] = (sources, value)
        return value

    def _fused(self, cmd: ConvCmd, in_dtype: np.dtype, skip_dtype: np.dtype | None, out_dtype: str) -> FusedConv | None:
        """The layer prepared for the fused path for these dtypes, or None outside its bounds."""
        return self._cached(cmd, ("fused", np.dtype(in_dtype).str, skip_dtype and np.dtype(skip_dtype).str, out_dtype),
                            lambda: FusedConv.prepare(cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift,
                                                      cmd.lo, cmd.hi, cmd.kind, cmd.stride, cmd.pad, in_dtype,
                                                      NUMPY_DTYPES[out_dtype], skip_dtype, cmd.skip_mult,
                                                      cmd.skip_shift))

    def _constants(self, cmd: ConvCmd) -> tuple:
        """A layer's constants in the whole-layer fast path's form (cached like :meth:`_fused`)."""
        def make() -> tuple:
            scale = requant_scales(cmd.mult, cmd.shift)
            scale_neg = None if np.array_equal(cmd.mult, cmd.mult_neg) else requant_scales(cmd.mult_neg, cmd.shift)
            skip_scale = float(requant_scales(np.array([cmd.skip_mult]), np.array([cmd.skip_shift]))[0])
            return fast_weights(cmd.weights, cmd.kind), cmd.bias.astype(np.float64), scale, scale_neg, skip_scale
        return self._cached(cmd, ("float",), make)
