"""Shared fixtures of the host test suite.

Nothing here is required by ``test_synth.py``; the fixtures serve the
arithmetic, program-file, fuzz, CLI and accuracy tests.  Every random value is
drawn from a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pynq_depth.program import ConvCmd, HostCmd, Program, TensorInfo  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "pynq_depth"
EXAMPLE_JPG = PACKAGE_DIR / "data" / "example.jpg"
PACKAGED_WEIGHTS = PACKAGE_DIR / "data" / "z2-mnv2-int8.npz"
PACKAGED_CHECKPOINT = REPO_ROOT / "models" / "z2-mnv2.pt"

#: Input size of the hand-built test program.
TINY_HW = (32, 32)


def _scale(value: float, channels: int) -> np.ndarray:
    return np.full(channels, value, dtype=np.float32)


def build_tiny_program(seed: int = 0, hw: tuple[int, int] = TINY_HW) -> Program:
    """A small valid program exercising every command type.

    ``input`` (H, W, 3) int8 -> conv3x3/s2 relu6 -> ``a`` uint8 (H/2, W/2, 4)
    -> pw1x1 leaky plus the residual ``a`` -> ``b`` int8 -> resize to (H, W)
    -> concat with ``input`` (differently scaled parts) -> conv3x3/s2 -> the
    int16 one-channel ``depth``.
    """
    rng = np.random.default_rng(seed)
    h, w = hw
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    lut = np.clip(np.round((np.arange(256) - 128) * np.array([[0.9], [1.0], [1.1]])), -127, 127).astype(np.int8)
    tensors = {
        "input": TensorInfo("input", (h, w, 3), "int8", _scale(0.02, 3)),
        "a": TensorInfo("a", (h2, w2, 4), "uint8", _scale(6.0 / 255, 4)),
        "b": TensorInfo("b", (h2, w2, 4), "int8", _scale(0.05, 4)),
        "b_up": TensorInfo("b_up", (h, w, 4), "int8", _scale(0.05, 4)),
        "cat": TensorInfo("cat", (h, w, 7), "int8", np.concatenate([_scale(0.05, 4), _scale(0.02, 3)])),
        "depth": TensorInfo("depth", (h2, w2, 1), "int16", _scale(160.0 / 32767, 1)),
    }

    def conv(name, kind, stride, pad, act, src, dst, cin, cout, lo, hi, mult_range, shift, **extra):
        wshape = (cin, 3, 3) if kind == "dw3x3" else (cout, 1 if kind == "pw1x1" else 3,
                                                       1 if kind == "pw1x1" else 3, cin)
        mult = rng.integers(*mult_range, size=cout).astype(np.int32)
        return ConvCmd(name=name, kind=kind, stride=stride, pad=pad, act=act, input=src, output=dst,
                       weights=rng.integers(-127, 128, size=wshape).astype(np.int8),
                       bias=rng.integers(-2000, 2000, size=cout).astype(np.int32),
                       mult=mult, mult_neg=(mult // 5).astype(np.int32) if act == "leaky" else mult.copy(),
                       shift=np.full(cout, shift, dtype=np.int32), lo=lo, hi=hi, **extra)

    commands = [
        conv("c1", "conv3x3", 2, 1, "relu6", "input", "a", 3, 4, 0, 255, (8000, 16000), 23),
        conv("c2", "pw1x1", 1, 0, "leaky", "a", "b", 4, 4, -128, 127, (8000, 16000), 22,
             skip="a", skip_mult=20000, skip_shift=16),
        HostCmd("resize", ("b",), "b_up", name="up"),
        HostCmd("concat", ("b_up", "input"), "cat", name="cat"),
        conv("c3", "conv3x3", 2, 1, "none", "cat", "depth", 7, 1, -32768, 32767, (16384, 32767), 17),
    ]
    return Program(arith_id=_arith_id(), model="tiny-test", input_hw=(h, w), input_lut=lut, tensors=tensors,
                   commands=commands, output="depth", meta={"purpose": "tests"})


def _arith_id() -> str:
    from pynq_depth.config import default_config

    return default_config().arith_id


@pytest.fixture
def tiny_program() -> Program:
    """A fresh hand-built valid program (32x32 input)."""
    return build_tiny_program()


@pytest.fixture(scope="session")
def tiny_program_bytes(tmp_path_factory) -> bytes:
    """The bytes of the tiny program's weights file."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    build_tiny_program().save(path)
    return path.read_bytes()


@pytest.fixture
def tiny_weights(tmp_path, tiny_program_bytes) -> Path:
    """A writable copy of the tiny weights file."""
    path = tmp_path / "tiny.npz"
    path.write_bytes(tiny_program_bytes)
    return path


@pytest.fixture(scope="session")
def example_jpg() -> Path:
    """The packaged example photo."""
    assert EXAMPLE_JPG.is_file()
    return EXAMPLE_JPG


@pytest.fixture(scope="session")
def packaged_weights() -> Path:
    """The packaged int8 weights file."""
    assert PACKAGED_WEIGHTS.is_file()
    return PACKAGED_WEIGHTS


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator (a fresh one per test)."""
    return np.random.default_rng(1234)
