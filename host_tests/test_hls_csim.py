"""The HLS kernel's own C++ (compiled with g++) against the NumPy emulator, bit for bit.

Needs a C++ compiler (skipped without one).  Seeded; about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
import sys
from pathlib import Path

import numpy as np
import pytest

from pynq_depth import protocol  # noqa: E402
from pynq_depth.backends.csim import SANITIZE_FLAGS, ap_types_dir, hls_dir, include_flags  # noqa: E402
from pynq_depth.codegen import write_hls_config  # noqa: E402
from pynq_depth.config import default_config, load_config  # noqa: E402
from pynq_depth.backends.emulator import Emulator  # noqa: E402
from pynq_depth.verify import (  # noqa: E402
    KINDS,
    compare_backends,
    random_layer_program,
    random_network_program,
    verify_network,
    verify_random_layers,
    write_tb_vectors,
)

REPO = Path(__file__).resolve().parents[1]
HLS = hls_dir()  # the sources the csim backend compiles (the checkout's hls/, or $PYNQ_DEPTH_HLS_DIR)
EXAMPLE_JPG = REPO / "pynq_depth" / "data" / "example.jpg"

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")


@pytest.fixture(scope="module")
def csim():
    from pynq_depth.backends.csim import CsimBackend

    return CsimBackend()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(EXAMPLE_JPG).convert("RGB").resize((320, 240), Image.BILINEAR))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_random_layers_bit_exact(csim, kind, seed):
    report = verify_random_layers(csim, n=30, seed=100 * seed + KINDS.index(kind), kinds=(kind,))
    assert report.ok, str(report)


# kind, h, w, cin, cout, stride, pad: odd sizes, C=1/3, channels not multiples of pe_in/pe_out, stride 2 odd
EDGE_CASES = [
    ("conv3x3", 7, 9, 3, 32, 2, 1),
    ("conv3x3", 1, 1, 1, 1, 1, 1),
    ("conv3x3", 5, 3, 1, 17, 2, 1),
    ("conv3x3", 3, 3, 9, 15, 1, 0),
    ("conv3x3", 11, 13, 3, 5, 2, 0),
    ("dw3x3", 9, 7, 1, 1, 2, 1),
    ("dw3x3", 2, 2, 3, 3, 2, 1),
    ("dw3x3", 13, 5, 33, 33, 1, 1),
    ("dw3x3", 15, 15, 17, 17, 2, 1),
    ("pw1x1", 7, 5, 3, 1, 1, 0),
    ("pw1x1", 9, 9, 1, 16, 2, 0),
    ("pw1x1", 4, 6, 17, 33, 1, 1),   # pad 1: the densedepth-mnv2 bottleneck quirk, padded on chip
    ("pw1x1", 1, 1, 40, 7, 1, 1),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("residual", [False, True])
def test_edge_shapes(csim, case, residual):
    kind, h, w, cin, cout, stride, pad = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()) + residual)  # seeded, unlike hash()
    for in_dtype in ("int8", "uint8"):
        for out_dtype in ("int8", "uint8", "int16"):
            program, inputs = random_layer_program(rng, kind, h=h, w=w, cin=cin, cout=cout, stride=stride, pad=pad,
                                                   in_dtype=in_dtype, out_dtype=out_dtype, residual=residual)
            assert compare_backends(program, inputs, csim) is None


@pytest.mark.parametrize("seed", range(3))
def test_saturation_extremes(csim, seed):
    rng = np.random.default_rng(7000 + seed)
    for i in range(30):
        program, inputs = random_layer_program(rng, KINDS[i % 3], extremes=True, residual=bool(i % 2))
        mismatch = compare_backends(program, inputs, csim)
        assert mismatch is None, str(mismatch)


def test_input_channel_chunks_and_column_tiles(csim):
    """3x3 conv with 300 input channels and 150 columns: column tiles (chunks: test_tiny_buffers_force_tiling)."""
    rng = np.random.default_rng(3)
    for residual in (False, True):
        program, inputs = random_layer_program(rng, "conv3x3", h=5, w=150, cin=300, cout=20, stride=1, pad=1,
                                               residual=residual, out_dtype="int8")
        calls = protocol.plan_layer(program.conv_commands[0], inputs["input"].shape)
        assert len({c.ox0 for c in calls}) >= 2
        assert compare_backends(program, inputs, csim) is None


@pytest.fixture(scope="module")
def tiny_buffers_config(tmp_path_factory):
    """A configuration with tiny buffers: every small layer needs chunks and column tiles."""
    raw = json.loads(default_config().path.read_text())
    raw["name"] = "tinybuf"
    raw["buffers"]["weight_buffer_bytes"] = 16 * 8 * 18   # 18 words: 3x3 conv takes 2 channel groups per chunk
    raw["buffers"]["line_buffer_bytes"] = 3 * 8 * 24      # 24 words per row
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps(raw))
    return load_config(path)


def test_tiny_buffers_force_tiling(tiny_buffers_config):
    from pynq_depth.backends.csim import CsimBackend

    backend = CsimBackend(config=tiny_buffers_config)
    report = verify_random_layers(backend, n=45, seed=11)
    assert report.ok, str(report)
    rng = np.random.default_rng(12)
    program, inputs = random_layer_program(rng, "conv3x3", h=6, w=40, cin=40, cout=18, stride=2, pad=1,
                                           residual=True, config=tiny_buffers_config)
    calls = protocol.plan_layer(program.conv_commands[0], inputs["input"].shape, tiny_buffers_config)
    assert max(c.n_chunks for c in calls) >= 3 and len({c.ox0 for c in calls}) >= 2
    assert compare_backends(program, inputs, backend) is None


def test_whole_default_network_on_photo(csim, photo):
    """z2-mnv2 at 240x320 with random well-scaled weights: every tensor bit-exact."""
    program = random_network_program(np.random.default_rng(0), rgb=photo)
    depth = Emulator().run(program, photo)
    assert len(np.unique(depth)) > 100  # well scaled: the comparison is not between two saturated maps
    report = verify_network(csim, program, photo)
    assert report.ok, str(report)


def test_densedepth_network_small_input(csim):
    """The public-port configuration (pw1x1 pad 1, 1088-channel 3x3 convs chained in chunks) at 64x64."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(64, 64, 3)).astype(np.uint8)
    program = random_network_program(rng, model="densedepth-mnv2", input_hw=(64, 64), rgb=rgb)
    assert any(c.kind == "pw1x1" and c.pad == 1 for c in program.conv_commands)
    report = verify_network(csim, program, rgb)
    assert report.ok, str(report)


def test_report_names_first_mismatch(csim):
    from pynq_depth.backends.csim import CsimBackend

    class Broken(CsimBackend):
        def run_conv(self, cmd, x, skip, out_dtype):
            out = super().run_conv(cmd, x, skip, out_dtype).copy()
            out[1, 2, 3] ^= 1
            return out

    program, inputs = random_layer_program(np.random.default_rng(0), "conv3x3", h=5, w=5, cin=8, cout=8)
    mismatch = compare_backends(program, inputs, Broken())
    assert mismatch is not None and mismatch.position == (1, 2, 3) and mismatch.count == 1
    assert "(1, 2, 3)" in str(mismatch) and "random.conv3x3" in str(mismatch)


def test_protocol_errors_are_reported(csim):
    program, inputs = random_layer_program(np.random.default_rng(4), "pw1x1", h=3, w=4, cin=8, cout=8, pad=0, stride=1,
                                           residual=False)
    cmd, x = program.conv_commands[0], inputs["input"]
    call = protocol.plan_layer(cmd, x.shape)[0]
    regs = protocol.registers(cmd, call, x.dtype.name, "int8", None)
    stream = protocol.build_input_stream(cmd, call, protocol.pack_pixels(x, 8))
    n_out = protocol.output_beats(call, "int8")
    csim.call_kernel(regs, stream, n_out)
    with pytest.raises(protocol.ProtocolError, match="reads past the end"):
        csim.call_kernel(regs, stream[:-1], n_out)
    with pytest.raises(protocol.ProtocolError, match="unread"):
        csim.call_kernel(regs, np.concatenate([stream, stream[:1]]), n_out)
    with pytest.raises(protocol.ProtocolError, match="line buffer"):
        csim.call_kernel({**regs, "cin_groups": 4000}, stream, n_out)
    with pytest.raises(protocol.ProtocolError, match="shape"):
        csim.call_kernel({**regs, "out_w": regs["out_w"] + 1}, stream, n_out)


def test_stream_underflow_is_a_hard_error_naming_layer_and_stream(csim):
    """A read of an empty stream stops the call (the hardware would stall): the error names the
    layer (``where``) and the stream, for `in` and for `side`."""
    program, inputs = random_layer_program(np.random.default_rng(6), "pw1x1", h=3, w=4, cin=8, cout=8, pad=0,
                                           stride=1, residual=True)
    cmd, x = program.conv_commands[0], inputs["input"]
    prep = protocol.prepare_layer(cmd, x.shape)
    call = prep.calls[0]
    regs = protocol.registers(cmd, call, x.dtype.name, "int8", "int8")
    skip = np.zeros((call.out_h, call.out_w, call.n), np.int8)
    stream = protocol.build_input_stream(cmd, call, protocol.pack_pixels(x, 8))
    side = protocol.build_side_stream(cmd, call, None, skip)
    n_out = protocol.output_beats(call, "int8")
    assert csim.call_kernel(regs, stream, n_out, "layer L7", side).size == n_out
    with pytest.raises(protocol.ProtocolError, match=r"layer L7: stream underflow on `in`.*read while empty"):
        csim.call_kernel(regs, stream[:-3], n_out, "layer L7", side)
    with pytest.raises(protocol.ProtocolError, match=r"layer L8: stream underflow on `side`.*read while empty"):
        csim.call_kernel(regs, stream, n_out, "layer L8", side[:-1])


def test_library_is_built_against_xilinx_ap_int():
    """The library's compile command (in build.log beside it) puts hls4ml's ap_types folder on the
    include path; the preprocessor takes ap_int.h from there and hls_stream.h / ap_axi_sdata.h from
    hls/csim_include (hls4ml's hls_stream.h, not Apache-licensed, is never read)."""
    from pynq_depth.backends import csim as csim_mod

    ap = ap_types_dir()
    assert "hls4ml" in ap.parts and not (HLS / "csim_include" / "ap_int.h").exists()
    lib = csim_mod.build_library(default_config())
    log = (lib.parent / csim_mod.BUILD_LOG).read_text()
    assert f"Xilinx ap_int.h from {ap}" in log and f"-isystem {ap}" in log
    gen = lib.parent  # conv_config.h is written beside the library
    deps = subprocess.run([os.environ.get("CXX", "g++"), "-std=c++14", "-M", *include_flags(gen, HLS),
                           str(HLS / "conv_accel.cpp"), str(HLS / "csim_api.cpp")],
                          capture_output=True, text=True, check=True).stdout
    files = {Path(p).resolve() for p in deps.replace("\\\n", " ").split() if not p.endswith(":")}
    assert {(ap / "ap_int.h").resolve(), (ap / "ap_int_base.h").resolve(), (ap / "etc" / "ap_private.h").resolve(),
            (HLS / "csim_include" / "hls_stream.h").resolve(),
            (HLS / "csim_include" / "ap_axi_sdata.h").resolve()} <= files
    assert (ap / "hls_stream.h").resolve() not in files


def test_library_rebuilds_when_sources_change(tmp_path, monkeypatch):
    from pynq_depth.backends import csim as csim_mod

    src = tmp_path / "hls"
    shutil.copytree(HLS, src, ignore=shutil.ignore_patterns("build"))
    monkeypatch.setenv("PYNQ_DEPTH_HLS_DIR", str(src))
    monkeypatch.setenv("PYNQ_DEPTH_CACHE", str(tmp_path / "cache"))
    first = csim_mod.build_library(default_config())
    assert csim_mod.build_library(default_config()) == first  # cached
    (src / "conv_accel.cpp").write_text((src / "conv_accel.cpp").read_text() + "\n// touched\n")
    second = csim_mod.build_library(default_config())
    assert second != first and second.is_file()
    assert csim_mod.build_library(default_config(), sanitize=True).parent not in (first.parent, second.parent)


def _asan_runtime() -> str | None:
    cxx = os.environ.get("CXX", "g++")
    out = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return out if out and os.path.isabs(out) and os.path.exists(out) else None


def test_sanitized_testbench_on_emulator_vectors(tmp_path):
    """hls/tb compiled with -fsanitize=address,undefined on vectors whose expected beats come from arith.py."""
    if _asan_runtime() is None:
        pytest.skip("compiler has no AddressSanitizer runtime")
    write_hls_config(tmp_path / "gen")
    count = write_tb_vectors(tmp_path / "vectors", n=21, seed=5)
    exe = tmp_path / "tb"
    cxx = os.environ.get("CXX", "g++")
    cmd = [cxx, "-O1", "-g", "-std=c++14", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-label",
           *SANITIZE_FLAGS, *include_flags(tmp_path / "gen", HLS),
           str(HLS / "conv_accel.cpp"), str(HLS / "tb" / "tb_conv_accel.cpp"), "-o", str(exe)]
    print("test bench build:", " ".join(cmd))  # the include path, Xilinx's ap_int.h folder among it, in the log
    assert str(ap_types_dir()) in cmd
    subprocess.run(cmd, check=True)
    result = subprocess.run([str(exe), str(tmp_path / "vectors")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{count} passed, 0 failed" in result.stdout


def test_sanitized_csim_backend(tmp_path):
    """CsimBackend(sanitize=True) in a child process with the ASan runtime preloaded."""
    runtime = _asan_runtime()
    if runtime is None:
        pytest.skip("compiler has no AddressSanitizer runtime")
    code = ("from pynq_depth.backends.csim import CsimBackend\n"
            "from pynq_depth.verify import verify_random_layers\n"
            "r = verify_random_layers(CsimBackend(sanitize=True, threads=1), n=24, seed=9)\n"
            "print(r); raise SystemExit(0 if r.ok else 1)\n")
    env = {**os.environ, "LD_PRELOAD": runtime, "ASAN_OPTIONS": "detect_leaks=0",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert "bit-exact" in result.stdout


@pytest.mark.skipif(not (REPO / "pynq_depth" / "data" / "z2-mnv2-int8.npz").exists(), reason="no packaged weights")
def test_packaged_quantised_weights_on_photo(csim):
    """The real quantised z2-mnv2 program (when packaged) on the example photo: every tensor bit-exact."""
    from PIL import Image

    from pynq_depth.program import load_program

    program = load_program(REPO / "pynq_depth" / "data" / "z2-mnv2-int8.npz")
    h, w = program.input_hw
    rgb = np.asarray(Image.open(EXAMPLE_JPG).convert("RGB").resize((w, h), Image.BILINEAR))
    report = verify_network(csim, program, rgb)
    assert report.ok, str(report)


@pytest.mark.parametrize("case", EDGE_CASES[:1] + EDGE_CASES[5:8] + EDGE_CASES[9:10], ids=lambda c: "-".join(map(str, c)))
def test_padded_views_are_sent_without_a_copy_and_pad_lanes_are_ignored(csim, case):
    """A channel slice of a map padded to pe_in in memory (how the driver holds the quantised
    frame and kernel outputs) is streamed as it is; garbage in the unused lanes changes nothing."""
    from pynq_depth.program import NUMPY_DTYPES

    kind, h, w, cin, cout, stride, pad = case
    program, inputs = random_layer_program(np.random.default_rng(5), kind=kind, h=h, w=w, cin=cin, cout=cout,
                                           stride=stride, pad=pad, config=csim.config)
    cmd = program.conv_commands[0]
    x = inputs[cmd.input]
    cp = -(-cin // csim.config.pe_in) * csim.config.pe_in
    padded = np.random.default_rng(1).integers(-128, 128, (h, w, cp)).astype(x.dtype)
    padded[:, :, :cin] = x
    view = padded[:, :, :cin]
    prep = protocol.prepare_layer(cmd, view.shape, csim.config)
    if len(prep.calls) == 1:
        assert np.shares_memory(protocol.packed_rows(view, prep.calls[0], csim.config.pe_in), padded)
    skip = inputs.get(cmd.skip) if cmd.skip else None
    out_dtype = program.tensors[cmd.output].dtype
    expected = Emulator().run_conv(cmd, x, skip, out_dtype)
    np.testing.assert_array_equal(csim.run_conv(cmd, view, skip, out_dtype), expected.astype(NUMPY_DTYPES[out_dtype]))


@pytest.mark.parametrize("seed,kind,cin,first,residual", [
    (0, "conv3x3", 40, 16, False), (1, "pw1x1", 24, 8, False), (2, "dw3x3", 33, 24, False),
    (3, "conv3x3", 17, 8, False), (4, "conv3x3", 40, 16, True), (5, "conv3x3", 40, 12, False),
    (6, "conv3x3", 600, 320, False)])
def test_concat_through_side_stream_is_bit_exact(csim, seed, kind, cin, first, residual):
    """A concat left unmade (protocol.CatInput): second part's rows on `side` (register cat_groups)
    where the layer allows it, made on the host otherwise (residual, first part not whole groups,
    chunked input); always the emulator's result on the made concat."""
    rng = np.random.default_rng(seed)
    program, inputs = random_layer_program(rng, kind, h=7, w=9, cin=cin, residual=residual)
    cmd, x = program.conv_commands[0], inputs["input"]
    out_dtype = program.tensors[cmd.output].dtype
    skip = inputs.get("skip")
    cfg = default_config()
    pad = -(-(cin - first) // cfg.pe_in) * cfg.pe_in  # the second part in its producer's slot
    slot_b = np.full((7, 9, pad), 0x5A, dtype=np.uint8).view(x.dtype)  # garbage in the unused lanes
    slot_b[:, :, :cin - first] = x[:, :, first:]
    cat = protocol.CatInput(np.ascontiguousarray(x[:, :, :first]), slot_b[:, :, :cin - first])
    prep = protocol.prepare_layer(cmd, x.shape, cfg)
    fusable = protocol.cat_fusable(prep, first)
    assert fusable == (not residual and first % cfg.pe_in == 0 and len({(c.ci0, c.ci1) for c in prep.calls}) == 1)
    sides = []

    def kernel(regs, segments, side, n_out, where):
        sides.append((regs["cat_groups"], side))
        return csim._kernel(regs, segments, side, n_out, where)

    got = protocol.run_layer(prep, cat, skip, out_dtype, kernel)
    want = Emulator(cfg).run_conv(cmd, x, skip, out_dtype)
    np.testing.assert_array_equal(np.asarray(got), want)
    if fusable:
        assert all(g == first // cfg.pe_in and np.shares_memory(s, slot_b) for g, s in sides)
    else:
        assert all(g == 0 for g, _ in sides)


def test_concat_split_with_side_inputs_is_refused(csim):
    """cat_groups needs the side stream to itself: with partial sums or a residual, or >= cin_groups,
    the kernel returns CONV_ERR_LANES and reads nothing."""
    program, inputs = random_layer_program(np.random.default_rng(0), "pw1x1", h=2, w=2, cin=16, cout=8,
                                           pad=0, stride=1, residual=False)
    cmd, x = program.conv_commands[0], inputs["input"]
    prep = protocol.prepare_layer(cmd, x.shape)
    regs = dict(prep.registers(0, x.dtype.name, "int8", None))
    for bad in ({"cat_groups": 2}, {"cat_groups": 1, "psum_in": 1}, {"cat_groups": 1, "has_skip": 1}):
        with pytest.raises(protocol.ProtocolError, match="lane count"):
            csim.call_kernel(dict(regs, **bad), prep.heads[0], regs["_out_beats"], "refused")


@pytest.mark.parametrize("hw", [(33, 47), (32, 32), (35, 41)])
def test_raw_frame_quantised_on_the_kernel_is_bit_exact(csim, hw):
    """The first layer reads the frame as it lies in memory (3 bytes per pixel, rows back to back,
    pixels straddling beats) and quantises it through the input table on chip (in_rgb)."""
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    rgb = rng.integers(0, 256, size=(*hw, 3)).astype(np.uint8)
    program = random_network_program(rng, input_hw=hw, rgb=rgb)
    frame = csim.input_tensor(program, rgb)
    assert isinstance(frame, protocol.RawFrame) and frame.beats.size == -(-hw[0] * hw[1] * 3 // 8)
    np.testing.assert_array_equal(frame.quantized(), Emulator().input_tensor(program, rgb))
    first = program.conv_commands[0]
    prep = csim.prepared(first, frame.shape, frame.lut)
    # the head ends with the input table; then the frame's bytes as they lie (3 per pixel)
    assert prep.rgb and prep.heads[0].size + frame.beats.size == protocol.stream_beats(
        first, prep.calls[0], csim.config, rgb=True)
    np.testing.assert_array_equal(prep.heads[0][-protocol.INPUT_TABLE_BEATS:],
                                  protocol.pack_input_table(program.input_lut))
    before = csim.calls
    got = csim.run_conv(first, frame, None, program.tensors[first.output].dtype)
    assert csim.calls == before + 1
    want = Emulator().run_conv(first, frame.quantized(), None, program.tensors[first.output].dtype)
    np.testing.assert_array_equal(got, want)
    report = verify_network(csim, program, rgb)  # and the whole network from it
    assert report.ok, str(report)


def test_raw_frame_rules_are_enforced_by_the_kernel(csim):
    """in_rgb with more than one channel group, or unsigned input, is refused (nothing read)."""
    regs = dict.fromkeys(protocol.REGISTERS, 0)
    regs.update(kind=0, stride=1, in_h=3, in_w=3, pad_t=1, pad_b=1, pad_l=1, pad_r=1, out_h=3, out_w=3,
                cin_groups=2, n_out=1, in_signed=1, out_bytes=1, skip_shift=1, lo=-128, hi=127, in_rgb=1)
    with pytest.raises(protocol.ProtocolError, match="lane count"):
        csim.call_kernel(regs, np.zeros(4, dtype=np.uint64), 9)
    with pytest.raises(protocol.ProtocolError, match="lane count"):
        csim.call_kernel(dict(regs, cin_groups=1, in_signed=0), np.zeros(4, dtype=np.uint64), 9)
