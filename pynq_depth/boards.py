"""The boards pynq-depth targets: one table (``boards.json``) for the Vivado build and the performance model.

Each board has its part, processing-system family, HP port and DMA address
widths and board-file pattern (what :mod:`pynq_depth.vivado_config` writes for
the Vivado Tcl), and its device resources, memory bandwidth, processor speed
factor and driver costs (what :mod:`pynq_depth.perf` models).  A hardware
configuration names its board (``target.board``); its part is looked up here,
never stored twice.  This module imports nothing else of the package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

BOARDS_PATH = Path(__file__).with_name("boards.json")


class UnknownBoardError(ValueError):
    """An unknown board name, or a malformed board table (the message lists the known boards)."""


@dataclass(frozen=True)
class Board:
    """One board of ``boards.json`` (see its ``notes`` for the sources and assumptions).

    Every field of the table is an attribute (``board.dsp``, ``board.part``,
    ``board.cpu_factor``, ...); the names the Vivado build uses have typed
    properties.
    """

    name: str
    raw: dict[str, Any]

    def __getattr__(self, key: str) -> Any:  # plain fields: board.dsp, board.part, ...
        try:
            return self.raw[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def part(self) -> str:
        """FPGA part number."""
        return str(self.raw["part"])

    @property
    def ps_family(self) -> str:
        """``zynq7`` (processing_system7) or ``zynqmp`` (zynq_ultra_ps_e)."""
        return str(self.raw["family"])

    @property
    def hp_data_bits(self) -> int:
        """Width of the PS high-performance slave port the DMA masters use (and of the DMA's memory side)."""
        return int(self.raw["hp_port_bits"])

    @property
    def addr_bits(self) -> int:
        """Width of the DMA's addresses (32 on Zynq-7000, 64 on MPSoC)."""
        return int(self.raw["addr_bits"])

    @property
    def board_part_glob(self) -> str:
        """Pattern for Vivado's ``get_board_parts -latest_file_version``."""
        return str(self.raw["board_part_glob"])

    def hp_bytes_per_s(self, clock_mhz: float) -> float:
        """One direction of the HP port at the kernel clock."""
        return self.hp_data_bits / 8 * clock_mhz * 1e6

    @property
    def dram_bytes_per_s(self) -> float:
        """Usable DRAM bandwidth shared by both DMA directions (peak x efficiency)."""
        return self.raw["dram_gbps"] * 1e9 * self.raw["dram_efficiency"]


@lru_cache(maxsize=1)
def _board_table() -> dict[str, Any]:
    try:
        return json.loads(BOARDS_PATH.read_text())["boards"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise UnknownBoardError(f"{BOARDS_PATH}: cannot read the board table ({exc})") from None


def board_names() -> list[str]:
    """Names of the known boards, in table order."""
    return list(_board_table())


def get_board(name: str) -> Board:
    """Look a board up by name or alias (case-insensitive).

    Raises
    ------
    UnknownBoardError
        With the list of known boards.
    """
    table = _board_table()
    key = name.strip().lower()
    for board, raw in table.items():
        if key == board or key in raw.get("aliases", ()):
            return Board(board, raw)
    raise UnknownBoardError(f"unknown board {name!r}; known boards: {', '.join(table)}")


def all_boards() -> dict[str, Board]:
    """Every board by canonical name."""
    return {name: get_board(name) for name in board_names()}


def detect_board(default: str = "pynq-z2") -> str:
    """The board this runs on, the PYNQ way (``/proc/device-tree/chosen/pynq_board`` or ``$BOARD``), else ``default``."""
    names = [os.environ.get("BOARD", "")]
    node = Path("/proc/device-tree/chosen/pynq_board")
    try:
        names.insert(0, node.read_text().strip("\x00\n "))
    except OSError:
        pass
    for name in names:
        if name:
            try:
                return get_board(name).name
            except UnknownBoardError:
                continue
    return default
