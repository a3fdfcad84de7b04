"""Generate the Vivado overlay build's configuration (``vivado/build/<board>/config.tcl``).

``vivado/build_overlay.tcl`` types nothing about the target: part, board files,
processing-system family, clock, stream and DMA widths, the HLS IP's VLNV, the
IP catalogue versions and the bitstream's name all come from the Tcl file
written here, which is derived from ``hw_config.json``.

Selecting a board other than the configuration's own (``make BOARD=zcu104``)
derives an *effective* configuration: the same JSON with ``target.board``
replaced (the part follows from the board table, :mod:`pynq_depth.boards`).  Its ``hw_id`` therefore differs from the default one,
so a bitstream for the ZCU104 can never be mistaken for a PYNQ-Z2 bitstream.
The effective JSON is written next to ``config.tcl`` (the HLS IP is generated
from it too, because the HLS part must match) and published beside the
bitstream as ``pynq_depth_<hw_id>.json``.

Usage::

    python -m pynq_depth.vivado_config vivado/build/pynq-z2 --board pynq-z2 \\
        --ip-repo hls/build/conv_accel_prj/sol1/impl/ip --overlays overlays
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

from .boards import Board, UnknownBoardError, all_boards, get_board
from .config import write_if_changed
from .config import ConfigError, HwConfig, default_config, load_config


#: Boards the overlay can be built for: the one board table (part, PS family, HP port and address
#: widths, board-file pattern), shared with the performance model.
BOARDS: dict[str, Board] = all_boards()


def resolve_board(name: str) -> str:
    """The canonical board key for ``name`` (a key of :data:`BOARDS` or an alias).

    Raises
    ------
    ConfigError
        For an unknown board.
    """
    try:
        return get_board(name).name
    except UnknownBoardError:
        raise ConfigError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


#: Catalogue versions of the Xilinx IPs used, per Vivado release.  Pinned (not
#: "latest") so a build with another Vivado fails loudly instead of silently
#: upgrading an IP; add a row when moving to a new release.
IP_VERSIONS: dict[str, dict[str, str]] = {
    "2023.1": {
        "processing_system7": "xilinx.com:ip:processing_system7:5.5",
        "zynq_ultra_ps_e": "xilinx.com:ip:zynq_ultra_ps_e:3.5",
        "axi_dma": "xilinx.com:ip:axi_dma:7.1",
        "smartconnect": "xilinx.com:ip:smartconnect:1.0",
        "proc_sys_reset": "xilinx.com:ip:proc_sys_reset:5.0",
        "xlconcat": "xilinx.com:ip:xlconcat:2.1",
    },
}

#: Where ``hls/run_hls.tcl`` leaves the exported IP catalogue (project
#: ``conv_accel_prj``, solution ``sol1``; ``impl/ip`` holds ``component.xml``).
DEFAULT_IP_REPO = Path("hls/build/conv_accel_prj/sol1/impl/ip")


def effective_config(config: HwConfig, board: str) -> HwConfig:
    """The configuration for ``board``: ``config`` itself for its own board, else a copy retargeted.

    Raises
    ------
    ConfigError
        For an unknown board.
    """
    board = resolve_board(board)
    if config.board == board:
        return config
    raw = copy.deepcopy(config.raw)
    raw["target"]["board"] = board
    raw["target"].pop("part", None)  # the board table gives the part
    return HwConfig(raw=raw, path=config.path)


def _tcl_word(value: object) -> str:
    text = str(value)
    if any(c in text for c in "{}\\\n[]$\""):
        raise ConfigError(f"value {text!r} cannot be written as a Tcl word")
    return "{" + text + "}"


def config_tcl(config: HwConfig, board: str, ip_repo: str | Path, overlays: str | Path) -> str:
    """Text of ``config.tcl`` for ``build_overlay.tcl``.

    ``config`` must already be the effective configuration for ``board``
    (see :func:`effective_config`).
    """
    board = resolve_board(board)
    spec = BOARDS[board]
    if config.raw["target"].get("board") != board or config.part != spec.part:
        raise ConfigError(f"configuration targets {config.raw['target'].get('board')!r}, not {board!r}")
    tools = config.raw.get("tools", {})
    vivado = str(tools.get("vivado", ""))
    if vivado not in IP_VERSIONS:
        raise ConfigError(f"no IP version table for Vivado {vivado!r} (tools.vivado); known: {sorted(IP_VERSIONS)}")
    dma = config.raw.get("dma", {})
    if "buffer_length_bits" not in dma:
        raise ConfigError(f"{config.path}: dma.buffer_length_bits is required for the overlay")
    length_bits = int(dma["buffer_length_bits"])
    # AXI DMA's "Width of Buffer Length Register" accepts 8..26 bits.
    if not 8 <= length_bits <= 26:
        raise ConfigError(f"{config.path}: dma.buffer_length_bits must be in 8..26 (AXI DMA limit)")
    ip = config.raw["ip"]
    values: list[tuple[str, object]] = [
        ("HW_ID", config.hw_id),
        ("ARITH_ID", config.arith_id),
        ("BOARD", board),
        ("PART", spec.part),
        ("BOARD_PART_GLOB", spec.board_part_glob),
        ("PS_FAMILY", spec.ps_family),
        ("CLOCK_MHZ", f"{config.clock_mhz:g}"),
        ("STREAM_BITS", config.stream_bits),
        ("DMA_LENGTH_BITS", length_bits),
        ("DMA_MM_BITS", spec.hp_data_bits),
        ("DMA_ADDR_BITS", spec.addr_bits),
        ("HLS_VLNV", config.vlnv),
        ("HLS_NAME", ip["name"]),
        ("VIVADO_VERSION", vivado),
        ("IP_REPO", Path(ip_repo).resolve()),
        ("OVERLAYS_DIR", Path(overlays).resolve()),
        ("OVERLAY_NAME", f"pynq_depth_{config.hw_id}"),
    ]
    lines = [
        "# Generated by `python -m pynq_depth.vivado_config` from " + config.path.name
        + " - do not edit, do not commit.",
        "namespace eval ::cfg {}",
    ]
    lines += [f"set ::cfg::{key} {_tcl_word(value)}" for key, value in values]
    lines.append("set ::cfg::IP_VLNV [dict create]")
    for key, vlnv in sorted(IP_VERSIONS[vivado].items()):
        lines.append(f"dict set ::cfg::IP_VLNV {key} {_tcl_word(vlnv)}")
    lines.append("")
    return "\n".join(lines)


def write_vivado_config(outdir: str | Path, board: str, config: HwConfig | None = None,
                        ip_repo: str | Path = DEFAULT_IP_REPO, overlays: str | Path = "overlays") -> list[Path]:
    """Write ``hw_config.json`` (effective configuration) and ``config.tcl`` into ``outdir``.

    Returns
    -------
    list of Path
        The two files.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    board = resolve_board(board)
    eff = effective_config(config or default_config(), board)
    json_text = json.dumps(eff.raw, indent=2) + "\n"
    return [write_if_changed(outdir / "hw_config.json", json_text),
            write_if_changed(outdir / "config.tcl", config_tcl(eff, board, ip_repo, overlays))]


def main(argv: list[str] | None = None) -> int:
    """``python -m pynq_depth.vivado_config OUTDIR [--board B] [--config F] [--ip-repo D] [--overlays D]``."""
    parser = argparse.ArgumentParser(prog="python -m pynq_depth.vivado_config",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("outdir", help="where to write hw_config.json and config.tcl")
    parser.add_argument("--board", default=None,
                        help=f"one of {', '.join(BOARDS)} (default: the configuration's target.board)")
    parser.add_argument("--config", default=None, help="hardware configuration JSON (packaged default)")
    parser.add_argument("--ip-repo", default=os.fspath(DEFAULT_IP_REPO), help="exported HLS IP directory")
    parser.add_argument("--overlays", default="overlays", help="where the .bit/.hwh are published")
    parser.add_argument("--print-hw-id", action="store_true", help="also print the effective hw_id")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        board = args.board or str(config.raw["target"].get("board", ""))
        paths = write_vivado_config(args.outdir, board, config, args.ip_repo, args.overlays)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    if args.print_hw_id:
        print(effective_config(config, board).hw_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
