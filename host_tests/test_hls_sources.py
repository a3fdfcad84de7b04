"""The HLS sources as a Vitis HLS user would check them without the tool (no compiler needed unless marked).

Where Xilinx's ``ap_int.h`` comes from, the generated command format against the kernel's
signature, the ``-Werror`` front-end build, and ``hls/README.md`` against the code and the
resource estimate.
"""

from __future__ import annotations

import math
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
from pynq_depth.config import default_config  # noqa: E402
from pynq_depth.geometry import LB_BANKS, LB_ROWS, geometry  # noqa: E402
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
    with pytest.raises(hls_types.ApTypesMissing, match='pip install "hls4ml==1.3.0"'):
        hls_types.ap_types_dir()
    with pytest.raises(csim.BuildError, match='pip install "hls4ml==1.3.0"'):
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


# ---------------------------------------------------------------- synthesis readiness
CXX = os.environ.get("CXX", "g++")
needs_cxx = pytest.mark.skipif(shutil.which(CXX) is None, reason="no C++ compiler")
#: What g++ must be told about HLS code: its pragmas are unknown to it, its loop labels unused.
HLS_ONLY_WARNINGS = ("-Wno-unknown-pragmas", "-Wno-unused-label")


def _kernel() -> str:
    return (HLS / "conv_accel.cpp").read_text()


def _code(text: str) -> str:
    """``text`` without comments (strings in the kernel hold none of // or /*)."""
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


@needs_cxx
def test_kernel_builds_with_wall_wextra_werror_cxx14(tmp_path):
    """Vitis HLS 2023.1's front end is C++14: the kernel, csim_api.cpp and the test bench compile
    warning-free.  -O0: at -O2 GCC 12 reports -Wmaybe-uninitialized inside Xilinx's own ap_private.h
    (its default constructor masks an unset word), which is the vendor's code, not ours."""
    from pynq_depth.backends.csim import include_flags

    codegen.write_hls_config(tmp_path / "gen")
    for source in ("conv_accel.cpp", "csim_api.cpp", "tb/tb_conv_accel.cpp"):
        cmd = [CXX, "-std=c++14", "-O0", "-Wall", "-Wextra", "-Werror", *HLS_ONLY_WARNINGS,
               *include_flags(tmp_path / "gen", HLS), "-c", str(HLS / source), "-o", str(tmp_path / "x.o")]
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, " ".join(cmd) + "\n" + result.stderr


def _loops(text: str) -> list[dict]:
    """Every ``for`` loop of the kernel: its label, header, and the pragmas right after its brace."""
    lines = text.splitlines()
    loops = []
    for n, line in enumerate(lines):
        m = re.match(r"\s*for \((.*)\)\s*(\{)?", line)
        if not m:
            continue
        prev = next(lines[p].strip() for p in range(n - 1, -1, -1) if lines[p].strip())
        label = prev[:-1] if re.fullmatch(r"[A-Z][A-Z0-9_]*:", prev) else None
        pragmas = []
        for follow in lines[n + 1:]:
            if not follow.strip().startswith("#pragma"):
                break
            pragmas.append(follow.strip())
        header = m.group(1).split(";")
        loops.append({"label": label, "cond": header[1].strip() if len(header) > 1 else "", "pragmas": pragmas})
    return loops


def test_every_loop_is_labelled_and_variable_loops_have_generated_trip_counts(tmp_path):
    """Each loop has a label; each loop whose bound is not a compile-time constant has a LOOP_TRIPCOUNT
    naming CONV_TRIP_<LABEL>_MIN/MAX, whose generated values are geometry.loop_bounds (from hw_config)."""
    from pynq_depth.geometry import loop_bounds

    loops = _loops(_kernel())
    assert len(loops) > 30
    bounds = loop_bounds().as_dict()
    header = codegen.config_header()
    seen = set()
    for loop in loops:
        assert loop["label"], loop
        constant = re.fullmatch(r"\w+ <=? [A-Z0-9_ *+/()]+", loop["cond"])
        trip = [p for p in loop["pragmas"] if "LOOP_TRIPCOUNT" in p]
        if constant:
            assert not trip, loop
            continue
        label = loop["label"]
        assert trip == [f"#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_{label}_MIN max = CONV_TRIP_{label}_MAX"], loop
        lo, hi = bounds[label]
        assert f"#define CONV_TRIP_{label}_MIN {lo}\n" in header and f"#define CONV_TRIP_{label}_MAX {hi}\n" in header
        seen.add(label)
    assert seen == set(bounds)  # every generated bound is used, by exactly the loop of that name
    assert bounds["PIXEL_PIPE"][1] > 2_000_000  # ~ a 640-wide row x a full weight buffer, not 320 * 16


def test_loop_bounds_cover_the_calls_the_protocol_plans():
    """No call of the shipped networks' layers exceeds a generated trip count (the bounds are maxima)."""
    from pynq_depth import perf
    from pynq_depth.geometry import loop_bounds

    cfg = default_config()
    b = loop_bounds(cfg)
    for model in ("z2-mnv2", "densedepth-mnv2"):
        for layer in perf.network_layers(model):
            if layer.cmd is None:
                continue
            for call in protocol.plan_layer(layer.cmd, layer.in_shape, cfg):
                nb, steps = perf.pixel_steps(layer.cmd, call, layer.out_dtype, cfg)
                assert (call.out_w * nb + 1) * steps <= b.pixel_pipe[1]
                cg = -(-(call.ci1 - call.ci0) // cfg.pe_in)
                padded_w = call.pad_l + call.ix1 - call.ix0 + call.pad_r
                assert padded_w * cg <= b.row_beats[1] and call.out_h <= b.out_rows[1]


def test_no_dynamic_memory_recursion_pointers_or_internal_streams():
    kernel = _code(_kernel())
    header = _code((HLS / "conv_accel.h").read_text())
    for text in (kernel, header):
        for pattern in (r"\bnew\b", r"\bdelete\b", r"\bmalloc\b", r"\bfree\s*\(", r"std::(vector|string|map)",
                        r"->", r"\bgoto\b", r"\bprintf\b", r"\bstatic\s+(?!_assert|const)\w", r"\bthrow\b"):
            assert not re.search(pattern, text), pattern
        # streams only as the top's AXI4-Stream ports (passed by reference), no DATAFLOW / internal FIFOs
        assert all(m == "hls::stream<pkt_t>&" for m in re.findall(r"hls::stream<[^>]*>\s*&?", text))
        assert "DATAFLOW" not in text and "HLS STREAM" not in text
    # no recursion, no pointer parameters: every function body of the kernel
    for m in re.finditer(r"^(?:template <[^>]*> )?(?:inline )?[\w:<>, ]+? (\w+)\(([^)]*)\)\s*\{(.*?)^\}", kernel,
                         re.S | re.M):
        name, params, body = m.groups()
        assert "*" not in params, name
        assert not re.search(rf"\b{name}\s*(<[^>]*>)?\s*\(", body), f"{name} calls itself"
    assert kernel.count("#pragma HLS INTERFACE mode = axis") == 3


def _shapes() -> dict[str, list[str]]:
    """Array variable -> dimension expressions (from typedefs and local declarations of the kernel)."""
    kernel = _code(_kernel())
    typedefs = {name: re.findall(r"\[([^\]]+)\]", dims)
                for name, dims in re.findall(r"typedef \w+(?:<[^>]*>)? (\w+)((?:\[[^\]]+\])+);", kernel)}
    shapes = {}
    for typ, var in re.findall(r"^\s*(\w+) (\w+);", kernel, re.M):
        if typ in typedefs:
            shapes[var] = typedefs[typ]
    for var, dims in re.findall(r"^\s*(?:const )?\w+(?:<[^>]*>)? (\w+)((?:\[[^\]]+\])+);", kernel, re.M):
        shapes[var] = re.findall(r"\[([^\]]+)\]", dims)
    return shapes


def _evaluate(expr: str) -> int:
    g = geometry()
    names = {"PE_IN": g.pe_in, "PE_OUT": g.pe_out, "BANKS": LB_BANKS, "CONV_LB_ROWS": LB_ROWS, "LB_WORDS":
             g.lb_bank_words, "CONV_WBUF_WORDS": g.wbuf_words, "MAX_BLOCKS": g.max_out // g.pe_out,
             "CONV_MAX_WIDTH": g.max_width, "LUT_WORDS": 256 // g.beat_bytes}
    return int(eval(expr, {"__builtins__": {}}, names))  # noqa: S307 (expressions of the kernel's own constants)


def _partitions() -> list[tuple[str, int, str]]:
    return [(var, int(dim or 1), kind) for kind, var, dim in  # Vitis's default dim is 1
            re.findall(r"#pragma HLS ARRAY_(PARTITION|RESHAPE) variable = (\w+)(?: dim = (\d+))?", _kernel())]


def test_complete_partitions_stay_within_limits():
    """Every complete partition/reshape splits at most 1024 elements (Vitis HLS's default cap)."""
    shapes = _shapes()
    parts = _partitions()
    assert len(parts) >= 15
    for var, dim, _ in parts:
        dims = [_evaluate(d) for d in shapes[var]]
        count = math.prod(dims) if dim == 0 else dims[dim - 1]
        assert count <= 1024, (var, dim, count)


def _memories() -> dict[str, tuple[int, int, int]]:
    """var -> (memories, depth, width bits) of the arrays that are neither LUTRAM nor registers."""
    header = _code((HLS / "conv_accel.h").read_text())
    widths = {name: int(w) for w, name in re.findall(r"typedef ap_u?int<(\d+)> (\w+);", header)}
    kernel = _code(_kernel())
    element = {name: typ for typ, name in re.findall(r"typedef (\w+) (\w+)\[", kernel)}
    lutram = set(re.findall(r"BIND_STORAGE variable = (\w+) type = \w+ impl = lutram", kernel))
    shapes = _shapes()
    out = {}
    for var in sorted({v for v, _, _ in _partitions()} - lutram):
        dims = [_evaluate(d) for d in shapes[var]]
        parted = {d for v, d, k in _partitions() if v == var and k == "PARTITION"}
        reshaped = {d for v, d, k in _partitions() if v == var and k == "RESHAPE"}
        if 0 in parted or parted | reshaped == set(range(1, len(dims) + 1)):
            continue  # registers
        typ = next(typ for typ, v in re.findall(r"^\s*(\w+) (\w+);", kernel, re.M) if v == var)
        bits = widths[element[typ]]
        memories = math.prod(dims[d - 1] for d in parted)
        width = bits * math.prod(dims[d - 1] for d in reshaped)
        depth = math.prod(dims[d - 1] for d in range(1, len(dims) + 1) if d not in parted | reshaped)
        out[var] = (memories, depth, width)
    return out


def test_bram_estimate_reproduced_from_the_array_shapes():
    """The weight buffer and the line buffer, read from the C++ declarations and pragmas, give the
    BRAM36 counts of perf.estimate_resources (512 x 72 bits per BRAM36)."""
    from pynq_depth import perf

    mems = _memories()
    assert set(mems) == {"wbuf", "lbuf"}  # everything else is LUTRAM or registers
    bram36 = {var: n * math.ceil(width / 72) * math.ceil(depth / 512) for var, (n, depth, width) in mems.items()}
    g = geometry()
    assert mems["wbuf"] == (g.pe_out, g.wbuf_words, 8 * g.pe_in) and mems["lbuf"] == (9, g.lb_bank_words, 9 * g.pe_in)
    est = perf.estimate_resources(default_config(), perf.get_board("pynq-z2"))
    assert est["bram36_detail"]["weight_buffer"] == bram36["wbuf"] == 112
    assert est["bram36_detail"]["line_buffer"] == bram36["lbuf"] == 18
    assert est["bram36"] == bram36["wbuf"] + bram36["lbuf"] + est["bram36_detail"]["axi_dma"]


def test_dsp_estimate_reproduced_from_the_code():
    """DSP48 count from the code: the MAC array's products, the requantisation and residual products of
    one output beat (their operand types), one per ctl_mul site, none for the fabric-bound resize."""
    from pynq_depth import perf

    kernel, header = _kernel(), _code((HLS / "conv_accel.h").read_text())
    cfg = default_config()
    widths = {name: (int(w) if w.isdigit() else int(re.search(rf"#define {w} (\d+)", codegen.config_header(cfg))
                                                        .group(1)), signed == "")
              for signed, w, name in re.findall(r"typedef ap_(u?)int<(\w+)> (\w+);", header)}

    def signed_bits(t: str) -> int:
        bits, signed = widths[t]
        return bits if signed else bits + 1

    g = geometry(cfg)
    assert re.search(r"acc_t prod\[PE_OUT\]\[PE_IN\];", kernel)
    assert "prod[o][i] = wbuf[wsel][o][i] * a;" in kernel  # wgt_t x act_t
    mac = g.pe_out * g.pe_in * perf.dsp48_per_product(signed_bits("wgt_t"), signed_bits("act_t"))
    out_lanes = re.search(r"OUT_LANES:\s*for \(int q = 0; q < (\w+); q\+\+\)", kernel).group(1)
    assert out_lanes == "BEAT_BYTES"
    assert re.search(r"inline wide_t requant_lane\(acc_t acc, .*?const mult_t m = .*?acc \* m;", kernel, re.S)
    requant = g.beat_bytes * perf.dsp48_per_product(signed_bits("acc_t"), signed_bits("mult_t"))
    assert "const mult_t skip_m = (mult_t)skip_mult;" in kernel and "dskip[o] * skip_m;" in kernel
    residual = g.beat_bytes * perf.dsp48_per_product(signed_bits("act_t"), signed_bits("mult_t"))
    control = kernel.count("ctl_mul<")
    fabric = re.findall(r"BIND_OP variable = (\w+) op = mul impl = fabric", kernel)
    assert len(fabric) == perf.RESIZE_PRODUCTS_PER_LANE  # per lane, inside the unrolled RS_LANES
    rs_lanes = kernel[kernel.index("RS_LANES:"):kernel.index("write_beat(out, beat, oy == out_h - 1")]
    assert all("const ap_int<" in rs_lanes and f" {v} = " in rs_lanes for v in fabric)
    products = re.findall(r"\b[a-z_]\w* \* [a-z_]\w*\b", _code(rs_lanes))  # variable x variable
    assert len(products) == perf.RESIZE_PRODUCTS_PER_LANE, products
    est = perf.estimate_resources(cfg, perf.get_board("pynq-z2"))
    assert est["dsp_detail"] == {"mac_array": mac, "requant": requant, "residual": residual, "control": control,
                                 "resize": 0}
    assert (mac, requant, residual, control) == (128, 16, 8, perf.CONTROL_PRODUCTS) and est["dsp"] == 160


def test_readme_resource_table_is_what_bench_prints():
    """hls/README.md quotes `pynq-depth bench --board pynq-z2`'s resource line and tabulates its parts."""
    from pynq_depth import perf

    readme = (HLS / "README.md").read_text()
    report = perf.model("pynq-z2", measure_cpu=False)
    line = perf.format_resources(report.resources)
    assert line in perf.format_table(report).splitlines()
    assert line in readme
    r = report.resources
    for kind, detail in (("DSP48E1", r["dsp_detail"]), ("BRAM36", r["bram36_detail"])):
        for part, count in detail.items():
            assert re.search(rf"^\| {kind} \| {part.replace('_', ' ')} \|[^|\n]*\| {count} \|$", readme, re.M), part
    assert re.search(rf"^\| DSP48E1 \| total \(of {r['dsp_budget']}\) \| \| {r['dsp']} \|$", readme, re.M)
    assert re.search(rf"^\| BRAM36 \| total \(of {r['bram36_budget']}\) \| \| {r['bram36']} \|$", readme, re.M)


def test_readme_has_a_row_per_pipelined_loop():
    """The II table names every pipelined loop of the kernel with its II."""
    readme = (HLS / "README.md").read_text()
    for loop in _loops(_kernel()):
        for pragma in loop["pragmas"]:
            m = re.match(r"#pragma HLS PIPELINE II = (\d+)", pragma)
            if m:
                assert re.search(rf"^\| `{loop['label']}` \|[^|]*\| {m.group(1)} \|", readme, re.M), loop["label"]


@needs_cxx
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="no valgrind")
def test_testbench_reads_no_uninitialised_value(tmp_path):
    """Xilinx's ap_int leaves a default-constructed value unset (the old stand-in zeroed it): valgrind
    finds no decision or output of the kernel that depends on an unset value, on emulator vectors."""
    from pynq_depth.backends.csim import include_flags
    from pynq_depth.verify import write_tb_vectors

    codegen.write_hls_config(tmp_path / "gen")
    count = write_tb_vectors(tmp_path / "vectors", n=12, seed=3)
    exe = tmp_path / "tb"
    subprocess.run([CXX, "-O1", "-g", "-std=c++14", *HLS_ONLY_WARNINGS, *include_flags(tmp_path / "gen", HLS),
                    str(HLS / "conv_accel.cpp"), str(HLS / "tb" / "tb_conv_accel.cpp"), "-o", str(exe)], check=True)
    result = subprocess.run(["valgrind", "--error-exitcode=3", "-q", str(exe), str(tmp_path / "vectors")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"{count} passed, 0 failed" in result.stdout
