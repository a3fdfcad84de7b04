"""The emulator's fast floating-point path gives exactly the integers of the reference integer path."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from pynq_depth.arith import conv_acc, requantize
from pynq_depth.backends.emulator import Emulator
from pynq_depth.program import NUMPY_DTYPES
from pynq_depth.verify import random_layer_program

CASES = [
    # kind, h, w, cin, cout, stride: covering the tap-shift and im2col methods (pixel-major and channel-planar),
    # K-chunking (cin > 1024 / 514) and depthwise; the emulator runs the fused strip path (arith.FusedConv)
    ("conv3x3", 9, 7, 40, 16, 1),
    ("conv3x3", 6, 5, 300, 8, 1),
    ("conv3x3", 7, 9, 8, 24, 1),
    ("conv3x3", 11, 8, 3, 32, 2),
    ("conv3x3", 5, 6, 700, 20, 1),
    ("pw1x1", 8, 9, 1300, 16, 1),
    ("pw1x1", 7, 5, 16, 96, 1),
    ("dw3x3", 9, 11, 24, 24, 1),
    ("dw3x3", 10, 7, 17, 17, 2),
    # large enough for several default-size strips (arith._STRIP_OUTPUTS)
    ("dw3x3", 40, 52, 64, 64, 1),
    ("dw3x3", 41, 50, 40, 40, 2),
    ("pw1x1", 60, 80, 16, 96, 1),
    ("conv3x3", 65, 81, 3, 16, 2),
    ("conv3x3", 30, 40, 24, 24, 1),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind,h,w,cin,cout,stride", CASES)
def test_fast_path_equals_integer_reference(kind, h, w, cin, cout, stride, seed):
    rng = np.random.default_rng(seed)
    for in_dtype in ("int8", "uint8"):
        program, inputs = random_layer_program(rng, kind, h=h, w=w, cin=cin, cout=cout, stride=stride,
                                               in_dtype=in_dtype, extremes=bool(seed % 2))
        cmd = program.conv_commands[0]
        x = inputs[cmd.input]
        skip = inputs.get(cmd.skip) if cmd.skip else None
        out_dtype = program.tensors[cmd.output].dtype
        reference = requantize(conv_acc(x, cmd.weights, cmd.bias, cmd.kind, cmd.stride, cmd.pad), cmd.mult,
                               cmd.mult_neg, cmd.shift, cmd.lo, cmd.hi, skip=skip, skip_mult=cmd.skip_mult,
                               skip_shift=cmd.skip_shift).astype(NUMPY_DTYPES[out_dtype])
        assert_array_equal(Emulator().run_conv(cmd, x, skip, out_dtype), reference)
