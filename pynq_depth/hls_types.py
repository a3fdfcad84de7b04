"""Where Xilinx's arbitrary-precision integer headers (``ap_int.h``) come from for C simulation.

The HLS kernel is simulated with Xilinx's own ``ap_int`` / ``ap_uint`` so that
every shift, sign extension, truncation and overflow rule the simulation sees is
the one Vitis HLS synthesises.  Xilinx publishes those headers under Apache-2.0;
the ``hls4ml`` wheel on PyPI ships a copy under ``hls4ml/templates/vivado/ap_types/``
(``ap_int.h``, ``ap_int_base.h``, ``ap_int_ref.h``, ``etc/ap_private.h``, ...).
It comes with the ``csim`` and ``test`` extras (``pip install "pynq-depth[csim]"``;
its own dependencies are small: h5py, pyyaml, quantizers, pydigitalwavetools).
Only header files are used; ``hls4ml`` itself is never imported, so
``python -m pip install --no-deps "hls4ml==1.3.0"`` is enough too.

Only the Apache-2.0 integer headers are used.  That folder's ``hls_stream.h``
carries a proprietary notice, so the project keeps its own ``hls/csim_include/``
(``hls_stream.h``, ``ap_axi_sdata.h``), searched first.

``$PYNQ_DEPTH_AP_TYPES`` may name another folder holding ``ap_int.h`` (for example
the ``include/`` folder of a Vitis HLS installation).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: The pinned distribution that provides the headers.
HLS4ML_REQUIREMENT = "hls4ml==1.3.0"
#: How to install it.
PIP_COMMAND = f'python -m pip install "{HLS4ML_REQUIREMENT}"  (or: pip install "pynq-depth[csim]")'
#: Folder of the headers inside the hls4ml package.
AP_TYPES_SUBDIR = Path("templates") / "vivado" / "ap_types"
#: Headers the kernel needs from that folder (``ap_int.h`` includes the others).
REQUIRED_HEADERS = ("ap_int.h", "ap_int_base.h", "ap_int_ref.h", "ap_common.h", "etc/ap_private.h")
#: Environment variable naming another folder with the same headers.
ENV_VAR = "PYNQ_DEPTH_AP_TYPES"


class ApTypesMissing(RuntimeError):
    """Xilinx's ``ap_int.h`` headers were not found (the message says how to install them)."""


def _check(folder: Path, origin: str) -> Path:
    missing = [name for name in REQUIRED_HEADERS if not (folder / name).is_file()]
    if missing:
        raise ApTypesMissing(f"{origin} {folder} lacks {', '.join(missing)}; install the headers with: "
                             f"{PIP_COMMAND}")
    return folder


def ap_types_dir() -> Path:
    """The folder holding Xilinx's ``ap_int.h`` (to be put on the compiler's include path).

    Found through ``importlib.util.find_spec("hls4ml")`` (the package is located, not
    imported: its own dependencies need not be installed), or ``$PYNQ_DEPTH_AP_TYPES``.

    Raises
    ------
    ApTypesMissing
        When hls4ml is not installed or its copy lacks a header; the message names the
        ``pip`` command that installs it.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return _check(Path(env), f"${ENV_VAR} =")
    try:
        spec = importlib.util.find_spec("hls4ml")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ApTypesMissing("C simulation uses Xilinx's ap_int.h from the hls4ml wheel, which is not installed; "
                             f"install it with: {PIP_COMMAND}")
    for location in locations:
        folder = Path(location) / AP_TYPES_SUBDIR
        if (folder / "ap_int.h").is_file():
            return _check(folder, "hls4ml's folder")
    raise ApTypesMissing(f"hls4ml at {locations[0]} has no {AP_TYPES_SUBDIR / 'ap_int.h'}; install the pinned "
                         f"version with: {PIP_COMMAND}")


def header_files(folder: Path | None = None) -> list[Path]:
    """Every header of the folder, sorted (their content keys the csim build cache)."""
    folder = folder or ap_types_dir()
    return sorted(p for p in folder.rglob("*.h") if p.is_file())
