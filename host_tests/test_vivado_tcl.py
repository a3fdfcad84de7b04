"""The Vivado overlay script (vivado/build_overlay.tcl), run under a plain tclsh with recording stubs.

No Vivado here: ``vivado/tests/vivado_stubs.tcl`` stands in for every Vivado
command the script uses and logs each call plus block-design events (cells,
properties, nets) as JSON lines.  These tests check that, for every board, the
script completes and builds the design the configuration describes.  What they
cannot check: timing closure, resource use, whether the pinned IP versions
exist in a real Vivado 2023.1, and whether the board presets accept the
properties (only a real Vivado run shows those).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from pynq_depth.config import ConfigError, HwConfig, default_config  # noqa: E402
from pynq_depth.vivado_config import BOARDS, config_tcl, effective_config, resolve_board, write_vivado_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DRY_RUN = REPO / "vivado" / "tests" / "dry_run.tcl"
TCLSH = shutil.which("tclsh")

needs_tclsh = pytest.mark.skipif(TCLSH is None, reason="tclsh (Tcl 8.6) is not installed: the Vivado dry run needs it")

#: Cell names of the block design (build_overlay.tcl's overlay::cells).
PS, DMA, SIDE, ACCEL = "/ps", "/axi_dma", "/axi_dma_side", "/conv_accel_0"
#: Family-specific PS names.
PS_NAMES = {
    "zynq7": dict(vlnv="xilinx.com:ip:processing_system7:", clock_prop="CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ",
                  gp="/ps/M_AXI_GP0", hp="/ps/S_AXI_HP0", clk="/ps/FCLK_CLK0",
                  aclks=("/ps/M_AXI_GP0_ACLK", "/ps/S_AXI_HP0_ACLK"), irq="/ps/IRQ_F2P",
                  enables={"CONFIG.PCW_USE_M_AXI_GP0": "1", "CONFIG.PCW_USE_S_AXI_HP0": "1"}),
    "zynqmp": dict(vlnv="xilinx.com:ip:zynq_ultra_ps_e:", clock_prop="CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
                   gp="/ps/M_AXI_HPM0_FPD", hp="/ps/S_AXI_HP0_FPD", clk="/ps/pl_clk0",
                   aclks=("/ps/maxihpm0_fpd_aclk", "/ps/saxihp0_fpd_aclk"), irq="/ps/pl_ps_irq0",
                   enables={"CONFIG.PSU__USE__M_AXI_GP0": "1", "CONFIG.PSU__USE__S_AXI_GP2": "1"}),
}


class DryRun:
    """The parsed log of one dry run."""

    def __init__(self, log: Path, proc: subprocess.CompletedProcess, overlays: Path, build: Path):
        self.proc = proc
        self.overlays = overlays
        self.build = build
        self.records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        self.calls = [r for r in self.records if "cmd" in r]
        self.cells = {r["name"]: r["vlnv"] for r in self.records if r.get("event") == "cell"}
        self.props: dict[str, dict[str, str]] = defaultdict(dict)
        for r in self.records:
            if r.get("event") == "prop":
                self.props[r["obj"]][r["key"]] = r["value"]
        self.intf_nets = [tuple(r["pins"]) for r in self.records if r.get("event") == "intf_net"]
        self.nets = [r["pins"] for r in self.records if r.get("event") == "net"]

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    def commands(self) -> list[str]:
        return [c["cmd"] for c in self.calls]

    def index(self, cmd: str) -> int:
        return self.commands().index(cmd)

    def net_of(self, pin: str) -> list[str]:
        found = [net for net in self.nets if pin in net]
        assert len(found) == 1, f"{pin} is on {len(found)} nets"
        return found[0]

    def reaches(self, start: str, goal: str) -> bool:
        """Whether an AXI path joins two interface pins (through SmartConnects, which join all their ports)."""
        graph: dict[str, set[str]] = defaultdict(set)
        for a, b in self.intf_nets:
            graph[a].add(b)
            graph[b].add(a)
        interconnects = {name for name, vlnv in self.cells.items() if ":smartconnect:" in vlnv}
        for ic in interconnects:
            ports = [p for net in self.intf_nets for p in net if p.rsplit("/", 1)[0] == ic]
            for p in ports:
                graph[p].update(q for q in ports if q != p)
        seen, todo = {start}, [start]
        while todo:
            node = todo.pop()
            for nxt in graph[node] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return goal in seen


def dry_run(tmp_path: Path, board: str, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
            config: HwConfig | None = None, fake_ip: bool = True) -> DryRun:
    build = tmp_path / board
    ip_repo = tmp_path / "ip"
    ip_repo.mkdir(exist_ok=True)
    if fake_ip:
        (ip_repo / "component.xml").write_text("<!-- test placeholder -->\n")
    overlays = tmp_path / "overlays"
    _, cfg_tcl = write_vivado_config(build, board, config, ip_repo=ip_repo, overlays=overlays)
    log = tmp_path / f"{board}.jsonl"
    proc = subprocess.run([TCLSH, str(DRY_RUN), str(log), str(cfg_tcl), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=tmp_path)
    return DryRun(log, proc, overlays, build)


# ---------------------------------------------------------------------------
# the generated configuration (no tclsh needed)

def test_default_board_keeps_the_configuration_and_its_hw_id():
    config = default_config()
    board = config.raw["target"]["board"]
    assert effective_config(config, board) is config
    assert BOARDS[board].part == config.part


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_other_boards_get_their_part_and_their_own_hw_id(board):
    config = default_config()
    eff = effective_config(config, board)
    assert eff.part == BOARDS[board].part
    assert eff.arith_id == config.arith_id  # same weights files work on every board
    if board != config.raw["target"]["board"]:
        assert eff.hw_id != config.hw_id    # but no bitstream is mistaken for another board's


def test_one_board_table_for_vivado_and_the_performance_model(tmp_path):
    """The Vivado build and the performance model read the same table; a configuration names only its
    board, and a stray target.part that disagrees with the table is refused."""
    from pynq_depth import perf
    from pynq_depth.config import load_config

    assert resolve_board("ultra96v2") == "ultra96-v2" and resolve_board("KV260") == "kv260"
    for name, spec in BOARDS.items():
        assert perf.get_board(name) == spec
        assert spec.ps_family in ("zynq7", "zynqmp") and spec.addr_bits == (32 if spec.ps_family == "zynq7" else 64)
    assert "part" not in default_config().raw["target"]
    assert default_config().part == BOARDS[default_config().board].part == "xc7z020clg400-1"
    raw = json.loads(json.dumps(default_config().raw))
    raw["target"]["part"] = "xczu7ev-ffvc1156-2-e"
    path = tmp_path / "stray_part.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="not the pynq-z2 part"):
        load_config(path)


def test_unknown_board_and_bad_dma_width_are_refused():
    config = default_config()
    with pytest.raises(ConfigError, match="unknown board"):
        effective_config(config, "zedboard")
    raw = json.loads(json.dumps(config.raw))
    raw["dma"]["buffer_length_bits"] = 27
    with pytest.raises(ConfigError, match="8..26"):
        config_tcl(HwConfig(raw=raw, path=config.path), config.raw["target"]["board"], "ip", "overlays")
    raw = json.loads(json.dumps(config.raw))
    raw["tools"]["vivado"] = "2019.1"
    with pytest.raises(ConfigError, match="no IP version table"):
        config_tcl(HwConfig(raw=raw, path=config.path), config.raw["target"]["board"], "ip", "overlays")


# ---------------------------------------------------------------------------
# the dry run

@needs_tclsh
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_block_design_and_bitstream_for_every_board(tmp_path, board):
    config = effective_config(default_config(), board)
    run = dry_run(tmp_path, board)
    assert run.ok, run.proc.stdout + run.proc.stderr
    assert "UNSTUBBED" not in run.commands()
    spec = BOARDS[board]
    names = PS_NAMES[spec.ps_family]

    # project for the board's part, with its board files and the HLS IP repository
    create = run.calls[run.index("create_project")]
    assert create["args"][create["args"].index("-part") + 1] == spec.part == config.part
    project = create["ret"]
    assert run.props[project]["board_part"].split(":")[1:3] == spec.board_part_glob.split(":")[1:3]
    assert run.props[project]["ip_repo_paths"] == str(tmp_path / "ip")

    # processing system of the board's family, GP master and HP slave enabled, clock from the config
    assert run.cells[PS].startswith(names["vlnv"])
    for key, value in names["enables"].items():
        assert run.props[PS][key] == value
    assert float(run.props[PS][names["clock_prop"]]) == config.clock_mhz
    automation = [c for c in run.calls if c["cmd"] == "apply_bd_automation"]
    assert len(automation) == 1 and 'apply_board_preset "1"' in " ".join(automation[0]["args"])
    assert run.index("apply_bd_automation") < min(
        i for i, c in enumerate(run.calls) if c["cmd"] == "set_property" and c["args"][-1] == PS)

    # AXI DMA: simple mode, 26-bit length register, stream width from the configuration
    assert run.cells[DMA].startswith("xilinx.com:ip:axi_dma:")
    dma = run.props[DMA]
    assert dma["CONFIG.c_include_sg"] == "0"
    assert int(dma["CONFIG.c_sg_length_width"]) == config.raw["dma"]["buffer_length_bits"] == 26
    assert int(dma["CONFIG.c_m_axis_mm2s_tdata_width"]) == config.stream_bits
    assert int(dma["CONFIG.c_s_axis_s2mm_tdata_width"]) == config.stream_bits
    assert int(dma["CONFIG.c_m_axi_mm2s_data_width"]) == int(dma["CONFIG.c_m_axi_s2mm_data_width"]) == 64

    # the side DMA: simple mode, MM2S only, same widths
    assert run.cells[SIDE].startswith("xilinx.com:ip:axi_dma:")
    side = run.props[SIDE]
    assert side["CONFIG.c_include_sg"] == "0" and side["CONFIG.c_include_mm2s"] == "1"
    assert side["CONFIG.c_include_s2mm"] == "0"
    assert int(side["CONFIG.c_sg_length_width"]) == 26
    assert int(side["CONFIG.c_m_axis_mm2s_tdata_width"]) == config.stream_bits
    assert int(side["CONFIG.c_m_axi_mm2s_data_width"]) == 64

    # the HLS IP by the configuration's VLNV; streams DMA -> accel -> DMA, side DMA -> accel side input
    assert run.cells[ACCEL] == config.vlnv
    assert (f"{DMA}/M_AXIS_MM2S", f"{ACCEL}/in_r") in run.intf_nets
    assert (f"{SIDE}/M_AXIS_MM2S", f"{ACCEL}/side") in run.intf_nets
    assert (f"{ACCEL}/out_r", f"{DMA}/S_AXIS_S2MM") in run.intf_nets

    # register files reachable from the GP master, DMA masters reach the HP port
    assert run.reaches(names["gp"], f"{DMA}/S_AXI_LITE")
    assert run.reaches(names["gp"], f"{ACCEL}/s_axi_control")
    assert run.reaches(names["gp"], f"{SIDE}/S_AXI_LITE")
    assert run.reaches(f"{SIDE}/M_AXI_MM2S", names["hp"])
    assert run.reaches(f"{DMA}/M_AXI_MM2S", names["hp"])
    assert run.reaches(f"{DMA}/M_AXI_S2MM", names["hp"])
    assert not run.reaches(names["gp"], names["hp"])  # control and data paths stay separate

    # one clock domain: the PS fabric clock drives every clock input; resets from the reset bridge
    clock_net = run.net_of(names["clk"])
    for pin in (*names["aclks"], f"{ACCEL}/ap_clk", f"{DMA}/s_axi_lite_aclk", f"{DMA}/m_axi_mm2s_aclk",
                f"{DMA}/m_axi_s2mm_aclk", f"{SIDE}/s_axi_lite_aclk", f"{SIDE}/m_axi_mm2s_aclk"):
        assert pin in clock_net
    assert f"{ACCEL}/ap_rst_n" in run.net_of(f"{DMA}/axi_resetn")
    assert f"{SIDE}/axi_resetn" in run.net_of(f"{DMA}/axi_resetn")
    # interrupts gathered to the PS
    irq_net = run.net_of(names["irq"])
    assert len(irq_net) == 2

    # order: validated design, then implementation, then the bitstream
    order = [run.index(c) for c in ("assign_bd_address", "validate_bd_design", "make_wrapper", "launch_runs",
                                    "wait_on_run", "open_run", "write_bitstream")]
    assert order == sorted(order)
    launch = run.calls[run.index("launch_runs")]["args"]
    assert "impl_1" in launch

    # published under the hw_id name, as placeholders (the stubs never make a real bitstream)
    name = f"pynq_depth_{config.hw_id}"
    written = run.calls[run.index("write_bitstream")]["args"][-1]
    assert Path(written).name == f"{name}.bit"
    for ext in ("bit", "hwh", "json"):
        assert (run.overlays / f"{name}.{ext}").is_file()
    assert (run.overlays / f"{name}.bit").read_text().startswith("DRY-RUN PLACEHOLDER")
    assert json.loads((run.overlays / f"{name}.json").read_text()) == config.raw
    if board == default_config().raw["target"]["board"]:
        assert config.hw_id == default_config().hw_id


@needs_tclsh
def test_steps_bd_stops_before_synthesis(tmp_path):
    run = dry_run(tmp_path, "pynq-z2", args=("-steps", "bd"))
    assert run.ok, run.proc.stderr
    assert "validate_bd_design" in run.commands()
    assert "launch_runs" not in run.commands() and "write_bitstream" not in run.commands()
    assert not run.overlays.exists()


@needs_tclsh
@pytest.mark.parametrize("env, message", [
    ({"STUB_HLS_TDATA_BYTES": "4"}, "bits wide"),
    ({"STUB_HLS_TLAST": "0"}, "TLAST"),
    ({"STUB_HLS_DISPLAY_NAME": "pynq-depth conv_accel z2i8-h00000000"}, "not built for"),
    ({"STUB_VIVADO_VERSION": "2024.2"}, "configuration pins"),
    ({"STUB_NO_BOARD_FILES": "1"}, "no board files"),
    ({"STUB_MISSING_IPDEF": "xilinx.com:ip:axi_dma:7.1"}, "not in the catalogue"),
    ({"STUB_WNS": "-0.120"}, "timing not met"),
], ids=["stream-width", "no-tlast", "stale-hls-ip", "vivado-version", "board-files", "ip-version", "timing"])
def test_refusals_publish_nothing(tmp_path, env, message):
    run = dry_run(tmp_path, "pynq-z2", env=env)
    assert not run.ok
    assert message in run.proc.stderr
    assert not run.overlays.exists() or not any(run.overlays.iterdir())


@needs_tclsh
def test_missing_hls_export_is_reported(tmp_path):
    run = dry_run(tmp_path, "zcu104", fake_ip=False)
    assert not run.ok
    assert "component.xml missing" in run.proc.stderr
    assert "create_bd_design" not in run.commands()


@needs_tclsh
@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_dry_run(tmp_path):
    before = sorted(p.name for p in (REPO / "overlays").glob("*"))
    proc = subprocess.run(["make", "-s", "dry-run", "BOARD=kv260", f"DRY={tmp_path}/dry", f"PYTHON={sys.executable}"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run completed" in proc.stdout
    hw_id = effective_config(default_config(), "kv260").hw_id
    assert (tmp_path / "dry" / "overlays" / f"pynq_depth_{hw_id}.bit").is_file()
    assert sorted(p.name for p in (REPO / "overlays").glob("*")) == before  # the real overlays/ is untouched
