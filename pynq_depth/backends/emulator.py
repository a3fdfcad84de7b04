"""The bit-exact NumPy emulator: the executable specification of the hardware."""

from __future__ import annotations

import numpy as np

from ..arith import conv_acc_float, fast_weights, requant_scales, requantize_float
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

        Uses arith's fast exact path (float32 BLAS / float64 requantisation, proven
        to give the same integers as :func:`~pynq_depth.arith.conv_acc` and
        :func:`~pynq_depth.arith.requantize`) with each layer's constants converted
        once and cached.
        """
        weights, bias, scale, scale_neg, skip_scale = self._constants(cmd)
        acc = conv_acc_float(x, weights, cmd.kind, cmd.stride, cmd.pad)
        out = requantize_float(acc, bias, scale, scale_neg, cmd.lo, cmd.hi, skip=skip, skip_scale=skip_scale)
        return out.astype(NUMPY_DTYPES[out_dtype])

    def _constants(self, cmd: ConvCmd) -> tuple:
        """A layer's constants in the fast path's form, cached while the command's arrays stay the same."""
        cache = self.__dict__.setdefault("_constant_cache", {})
        sources = (cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift, cmd.skip_mult, cmd.skip_shift)
        hit = cache.get(id(cmd))
        if hit is not None and all(a is b for a, b in zip(hit[0], sources)):
            return hit[1]
        scale = requant_scales(cmd.mult, cmd.shift)
        scale_neg = None if np.array_equal(cmd.mult, cmd.mult_neg) else requant_scales(cmd.mult_neg, cmd.shift)
        skip_scale = float(requant_scales(np.array([cmd.skip_mult]), np.array([cmd.skip_shift]))[0])
        constants = (fast_weights(cmd.weights, cmd.kind), cmd.bias.astype(np.float64), scale, scale_neg, skip_scale)
        cache[id(cmd)] = (sources, constants)
        return constants
