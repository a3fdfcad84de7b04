"""The weights file: round trip, and every kind of damage is a clear WeightsError."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from pynq_depth.config import HwConfig, default_config
from pynq_depth.backends.emulator import Emulator
from pynq_depth.program import (ConvCmd, Program, WeightsError, load_program, validate_program)

from conftest import build_tiny_program


# ----------------------------------------------------------------- helpers
def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def header_of(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(arrays["__header__"].tobytes().decode())


def with_header(arrays: dict[str, np.ndarray], header: dict, fix_checksum: bool = True) -> dict[str, np.ndarray]:
    out = dict(arrays)
    raw = json.dumps(header, sort_keys=True).encode()
    out["__header__"] = np.frombuffer(raw, dtype=np.uint8)
    if fix_checksum:
        out["__header_sha256__"] = np.frombuffer(hashlib.sha256(raw).digest(), dtype=np.uint8)
    return out


def array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


def assert_programs_equal(a: Program, b: Program) -> None:
    assert (a.arith_id, a.model, tuple(a.input_hw), a.output, a.meta) == \
        (b.arith_id, b.model, tuple(b.input_hw), b.output, b.meta)
    assert_array_equal(a.input_lut, b.input_lut)
    assert a.input_lut.dtype == b.input_lut.dtype
    assert set(a.tensors) == set(b.tensors)
    for name in a.tensors:
        ta, tb = a.tensors[name], b.tensors[name]
        assert (ta.name, tuple(ta.shape), ta.dtype) == (tb.name, tuple(tb.shape), tb.dtype)
        assert_array_equal(ta.scale, tb.scale)
    assert len(a.commands) == len(b.commands)
    for ca, cb in zip(a.commands, b.commands):
        assert type(ca) is type(cb)
        if isinstance(ca, ConvCmd):
            for key in ("name", "kind", "stride", "pad", "act", "input", "output", "lo", "hi", "skip",
                        "skip_mult", "skip_shift"):
                assert getattr(ca, key) == getattr(cb, key), key
            for key in ("weights", "bias", "mult", "mult_neg", "shift"):
                va, vb = getattr(ca, key), getattr(cb, key)
                assert va.dtype == vb.dtype and va.shape == vb.shape, key
                assert_array_equal(va, vb)
        else:
            assert (ca.op, tuple(ca.inputs), ca.output, ca.name) == (cb.op, tuple(cb.inputs), cb.output, cb.name)


def expect_weights_error(path: Path, config: HwConfig | None = None, match: str | None = None) -> WeightsError:
    with pytest.raises(WeightsError) as info:
        load_program(path, config)
    message = str(info.value)
    assert str(path) in message, message  # the message names the file
    assert "\n" not in message.strip()
    if match:
        assert match in message, message
    return info.value


# ----------------------------------------------------------------- round trip
def test_round_trip_equal(tmp_path, tiny_program):
    path = tmp_path / "w.npz"
    tiny_program.save(path)
    loaded = load_program(path)
    assert_programs_equal(tiny_program, loaded)
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert_array_equal(Emulator().run(tiny_program, rgb), Emulator().run(loaded, rgb))
    # saving the loaded program again gives the same arrays and header
    path2 = tmp_path / "w2.npz"
    loaded.save(path2)
    a, b = read_arrays(path), read_arrays(path2)
    assert set(a) == set(b)
    for key in a:
        assert_array_equal(a[key], b[key])


def test_packaged_weights_round_trip(tmp_path, packaged_weights):
    program = load_program(packaged_weights)
    assert validate_program(program) is None
    assert program.output == "depth" and program.tensors["depth"].dtype == "int16"
    path = tmp_path / "copy.npz"
    program.save(path)
    assert_programs_equal(program, load_program(path))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, tiny_program):
    path = tmp_path / "w.npz"
    path.write_bytes(b"old content")
    tiny_program.save(path)
    load_program(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # normal permissions, not mkstemp's 0600


def test_save_failure_leaves_nothing(tmp_path, tiny_program):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OSError):
        tiny_program.save(blocker / "w.npz")
    target_dir = tmp_path / "dir.npz"
    target_dir.mkdir()
    with pytest.raises(OSError):
        tiny_program.save(target_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.npz", "file.txt"]


def test_validate_program_accepts_tiny(tiny_program):
    assert validate_program(tiny_program) is None


# ----------------------------------------------------------------- tampering
def test_every_array_tampered_is_rejected(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    keys = [k for k in arrays if k != "__header__" and k != "__header_sha256__"]
    assert len(keys) >= 1 + 6 + 3 * 5  # lut, scales, conv arrays
    for key in keys:
        tampered = dict(arrays)
        value = arrays[key].copy()
        flat = value.reshape(-1)
        if value.dtype.kind == "f":
            flat[0] = flat[0] * 1.5 + 1.0
        else:
            flat[0] = flat[0] ^ 1 if value.dtype.kind in "iu" else flat[0]
        tampered[key] = value
        path = tmp_path / f"t_{key.replace('/', '_')}.npz"
        write_arrays(path, tampered)
        expect_weights_error(path, match="checksum")


def test_array_dtype_or_shape_changed_is_rejected(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    for key, new in [("cmd0/shift", arrays["cmd0/shift"].astype(np.int64)),
                     ("cmd0/weights", arrays["cmd0/weights"].reshape(4, 27)),
                     ("input_lut", arrays["input_lut"].view(np.uint8))]:
        path = tmp_path / "t.npz"
        write_arrays(path, {**arrays, key: new})
        expect_weights_error(path, match="checksum")


def test_array_missing_is_rejected(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    for key in ("cmd4/bias", "input_lut", "scale/depth"):
        path = tmp_path / "t.npz"
        write_arrays(path, {k: v for k, v in arrays.items() if k != key})
        expect_weights_error(path, match="missing")


@pytest.mark.parametrize("missing", ["__header__", "__header_sha256__"])
def test_header_missing_is_rejected(tmp_path, tiny_weights, missing):
    arrays = read_arrays(tiny_weights)
    path = tmp_path / "t.npz"
    write_arrays(path, {k: v for k, v in arrays.items() if k != missing})
    expect_weights_error(path, match="header")


def test_header_bytes_tampered_is_rejected(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    raw = arrays["__header__"].tobytes()
    positions = list(range(0, len(raw), max(1, len(raw) // 40))) + [len(raw) - 1]
    for i in positions:
        flipped = bytearray(raw)
        flipped[i] ^= 0x04
        path = tmp_path / "t.npz"
        write_arrays(path, {**arrays, "__header__": np.frombuffer(bytes(flipped), dtype=np.uint8)})
        expect_weights_error(path, match="header checksum")
    # the digest itself tampered
    digest = arrays["__header_sha256__"].copy()
    digest[5] ^= 0xFF
    path = tmp_path / "t.npz"
    write_arrays(path, {**arrays, "__header_sha256__": digest})
    expect_weights_error(path, match="header checksum")


def _header_mutations(header: dict):
    """(description, mutated header) pairs; every one must be refused even with a valid header digest."""
    def mutate(fn):
        h = copy.deepcopy(header)
        fn(h)
        return h

    conv0 = 0
    yield "format", mutate(lambda h: h.update(format="something-else"))
    yield "version", mutate(lambda h: h.update(version=2))
    yield "version type", mutate(lambda h: h.update(version="1"))
    yield "arith_id", mutate(lambda h: h.update(arith_id="z2i8-a00000000"))
    yield "no checksums", mutate(lambda h: h.pop("checksums"))
    yield "no tensors", mutate(lambda h: h.pop("tensors"))
    yield "no commands key", mutate(lambda h: h.pop("commands"))
    yield "empty commands", mutate(lambda h: h.update(commands=[]))
    yield "checksum of other array", mutate(
        lambda h: h["checksums"].update({"cmd0/bias": h["checksums"]["cmd0/mult"]}))
    yield "stride 3", mutate(lambda h: h["commands"][conv0].update(stride=3))
    yield "pad 2", mutate(lambda h: h["commands"][conv0].update(pad=2))
    yield "kind", mutate(lambda h: h["commands"][conv0].update(kind="conv5x5"))
    yield "act", mutate(lambda h: h["commands"][conv0].update(act="gelu"))
    yield "lo > hi", mutate(lambda h: h["commands"][conv0].update(lo=10, hi=5))
    yield "hi out of dtype", mutate(lambda h: h["commands"][conv0].update(hi=256))
    yield "lo float", mutate(lambda h: h["commands"][conv0].update(lo=0.0))
    yield "input unknown", mutate(lambda h: h["commands"][conv0].update(input="nope"))
    yield "output twice", mutate(lambda h: h["commands"][1].update(output="a"))
    yield "skip unknown", mutate(lambda h: h["commands"][1].update(skip="zzz"))
    yield "skip_mult range", mutate(lambda h: h["commands"][1].update(skip_mult=1 << 15))
    yield "skip_shift 0", mutate(lambda h: h["commands"][1].update(skip_shift=0))
    yield "skip_shift str", mutate(lambda h: h["commands"][1].update(skip_shift="3"))
    yield "array key points elsewhere", mutate(lambda h: h["commands"][conv0].update(weights="cmd4/weights"))
    yield "array key missing", mutate(lambda h: h["commands"][conv0].update(weights="cmd9/weights"))
    yield "conv field missing", mutate(lambda h: h["commands"][conv0].pop("shift"))
    yield "host op", mutate(lambda h: h["commands"][2].update(op="transpose"))
    yield "resize two inputs", mutate(lambda h: h["commands"][2].update(inputs=["b", "a"]))
    yield "concat wrong channels", mutate(lambda h: h["commands"][3].update(inputs=["b_up"]))
    yield "concat of nothing", mutate(lambda h: h["commands"][3].update(inputs=[]))
    yield "output name", mutate(lambda h: h.update(output="a"))
    yield "output unknown", mutate(lambda h: h.update(output="xyz"))
    yield "tensor shape", mutate(lambda h: h["tensors"]["a"].update(shape=[16, 16, 5]))
    yield "tensor shape rank", mutate(lambda h: h["tensors"]["a"].update(shape=[16, 16]))
    yield "tensor shape zero", mutate(lambda h: h["tensors"]["b"].update(shape=[0, 16, 4]))
    yield "tensor huge", mutate(lambda h: h["tensors"]["cat"].update(shape=[100000, 100000, 7]))
    yield "tensor dtype", mutate(lambda h: h["tensors"]["depth"].update(dtype="int8"))
    yield "tensor dtype unknown", mutate(lambda h: h["tensors"]["a"].update(dtype="float32"))
    yield "too many channels", mutate(lambda h: h["tensors"]["a"].update(shape=[16, 16, 100000]))
    yield "input tensor missing", mutate(lambda h: h["tensors"].pop("input"))
    yield "input_hw", mutate(lambda h: h.update(input_hw=[32, 31]))
    yield "input_hw short", mutate(lambda h: h.update(input_hw=[32]))
    yield "tensors list", mutate(lambda h: h.update(tensors=[]))
    yield "commands dict", mutate(lambda h: h.update(commands={"a": 1}))
    yield "command not a dict", mutate(lambda h: h["commands"].insert(0, 5))
    yield "header is a list", [header]
    yield "header is null", None
    yield "meta not a dict", mutate(lambda h: h.update(meta=[1, 2]))


def test_header_inconsistent_but_checksummed_is_rejected(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    header = header_of(arrays)
    count = 0
    for description, mutated in _header_mutations(header):
        path = tmp_path / "t.npz"
        write_arrays(path, with_header(arrays, mutated))
        try:
            load_program(path)
        except WeightsError as exc:
            assert str(path) in str(exc), description
        else:
            pytest.fail(f"header mutation accepted: {description}")
        count += 1
    assert count > 40


def test_consistent_array_replacement_is_rejected_by_validation(tmp_path, tiny_weights):
    """Arrays replaced *with* updated checksums still have to pass validate_program."""
    arrays = read_arrays(tiny_weights)
    header = header_of(arrays)
    bad = {
        "cmd0/shift": np.zeros(4, dtype=np.int32),
        "cmd0/mult": np.full(4, 1 << 15, dtype=np.int32),
        "cmd1/mult_neg": np.full(4, -1, dtype=np.int32),
        "cmd4/shift": np.full(1, 47, dtype=np.int32),
        "cmd0/bias": np.zeros(4, dtype=np.int64),
        "cmd0/weights": np.zeros((4, 3, 3, 3), dtype=np.uint8),
        "input_lut": np.zeros((3, 255), dtype=np.int8),
        "scale/a": np.array([1.0, np.nan, 1.0, 1.0], dtype=np.float32),
        "scale/b": np.ones(3, dtype=np.float32),
    }
    for key, value in bad.items():
        h = copy.deepcopy(header)
        h["checksums"][key] = array_digest(value)
        path = tmp_path / "t.npz"
        write_arrays(path, with_header({**arrays, key: value}, h))
        expect_weights_error(path, match="inconsistent")


# ----------------------------------------------------------------- configuration mismatch
def other_arith_config() -> HwConfig:
    raw = copy.deepcopy(default_config().raw)
    raw["arith"]["max_shift"] = 40
    config = HwConfig(raw=raw)
    assert config.arith_id != default_config().arith_id
    return config


def test_wrong_arith_id_is_a_clear_error(tmp_path, tiny_weights):
    other = other_arith_config()
    error = expect_weights_error(tiny_weights, other, match="configuration")
    message = str(error)
    assert default_config().arith_id in message and other.arith_id in message
    assert "quantize" in message
    # and the reverse: a program built for the other configuration, loaded with the default
    program = build_tiny_program()
    program.arith_id = other.arith_id
    path = tmp_path / "other.npz"
    program.save(path)
    assert load_program(path, other).arith_id == other.arith_id
    expect_weights_error(path, match="configuration")


def test_hardware_only_config_change_keeps_weights_valid(tiny_weights):
    raw = copy.deepcopy(default_config().raw)
    raw["parallel"]["pe_out"] = 32
    raw["description"] = "changed"
    config = HwConfig(raw=raw)
    assert config.hw_id != default_config().hw_id
    assert config.arith_id == default_config().arith_id
    load_program(tiny_weights, config)


# ----------------------------------------------------------------- not a weights file at all
def test_truncated_file_at_many_offsets(tmp_path, tiny_program_bytes):
    data = tiny_program_bytes
    offsets = sorted(set(list(range(0, 64)) + list(range(0, len(data), max(1, len(data) // 150)))
                         + [len(data) - k for k in range(1, 40)]))
    path = tmp_path / "cut.npz"
    for cut in offsets:
        path.write_bytes(data[:cut])
        expect_weights_error(path)


def test_trailing_garbage_or_insertion(tmp_path, tiny_program_bytes):
    data = tiny_program_bytes
    path = tmp_path / "t.npz"
    for i in range(0, len(data), max(1, len(data) // 40)):
        path.write_bytes(data[:i] + b"\x00garbage\xff" + data[i:])
        try:
            program = load_program(path)
        except WeightsError:
            continue
        assert validate_program(program) is None  # if zip tolerated it, the content is intact


@pytest.mark.parametrize("content", [b"", b"\x00", b"not a zip file at all\n", b"PK\x03\x04" + b"\x00" * 100,
                                     b"PK\x05\x06" + b"\x00" * 18, b"\x93NUMPY\x01\x00" + b"{}" * 20])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    expect_weights_error(path)


def test_npy_instead_of_npz(tmp_path):
    path = tmp_path / "arr.npz"
    with path.open("wb") as handle:
        np.save(handle, np.arange(10))
    expect_weights_error(path)


def test_plain_npz_without_header(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.arange(3))
    expect_weights_error(path, match="header")


def test_pickled_object_array_is_refused(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    arrays["evil"] = np.array([{"a": 1}], dtype=object)
    path = tmp_path / "pickle.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    # an extra array without checksum is ignored; a pickled one referenced by the header must not load
    header = header_of(arrays)
    header["checksums"]["evil"] = "0" * 64
    arrays = with_header(arrays, header)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    expect_weights_error(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    expect_weights_error(path)


def test_directory(tmp_path):
    path = tmp_path / "adir.npz"
    path.mkdir()
    expect_weights_error(path)


def test_missing_file(tmp_path):
    error = expect_weights_error(tmp_path / "missing.npz")
    assert "no such" in str(error)


def test_member_declaring_implausible_size(tmp_path, tiny_program_bytes):
    """A zip whose central directory claims a gigantic member is refused before decompressing."""
    data = bytearray(tiny_program_bytes)
    start = data.find(b"PK\x01\x02")
    assert start > 0
    struct.pack_into("<I", data, start + 24, 0xFFFFFFF0)  # uncompressed size of the first member
    path = tmp_path / "bomb.npz"
    path.write_bytes(bytes(data))
    expect_weights_error(path)


def test_header_too_large_or_huge_array(tmp_path, tiny_weights):
    arrays = read_arrays(tiny_weights)
    header = header_of(arrays)
    header["meta"]["padding"] = "x" * (5 << 20)
    path = tmp_path / "big.npz"
    write_arrays(path, with_header(arrays, header))
    expect_weights_error(path, match="too large")


def test_zip_with_directory_entries_and_other_members(tmp_path, tiny_program_bytes):
    path = tmp_path / "extra.npz"
    path.write_bytes(tiny_program_bytes)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")
    # an unrelated member is not referenced: still a valid program
    assert validate_program(load_program(path)) is None
