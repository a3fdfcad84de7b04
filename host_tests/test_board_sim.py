"""The PYNQ driver on the simulated board, through the real ``pynq`` package.

The simulated device is injected as ``pynq.Device.active_device``; the
overlay is parsed by pynq's own HWH parser; every register write, buffer
allocation, flush/invalidate, DMA length and wait of the real driver runs, and
the "hardware" executes the HLS C simulation on the bytes the DMA reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")
if shutil.which("g++") is None:  # the simulated kernel is the compiled HLS C++
    pytest.skip("g++ not found (needed for the kernel's C simulation)", allow_module_level=True)

from pynq_depth import backends, perf, runtime  # noqa: E402
from pynq_depth.backends import fpga as board  # noqa: E402
from pynq_depth.backends.fpga import files as board_files  # noqa: E402
from pynq_depth.backends.fpga import BoardError, DmaError, KernelTimeout, OverlayError  # noqa: E402
from pynq_depth.backends.fpga.sim import SimBoard, SimDevice, make_sim_overlay, open_sim_runner  # noqa: E402
from pynq_depth.config import default_config  # noqa: E402
from pynq_depth.preprocess import load_image, resize_rgb  # noqa: E402
from pynq_depth.program import load_program  # noqa: E402
from pynq_depth.protocol import REGISTERS  # noqa: E402
from pynq_depth.verify import random_layer_program, verify_network, verify_random_layers  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "pynq_depth" / "data" / "example.jpg"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


#: Generous for working calls (the simulated hardware is the C simulation on a possibly busy CI host);
#: fault tests shorten it to SHORT_TIMEOUT_S because they wait for it to expire.
TIMEOUT_S = 20.0
SHORT_TIMEOUT_S = 0.3


@pytest.fixture
def sim():
    runner = open_sim_runner(timeout_s=TIMEOUT_S)
    yield runner
    runner.close()


def _layer(seed=0, **kw):
    return random_layer_program(np.random.default_rng(seed), config=default_config(), **kw)


def _run_layer(runner, program, inputs):
    from pynq_depth.verify import run_program_from

    return run_program_from(runner, program, inputs)["output"]


def _expected(program, inputs):
    from pynq_depth.backends.emulator import Emulator
    from pynq_depth.verify import run_program_from

    return run_program_from(Emulator(), program, inputs)["output"]


needs_weights = pytest.mark.skipif(not runtime.DEFAULT_WEIGHTS.is_file(),
                                   reason=f"{runtime.DEFAULT_WEIGHTS} not built")


# ---------------------------------------------------------------- bit-exactness
@needs_weights
def test_whole_network_on_example_photo_bit_exact():
    program = load_program(runtime.DEFAULT_WEIGHTS)
    rgb = resize_rgb(load_image(EXAMPLE), *program.input_hw)
    runner = backends.open_backend("sim")  # the registry's path: fpga.open_runner("sim", config)
    try:
        assert runner.name == "sim" and isinstance(runner.device, pynq.Device)
        assert pynq.Device.active_device is runner.device
        report = verify_network(runner, program, rgb)
        assert report.ok, str(report)
        assert runner.calls > len(program.conv_commands)
        # Resident buffers (weights, activations, staging, scratch) were allocated once for the
        # program and reused by every layer and frame.
        memory = runner.board.memory
        allocations = memory.allocations
        dma, side = runner.board.dma, runner.board.side_dma
        counts: dict[str, tuple[int, ...]] = {}

        def state():
            return (dma.mm2s.transfers + side.mm2s.transfers, dma.mm2s.bytes + side.mm2s.bytes,
                    dma.s2mm.transfers, dma.s2mm.bytes, side.mm2s.transfers, runner.accel.register_writes)

        last = [state()]

        def count(name, value):
            now = state()
            counts[name] = tuple(a - b for a, b in zip(now, last[0]))
            last[0] = now

        # A second frame, another photo: every layer is replayed from its first-frame record
        # (no planning or packing), and still bit-exact.
        second = resize_rgb(load_image(EXAMPLE)[::-1, ::-1].copy(), *program.input_hw)
        recorded = dict(runner._res.replay)
        assert set(recorded) == {c.name or c.output for c in program.commands if c.op != "concat"}
        out = runner.run(program, second, on_layer=count)
        from pynq_depth.backends.emulator import Emulator

        np.testing.assert_array_equal(out, Emulator().run(program, second))
        assert runner._res.replay == recorded
        assert memory.allocations == allocations == 4
        assert not np.shares_memory(out, runner._res.arena)  # the result is copied out
        # The driver moves exactly what the performance model counts, layer by layer.
        report = perf.model("pynq-z2", runner.config, size=tuple(program.input_hw), measure_cpu=False)
        assert [layer.name for layer in report.layers] == [c.name or c.output for c in program.commands]
        side_calls = 0
        for layer, cmd in zip(report.layers, program.commands):
            mm2s, mm2s_bytes, s2mm, s2mm_bytes, side_transfers, writes = counts[cmd.output]
            assert writes == layer.register_writes, layer.name  # only changed registers are written
            assert (mm2s + s2mm, mm2s_bytes, s2mm_bytes) == (layer.transfers, layer.in_bytes, layer.out_bytes), \
                layer.name
            assert s2mm == layer.calls
            # 3 per call + 1 on the side DMA for every call with partial sums or a residual
            assert layer.transfers == layer.calls * perf.DMA_TRANSFERS_PER_CALL + side_transfers, layer.name
            side_calls += side_transfers
        assert side_calls >= 10  # the residual layers (and chained chunks) use the side stream
    finally:
        runner.close()
    assert runner.board.memory.used == 0  # freed on close


def test_random_layers_bit_exact(sim):
    report = verify_random_layers(sim, n=45, seed=11)
    assert report.ok, str(report)


def test_input_split_below_a_14_bit_dma_length():
    runner = open_sim_runner(timeout_s=TIMEOUT_S, length_bits=14)
    try:
        assert runner.dma.max_bytes == 2 ** 14 - 1
        program, inputs = _layer(3, kind="conv3x3", h=16, w=16, cin=64, cout=16, stride=1, pad=1,
                                 out_dtype="int8", residual=False)
        before = runner.board.dma.mm2s.transfers
        got = _run_layer(runner, program, inputs)
        np.testing.assert_array_equal(got, _expected(program, inputs))
        assert runner.board.dma.mm2s.transfers - before >= 2  # > 16 KB of input went in pieces
    finally:
        runner.close()


def test_output_longer_than_the_dma_length_is_a_clear_error():
    runner = open_sim_runner(timeout_s=TIMEOUT_S, length_bits=12)
    try:
        program, inputs = _layer(4, kind="pw1x1", h=40, w=40, cin=8, cout=16, stride=1, pad=0,
                                 out_dtype="int16", residual=False)
        with pytest.raises(BoardError, match=r"layer random.pw1x1.*c_sg_length_width=12"):
            _run_layer(runner, program, inputs)
    finally:
        runner.close()


# ---------------------------------------------------------------- faults
def test_kernel_never_done_times_out_naming_the_layer_then_recovers(sim):
    sim.timeout_s = SHORT_TIMEOUT_S
    program, inputs = _layer(5, kind="dw3x3", h=9, w=7, cin=12)
    sim.board.faults.no_done_calls = 1
    start = time.monotonic()
    with pytest.raises(KernelTimeout) as info:
        _run_layer(sim, program, inputs)
    assert time.monotonic() - start < 5
    text = str(info.value)
    assert "layer random.dw3x3" in text and "call 1/" in text and "kernel done" in text
    assert "MM2S DMACR=" in text and "S2MM DMACR=" in text and "DMASR=" in text
    assert sim.accel.idle
    np.testing.assert_array_equal(_run_layer(sim, program, inputs), _expected(program, inputs))


def test_kernel_stalled_on_input_times_out_then_recovers(sim):
    sim.timeout_s = SHORT_TIMEOUT_S
    program, inputs = _layer(6, kind="conv3x3", h=6, w=6, cin=5, cout=7)
    sim.board.faults.stall_calls = 1
    with pytest.raises(KernelTimeout, match=r"layer random.conv3x3.*MM2S transfer"):
        _run_layer(sim, program, inputs)
    np.testing.assert_array_equal(_run_layer(sim, program, inputs), _expected(program, inputs))


@pytest.mark.parametrize("channel", ["mm2s", "s2mm", "side_mm2s"])
def test_dma_error_bits_are_reported_and_a_retry_works(sim, channel):
    sim.timeout_s = SHORT_TIMEOUT_S
    # with a residual: the call also uses the side DMA
    program, inputs = _layer(7, kind="pw1x1", h=5, w=9, cin=17, cout=9, residual=True)
    assert program.conv_commands[0].skip is not None
    sim.board.faults.dma_error = channel
    with pytest.raises(DmaError, match=r"DMASlvErr") as info:
        _run_layer(sim, program, inputs)
    assert "layer random.pw1x1" in str(info.value) and "Err_Irq" in str(info.value)
    # after the recovery the kernel's registers are unknown: the retry writes all of them
    assert sim.accel.shadow is None
    before = sim.accel.register_writes
    np.testing.assert_array_equal(_run_layer(sim, program, inputs), _expected(program, inputs))
    assert sim.accel.register_writes - before == len(REGISTERS)
    before = sim.accel.register_writes
    np.testing.assert_array_equal(_run_layer(sim, program, inputs), _expected(program, inputs))
    assert sim.accel.register_writes == before  # the same call again: nothing changed, nothing written


@needs_weights
def test_cma_exhausted_is_a_clear_error():
    runner = open_sim_runner(timeout_s=TIMEOUT_S, memory_bytes=64 << 10)
    try:
        program = load_program(runtime.DEFAULT_WEIGHTS)
        with pytest.raises(BoardError, match=r"cannot allocate the \w+ buffer .*CMA"):
            runner.prepare(program)
    finally:
        runner.close()


def test_cacheable_buffers_need_flush_and_invalidate():
    sim_board = SimBoard(default_config(), 1 << 20)
    device = SimDevice(sim_board)
    buf = pynq.allocate((16,), np.uint64, target=device, cacheable=True)
    buf[:] = 7
    ddr = sim_board.memory.view(buf.physical_address, buf.nbytes, cpu=False)
    assert not ddr.any()  # not visible to the DMA before flush()
    buf.flush()
    assert (ddr.view(np.uint64) == 7).all()
    ddr.view(np.uint64)[:] = 9
    assert (buf == 7).all()  # the CPU sees DMA writes only after invalidate()
    buf.invalidate()
    assert (buf == 9).all()
    buf.freebuffer()
    assert sim_board.memory.used == 0


# ---------------------------------------------------------------- overlay checks
def test_missing_hwh_is_a_clear_error(tmp_path):
    bit = make_sim_overlay(tmp_path, with_hwh=False)
    with pytest.raises(OverlayError, match=r"\.hwh.*missing"):
        open_sim_runner(bitfile=bit)


def test_bitstream_of_another_configuration_is_refused(tmp_path):
    bit = make_sim_overlay(tmp_path, hw_id="z2i8-h00000000")
    with pytest.raises(OverlayError, match=r"built for configuration z2i8-h00000000"):
        open_sim_runner(bitfile=bit)


def test_overlay_without_the_side_dma_is_refused(tmp_path):
    with pytest.raises(OverlayError, match=r"expected two AXI DMAs.*side stream"):
        open_sim_runner(bitfile=make_sim_overlay(tmp_path / "a", side_dma_name=None))
    with pytest.raises(OverlayError, match=r"MM2S-only"):
        open_sim_runner(bitfile=make_sim_overlay(tmp_path / "b", side_s2mm=1))


def test_residual_goes_through_the_side_dma(sim):
    """The residual of a layer travels on the side DMA (one transfer, 2 beats of 16 lanes per pixel)."""
    program, inputs = _layer(3, kind="pw1x1", h=6, w=10, cin=16, cout=16, residual=True)
    side, main = sim.board.side_dma, sim.board.dma
    before = (side.mm2s.transfers, side.mm2s.bytes, main.mm2s.transfers)
    np.testing.assert_array_equal(_run_layer(sim, program, inputs), _expected(program, inputs))
    ho, wo, _ = program.tensors["output"].shape
    assert side.mm2s.transfers - before[0] == 1 and side.mm2s.bytes - before[1] == ho * wo * 2 * 8
    assert main.mm2s.transfers - before[2] == 2  # head + rows only


def test_hwh_with_another_ip_version_is_refused(tmp_path):
    vlnv = default_config().vlnv.rpartition(":")[0] + ":9.9"
    bit = make_sim_overlay(tmp_path, vlnv=vlnv)
    with pytest.raises(OverlayError, match=r"another configuration"):
        open_sim_runner(bitfile=bit)


def test_json_of_another_configuration_is_refused(tmp_path):
    bit = make_sim_overlay(tmp_path)
    raw = dict(default_config().raw, parallel={"pe_in": 8, "pe_out": 32})
    bit.with_suffix(".json").write_text(json.dumps(raw))
    with pytest.raises(OverlayError, match=r"built for z2i8-h"):
        open_sim_runner(bitfile=bit)


def test_register_map_order_mismatch_is_refused(tmp_path):
    swapped = list(REGISTERS)
    swapped[2], swapped[3] = swapped[3], swapped[2]
    with pytest.raises(OverlayError, match=r"order"):
        open_sim_runner(bitfile=make_sim_overlay(tmp_path, registers=tuple(swapped)))
    with pytest.raises(OverlayError, match=r"lacks in_rgb"):
        open_sim_runner(bitfile=make_sim_overlay(tmp_path / "b", registers=REGISTERS[:-1]))


def test_failed_open_restores_the_active_device(tmp_path):
    before = pynq.Device.__dict__.get("_active_device")
    with pytest.raises(OverlayError):
        open_sim_runner(bitfile=make_sim_overlay(tmp_path, with_hwh=False))
    assert pynq.Device.__dict__.get("_active_device") is before


# ---------------------------------------------------------------- detection
def test_auto_falls_back_without_pynq(monkeypatch):
    monkeypatch.setattr(board, "pynq_installed", lambda: False)
    ok, why = board.board_available()
    assert not ok and "pynq is not installed" in why
    estimator = runtime.create_estimator("auto")
    assert estimator.backend == "emulator" and "pynq is not installed" in estimator.reason


def test_auto_falls_back_without_a_device(monkeypatch):
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    monkeypatch.setattr(board, "device_present", lambda: (False, "pynq found no device"))
    assert board.board_available() == (False, "pynq found no device")


def test_no_device_on_this_host(monkeypatch):
    if board.board_marker() or Path("/sys/class/fpga_manager/fpga0").exists():
        pytest.skip("running on a board")
    monkeypatch.delenv("BOARD", raising=False)
    ok, why = board.board_available()
    assert not ok and "not a PYNQ board" in why


def test_auto_falls_back_without_an_overlay(monkeypatch, tmp_path):
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    monkeypatch.setattr(board, "device_present", lambda: (True, "device sim"))
    monkeypatch.setattr(board_files, "PACKAGE_OVERLAYS", tmp_path / "none")
    monkeypatch.setattr(board_files, "REPO_OVERLAYS", tmp_path / "none")
    monkeypatch.setenv("PYNQ_DEPTH_OVERLAY_DIR", str(tmp_path))
    (tmp_path / "pynq_depth_z2i8-h00000000.bit").write_bytes(b"x")
    ok, why = board.board_available()
    assert not ok and "no overlay" in why and "other configurations: pynq_depth_z2i8-h00000000.bit" in why
    make_sim_overlay(tmp_path)
    ok, why = board.board_available()
    assert ok and str(tmp_path) in why


def test_board_package_does_not_import_pynq():
    code = ("import sys; sys.modules['pynq'] = None\n"
            "import pynq_depth, pynq_depth.backends.fpga, pynq_depth.runtime\n"
            "assert pynq_depth.backends.fpga.overlay_stem().startswith('pynq_depth_')\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_cli_verify_sim_random_layers():
    result = subprocess.run([sys.executable, "-m", "pynq_depth.cli", "verify", "--backend", "sim",
                             "--random-layers", "6"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bit-exact" in result.stdout
