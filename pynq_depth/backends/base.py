"""The backend interface: how a program runs layer by layer, whatever executes the convolutions.

:class:`Backend` walks a :class:`~pynq_depth.program.Program` in order.  For
each command it calls one of three hooks, and each member of the registry
(:mod:`pynq_depth.backends`) overrides what its engine does differently:

=============== ========================================= =========================================
hook            default (here)                            overridden by
=============== ========================================= =========================================
``run_conv``    none: every backend must implement it     emulator (NumPy), csim (HLS C++), fpga
``input_tensor`` the frame quantised by the input table   csim, fpga: the raw frame when the first
                                                          layer's kernel call quantises it
``run_host``    resize / concat on the processor          csim, fpga: resize on the kernel, concat
                                                          sent in two parts (:mod:`.kernel`)
``run``         the loop below                            fpga: on resident DMA buffers
=============== ========================================= =========================================

Everything else (the command order, the tensors kept, the trace, the per-layer
times) is defined once, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..arith import apply_input_table, resize_bilinear_fast
from ..config import HwConfig, default_config
from ..program import ConvCmd, HostCmd, Program
from ..protocol import materialize


class BackendError(RuntimeError):
    """A backend cannot be used here (missing dependency, board, overlay, compiler or file)."""


def quantize_input(program: Program, rgb: np.ndarray) -> np.ndarray:
    """Map a uint8 RGB image (H, W, 3) to the program's int8 input with its lookup table."""
    out = np.empty(rgb.shape[:2] + (3,), dtype=np.int8) if rgb.ndim == 3 else np.empty(0, np.int8)
    return quantize_input_into(program, rgb, out)


def quantize_input_into(program: Program, rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:func:`quantize_input` written into the first 3 channels of ``out`` (H, W, >= 3 int8), e.g. a
    DMA buffer padded to the kernel's channel group (the other channels are left as they are: the
    kernel ignores them); returns the (H, W, 3) view."""
    check_frame(program, rgb)
    return apply_input_table(program.input_lut, rgb, out)


def check_frame(program: Program, rgb: np.ndarray) -> None:
    """ValueError unless ``rgb`` is a uint8 (H, W, 3) image at the program's input size."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[:2] != tuple(program.input_hw):
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]}, the program expects "
                         f"{program.input_hw[1]}x{program.input_hw[0]}")


class Backend:
    """Executes programs; each backend provides the convolution engine (see the module notes).

    Parameters
    ----------
    config : HwConfig, optional
        Accelerator configuration (packaged default when omitted).
    """

    name = "abstract"

    def __init__(self, config: HwConfig | None = None) -> None:
        self.config = config or default_config()
        #: Seconds spent per command in the last run, by command name.
        self.layer_times: dict[str, float] = {}

    def input_tensor(self, program: Program, rgb: np.ndarray) -> np.ndarray:
        """The network input of one frame: :func:`quantize_input` here; csim and fpga send the raw
        frame instead when the first layer's kernel call quantises it."""
        return quantize_input(program, rgb)

    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Execute one accelerator command (every backend implements it)."""
        raise NotImplementedError

    def run_host(self, cmd: HostCmd, tensors: dict[str, np.ndarray], program: Program) -> np.ndarray:
        """Execute a resize/concat command on the processor (csim and fpga run resize on the kernel and
        leave concats unmade for their readers: :class:`~pynq_depth.backends.kernel.KernelBackend`)."""
        return run_host_command(cmd, tensors, program, self.config)

    def run(self, program: Program, rgb: np.ndarray, trace: bool = False,
            on_layer: Callable[[str, np.ndarray], None] | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Run a whole network on one image.

        Parameters
        ----------
        program : Program
            Quantised network.
        rgb : ndarray of uint8, shape (H, W, 3)
            Image already at ``program.input_hw``.
        trace : bool
            Return every tensor by name instead of only the output.
        on_layer : callable, optional
            Called with (tensor name, value) after every command.

        Returns
        -------
        ndarray of int16 (Ho, Wo, 1), or dict of all tensors when ``trace``.
        """
        tensors: dict[str, np.ndarray] = {"input": self.input_tensor(program, rgb)}
        self.layer_times = {}
        for cmd in program.commands:
            start = time.perf_counter()
            out_dtype = program.tensors[cmd.output].dtype
            if isinstance(cmd, ConvCmd):
                skip = tensors[cmd.skip] if cmd.skip is not None else None
                result = self.run_conv(cmd, tensors[cmd.input], skip, out_dtype)
            else:
                result = self.run_host(cmd, tensors, program)
            tensors[cmd.output] = result
            self.layer_times[cmd.name or cmd.output] = time.perf_counter() - start
            if on_layer is not None:
                on_layer(cmd.output, materialize(result))
        if trace:  # a concat left unmade (sent to its reader in two parts) is made for the caller
            return {name: materialize(value) for name, value in tensors.items()}
        return tensors[program.output]


def run_host_command(cmd: HostCmd, tensors: dict[str, np.ndarray], program: Program, config: HwConfig) -> np.ndarray:
    """Run a processor-side command (the same for every backend)."""
    if cmd.op == "resize":
        h, w, _ = program.tensors[cmd.output].shape
        return resize_bilinear_fast(tensors[cmd.inputs[0]], h, w, config.resize_frac_bits)
    if cmd.op == "concat":
        return np.concatenate([tensors[name] for name in cmd.inputs], axis=-1)
    raise ValueError(f"unknown host op {cmd.op!r}")



    def close(self) -> None:
        """Release what the backend holds (buffers, libraries); the default holds nothing."""
