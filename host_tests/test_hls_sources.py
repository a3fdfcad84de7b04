"""The HLS sources as a Vitis HLS user would check them without the tool (no compiler needed unless marked).

Where Xilinx's ``ap_int.h`` comes from, the generated command format against the kernel's
signature, the ``-Werror`` front-end build, and ``hls/README.md`` against the code and the
resource estimate.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import pynq_depth  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynq_depth import codegen, commands, hls_types, protocol  # noqa: E402
from pynq_depth.verify import KINDS, random_layer_program  # noqa: E402

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


# ---------------------------------------------------------------- one command format
def _top_signature(text: str) -> list[tuple[str, str]]:
    """(C type, name) of every parameter of the first ``conv_accel`` declaration/definition in ``text``."""
    match = re.search(r"\bunsigned\s+conv_accel\s*\(([^)]*)\)\s*[;{]", text)
    assert match, "conv_accel's top signature not found"
    params = []
    for param in " ".join(match.group(1).split()).split(","):
        ctype, name = param.strip().rsplit(" ", 1)
        params.append((ctype.replace(" &", "&").strip(), name.lstrip("&")))
    return params


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_kernel_signature_equals_command_format_and_generated_header(tmp_path):
    """conv_accel.h's declaration, conv_accel.cpp's definition, its s_axilite pragmas, the generated
    conv_commands.h and pynq_depth.commands agree on every register (name, order, C type), the kind
    codes and the error bits.  Nothing in the source tree is written."""
    before = _snapshot(HLS)
    header = codegen.commands_header()
    written = {p.name: p for p in codegen.write_hls_config(tmp_path)}
    assert written["conv_commands.h"].read_text() == header
    expected = commands.top_parameters()
    assert [name for _, name in expected] == list(protocol.REGISTERS) == list(commands.REGISTERS)
    for source in ("conv_accel.h", "conv_accel.cpp"):
        params = _top_signature((HLS / source).read_text())
        assert params[:3] == [("hls::stream<pkt_t>&", n) for n in ("in", "side", "out")], source
        assert params[3:] == expected, source
    ports = re.findall(r"#pragma HLS INTERFACE mode = s_axilite port = (\w+) bundle = control",
                       (HLS / "conv_accel.cpp").read_text())
    assert ports == list(commands.REGISTERS) + ["return"]
    # the generated header: register indices in order, C types, kinds, error bits
    indices = dict(re.findall(r"#define CONV_REG_([A-Z_]+?) +(\d+) +///", header))
    assert [name.lower() for name, _ in sorted(indices.items(), key=lambda kv: int(kv[1]))] == list(commands.REGISTERS)
    assert re.search(r"#define CONV_NUM_REGS (\d+)", header).group(1) == str(len(commands.REGISTERS))
    types = re.search(r"#define CONV_REGISTER_TYPES (.*)", header).group(1).split(", ")
    assert types == [t for t, _ in expected]
    kinds = {name.lower(): int(code) for name, code in re.findall(r"CONV_KIND_(\w+) = (\d+),", header)}
    assert kinds == commands.KIND_CODES == protocol.KIND_CODES
    errors = {int(bit) for bit in re.findall(r"CONV_ERR_\w+ = (\d+),", header)}
    assert errors == set(commands.KERNEL_ERRORS) == set(protocol.KERNEL_ERRORS)
    # no hand-kept copy left in the C++: no enum of kinds/errors, no register count, no r[23]
    for source in ("conv_accel.h", "conv_accel.cpp", "csim_api.cpp", "tb/tb_conv_accel.cpp"):
        text = (HLS / source).read_text()
        assert not re.search(r"CONV_(KIND|ERR)_\w+\s*=", text) and "r[23]" not in text, source
        n = len(commands.REGISTERS)
        assert not re.search(r"(?<![<>!=])=\s*%d\b|\[\s*%d\s*\]|\bPD_NUM_REGS\b" % (n, n), text), source
    assert _snapshot(HLS) == before


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")
def test_signature_mismatch_does_not_compile(tmp_path):
    """The static_assert in conv_accel.h: a top whose register types differ from conv_commands.h fails to build."""
    from pynq_depth.backends.csim import include_flags

    codegen.write_hls_config(tmp_path / "gen")
    src = tmp_path / "hls"
    shutil.copytree(HLS, src, ignore=shutil.ignore_patterns("build"))
    cxx = os.environ.get("CXX", "g++")
    cmd = [cxx, "-std=c++14", "-fsyntax-only", "-Wno-unknown-pragmas", *include_flags(tmp_path / "gen", src),
           str(src / "csim_api.cpp")]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    for name in ("conv_accel.h", "conv_accel.cpp"):
        path = src / name
        path.write_text(path.read_text().replace("int lo, int hi", "unsigned lo, int hi"))
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode != 0 and "differ from conv_commands.h" in result.stderr


@pytest.mark.parametrize("seed", range(3))
def test_register_values_fit_their_declared_widths(seed):
    """Every register value the protocol computes lies within its width in pynq_depth.commands."""
    rng = np.random.default_rng(seed)
    for i in range(30):
        kind = KINDS[i % 3]
        program, inputs = random_layer_program(rng, kind, residual=bool(i % 2), extremes=bool(i % 5 == 0))
        cmd, x = program.conv_commands[0], inputs["input"]
        out = program.tensors["output"].dtype
        skip = program.tensors[cmd.skip].dtype if cmd.skip else None
        for call in protocol.plan_layer(cmd, x.shape):
            regs = protocol.registers(cmd, call, x.dtype.name, out, skip)
            assert commands.check_registers(regs) == [], regs
    call = protocol.resize_call((30, 40, 16), (60, 80))
    assert commands.check_registers(protocol.resize_registers(call, "int8")) == []
