"""The one hardware/arithmetic configuration of the accelerator.

Everything that must agree between the quantiser, the emulator, the HLS kernel,
the Vivado block design, the driver and the performance model is read from a
single JSON file (``pynq_depth/hw_config.json`` by default).  Two identities are
derived from it:

* ``arith_id`` - hashes only what changes the *numbers* (data widths, rounding,
  layer kinds).  A weights file records it; loading weights built for another
  arithmetic is refused.
* ``hw_id`` - hashes everything that changes the *hardware* (also parallelism,
  buffer sizes, stream width, part, clock).  Bitstreams are named after it so a
  driver can refuse an overlay built for another configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .boards import UnknownBoardError, get_board

DEFAULT_CONFIG_PATH = Path(__file__).with_name("hw_config.json")

#: Keys whose content defines the arithmetic (and therefore the weights file).
_ARITH_KEYS = ("arith", "layer_kinds", "activations", "host_ops")
#: Keys that only describe tooling; they never change the hardware.
_NON_HW_KEYS = ("description", "tools")


class ConfigError(ValueError):
    """A configuration file is missing, malformed or inconsistent."""


def _digest(obj: Any) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class HwConfig:
    """Parsed accelerator configuration.

    Attributes
    ----------
    raw : dict
        The JSON content, unchanged.
    path : Path
        Where it was read from.
    """

    raw: dict[str, Any]
    path: Path = field(default=DEFAULT_CONFIG_PATH)

    # ----- identities -------------------------------------------------
    @property
    def name(self) -> str:
        """Short human name of the configuration."""
        return str(self.raw["name"])

    @property
    def arith_id(self) -> str:
        """Identity of the arithmetic: ``<name>-a<hash>``; stored in weights files."""
        return f"{self.name}-a{_digest({k: self.raw[k] for k in _ARITH_KEYS})}"

    @property
    def hw_id(self) -> str:
        """Identity of the whole hardware: ``<name>-h<hash>``; names bitstreams.

        The part is hashed as the board table gives it (the configuration names only its board).
        """
        hw = {k: v for k, v in self.raw.items() if k not in _NON_HW_KEYS}
        hw["target"] = {**hw["target"], "part": self.part}
        return f"{self.name}-h{_digest(hw)}"

    # ----- arithmetic -------------------------------------------------
    @property
    def act_bits(self) -> int:
        """Width of activations in the stream (8)."""
        return int(self.raw["arith"]["act_bits"])

    @property
    def wide_out_bits(self) -> int:
        """Width of the final depth layer's output (16), for depth precision."""
        return int(self.raw["arith"]["wide_out_bits"])

    @property
    def weight_bits(self) -> int:
        """Width of weights (8)."""
        return int(self.raw["arith"]["weight_bits"])

    @property
    def mult_bits(self) -> int:
        """Width of the unsigned requantisation multiplier (16: values < 2**15)."""
        return int(self.raw["arith"]["mult_bits"])

    @property
    def max_shift(self) -> int:
        """Largest requantisation right shift."""
        return int(self.raw["arith"]["max_shift"])

    @property
    def resize_frac_bits(self) -> int:
        """Fractional bits of the bilinear resize weights."""
        return int(self.raw["arith"]["resize_frac_bits"])

    @property
    def leaky_slope(self) -> float:
        """Negative slope of LeakyReLU (folded into a second multiplier)."""
        return float(self.raw["arith"]["leaky_slope"])

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """Convolution kinds the accelerator executes."""
        return tuple(self.raw["layer_kinds"])

    # ----- hardware ---------------------------------------------------
    @property
    def pe_in(self) -> int:
        """Input channels consumed per cycle."""
        return int(self.raw["parallel"]["pe_in"])

    @property
    def pe_out(self) -> int:
        """Output channels produced per cycle."""
        return int(self.raw["parallel"]["pe_out"])

    @property
    def stream_bits(self) -> int:
        """AXI-Stream data width in bits."""
        return int(self.raw["stream"]["data_bits"])

    @property
    def max_width(self) -> int:
        """Largest feature-map width the line buffers hold."""
        return int(self.raw["buffers"]["max_width"])

    @property
    def max_channels(self) -> int:
        """Largest channel count of any layer."""
        return int(self.raw["buffers"]["max_channels"])

    @property
    def board(self) -> str:
        """Board the overlay is built for (``target.board``, a name of :mod:`pynq_depth.boards`)."""
        return str(self.raw["target"]["board"])

    @property
    def part(self) -> str:
        """FPGA part the overlay is built for: the board's, from the board table."""
        return get_board(self.board).part

    @property
    def clock_mhz(self) -> float:
        """Kernel clock in MHz."""
        return float(self.raw["target"]["clock_mhz"])

    @property
    def vlnv(self) -> str:
        """Vendor:library:name:version of the HLS IP (what the driver binds to)."""
        ip = self.raw["ip"]
        return f"{ip['vendor']}:{ip['library']}:{ip['name']}:{ip['version']}"


_REQUIRED = {
    "name": str,
    "arith": dict,
    "layer_kinds": list,
    "activations": list,
    "host_ops": list,
    "parallel": dict,
    "buffers": dict,
    "stream": dict,
    "target": dict,
    "ip": dict,
}


def _validate(raw: Any, path: Path) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a JSON object")
    for key, typ in _REQUIRED.items():
        if not isinstance(raw.get(key), typ):
            raise ConfigError(f"{path}: missing or malformed key {key!r}")
    arith = raw["arith"]
    if arith.get("act_bits") != 8 or arith.get("weight_bits") != 8:
        raise ConfigError(f"{path}: only 8-bit activations and weights are implemented")
    if not 2 <= int(arith.get("mult_bits", 0)) <= 16:
        raise ConfigError(f"{path}: mult_bits must be in 2..16")
    par = raw["parallel"]
    for key in ("pe_in", "pe_out"):
        value = par.get(key)
        if not isinstance(value, int) or value < 1 or value & (value - 1):
            raise ConfigError(f"{path}: parallel.{key} must be a power of two >= 1")
    if raw["stream"].get("data_bits") not in (32, 64, 128):
        raise ConfigError(f"{path}: stream.data_bits must be 32, 64 or 128")
    target = raw["target"]
    try:
        board = get_board(str(target.get("board", "")))
    except UnknownBoardError as exc:
        raise ConfigError(f"{path}: target.board: {exc}") from None
    if "part" in target and target["part"] != board.part:  # the part comes from the board table
        raise ConfigError(f"{path}: target.part {target['part']!r} is not the {board.name} part {board.part!r}; "
                          f"leave target.part out (the board table gives it)")


def load_config(path: str | Path | None = None) -> HwConfig:
    """Read and validate a hardware configuration.

    Parameters
    ----------
    path : str or Path, optional
        JSON file; the packaged default when omitted.

    Returns
    -------
    HwConfig
        The parsed configuration.

    Raises
    ------
    ConfigError
        When the file cannot be read or is inconsistent.
    """
    if path is None:
        return default_config()
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration ({exc})") from None
    _validate(raw, path)
    return HwConfig(raw=raw, path=path)


@lru_cache(maxsize=1)
def default_config() -> HwConfig:
    """The packaged configuration (cached)."""
    raw = json.loads(DEFAULT_CONFIG_PATH.read_text())
    _validate(raw, DEFAULT_CONFIG_PATH)
    return HwConfig(raw=raw, path=DEFAULT_CONFIG_PATH)


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` only when the file differs: stable timestamps keep make and caches from rebuilding."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
