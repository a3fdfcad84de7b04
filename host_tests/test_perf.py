"""Performance model: hand-computed arithmetic, beat counts against the C simulation, bench --board CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from pynq_depth import perf, protocol
from pynq_depth import cli
from pynq_depth.cli import main
from pynq_depth.config import default_config
from pynq_depth.netspec import Node

Z2 = "pynq-z2"


def _pw_layer() -> tuple[Node, perf.ConvCmd]:
    """pw1x1, 8x8x16 -> 16, stride 1, no padding, no residual: one call, hand-countable."""
    node = Node(name="pw", op="conv", inputs=("x",), output="y", out_shape=(8, 8, 16), kind="pw1x1", stride=1,
                pad=0, cin=16)
    return node, perf.dummy_command(node)


def test_pw1x1_plan_beats_bytes_by_hand():
    node, cmd = _pw_layer()
    calls = protocol.plan_layer(cmd, (8, 8, 16))
    assert len(calls) == 1  # 16 outputs = one group of pe_out=16; 2 channel groups fit everything
    call = calls[0]
    # input: 2 beats x 16 lanes of constants + 1 tap x 2 groups x 16 lanes of weights + 8x8 pixels x 2 groups
    assert protocol.stream_beats(cmd, call) == 32 + 32 + 128
    # output: 64 pixels x ceil(16 int8 / 8 per beat)
    assert protocol.output_beats(call, "int8") == 128
    board = perf.get_board(Z2)
    cost = perf.call_cost(cmd, call, "int8", default_config(), board)
    assert cost.in_bytes == 192 * 8 and cost.out_bytes == 128 * 8


def test_pw1x1_cycles_by_hand():
    node, cmd = _pw_layer()
    call = protocol.plan_layer(cmd, (8, 8, 16))[0]
    cfg = default_config()
    # Shipped timing (depths io 3, load 3, mac 7, out 9, loop overhead 1, setup 12):
    c = perf.call_cycles(cmd, call, "int8", cfg)
    assert c["setup"] == 12
    assert c["params"] == 15 * 2 + 3 + 1           # 16 channels at II=2
    assert c["weights"] == 31 + 3 + 1              # 32 beats at II=1
    assert c["rows"] == 8 * ((16 - 1 + 3 + 1) + 1)  # 8 rows: one pipeline of 8 pixels x 2 groups each
    # one block of 16 lanes; steps per pixel = max(1 tap x 2 groups, 2 output beats) = 2
    assert perf.pixel_steps(cmd, call, "int8", cfg) == (1, 2)
    assert c["mac"] == 64 * 2                      # 64 pixels x 2 steps
    assert c["out"] == 8 * 2                       # per row, the final drain block
    assert c["pixel"] == 8 * (7 + 9 - 1 + 2)       # per row: fill of the MAC + requantisation pipeline
    assert c["psum"] == c["skip"] == 0
    assert sum(c.values()) == 521
    # Ideal machine (no fills): only the beats and pipeline iterations remain.
    ideal = perf.call_cycles(cmd, call, "int8", cfg, perf.IDEAL_TIMING)
    assert sum(ideal.values()) == 31 + 32 + 8 * 16 + 128 + 16 + 8


def test_multi_block_call_by_hand():
    """pw1x1 16 -> 40 channels: one call, 3 blocks (16 + 16 + 8 lanes), input rows streamed once."""
    node = Node(name="pw40", op="conv", inputs=("x",), output="y", out_shape=(4, 4, 40), kind="pw1x1", stride=1,
                pad=0, cin=16)
    cmd = perf.dummy_command(node)
    calls = protocol.plan_layer(cmd, (4, 4, 16))
    assert len(calls) == 1 and calls[0].n == 40
    # 2 x 40 constants + 3 blocks x 2 groups x 16 lanes of weights + 4x4 pixels x 2 groups
    assert protocol.stream_beats(cmd, calls[0]) == 80 + 96 + 32
    assert protocol.output_beats(calls[0], "int8") == 16 * 5
    assert perf.pixel_steps(cmd, calls[0], "int8", default_config()) == (3, 2)
    c = perf.call_cycles(cmd, calls[0], "int8", default_config())
    assert c["mac"] == 16 * 3 * 2 and c["out"] == 4 * 2


def test_pw1x1_time_on_pynq_z2():
    node, cmd = _pw_layer()
    call = protocol.plan_layer(cmd, (8, 8, 16))[0]
    board = perf.get_board(Z2)
    cost = perf.call_cost(cmd, call, "int8", default_config(), board)
    hp = 8 * 125e6                     # 64-bit HP port at the 125 MHz kernel clock
    dram = 2.13e9 * 0.7                # both directions share DRAM
    assert board.hp_bytes_per_s(125) == pytest.approx(hp)
    assert cost.dma_seconds == pytest.approx(max(1536 / hp, 1024 / hp, 2560 / dram))
    # stream-fed phases are cycle-bound here (1 beat per cycle = the HP rate); pixels too
    f = 125e6
    expected = 12 / f + (34 + 35 + 160) / f + (128 + 16 + 136) / f
    assert cost.seconds == pytest.approx(max(expected, cost.dma_seconds))
    # driver: 24 registers x 3 us + 3 DMA transfers x (30 start + 10 wait) + 10 start/done
    assert perf.call_overhead_us(board, transfers=3) == pytest.approx(24 * 3 + 3 * 40 + 10)
    assert perf.call_overhead_us(board) == pytest.approx(24 * 3 + 60 + 20 + 10)
    # the model charges only the registers that change between calls (the driver writes no others)
    assert perf.call_overhead_us(board, registers=0, transfers=3) == pytest.approx(3 * 40 + 10)


def test_layer_totals_and_bottleneck_arithmetic():
    report = perf.model(Z2, size=(32, 32), measure_cpu=False)
    board = perf.get_board(Z2)
    for layer in report.layers:
        assert layer.total_s == pytest.approx(layer.accel_s + layer.cpu_s + layer.overhead_s)
        side = layer.transfers - layer.calls * perf.DMA_TRANSFERS_PER_CALL
        assert layer.overhead_s * 1e6 == pytest.approx(layer.calls * perf.call_overhead_us(board, 0, 3)
                                                       + layer.register_writes * 3.0 + side * 40.0)
        assert layer.register_writes <= layer.calls * len(protocol.REGISTERS)
        if layer.calls:
            assert layer.accel_s >= max(layer.compute_s, layer.dma_s) * 0.999 or layer.accel_s >= layer.dma_s
    assert report.fps == pytest.approx(1 / sum(layer.total_s for layer in report.layers))
    from pynq_depth.perf.network import packaged_program

    packaged = packaged_program("z2-mnv2")
    layers = perf.network_layers(None, (32, 32), packaged)
    assert report.total("macs") == sum(layer.node.macs for layer in layers)
    # the packaged program's replicated channels are work the network itself does not have
    plain = perf.model(Z2, size=(32, 32), measure_cpu=False, program=None)
    extra = {name: info.shape[2] - info.network_channels for name, info in packaged.tensors.items()}
    expected = 0
    for layer in layers:
        node = layer.node
        if node.op == "conv":
            h, w, cout = node.out_shape
            taps = node.ksize ** 2
            grown_in = extra.get(node.inputs[0], 0) if node.kind != "dw3x3" else 0
            grown_out = extra.get(node.output, 0)
            expected += h * w * taps * (grown_out * (1 if node.kind == "dw3x3" else node.cin - grown_in)
                                        + grown_in * (cout - grown_out) + grown_in * grown_out)
    assert sum(extra.values()) > 0 and report.total("macs") - plain.total("macs") == expected > 0


def test_csim_beats_equal_model_bytes():
    """Beats the C-simulation backend really moves per layer == the model's DMA byte counts / 8."""
    pytest.importorskip("ctypes")
    from pynq_depth.backends.csim import BuildError, CsimBackend
    from pynq_depth.verify import random_network_program

    class CountingCsim(CsimBackend):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.beats: dict[str, list[int]] = {}
            self._lock = threading.Lock()
            self._layer = ""

        def run_conv(self, cmd, x, skip, out_dtype):
            self._layer = cmd.name
            return super().run_conv(cmd, x, skip, out_dtype)

        def run_host(self, cmd, tensors, program):
            self._layer = cmd.output
            return super().run_host(cmd, tensors, program)

        def call_kernel(self, regs, stream, n_out_beats, where="", side=None):
            out = super().call_kernel(regs, stream, n_out_beats, where, side)
            with self._lock:
                entry = self.beats.setdefault(self._layer, [0, 0, 0])
                entry[0] += int(np.asarray(stream).size) + (0 if side is None else int(np.asarray(side).size))
                entry[1] += int(out.size)
                entry[2] += 1
            return out

    hw = (32, 48)
    rng = np.random.default_rng(0)
    program = random_network_program(rng, input_hw=hw)
    backend = CountingCsim(threads=2)
    try:
        _ = backend.library
    except BuildError as exc:  # no compiler here
        pytest.skip(str(exc))
    rgb = rng.integers(0, 256, size=(hw[0], hw[1], 3)).astype(np.uint8)
    backend.run(program, rgb)
    report = perf.model(Z2, size=hw, measure_cpu=False, program=program)
    convs = [layer for layer in report.layers if layer.calls]
    resizes = [c for c in program.commands if getattr(c, "op", None) == "resize"]
    assert len(convs) == len(backend.beats) == len(program.conv_commands) + len(resizes)
    for layer in convs:
        beats_in, beats_out, n_calls = backend.beats[layer.name]
        assert (layer.in_bytes, layer.out_bytes, layer.calls) == (8 * beats_in, 8 * beats_out, n_calls), layer.name


def test_cli_bench_board_json(capsys):
    assert main(["bench", "--board", Z2, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["board"] == Z2 and data["config"] == "z2-mnv2" and data["input_hw"] == [240, 320]
    assert data["modelled_fps"] > 0
    assert data["modelled_fps"] == pytest.approx(1000.0 / data["total_ms"])
    names = [layer["name"] for layer in data["layers"]]
    assert "encoder.original_model.features.0" in names and "decoder.conv3" in names and "up4.resized" in names
    for layer in data["layers"]:
        assert {"kind", "mmac", "calls", "compute_ms", "dma_ms", "cpu_ms", "overhead_ms", "total_ms",
                "bottleneck"} <= set(layer)
        assert layer["bottleneck"] in ("compute", "dma", "cpu", "overhead")
    res = data["resources"]
    assert res["dsp_budget"] == 220 and res["bram36_budget"] == 140
    assert res["dsp"] >= 8 * 16 and res["over_budget"] == []


def test_cli_bench_board_table_and_plot(tmp_path, capsys):
    png = tmp_path / "perf.png"
    assert main(["bench", "--board", "zcu104", "--size", "64x96", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "frames/s" in out and "DSP" in out and "bottleneck" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_unknown_board_lists_boards(capsys):
    assert main(["bench", "--board", "de10-nano"]) != 0
    err = capsys.readouterr().err
    assert "de10-nano" in err
    for name in ("pynq-z2", "ultra96-v2", "kv260", "zcu104"):
        assert name in err
    with pytest.raises(perf.UnknownBoardError):
        perf.get_board("nope")
    assert perf.get_board("Ultra96V2").name == "ultra96-v2"


def test_what_if_variants_are_consistent():
    reports = perf.what_if(Z2, size=(64, 96), repeats=1)
    by_name = {r.variant.name: r for r in reports}
    shipped = by_name["shipped"]
    a = next(r for r in reports if r.variant.name.startswith("A:"))
    assert a.total("overhead_s") == pytest.approx(shipped.total("overhead_s") * 0.1)
    d = next(r for r in reports if r.variant.name.startswith("D:"))
    assert d.total("accel_s") < shipped.total("accel_s")
    assert d.resources["bram36"] > shipped.resources["bram36"]


def test_shipped_design_meets_the_goals_in_the_model():
    """The modelled frame rate of the shipped kernel/protocol (processor work not measured here)."""
    z2 = perf.model(Z2, measure_cpu=False)
    assert z2.resources["over_budget"] == [] and z2.total("calls") < 100
    assert z2.fps > 8.0


def test_cli_bench_board_with_measured_times(monkeypatch, capsys):
    """--backend fpga on a board: measured per-layer times beside the modelled ones (driver stubbed here)."""
    monkeypatch.setattr(cli, "_measured_layer_times", lambda args: {"decoder.conv3": 0.0123, "up4.resized": 0.002})
    assert main(["bench", "--board", Z2, "--backend", "fpga", "--size", "64x96", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["decoder.conv3"]["measured_ms"] == pytest.approx(12.3)
    assert "measured_ms" not in layers["decoder.conv2"]
    assert data["measured_ms"] == pytest.approx(14.3)
    assert main(["bench", "--board", Z2, "--backend", "fpga", "--size", "64x96"]) == 0
    assert "meas ms" in capsys.readouterr().out


def test_model_leaves_the_same_concats_unmade_as_the_driver():
    """G: the model's fused concats (and first-part widths) are those protocol.fused_concats picks for the
    shipped program, and a fused concat costs the processor nothing."""
    from pynq_depth import perf, protocol, runtime
    from pynq_depth.config import default_config
    from pynq_depth.program import load_program

    cfg = default_config()
    program = load_program(runtime.DEFAULT_WEIGHTS)
    model_fused = perf.fused_concat_layers(perf.network_layers(), cfg)
    assert set(model_fused) == protocol.fused_concats(program, cfg) and len(model_fused) == 5
    for name, first in model_fused.items():
        cmd = next(c for c in program.commands if c.output == name)
        assert program.tensors[cmd.inputs[0]].shape[2] == first
    concat = next(l for l in perf.network_layers() if l.node.output in model_fused)
    assert perf.measure_host_seconds(concat, cfg, 1, model_fused[concat.node.output]) == 0.0


def test_cli_bench_board_what_if(capsys):
    """``pynq-depth bench --board B --what-if``: the shipped design first, then each proposed change."""
    assert main(["bench", "--board", Z2, "--size", "64x96", "--what-if", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["variant"] == "shipped" and len(rows) > 2
    assert all(r["modelled_fps"] > 0 and r["resources"]["dsp"] > 0 for r in rows)
    assert main(["bench", "--what-if"]) == 2  # a what-if needs a board
    assert "--board" in capsys.readouterr().err
