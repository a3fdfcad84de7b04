"""Where overlays live and how they are named (no pynq import).

Overlays are named after the configuration they were built for,
``pynq_depth_<hw_id>.bit`` with ``.hwh`` (and optionally ``.json``) beside it,
and are searched in ``$PYNQ_DEPTH_OVERLAY_DIR``, the package's ``overlays/``
folder, then the repository's ``overlays/`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...config import HwConfig, default_config
from .errors import OverlayError

PACKAGE_OVERLAYS = Path(__file__).resolve().parents[2] / "overlays"
REPO_OVERLAYS = Path(__file__).resolve().parents[3] / "overlays"


def overlay_stem(config: HwConfig | None = None) -> str:
    """``pynq_depth_<hw_id>``: the base name of this configuration's bitstream."""
    return f"pynq_depth_{(config or default_config()).hw_id}"


def overlay_search_dirs() -> list[Path]:
    """Folders searched for overlays, in order."""
    dirs = []
    env = os.environ.get("PYNQ_DEPTH_OVERLAY_DIR")
    if env:
        dirs.append(Path(env))
    dirs += [PACKAGE_OVERLAYS, REPO_OVERLAYS]
    return dirs


def find_overlay(config: HwConfig | None = None) -> Path:
    """Path of this configuration's ``.bit`` (with its ``.hwh``).

    Raises
    ------
    OverlayError
        Saying where it looked and what it found instead (a ``.bit`` without
        ``.hwh``, bitstreams for other configurations).
    """
    config = config or default_config()
    stem = overlay_stem(config)
    others: list[str] = []
    for folder in overlay_search_dirs():
        bit = folder / f"{stem}.bit"
        if bit.is_file():
            if not bit.with_suffix(".hwh").is_file():
                raise OverlayError(f"{bit} has no {bit.with_suffix('.hwh').name} beside it; PYNQ needs both")
            return bit
        if folder.is_dir():
            others += [p.name for p in sorted(folder.glob("pynq_depth_*.bit"))]
    where = ", ".join(str(d) for d in overlay_search_dirs())
    hint = f"; found only bitstreams for other configurations: {', '.join(others)}" if others else ""
    raise OverlayError(f"no overlay {stem}.bit for configuration {config.hw_id} in {where}{hint}; build it "
                       f"(`make` in a checkout) or put its .bit and .hwh in $PYNQ_DEPTH_OVERLAY_DIR")
