"""The HLS sources as a Vitis HLS user would check them without the tool (no compiler needed unless marked).

Where Xilinx's ``ap_int.h`` comes from, the generated command format against the kernel's
signature, the ``-Werror`` front-end build, and ``hls/README.md`` against the code and the
resource estimate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import pynq_depth  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynq_depth import hls_types  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HLS = REPO / "hls"


def test_ap_types_found_by_import_spec_without_importing_hls4ml():
    folder = hls_types.ap_types_dir()
    assert folder.parts[-4:] == ("hls4ml", "templates", "vivado", "ap_types")
    assert all((folder / name).is_file() for name in hls_types.REQUIRED_HEADERS)
    assert "hls4ml" not in sys.modules  # located, never imported (its dependencies are not installed)
    assert (folder / "etc" / "ap_private.h") in hls_types.header_files(folder)


def test_missing_hls4ml_names_the_pip_command(monkeypatch, tmp_path):
    from pynq_depth.backends import csim

    monkeypatch.delenv(hls_types.ENV_VAR, raising=False)
    monkeypatch.setattr(hls_types.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(hls_types.ApTypesMissing, match='pip install --no-deps "hls4ml==1.3.0"'):
        hls_types.ap_types_dir()
    with pytest.raises(csim.BuildError, match='pip install --no-deps "hls4ml==1.3.0"'):
        csim.include_flags(tmp_path)
    monkeypatch.setenv(hls_types.ENV_VAR, str(tmp_path))  # a folder without the headers
    with pytest.raises(hls_types.ApTypesMissing, match="lacks ap_int.h"):
        hls_types.ap_types_dir()
