"""Host side of the accelerator protocol and the HLS code generation (NumPy only, no compiler)."""

from __future__ import annotations


import numpy as np
import pytest

from pynq_depth import protocol  # noqa: E402
from pynq_depth.codegen import config_header, config_tcl, geometry, main, write_hls_config  # noqa: E402
from pynq_depth.config import default_config  # noqa: E402
from pynq_depth.verify import KINDS, random_layer_program  # noqa: E402


def test_codegen_matches_config(tmp_path):
    cfg = default_config()
    header, tcl = config_header(cfg), config_tcl(cfg)
    assert f"#define CONV_PE_IN {cfg.pe_in}" in header and f"#define CONV_PE_OUT {cfg.pe_out}" in header
    assert f'"{cfg.hw_id}"' in header and "CONV_BEAT_BITS 64" in header
    assert cfg.part in tcl and f"{1000 / cfg.clock_mhz:.4f}" in tcl
    for part in cfg.vlnv.split(":"):
        assert part in tcl
    assert main([str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "conv_config.h").read_text() == header
    stamp = (tmp_path / "out" / "conv_config.h").stat().st_mtime_ns
    write_hls_config(tmp_path / "out", cfg)  # unchanged content: not rewritten
    assert (tmp_path / "out" / "conv_config.h").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("seed", range(6))
def test_plan_covers_every_output_once_and_counts_match(seed):
    rng = np.random.default_rng(seed)
    g = geometry()
    for i in range(40):
        extra = {"cin": 300, "w": 160, "h": 3} if i % 10 == 9 else {}
        kind = KINDS[i % 3] if not extra else "conv3x3"
        program, inputs = random_layer_program(rng, kind, **extra)
        cmd, x = program.conv_commands[0], inputs["input"]
        out = program.tensors["output"]
        calls = protocol.plan_layer(cmd, x.shape)
        covered = np.zeros(out.shape, dtype=np.int32)
        for call in calls:
            assert 1 <= call.n <= g.max_out
            regs = protocol.registers(cmd, call, x.dtype.name, out.dtype, None)
            k = 1 if kind == "pw1x1" else 3
            assert (regs["out_h"] - 1) * cmd.stride + k == regs["pad_t"] + regs["in_h"] + regs["pad_b"]
            assert (regs["out_w"] - 1) * cmd.stride + k == regs["pad_l"] + regs["in_w"] + regs["pad_r"]
            padded_w = regs["in_w"] + regs["pad_l"] + regs["pad_r"]
            assert -(-padded_w // 3) * regs["cin_groups"] <= g.lb_bank_words
            if kind != "dw3x3":
                assert -(-call.n // g.pe_out) * k * k * regs["cin_groups"] <= g.wbuf_words
            else:
                assert regs["cin_groups"] == -(-call.n // g.pe_in) <= g.wbuf_words
            if not call.psum_out:
                covered[:, call.ox0:call.ox1, call.c0:call.c0 + call.n] += 1
            rows = protocol.pack_pixels(x[call.iy0:call.iy1, call.ix0:call.ix1, call.ci0:call.ci1], g.pe_in)
            psums = np.zeros((call.out_h, call.out_w, call.n), np.int32) if call.psum_in else None
            skip = (np.zeros((call.out_h, call.out_w, call.n), np.int8)
                    if cmd.skip is not None and not call.psum_out else None)
            stream = protocol.build_input_stream(cmd, call, rows, psums, skip)
            assert stream.dtype == np.uint64 and stream.size == protocol.stream_beats(cmd, call)
            side = protocol.build_side_stream(cmd, call, psums, skip)
            assert side.dtype == np.uint64 and side.size == protocol.side_beats(cmd, call)
            assert (side.size > 0) == (psums is not None or skip is not None)
        assert np.all(covered == 1)


def test_packing_layouts():
    x = np.arange(2 * 3 * 11, dtype=np.uint8).reshape(2, 3, 11)
    beats = protocol.pack_pixels(x, 8)
    assert beats.shape == (2, 3 * 2)
    assert int(beats[0, 0]) & 0xFF == 0 and (int(beats[0, 0]) >> 56) & 0xFF == 7  # channel 7 in byte 7
    assert int(beats[0, 1]) >> 24 == 0  # channels 11..15 are zero padding
    psums = np.array([[[-1, 2, -3]]], dtype=np.int32)
    pb = protocol.pack_psums(psums).reshape(-1)
    assert pb.size == 2 and int(pb[0]) == (2 << 32) | 0xFFFFFFFF and int(pb[1]) == (1 << 32) - 3


def test_output_unpacking_int16():
    call = protocol.Call(0, 5, 0, 8, 0, 1, 0, 2, 0, 2, 0, 0, 0, 1, 0, 0, 1)
    values = np.array([[[1, -2, 3, -32768, 32767], [5, 6, 7, 8, 9]]], dtype=np.int16)
    buf = np.zeros((1, 2, 8), np.int16)
    buf[:, :, :5] = values
    beats = buf.reshape(-1).view("<u8")
    assert beats.size == protocol.output_beats(call, "int16") == 4
    np.testing.assert_array_equal(protocol.unpack_output(beats, call, "int16"), values)


def test_side_stream_is_sent_as_it_lies():
    """Residual alone / partial sums alone: the side stream is a view of the tensor (no copy)."""
    from pynq_depth.verify import random_layer_program

    program, inputs = random_layer_program(np.random.default_rng(1), "pw1x1", h=4, w=5, cin=16, cout=16, pad=0,
                                           stride=1, residual=True)
    cmd, x = program.conv_commands[0], inputs["input"]
    prep = protocol.prepare_layer(cmd, x.shape)
    assert len(prep.calls) == 1 and protocol.side_beats(cmd, prep.calls[0]) == 4 * 5 * 2
    buf = np.zeros((4, 5, 16), np.int8)  # a kernel output in its DMA slot
    segments, side = protocol.input_segments(prep, 0, x, None, buf)
    assert np.shares_memory(side, buf) and side.size == 4 * 5 * 2
    assert segments[1].size == protocol.stream_beats(cmd, prep.calls[0]) - segments[0].size
    psums = np.zeros(4 * 5 * 8, np.uint64)  # the previous chunk's output beats
    call = protocol.Call(0, 16, 0, 16, 1, 2, 0, 5, 0, 5, 0, 0, 0, 4, 0, 0, 4)
    assert np.shares_memory(protocol.pixel_extras(cmd, call, psums, None), psums)
