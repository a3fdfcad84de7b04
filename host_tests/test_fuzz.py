"""Property tests: corrupted weights files and images fail only with the documented errors.

A corrupted weights file must either raise :class:`WeightsError` or load into a
program that passes ``validate_program`` and runs through the emulator; a
corrupted image must either raise :class:`ImageError` or load as uint8 RGB.
No other exception, crash or hang.  Hypothesis runs derandomised (the same
examples every run) without an example database, so CI is deterministic.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pynq_depth.backends.emulator import Emulator
from pynq_depth.preprocess import ImageError, load_image
from pynq_depth.program import WeightsError, load_program, validate_program

from conftest import build_tiny_program

FUZZ_SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_WORKDIR = Path(tempfile.mkdtemp(prefix="pynq-depth-fuzz-"))


def _tiny_weights_bytes() -> bytes:
    path = _WORKDIR / "tiny.npz"
    build_tiny_program().save(path)
    return path.read_bytes()


def _image_bytes(fmt: str) -> bytes:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([xx * 8, yy * 10, (xx + yy) * 4], axis=-1).astype(np.uint8)
    rgb[::5, ::7] = rng.integers(0, 256, rgb[::5, ::7].shape, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()


WEIGHTS = _tiny_weights_bytes()
IMAGES = {"PNG": _image_bytes("PNG"), "JPEG": _image_bytes("JPEG")}
RGB = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _mutation(size_hint: int):
    """One edit: ('flip', pos, byte), ('truncate', pos, 0), ('insert', pos, byte) or ('delete', pos, len)."""
    pos = st.integers(min_value=0, max_value=size_hint)
    return st.one_of(
        st.tuples(st.just("flip"), pos, st.integers(1, 255)),
        st.tuples(st.just("set"), pos, st.integers(0, 255)),
        st.tuples(st.just("truncate"), pos, st.just(0)),
        st.tuples(st.just("insert"), pos, st.integers(0, 255)),
        st.tuples(st.just("delete"), pos, st.integers(1, 64)),
    )


def _apply(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for op, pos, value in edits:
        if not buf and op != "insert":
            continue
        pos = min(pos, len(buf) - 1) if buf else 0
        if op == "flip":
            buf[pos] ^= value
        elif op == "set":
            buf[pos] = value
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = bytes([value]) * (1 + value % 4)
        else:
            del buf[pos:pos + value]
    return bytes(buf)


def _check_weights(data: bytes) -> str:
    path = _WORKDIR / "fuzzed.npz"
    path.write_bytes(data)
    try:
        program = load_program(path)
    except WeightsError as exc:
        assert str(path) in str(exc)
        return "rejected"
    assert validate_program(program) is None
    out = Emulator().run(program, RGB if tuple(program.input_hw) == (32, 32) else
                         np.zeros(tuple(program.input_hw) + (3,), dtype=np.uint8))
    assert out.dtype == np.int16 and out.shape[2] == 1
    return "loaded"


def _check_image(data: bytes, suffix: str) -> str:
    path = _WORKDIR / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        rgb = load_image(path)
    except ImageError as exc:
        assert str(path) in str(exc)
        return "rejected"
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    return "loaded"


@FUZZ_SETTINGS
@given(st.lists(_mutation(len(WEIGHTS)), min_size=1, max_size=4))
def test_fuzzed_weights_file(edits):
    _check_weights(_apply(WEIGHTS, edits))


@FUZZ_SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["flip", "set"]), st.integers(0, len(WEIGHTS) - 1),
                          st.integers(1, 255)), min_size=1, max_size=2))
def test_fuzzed_weights_byte_flips(edits):
    """Single/double byte damage anywhere in the file is always detected (CRC, digests) or harmless."""
    _check_weights(_apply(WEIGHTS, edits))


def _header_and_arrays() -> tuple[dict, dict]:
    with np.load(io.BytesIO(WEIGHTS), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays["__header__"].tobytes().decode()), arrays


HEADER, ARRAYS = _header_and_arrays()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 40), 2 ** 40) | st.sampled_from([0, 1, 2, -1, 3, 127, 255])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["a", "b", "input", "depth", "cat", "conv3x3", "dw3x3", "relu6", "int8", "uint8", "int16",
                       "cmd0/weights", "cmd4/shift", "scale/a"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6)


def _paths(node, prefix=()):
    """Every (container path, key) in a JSON tree, except the checksum table."""
    if isinstance(node, dict):
        for key, value in node.items():
            if prefix == () and key == "checksums":
                continue
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


HEADER_PATHS = sorted(_paths(HEADER), key=repr)


@FUZZ_SETTINGS
@given(st.lists(st.tuples(st.sampled_from(HEADER_PATHS), JSON_VALUES), min_size=1, max_size=3))
def test_fuzzed_header_with_valid_digest(edits):
    """Structurally wrong headers that pass the digest check must still be refused cleanly."""
    header = copy.deepcopy(HEADER)
    for path, value in edits:
        node = header
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this place
    raw = json.dumps(header, sort_keys=True).encode()
    arrays = {**ARRAYS, "__header__": np.frombuffer(raw, dtype=np.uint8),
              "__header_sha256__": np.frombuffer(hashlib.sha256(raw).digest(), dtype=np.uint8)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _check_weights(buffer.getvalue())


@FUZZ_SETTINGS
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_as_weights(data):
    assert _check_weights(data) == "rejected"


@FUZZ_SETTINGS
@given(st.sampled_from(sorted(IMAGES)), st.lists(_mutation(max(map(len, IMAGES.values()))), min_size=1, max_size=4))
def test_fuzzed_image(fmt, edits):
    _check_image(_apply(IMAGES[fmt], edits), ".png" if fmt == "PNG" else ".jpg")


@FUZZ_SETTINGS
@given(st.sampled_from(sorted(IMAGES)), st.integers(0, 10 ** 6), st.binary(min_size=1, max_size=8))
def test_fuzzed_image_header_region(fmt, pos, patch):
    """Damage concentrated in the first bytes (signature, IHDR/SOF: sizes, modes, bit depths)."""
    data = bytearray(IMAGES[fmt])
    pos = pos % 64
    data[pos:pos + len(patch)] = patch
    _check_image(bytes(data), ".png" if fmt == "PNG" else ".jpg")


@FUZZ_SETTINGS
@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_as_image(data):
    assert _check_image(data, ".png") == "rejected"


def test_fuzz_sanity_unmodified_inputs_load():
    assert _check_weights(WEIGHTS) == "loaded"
    assert _check_image(IMAGES["PNG"], ".png") == "loaded"
    assert _check_image(IMAGES["JPEG"], ".jpg") == "loaded"
