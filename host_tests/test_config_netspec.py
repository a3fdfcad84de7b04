"""The hardware configuration (identities, validation) and the network description."""

from __future__ import annotations

import copy
import json

import pytest

from pynq_depth.arith import conv_out_size
from pynq_depth.config import ConfigError, HwConfig, default_config, load_config
from pynq_depth.netspec import MODEL_SPECS, build_graph, get_spec, output_stride, totals


# ----------------------------------------------------------------- configuration
def _variant(**changes) -> HwConfig:
    raw = copy.deepcopy(default_config().raw)
    for dotted, value in changes.items():
        node = raw
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return HwConfig(raw=raw)


def test_default_config_values():
    c = default_config()
    assert c is default_config()  # cached
    assert (c.act_bits, c.weight_bits, c.wide_out_bits, c.mult_bits) == (8, 8, 16, 16)
    assert 1 <= c.max_shift <= 62 and c.resize_frac_bits >= 1
    assert set(c.layer_kinds) == {"conv3x3", "dw3x3", "pw1x1"}
    assert c.arith_id.startswith(c.name + "-a") and c.hw_id.startswith(c.name + "-h")
    assert c.vlnv.count(":") == 3
    assert c.pe_in >= 1 and c.pe_out >= 1 and c.stream_bits in (32, 64, 128)
    assert c.leaky_slope == pytest.approx(0.2)


def test_load_config_default_path_equals_default(tmp_path):
    c = load_config(default_config().path)
    assert c.arith_id == default_config().arith_id and c.hw_id == default_config().hw_id
    assert load_config(None) is default_config()


@pytest.mark.parametrize("change", [{"arith__max_shift": 40}, {"arith__resize_frac_bits": 10},
                                    {"arith__leaky_slope": 0.1}, {"layer_kinds": ["conv3x3", "pw1x1"]},
                                    {"activations": ["none"]}, {"host_ops": ["resize"]},
                                    {"arith__rounding": "nearest-even"}])
def test_arith_id_changes_with_arithmetic(change):
    other = _variant(**change)
    assert other.arith_id != default_config().arith_id
    assert other.hw_id != default_config().hw_id


@pytest.mark.parametrize("change", [{"parallel__pe_out": 32}, {"buffers__max_width": 1024},
                                    {"stream__data_bits": 128}, {"target__clock_mhz": 100}])
def test_hardware_changes_keep_arith_id(change):
    other = _variant(**change)
    assert other.arith_id == default_config().arith_id
    assert other.hw_id != default_config().hw_id


@pytest.mark.parametrize("change", [{"description": "other words"}, {"tools__vivado": "2024.2"}])
def test_tooling_changes_keep_both_ids(change):
    other = _variant(**change)
    assert other.arith_id == default_config().arith_id
    assert other.hw_id == default_config().hw_id


def test_ids_do_not_depend_on_key_order():
    raw = default_config().raw
    reordered = json.loads(json.dumps(raw, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    c = HwConfig(raw=reordered)
    assert c.arith_id == default_config().arith_id and c.hw_id == default_config().hw_id


def _write(tmp_path, raw) -> str:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(raw) if not isinstance(raw, str) else raw)
    return str(path)


@pytest.mark.parametrize("mutate", [
    lambda r: r.update(arith={**r["arith"], "act_bits": 16}),
    lambda r: r.update(arith={**r["arith"], "weight_bits": 4}),
    lambda r: r.update(arith={**r["arith"], "mult_bits": 17}),
    lambda r: r.update(arith={**r["arith"], "mult_bits": 1}),
    lambda r: r.update(parallel={"pe_in": 3, "pe_out": 16}),
    lambda r: r.update(parallel={"pe_in": 8, "pe_out": 0}),
    lambda r: r.update(stream={"data_bits": 48}),
    lambda r: r.pop("arith"),
    lambda r: r.pop("name"),
    lambda r: r.update(layer_kinds="conv3x3"),
])
def test_load_config_rejects_inconsistent(tmp_path, mutate):
    raw = copy.deepcopy(default_config().raw)
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert path in str(info.value)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "\xff\xfe"])
def test_load_config_rejects_unreadable(tmp_path, text):
    path = tmp_path / "hw.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError):
        load_config(path)


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.json")
    with pytest.raises(ConfigError):
        load_config(tmp_path)  # a directory


# ----------------------------------------------------------------- network description
def test_get_spec():
    assert get_spec().name == "z2-mnv2"
    assert get_spec("densedepth-mnv2").input_hw == (480, 640)
    with pytest.raises(KeyError) as info:
        get_spec("resnet")
    assert "z2-mnv2" in str(info.value) and "densedepth-mnv2" in str(info.value)


@pytest.mark.parametrize("spec_name", list(MODEL_SPECS))
@pytest.mark.parametrize("hw", [None, (32, 32), (64, 96), (33, 47), (240, 320), (121, 161), (480, 640)])
def test_graph_is_consistent(spec_name, hw):
    spec = get_spec(spec_name)
    size = hw or spec.input_hw
    nodes = build_graph(spec, hw)
    shapes = {"input": (size[0], size[1], 3)}
    for node in nodes:
        for name in node.inputs + ((node.residual,) if node.residual else ()):
            assert name in shapes, f"{node.output} reads {name} before it exists"
        assert node.output not in shapes, f"{node.output} written twice"
        if node.op == "conv":
            h, w, c = shapes[node.inputs[0]]
            assert node.cin == c
            k = node.ksize
            assert node.out_shape[:2] == (conv_out_size(h, k, node.stride, node.pad),
                                          conv_out_size(w, k, node.stride, node.pad))
            if node.kind == "dw3x3":
                assert node.cout == c
                assert node.macs == node.out_shape[0] * node.out_shape[1] * c * 9
            else:
                assert node.macs == node.out_shape[0] * node.out_shape[1] * node.cout * c * k * k
            assert node.weight_bytes == node.weight_count + 4 * node.cout
            assert node.kind in ("conv3x3", "dw3x3", "pw1x1") and node.act in ("none", "relu6", "leaky")
            assert node.stride in (1, 2) and node.pad in (0, 1)
            if node.residual:
                assert shapes[node.residual] == node.out_shape
        elif node.op == "concat":
            parts = [shapes[n] for n in node.inputs]
            assert all(p[:2] == node.out_shape[:2] for p in parts)
            assert sum(p[2] for p in parts) == node.out_shape[2]
        else:
            assert node.op == "resize"
            assert shapes[node.inputs[0]][2] == node.out_shape[2]
        shapes[node.output] = node.out_shape
    last = nodes[-1]
    assert last.output == "depth" and last.out_shape[2] == 1
    stride = output_stride(spec)
    # the output is the size of the last skip feature: f2 (1/2, DenseDepth) or f4 (1/4, board default)
    assert last.out_shape[:2] == shapes[f"f{spec.ups[-1][0]}"][:2]
    assert stride == {2: 2, 4: 4}[spec.ups[-1][0]]
    assert last.out_shape[:2] == (-(-size[0] // stride), -(-size[1] // stride))
    assert max(s[2] for s in shapes.values()) <= 2048  # the configuration's max_channels
    assert len({n.name for n in nodes if n.op == "conv"}) == sum(n.op == "conv" for n in nodes)


def test_graph_too_small():
    with pytest.raises(ValueError):
        build_graph(get_spec(), (31, 64))
    with pytest.raises(ValueError):
        build_graph(get_spec(), (64, 16))


def test_totals():
    macs, wbytes = totals(build_graph(get_spec("z2-mnv2")))
    assert 0.5e9 < macs <= 2e9
    assert wbytes < 8e6
    macs, _ = totals(build_graph(get_spec("densedepth-mnv2"), (480, 640)))
    assert macs / 1e9 == pytest.approx(16.3, abs=0.1)
    assert sum(n.op == "conv" for n in build_graph(get_spec())) == 64


def test_graph_scales_with_input_area():
    small, _ = totals(build_graph(get_spec(), (120, 160)))
    big, _ = totals(build_graph(get_spec(), (240, 320)))
    assert 3.5 < big / small < 4.5


def test_model_parameters_match_netspec():
    torch = pytest.importorskip("torch")  # noqa: F841
    from pynq_depth.model import DepthModel

    model = DepthModel("z2-mnv2")
    keys = set(model.state_dict())
    for node in build_graph(get_spec()):
        if node.op != "conv":
            continue
        assert f"{node.conv_name}.weight" in keys
        if node.bn:
            assert f"{node.bn_name}.running_var" in keys
        weight = model.state_dict()[f"{node.conv_name}.weight"]
        assert weight.shape[0] == node.cout
    assert "encoder.original_model.features.0.0.weight" in keys and "decoder.up0.convA.weight" in keys
