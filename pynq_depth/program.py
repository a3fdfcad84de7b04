"""The quantised network as the accelerator executes it, and its file format.

A :class:`Program` is a list of layer commands (convolutions for the
accelerator, resize/concat for the processor) plus integer weights and
requantisation constants.  It is saved as a versioned ``.npz`` (no pickle) with
a JSON header that records the arithmetic identity of the configuration it was
built for and a SHA-256 of every array, so that a corrupt, truncated or
mismatched file is a clear :class:`WeightsError`, never silent garbage.
Loading needs only NumPy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arith import conv_out_size
from .config import HwConfig, default_config

FORMAT_NAME = "pynq-depth-weights"
FORMAT_VERSION = 1
DTYPE_RANGES: dict[str, tuple[int, int]] = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
#: NumPy type of each tensor dtype name.
NUMPY_DTYPES: dict[str, type] = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16}
#: Refuse absurd headers before allocating anything (a fuzzed file must not exhaust memory).
_MAX_HEADER_BYTES = 4 << 20
_MAX_ARRAY_BYTES = 256 << 20


class WeightsError(ValueError):
    """A weights file is missing, corrupt, truncated, inconsistent or for another configuration."""


@dataclass
class TensorInfo:
    """A feature map of the program.

    Attributes
    ----------
    name : str
        Tensor name (as in :mod:`pynq_depth.netspec`).
    shape : tuple of int
        (H, W, C).
    dtype : str
        ``"int8"``, ``"uint8"`` or ``"int16"``.
    scale : ndarray of float32, shape (C,)
        Real value of one integer step, per channel (equal across channels
        except after a concat); used only to dequantise for humans.
    sources : ndarray of int64, shape (C,), optional
        For a tensor whose channels the quantiser replicated (:func:`pynq_depth.quantize.replicate_channels`): the
        network channel each of its C channels carries (copies after the network's own channels).
        ``None``: channel ``c`` is the network's channel ``c``.
    offsets : ndarray of float32, shape (C,), optional
        With ``sources``: each channel's rounding offset in steps (the integer is
        ``round(value / scale + offset)``); copies of one network channel with staggered offsets
        together resolve it finer than one step.  ``None``: all zero.
    """

    name: str
    shape: tuple[int, int, int]
    dtype: str
    scale: np.ndarray
    sources: np.ndarray | None = None
    offsets: np.ndarray | None = None

    @property
    def network_channels(self) -> int:
        """Channels of the network tensor this one carries (fewer than ``shape[2]`` when replicated)."""
        return self.shape[2] if self.sources is None else int(self.sources.max()) + 1

    def to_network(self, values: np.ndarray) -> np.ndarray:
        """Real values of the network tensor from this tensor's integers, shape (..., network channels).

        Copies of one channel are merged as the next layer merges them: the mean of their real values
        with their offsets taken out.
        """
        real = values.astype(np.float64) * self.scale.astype(np.float64)
        if self.sources is None:
            return real
        if self.offsets is not None:
            real = real - self.offsets.astype(np.float64) * self.scale.astype(np.float64)
        count = np.bincount(self.sources, minlength=self.network_channels).astype(np.float64)
        merged = np.zeros(real.shape[:-1] + (self.network_channels,))
        for channel, source in enumerate(self.sources):
            merged[..., source] += real[..., channel]
        return merged / count

    def from_network(self, real: np.ndarray) -> np.ndarray:
        """This tensor's integers for real values of the network tensor: rounded (half up, with each
        channel's offset) and saturated to the dtype."""
        real = np.asarray(real, dtype=np.float64)
        if self.sources is not None:
            real = real[..., self.sources]
        offsets = 0.0 if self.offsets is None else self.offsets.astype(np.float64)
        lo, hi = DTYPE_RANGES[self.dtype]
        rounded = np.floor(real / self.scale.astype(np.float64) + offsets + 0.5)
        return np.clip(rounded, lo, hi).astype(NUMPY_DTYPES[self.dtype])

    def network_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Per network channel: the step its copies resolve together, and the factor by which that is finer
        than one copy's step (their number with staggered offsets, else 1)."""
        if self.sources is None:
            return self.scale.astype(np.float64), np.ones(self.shape[2])
        first = np.array([np.flatnonzero(self.sources == c)[0] for c in range(self.network_channels)])
        finer = (np.bincount(self.sources).astype(np.float64) if self.offsets is not None
                 else np.ones(self.network_channels))
        return self.scale.astype(np.float64)[first] / finer, finer


@dataclass
class ConvCmd:
    """One accelerator command: a convolution with fused requantisation.

    Attributes mirror the HLS kernel's command registers; see :mod:`pynq_depth.arith`.
    """

    name: str
    kind: str
    stride: int
    pad: int
    act: str
    input: str
    output: str
    weights: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    mult_neg: np.ndarray
    shift: np.ndarray
    lo: int
    hi: int
    skip: str | None = None
    skip_mult: int = 0
    skip_shift: int = 1

    op = "conv"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Tensors this command reads."""
        return (self.input,) if self.skip is None else (self.input, self.skip)


@dataclass
class HostCmd:
    """A processor-side command: ``resize`` (bilinear) or ``concat`` (channels)."""

    op: str
    inputs: tuple[str, ...]
    output: str
    name: str = ""


Command = ConvCmd | HostCmd

_CONV_ARRAYS = ("weights", "bias", "mult", "mult_neg", "shift")
_CONV_SCALARS = ("name", "kind", "stride", "pad", "act", "input", "output", "lo", "hi", "skip", "skip_mult",
                 "skip_shift")


@dataclass
class Program:
    """A quantised network ready for the emulator or the accelerator.

    Attributes
    ----------
    arith_id : str
        Identity of the arithmetic configuration it was built for.
    model : str
        Model configuration name.
    input_hw : tuple of int
        Input (H, W) the shapes were computed for.
    input_lut : ndarray of int8, shape (3, 256)
        Maps a uint8 RGB value per channel to the quantised normalised input.
    tensors : dict of str to TensorInfo
        Every feature map.
    commands : list
        :class:`ConvCmd` and :class:`HostCmd` in execution order.
    output : str
        Name of the depth tensor (int16, DenseDepth target space).
    meta : dict
        Free-form provenance (source checkpoint, calibration, seed).
    """

    arith_id: str
    model: str
    input_hw: tuple[int, int]
    input_lut: np.ndarray
    tensors: dict[str, TensorInfo]
    commands: list[Command]
    output: str = "depth"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def conv_commands(self) -> list[ConvCmd]:
        """The accelerator commands only."""
        return [c for c in self.commands if isinstance(c, ConvCmd)]

    @property
    def output_scale(self) -> float:
        """Real value of one step of the output tensor."""
        return float(self.tensors[self.output].scale[0])

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> None:
        """Write the program atomically (temp file in the same folder + rename)."""
        arrays: dict[str, np.ndarray] = {"input_lut": self.input_lut}
        tensors = {}
        for name, t in self.tensors.items():
            key = f"scale/{name}"
            arrays[key] = np.asarray(t.scale, dtype=np.float32)
            tensors[name] = {"shape": list(t.shape), "dtype": t.dtype, "scale": key}
            if t.sources is not None:
                arrays[f"sources/{name}"] = np.asarray(t.sources, dtype=np.int64)
                tensors[name]["sources"] = f"sources/{name}"
            if t.offsets is not None:
                arrays[f"offsets/{name}"] = np.asarray(t.offsets, dtype=np.float32)
                tensors[name]["offsets"] = f"offsets/{name}"
        commands = []
        for i, cmd in enumerate(self.commands):
            if isinstance(cmd, ConvCmd):
                entry: dict[str, Any] = {"op": "conv", **{k: getattr(cmd, k) for k in _CONV_SCALARS}}
                for k in _CONV_ARRAYS:
                    arrays[f"cmd{i}/{k}"] = getattr(cmd, k)
                    entry[k] = f"cmd{i}/{k}"
            else:
                entry = {"op": cmd.op, "inputs": list(cmd.inputs), "output": cmd.output, "name": cmd.name}
            commands.append(entry)
        header = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "arith_id": self.arith_id, "model": self.model,
            "input_hw": list(self.input_hw), "output": self.output, "tensors": tensors, "commands": commands,
            "meta": self.meta,
            "checksums": {k: _array_digest(v) for k, v in arrays.items()},
        }
        header_bytes = json.dumps(header, sort_keys=True).encode()
        arrays["__header__"] = np.frombuffer(header_bytes, dtype=np.uint8)
        arrays["__header_sha256__"] = np.frombuffer(hashlib.sha256(header_bytes).digest(), dtype=np.uint8)
        path = Path(path)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


def load_program(path: str | Path, config: HwConfig | None = None) -> Program:
    """Load and validate a weights file.

    Parameters
    ----------
    path : str or Path
        ``.npz`` written by :meth:`Program.save`.
    config : HwConfig, optional
        Configuration the caller runs; the packaged default when omitted.

    Returns
    -------
    Program

    Raises
    ------
    WeightsError
        For a missing, unreadable, corrupt, truncated, inconsistent file or one
        built for another arithmetic configuration; the message names the file.
    """
    config = config or default_config()
    path = Path(path)
    try:
        return _load(path, config)
    except WeightsError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError, KeyError, TypeError, IndexError,
            AttributeError, UnicodeDecodeError, OverflowError, MemoryError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a valid weights file ({type(exc).__name__}: {exc})") from None


def _fail(path: Path, message: str) -> WeightsError:
    return WeightsError(f"{path}: {message}")


def _load(path: Path, config: HwConfig) -> Program:
    if not path.is_file():
        raise _fail(path, "no such weights file")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.file_size > _MAX_ARRAY_BYTES:
                raise _fail(path, f"member {info.filename} is implausibly large")
    with np.load(path, allow_pickle=False) as npz:
        names = set(npz.files)
        if "__header__" not in names or "__header_sha256__" not in names:
            raise _fail(path, "not a pynq-depth weights file (no header)")
        header_bytes = npz["__header__"].tobytes()
        if len(header_bytes) > _MAX_HEADER_BYTES:
            raise _fail(path, "header too large")
        if hashlib.sha256(header_bytes).digest() != npz["__header_sha256__"].tobytes():
            raise _fail(path, "header checksum mismatch (file corrupt)")
        header = json.loads(header_bytes.decode())
        if header.get("format") != FORMAT_NAME:
            raise _fail(path, "not a pynq-depth weights file")
        if header.get("version") != FORMAT_VERSION:
            raise _fail(path, f"format version {header.get('version')} is not supported "
                              f"(this pynq-depth reads version {FORMAT_VERSION})")
        if header.get("arith_id") != config.arith_id:
            raise _fail(path, f"built for configuration {header.get('arith_id')}, "
                              f"but this accelerator configuration is {config.arith_id}; re-run `pynq-depth quantize`")
        arrays: dict[str, np.ndarray] = {}
        for key, digest in header["checksums"].items():
            if key not in names:
                raise _fail(path, f"array {key} missing (file truncated?)")
            value = npz[key]
            if _array_digest(value) != digest:
                raise _fail(path, f"array {key} checksum mismatch (file corrupt)")
            arrays[key] = value
    tensors = {name: TensorInfo(name, tuple(int(v) for v in t["shape"]), str(t["dtype"]),  # type: ignore[arg-type]
                                arrays[t["scale"]],
                                sources=arrays[t["sources"]] if "sources" in t else None,
                                offsets=arrays[t["offsets"]] if "offsets" in t else None)
               for name, t in header["tensors"].items()}
    commands: list[Command] = []
    for entry in header["commands"]:
        if entry["op"] == "conv":
            scalars = {k: entry[k] for k in _CONV_SCALARS}
            commands.append(ConvCmd(**scalars, **{k: arrays[entry[k]] for k in _CONV_ARRAYS}))
        else:
            commands.append(HostCmd(op=str(entry["op"]), inputs=tuple(entry["inputs"]), output=str(entry["output"]),
                                    name=str(entry.get("name", ""))))
    program = Program(arith_id=header["arith_id"], model=str(header["model"]),
                      input_hw=(int(header["input_hw"][0]), int(header["input_hw"][1])),
                      input_lut=arrays["input_lut"], tensors=tensors, commands=commands,
                      output=str(header["output"]), meta=dict(header.get("meta", {})))
    problem = validate_program(program, config)
    if problem:
        raise _fail(path, f"inconsistent program: {problem}")
    return program


def validate_program(program: Program, config: HwConfig | None = None) -> str | None:
    """Check that a program is well formed; return a description of the first problem or None.

    Every shape, dtype and constant range the emulator and the hardware rely on
    is checked, so that a program that passes cannot crash either of them.
    """
    config = config or default_config()
    t = program.tensors
    if program.input_lut.shape != (3, 256) or program.input_lut.dtype != np.int8:
        return "input_lut must be int8 (3, 256)"
    if "input" not in t or t["input"].shape != (program.input_hw[0], program.input_hw[1], 3) \
            or t["input"].dtype != "int8":
        return "input tensor must be int8 (H, W, 3) matching input_hw"
    if t["input"].sources is not None:
        return "the input tensor cannot be replicated"
    for info in t.values():
        if info.dtype not in DTYPE_RANGES:
            return f"tensor {info.name}: unknown dtype {info.dtype}"
        if len(info.shape) != 3 or min(info.shape) < 1 or info.shape[2] > config.max_channels:
            return f"tensor {info.name}: bad shape {info.shape}"
        if info.shape[0] * info.shape[1] * info.shape[2] > (64 << 20):
            return f"tensor {info.name}: implausibly large"
        if info.scale.shape != (info.shape[2],) or not np.all(np.isfinite(info.scale)):
            return f"tensor {info.name}: scale must be finite, one per channel"
        problem = _check_replicas(info)
        if problem:
            return f"tensor {info.name}: {problem}"
    produced = {"input"}
    for cmd in program.commands:
        if not all(isinstance(v, str) for v in (cmd.name, cmd.op, cmd.output, *cmd.inputs)):
            return "command names, inputs and outputs must be strings"
        for name in cmd.inputs:
            if name not in produced:
                return f"command {cmd.name or cmd.op}: input {name} is not produced before it"
        if cmd.output not in t or cmd.output in produced:
            return f"command {cmd.name or cmd.op}: output {cmd.output} unknown or written twice"
        problem = _check_conv(cmd, t, config) if isinstance(cmd, ConvCmd) else _check_host(cmd, t)
        if problem:
            return f"command {cmd.name or cmd.op}: {problem}"
        produced.add(cmd.output)
    if program.output not in produced or t[program.output].dtype != "int16" or t[program.output].shape[2] != 1:
        return "output must be a produced int16 tensor with one channel"
    return None


def _check_replicas(info: TensorInfo) -> str | None:
    if info.sources is None:
        return None if info.offsets is None else "offsets without sources"
    sources = info.sources
    if sources.shape != (info.shape[2],) or sources.dtype.kind not in "iu":
        return "sources must be integers, one per channel"
    if np.any(sources < 0) or np.any(np.bincount(sources) == 0):
        return "sources must name every network channel from 0 up"
    if info.offsets is not None:
        offsets = info.offsets
        if offsets.shape != sources.shape or not np.all(np.abs(offsets) < 0.5):
            return "offsets must be one per channel, each strictly between -0.5 and 0.5"
    return None


def _same_sources(a: TensorInfo, b: TensorInfo) -> bool:
    if a.sources is None or b.sources is None:
        return a.sources is None and b.sources is None
    return a.sources.shape == b.sources.shape and bool(np.all(a.sources == b.sources))


def _check_host(cmd: HostCmd, t: dict[str, TensorInfo]) -> str | None:
    out = t[cmd.output]
    ins = [t[name] for name in cmd.inputs]
    if any(info.sources is not None for info in (out, *ins)):
        return "host operations on replicated channels are not supported"
    if cmd.op == "resize":
        if len(ins) != 1 or ins[0].shape[2] != out.shape[2] or ins[0].dtype != out.dtype:
            return "resize must keep channels and dtype"
    elif cmd.op == "concat":
        if len(ins) < 1 or any(i.shape[:2] != out.shape[:2] or i.dtype != out.dtype for i in ins) \
                or sum(i.shape[2] for i in ins) != out.shape[2]:
            return "concat inputs must share H, W and dtype and sum to the output channels"
    else:
        return f"unknown host op {cmd.op!r}"
    return None


def _check_conv(cmd: ConvCmd, t: dict[str, TensorInfo], config: HwConfig) -> str | None:
    if not (isinstance(cmd.kind, str) and isinstance(cmd.act, str) and (cmd.skip is None or isinstance(cmd.skip, str))
            and all(isinstance(getattr(cmd, k), int) for k in ("stride", "pad", "lo", "hi", "skip_mult", "skip_shift"))):
        return "malformed command fields"
    if cmd.kind not in config.layer_kinds:
        return f"unknown kind {cmd.kind!r}"
    if cmd.act not in ("none", "relu6", "leaky"):
        return f"unknown activation {cmd.act!r}"
    if cmd.stride not in (1, 2) or cmd.pad not in (0, 1):
        return "stride must be 1 or 2 and pad 0 or 1"
    src, dst = t[cmd.input], t[cmd.output]
    if src.dtype not in ("int8", "uint8"):
        return "input must be 8-bit"
    h, w, cin = src.shape
    k = 1 if cmd.kind == "pw1x1" else 3
    ho, wo = conv_out_size(h, k, cmd.stride, cmd.pad), conv_out_size(w, k, cmd.stride, cmd.pad)
    cout = dst.shape[2]
    if dst.shape != (ho, wo, cout) or ho < 1 or wo < 1:
        return f"output shape {dst.shape} does not follow from input {src.shape}"
    expected = (cin, 3, 3) if cmd.kind == "dw3x3" else (cout, k, k, cin)
    if cmd.kind == "dw3x3" and cin != cout:
        return "depthwise must keep channels"
    if cmd.kind == "dw3x3" and not _same_sources(src, dst):
        return "depthwise input and output must carry the same channels"
    if cmd.weights.shape != expected or cmd.weights.dtype != np.int8:
        return f"weights must be int8 {expected}"
    for key, dtype in (("bias", np.int32), ("mult", np.int32), ("mult_neg", np.int32), ("shift", np.int32)):
        arr = getattr(cmd, key)
        if arr.shape != (cout,) or arr.dtype != dtype:
            return f"{key} must be {np.dtype(dtype).name} ({cout},)"
    mult_limit = 1 << (config.mult_bits - 1)
    if np.any((cmd.mult < 0) | (cmd.mult >= mult_limit) | (cmd.mult_neg < 0) | (cmd.mult_neg >= mult_limit)):
        return f"multipliers must be in [0, {mult_limit})"
    if np.any((cmd.shift < 1) | (cmd.shift > config.max_shift)):
        return f"shifts must be in [1, {config.max_shift}]"
    lo, hi = DTYPE_RANGES[dst.dtype]
    if not (isinstance(cmd.lo, int) and isinstance(cmd.hi, int) and lo <= cmd.lo <= cmd.hi <= hi):
        return f"clamp [{cmd.lo}, {cmd.hi}] outside {dst.dtype}"
    if cmd.skip is not None:
        skip = t[cmd.skip]
        if skip.shape != dst.shape or skip.dtype not in ("int8", "uint8"):
            return "residual must match the output shape and be 8-bit"
        if skip.sources is not None or dst.sources is not None:
            return "residual adds of replicated channels are not supported"
        if not (isinstance(cmd.skip_mult, int) and 0 <= cmd.skip_mult < mult_limit
                and isinstance(cmd.skip_shift, int) and 1 <= cmd.skip_shift <= config.max_shift):
            return "residual multiplier/shift out of range"
    return None
