"""The post-training quantiser: multipliers, edge-case weights, concat folding, and a
small random model whose integer program must track the float model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from pynq_depth.config import default_config

torch = pytest.importorskip("torch")

from pynq_depth.depth import prediction_to_metres  # noqa: E402
from pynq_depth.backends.emulator import Emulator  # noqa: E402
from pynq_depth.metrics import depth_errors  # noqa: E402
from pynq_depth.model import LEAKY_SLOPE, DepthModel  # noqa: E402
from pynq_depth.preprocess import normalize, resize_rgb  # noqa: E402
from pynq_depth.program import validate_program  # noqa: E402
from pynq_depth.quantize import (calibrate, input_lut, input_scales, quantize_model,  # noqa: E402
                                 quantize_multiplier)

CONFIG = default_config()
MULT_BITS, MAX_SHIFT = CONFIG.mult_bits, CONFIG.max_shift
TOP = 1 << (MULT_BITS - 1)
HW = (64, 96)


# ----------------------------------------------------------------- quantize_multiplier
def _value(mult, shift):
    return mult.astype(np.float64) * np.exp2(-shift.astype(np.float64))


def _check_ranges(mult, shift):
    assert mult.dtype == np.int32 and shift.dtype == np.int32
    assert np.all((mult >= 0) & (mult < TOP))
    assert np.all((shift >= 1) & (shift <= MAX_SHIFT))


def test_multiplier_normal_range_precision():
    rng = np.random.default_rng(0)
    real = np.exp(rng.uniform(np.log(1e-9), np.log(8000.0), size=5000))
    mult, shift = quantize_multiplier(real, MULT_BITS, MAX_SHIFT)
    _check_ranges(mult, shift)
    assert np.all(mult >= TOP // 2)  # normalised: full 15-bit precision
    rel = np.abs(_value(mult, shift) - real) / real
    assert rel.max() <= 1.0 / TOP  # half an LSB of a multiplier >= 2**14


@pytest.mark.parametrize("k", list(range(-30, 14)))
def test_multiplier_exact_powers_of_two(k):
    mult, shift = quantize_multiplier(np.array([2.0 ** k]), MULT_BITS, MAX_SHIFT)
    _check_ranges(mult, shift)
    assert int(mult[0]) == TOP // 2 and int(shift[0]) == MULT_BITS - 2 - k
    assert _value(mult, shift)[0] == 2.0 ** k


def test_multiplier_zero_and_negative_give_zero():
    mult, shift = quantize_multiplier(np.array([0.0, -0.0, -1.0]), MULT_BITS, MAX_SHIFT)
    _check_ranges(mult, shift)
    assert_array_equal(mult, [0, 0, 0])


def test_multiplier_tiny_values_lose_precision_but_stay_valid():
    real = np.array([1e-30, 2.0 ** -47, 2.0 ** -46, 2.0 ** -40, 1e-12, 2.0 ** -33])
    mult, shift = quantize_multiplier(real, MULT_BITS, MAX_SHIFT)
    _check_ranges(mult, shift)
    assert int(mult[0]) == 0 and int(shift[0]) == MAX_SHIFT
    assert int(mult[1]) in (0, 1) and int(mult[2]) == 1 and int(shift[2]) == MAX_SHIFT
    # below 2**(14-46) the shift saturates and the multiplier is just round(real * 2**46)
    assert_array_equal(mult[3:5], np.round(real[3:5] * 2.0 ** MAX_SHIFT).astype(np.int32))
    assert int(mult[5]) == 2 ** 13 and int(shift[5]) == MAX_SHIFT  # 2**-33 needs shift 47: one bit lost
    assert abs(_value(mult[3:4], shift[3:4])[0] - real[3]) / real[3] < 1e-3


def test_multiplier_huge_values_saturate():
    real = np.array([16383.0, 16383.5, 16383.9, 16384.0, 1e6, 1e30, np.finfo(np.float64).max])
    mult, shift = quantize_multiplier(real, MULT_BITS, MAX_SHIFT)
    _check_ranges(mult, shift)
    assert int(mult[0]) == 32766 and int(shift[0]) == 1
    assert np.all(mult[1:] == TOP - 1) and np.all(shift[1:] == 1)


def test_multiplier_rounding_overflow_renormalises():
    """A value just below a power of two rounds the multiplier to 2**15: it must become 2**14 >> one shift."""
    for k in range(-20, 13):
        real = np.array([2.0 ** k * (1 - 2.0 ** -17)])
        mult, shift = quantize_multiplier(real, MULT_BITS, MAX_SHIFT)
        _check_ranges(mult, shift)
        assert int(mult[0]) == TOP // 2
        assert _value(mult, shift)[0] == 2.0 ** k
    # just below 2**15 rounding to 2**15 at the minimum shift of 1 clamps instead
    mult, shift = quantize_multiplier(np.array([16383.9]), MULT_BITS, MAX_SHIFT)
    assert int(mult[0]) == TOP - 1 and int(shift[0]) == 1


def test_multiplier_other_widths():
    for bits, max_shift in [(8, 20), (12, 31), (16, 46)]:
        real = np.exp(np.random.default_rng(bits).uniform(-8, 3, 200))  # inside the normalisable range
        mult, shift = quantize_multiplier(real, bits, max_shift)
        assert np.all((mult >= 0) & (mult < 1 << (bits - 1))) and np.all((shift >= 1) & (shift <= max_shift))
        rel = np.abs(_value(mult, shift) - real) / real
        assert rel.max() <= 1.0 / (1 << (bits - 1))


# ----------------------------------------------------------------- input table
def test_input_lut_covers_every_pixel_value():
    scales = input_scales()
    lut = input_lut(scales)
    assert lut.shape == (3, 256) and lut.dtype == np.int8
    assert lut.min() >= -127 and lut.max() <= 127
    assert np.all(np.diff(lut.astype(int), axis=1) >= 0)  # monotonic
    values = normalize(np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None], (256, 1, 3)))[:, 0, :]
    err = np.abs(lut.T * scales - values)
    assert np.all(err <= scales / 2 + 1e-6)


# ----------------------------------------------------------------- a small random model
def _photos() -> list[np.ndarray]:
    data = pytest.importorskip("skimage.data")
    from pynq_depth.preprocess import load_image

    from conftest import EXAMPLE_JPG

    return [resize_rgb(im, *HW) for im in (load_image(EXAMPLE_JPG), data.astronaut(), data.coffee(),
                                           data.chelsea(), data.stereo_motorcycle()[0])]


def _prepare_random_model(images: list[np.ndarray]) -> DepthModel:
    """Random init; BatchNorm statistics from the images; output affinely mapped into DenseDepth's range."""
    torch.manual_seed(0)
    model = DepthModel("z2-mnv2")
    x = torch.from_numpy(np.stack([normalize(i) for i in images])).permute(0, 3, 1, 2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass sets the statistics
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():
        out = model(x)
        model.decoder.conv3.weight *= 15.0 / out.std()
        model.decoder.conv3.bias += 30.0 - model(x).mean()
    return model


@pytest.fixture(scope="module")
def photos():
    return _photos()


@pytest.fixture(scope="module")
def random_model(photos):
    return _prepare_random_model(photos[:4])


@pytest.fixture(scope="module")
def random_maxima(random_model, photos):
    return calibrate(random_model, photos[:3])


def _float_outputs(model, rgb):
    x = torch.from_numpy(normalize(rgb)[None]).permute(0, 3, 1, 2)
    with torch.no_grad():
        return {k: v[0].permute(1, 2, 0).double().numpy() for k, v in model(x, return_all=True).items()}


def _isolated_layer_errors(model, program, rgb):
    """For every conv: run the float layer on the dequantised integer input and compare in output LSBs."""
    trace = Emulator().run(program, rgb, trace=True)
    nodes = {n.output: n for n in model.graph(tuple(program.input_hw))}

    def deq(name):
        return trace[name].astype(np.float64) * program.tensors[name].scale.astype(np.float64)

    errors = {}
    for cmd in program.conv_commands:
        node = nodes[cmd.output]
        conv, bn = model.conv_modules(node)
        x = torch.from_numpy(deq(cmd.input)).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            y = conv(x)
            if bn is not None:
                y = bn(y)
            if node.act == "relu6":
                y = torch.nn.functional.relu6(y)
            elif node.act == "leaky":
                y = torch.nn.functional.leaky_relu(y, LEAKY_SLOPE)
            if node.residual is not None:
                y = y + torch.from_numpy(deq(node.residual)).permute(2, 0, 1)[None].float()
        ref = y[0].permute(1, 2, 0).double().numpy()
        scale = program.tensors[cmd.output].scale.astype(np.float64)
        lo, hi = cmd.lo * scale, cmd.hi * scale
        ref = np.clip(ref, lo, hi)  # calibration clips outliers on purpose
        errors[cmd.output] = (deq(cmd.output) - ref) / scale
    return trace, errors


def test_random_model_int8_tracks_float(random_model, random_maxima, photos):
    program = quantize_model(random_model, random_maxima, HW)
    assert validate_program(program) is None
    assert program.input_hw == HW
    assert program.tensors["depth"].shape == (HW[0] // 4, HW[1] // 4, 1)  # output stride 4
    for rgb in photos[3:]:  # images not used for calibration
        q = Emulator().run(program, rgb)[..., 0].astype(np.float64) * program.output_scale
        f = _float_outputs(random_model, rgb)["depth"][..., 0]
        assert f.std() > 5  # the output really varies
        assert np.corrcoef(q.ravel(), f.ravel())[0, 1] > 0.98
        assert np.sqrt(np.mean((q - f) ** 2)) < 0.2 * f.std()
        errors = depth_errors(prediction_to_metres(f), prediction_to_metres(q))
        assert errors["delta1"] >= 0.95 and errors["abs_rel"] <= 0.08


def _assert_layer_ok(name, err, program, lsb=1.0):
    """8-bit outputs: rms error below ``lsb`` steps.  The int16 depth output is finer than 8-bit
    weights can resolve, so it is held to 1% of the output range instead."""
    if program.tensors[name].dtype == "int16":
        assert np.sqrt(np.mean(err ** 2)) < 0.01 * 32767 / 10, name
    else:
        assert np.sqrt(np.mean(err ** 2)) < lsb, name


def test_random_model_every_layer_within_one_lsb(random_model, random_maxima, photos):
    program = quantize_model(random_model, random_maxima, HW)
    _, errors = _isolated_layer_errors(random_model, program, photos[4])
    assert len(errors) == len(program.conv_commands)
    for name, err in errors.items():
        _assert_layer_ok(name, err, program)
        if program.tensors[name].dtype != "int16":
            assert abs(np.mean(err)) < 0.3, name


@pytest.mark.parametrize("factor", [0.1, 4.0, 40.0])
def test_concat_of_differently_scaled_parts(random_model, random_maxima, photos, factor):
    """A conv reading a concat whose parts have different scales folds them into its weights."""
    maxima = dict(random_maxima)
    maxima["d0"] = random_maxima["d0"] * factor  # rescale the upsampled part only
    program = quantize_model(random_model, maxima, HW)
    base = quantize_model(random_model, random_maxima, HW)
    assert validate_program(program) is None
    cat = program.tensors["up0.concat"]
    resized_c = program.tensors["up0.resized"].shape[2]
    assert cat.scale.shape == (cat.shape[2],)
    assert_array_equal(cat.scale[:resized_c], program.tensors["up0.resized"].scale)
    assert_array_equal(cat.scale[resized_c:], program.tensors["f18"].scale)
    np.testing.assert_allclose(cat.scale[:resized_c], base.tensors["up0.concat"].scale[:resized_c] * factor,
                               rtol=1e-6)
    assert_array_equal(cat.scale[resized_c:], base.tensors["up0.concat"].scale[resized_c:])
    # The integer weights are the float weights divided by the per-input-channel scale, exactly
    # (up to half a weight step): w_q[o, :, :, i] * w_scale[o] / in_scale[i] ~ W[o, i].
    cmd = next(c for c in program.conv_commands if c.name == "decoder.up0.convA")
    w_float = random_model.decoder.up0.convA.weight.detach().double().numpy().transpose(0, 2, 3, 1)
    out_scale = program.tensors["up0.a"].scale.astype(np.float64)  # per output channel
    w_scale = cmd.mult.astype(np.float64) * np.exp2(-cmd.shift.astype(np.float64)) * out_scale
    in_scale = cat.scale.astype(np.float64)
    step = w_scale[:, None, None, None] / in_scale[None, None, None, :]
    recon = cmd.weights.astype(np.float64) * step
    # (w_scale is recovered from the 15-bit multiplier: up to 127 * 2**-14 steps of slack)
    assert np.all(np.abs(recon - w_float) <= step * (0.5 + 127.0 / 2 ** 14))
    # and the layer tracks float on real data; a 20x coarser part costs weight precision in the
    # other part (one per-output-channel weight scale), hence the looser bound there
    _, errors = _isolated_layer_errors(random_model, program, photos[4])
    for name in ("up0.a", "up1.a", "up4.a"):
        err = errors[name]
        if factor > 10:  # judge the starved layer in steps of its coarsest output channel
            scale = program.tensors[name].scale.astype(np.float64)
            err = err * scale / scale.max()
        _assert_layer_ok(name, err, program, lsb=4.0 if factor > 10 else 1.0)


def test_all_zero_weight_channel(random_model, random_maxima, photos):
    model = copy.deepcopy(random_model)
    conv = model.decoder.up1.convA
    with torch.no_grad():
        conv.weight[3] = 0.0
        conv.weight[5] = 0.0
        conv.bias[3] = 0.0
        conv.bias[5] = 0.37  # a constant output channel
        dw = model.get_submodule("encoder.original_model.features.4.conv.1.0")  # depthwise, then BatchNorm
        dw.weight[7] = 0.0
    program = quantize_model(model, calibrate(model, photos[:3]), HW)
    assert validate_program(program) is None
    cmd = next(c for c in program.conv_commands if c.name == "decoder.up1.convA")
    assert np.all(cmd.weights[3] == 0) and np.all(cmd.weights[5] == 0)
    assert np.all(cmd.mult < 1 << 15) and np.all(cmd.shift >= 1)
    trace, errors = _isolated_layer_errors(model, program, photos[4])
    assert np.all(trace["up1.a"][..., 3] == 0)
    scale = float(program.tensors["up1.a"].scale[5])  # output scales are per channel in the decoder
    expected = round(0.37 / scale)
    assert expected >= 2
    assert np.all(np.abs(trace["up1.a"][..., 5].astype(int) - expected) <= 1)
    for name in ("up1.a", "f5.dw"):
        _assert_layer_ok(name, errors[name], program)


def test_huge_weights(random_model, photos):
    model = copy.deepcopy(random_model)
    with torch.no_grad():
        model.decoder.up2.convA.weight *= 1e6
        model.decoder.up2.convA.bias *= 1e6
        model.decoder.up2.convB.weight *= 1e-6  # keeps the network's later layers in range
    maxima = calibrate(model, photos[:3])
    program = quantize_model(model, maxima, HW)
    assert validate_program(program) is None
    for cmd in program.conv_commands:
        assert np.all(np.abs(cmd.weights.astype(int)) <= 127)
    with np.errstate(all="raise"):
        trace, errors = _isolated_layer_errors(model, program, photos[4])
    for name in ("up2.a", "up2", "depth"):
        _assert_layer_ok(name, errors[name], program)


def test_huge_bias_saturates_cleanly(random_model, random_maxima, photos):
    model = copy.deepcopy(random_model)
    with torch.no_grad():
        model.decoder.up3.convA.bias[0] = 1e12  # far beyond int32 accumulator units
        model.decoder.up3.convA.bias[1] = -1e12
    program = quantize_model(model, random_maxima, HW)
    assert validate_program(program) is None
    cmd = next(c for c in program.conv_commands if c.name == "decoder.up3.convA")
    assert int(cmd.bias[0]) == 2 ** 31 - 1 and int(cmd.bias[1]) == -(2 ** 31)
    trace = Emulator().run(program, photos[4], trace=True)
    assert np.all(trace["up3.a"][..., 0] == cmd.hi)
    assert np.all(trace["up3.a"][..., 1] == cmd.lo)
    assert trace["depth"].dtype == np.int16


# ----------------------------------------------------------------- bias correction
def test_bias_correction_reduces_drift_and_changes_only_biases(random_model, random_maxima, photos):
    import copy

    from pynq_depth.quantize import correct_biases

    plain = quantize_model(random_model, random_maxima, HW)
    corrected = copy.deepcopy(plain)
    changes = correct_biases(random_model, corrected, photos[:3])
    assert validate_program(corrected) is None
    assert set(changes) == {c.name for c in plain.conv_commands}
    assert any(v > 0 for v in changes.values())
    for a, b in zip(plain.conv_commands, corrected.conv_commands):
        for field in ("weights", "mult", "mult_neg", "shift"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.lo, a.hi, a.skip_mult, a.skip_shift) == (b.lo, b.hi, b.skip_mult, b.skip_shift)

    def mean_bias(program, rgb):
        q = Emulator().run(program, rgb)[..., 0].astype(np.float64) * program.output_scale
        return float(np.mean(q - _float_outputs(random_model, rgb)["depth"][..., 0]))

    # On the images it was fitted on, the correction must cancel the drift of the output mean.
    # (Held-out gains are measured on the real model in test_accuracy; a random 64x96 model
    # with three images is too small a sample to promise them.)
    drift_plain = np.mean([mean_bias(plain, rgb) for rgb in photos[:3]])
    drift_corrected = np.mean([mean_bias(corrected, rgb) for rgb in photos[:3]])
    assert abs(drift_corrected) < abs(drift_plain)


def test_fake_quantisation_reproduces_the_integer_program(random_model, random_maxima, photos):
    """Quantisation-aware training's forward (DepthModel.set_fake_quant: weights folded and rounded per
    output channel, every requantised tensor on its integer grid) computes what the emulator computes
    from the same program, up to the requantisation constants' rounding; gradients still flow."""
    from pynq_depth.backends.emulator import Emulator

    program = quantize_model(random_model, random_maxima, HW)  # no bias correction: biases as in float
    rgb = photos[4]
    x = torch.from_numpy(normalize(rgb)[None]).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        plain = random_model(x, return_all=True)
    random_model.set_fake_quant(program)
    try:
        with torch.no_grad():
            fake = random_model(x, return_all=True)
        # inputs land on the table's grid exactly
        grid = program.tensors["input"].scale.reshape(1, 3, 1, 1)
        np.testing.assert_allclose(fake["input"].numpy() / grid, np.round(fake["input"].numpy() / grid), atol=1e-4)
        trace = Emulator().run(program, rgb, trace=True)
        for name in ("f4", "f19", "up1", "depth"):
            ints = trace[name].astype(np.float64) * program.tensors[name].scale
            f = fake[name][0].permute(1, 2, 0).double().numpy()
            p = plain[name][0].permute(1, 2, 0).double().numpy()
            rms = np.sqrt(np.mean(f ** 2))
            fake_err = np.sqrt(np.mean((ints - f) ** 2)) / rms
            plain_err = np.sqrt(np.mean((ints - p) ** 2)) / rms
            assert fake_err < 0.6 * plain_err, (name, fake_err, plain_err)  # measured: 0.33-0.56
        # straight-through: a loss on the output reaches the first layer's weights
        random_model.zero_grad()
        random_model(x).mean().backward()
        first = random_model.get_submodule("encoder.original_model.features.0.0").weight.grad
        assert first is not None and float(first.abs().sum()) > 0
    finally:
        random_model.set_fake_quant(None)
        random_model.zero_grad()
    with torch.no_grad():
        again = random_model(x)
    np.testing.assert_array_equal(again.numpy(), plain["depth"].numpy())  # switched off: the float model


def test_adaptive_depthwise_rounding_never_worse_than_nearest_on_its_statistics():
    """round_depthwise picks, per 3x3 kernel, the rounding with the least expected squared output change;
    nearest rounding is a candidate, so its cost is never higher, and every value moves by < 1 step."""
    from pynq_depth.quantize import round_depthwise

    rng = np.random.default_rng(3)
    c = 40
    values = np.clip(rng.normal(0, 30, size=(c, 3, 3)), -126, 126)  # inside the int8 range
    windows = rng.normal(1.0, 1.0, size=(c, 500, 9))  # inputs with a mean: the bias term matters
    moments = np.einsum("cni,cnj->cij", windows, windows) / 500
    chosen = round_depthwise(values, moments)
    nearest = np.round(values)

    def cost(q):
        d = (q - values).reshape(c, 9)
        return np.einsum("ci,cij,cj->c", d, moments, d)

    assert chosen.dtype == np.int8 and np.all(np.abs(chosen - values) < 1)
    assert np.all(cost(chosen.astype(np.float64)) <= cost(nearest) + 1e-9)
    assert np.mean(cost(chosen.astype(np.float64))) < 0.8 * np.mean(cost(nearest))  # measured: 0.68
    # identity moments (white inputs): every combination costs sum(d^2): nearest is optimal
    np.testing.assert_array_equal(round_depthwise(values, np.broadcast_to(np.eye(9), (c, 9, 9))), nearest)


# ----------------------------------------------------------------- per-channel scales, ranges, GPTQ
def test_residual_chains_group_every_add_and_share_scales(random_model, random_maxima):
    from pynq_depth.quantize import residual_chains

    graph = random_model.graph(HW)
    chains = residual_chains(graph)
    members = [name for chain in chains for name in chain]
    assert len(members) == len(set(members))  # disjoint
    where = {name: i for i, chain in enumerate(chains) for name in chain}
    adds = [n for n in graph if n.residual is not None]
    assert adds and all(where[n.output] == where[n.residual] for n in adds)
    program = quantize_model(random_model, random_maxima, HW)
    for chain in chains:
        scales = [program.tensors[name].scale for name in chain]
        assert all(np.array_equal(s, scales[0]) for s in scales)
        assert np.ptp(scales[0]) > 0  # per channel, not one per tensor
    for cmd in program.conv_commands:
        if cmd.skip is not None:  # a shared scale: the skip multiplier is exactly 1
            assert cmd.skip_mult * 2.0 ** -cmd.skip_shift == 1.0


def test_per_channel_relu6_scales_reach_six_exactly(random_model, random_maxima):
    program = quantize_model(random_model, random_maxima, HW)
    relu = [c for c in program.conv_commands if program.tensors[c.output].dtype == "uint8"]
    assert relu
    for cmd in relu:
        scale = program.tensors[cmd.output].scale.astype(np.float64)
        assert (cmd.lo, cmd.hi) == (0, 255)
        assert np.all(scale * 255 <= 6.0 + 1e-6)  # the clamp never exceeds ReLU6's 6
    assert any(np.ptp(program.tensors[c.output].scale) > 0 for c in relu)


def test_range_factors_scale_tensors_and_chains_must_agree(random_model, random_maxima):
    from pynq_depth.quantize import QuantizeOptions, residual_chains

    plain = quantize_model(random_model, random_maxima, HW)
    chain = residual_chains(random_model.graph(HW))[0]
    factors = {"f2": 0.5, "f1": 0.8, **{name: 0.6 for name in chain}}
    clipped = quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(range_factors=factors))
    assert validate_program(clipped) is None
    for name, factor in factors.items():
        np.testing.assert_allclose(clipped.tensors[name].scale, plain.tensors[name].scale * factor, rtol=1e-6)
    np.testing.assert_array_equal(clipped.tensors["f3.dw"].scale, plain.tensors["f3.dw"].scale)
    with pytest.raises(ValueError, match="range factors differ"):
        quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(range_factors={chain[0]: 0.5}))


def test_search_ranges_never_worse_than_the_calibrated_maxima(random_model, random_maxima, photos):
    from pynq_depth.quantize import INT8_RANGE_FACTORS, UINT8_RANGE_FACTORS, QuantizeOptions, search_ranges

    plain = quantize_model(random_model, random_maxima, HW)
    seen = []
    factors = search_ranges(random_model, plain, photos[:2], progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1]
    for name, factor in factors.items():
        allowed = INT8_RANGE_FACTORS if plain.tensors[name].dtype == "int8" else UINT8_RANGE_FACTORS
        assert factor in allowed and factor < 1
    assert random_model._fake_quant is None  # the model is left as it was

    def fake_error(program):
        x = torch.from_numpy(np.stack([normalize(i) for i in photos[:2]])).permute(0, 3, 1, 2)
        with torch.no_grad():
            ref = prediction_to_metres(random_model(x)[:, 0].numpy())
            random_model.set_fake_quant(program)
            random_model._tensor_scales = None
            out = prediction_to_metres(random_model(x)[:, 0].numpy())
            random_model.set_fake_quant(None)
        return np.mean(np.abs(out - ref) / ref)

    searched = quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(range_factors=factors))
    assert fake_error(searched) <= fake_error(plain) + 1e-9


def test_forward_reuses_known_tensors(random_model, photos):
    x = torch.from_numpy(normalize(photos[0])[None]).permute(0, 3, 1, 2)
    with torch.no_grad():
        full = random_model(x, return_all=True)
        order = list(full)
        half = {name: full[name] for name in order[: len(order) // 2]}
        assert_array_equal(random_model(x, known=half).numpy(), full["depth"].numpy())
        poisoned = {name: torch.zeros_like(t) for name, t in half.items()}  # known tensors are used as given
        assert not np.array_equal(random_model(x, known=poisoned).numpy(), full["depth"].numpy())


def test_gptq_rounding_lowers_the_output_error_of_its_statistics():
    from pynq_depth.quantize import round_weights_gptq

    rng = np.random.default_rng(5)
    values = np.clip(rng.normal(0, 30, size=(16, 48)), -120, 120)
    inputs = rng.normal(size=(2000, 48)) @ rng.normal(size=(48, 48))  # correlated inputs
    moments = inputs.T @ inputs / len(inputs)

    def cost(q):
        d = q.astype(np.float64) - values
        return np.einsum("ci,ij,cj->", d, moments, d)

    chosen = round_weights_gptq(values, moments)
    assert chosen.dtype == np.int8 and chosen.shape == values.shape
    assert cost(chosen) < 0.8 * cost(np.round(values))  # measured: 0.62
    # white inputs: no column can help another, so the rounding is the nearest one
    assert_array_equal(round_weights_gptq(values, np.eye(48)), np.round(values))
    # a dead input (never non-zero) gets weight 0: it costs nothing and frees nothing
    dead = moments.copy()
    dead[7, :] = dead[:, 7] = 0.0
    assert np.all(round_weights_gptq(values, dead)[:, 7] == 0)


def test_layer_noise_report_finds_a_damaged_layer(random_model, random_maxima, photos):
    from pynq_depth.quant_report import format_report, layer_noise

    program = quantize_model(random_model, random_maxima, HW)
    images = photos[:3]  # the calibration images: a random model clips much on others
    report = layer_noise(random_model, program, images)
    assert [row.tensor for row in report] == [c.output for c in program.conv_commands]
    assert all(np.isfinite(row.own_sqnr_db) and row.own_sqnr_db > 30 for row in report)  # 8-bit layers: measured 34+
    assert all(0.0 <= row.clipped <= 1.0 for row in report)
    damaged = copy.deepcopy(program)
    victim = damaged.conv_commands[5]
    victim.weights = (victim.weights // 16 * 16).astype(np.int8)  # 4 bits of every weight lost
    rows = {row.tensor: row for row in layer_noise(random_model, damaged, images)}
    assert min(rows.values(), key=lambda row: row.own_sqnr_db).tensor == victim.output
    later = damaged.conv_commands[6].output
    assert rows[later].network_sqnr_db < {r.tensor: r for r in report}[later].network_sqnr_db  # noise travels on
    text = format_report(list(rows.values()), top=3)
    assert f"limiting layers (lowest own SQNR): {victim.name}" in text


def test_depth_sensitivity_finds_a_coarse_channel(random_model, random_maxima, photos):
    """Rounding one tensor (then one channel) at a time: a channel whose grid step was made 64x coarser is
    the worst channel of the worst tensor, and the model is left as it was (float)."""
    from pynq_depth.quant_report import depth_sensitivity, format_sensitivity

    program = quantize_model(random_model, random_maxima, HW)
    images = photos[:2]
    x = torch.from_numpy(np.stack([normalize(rgb) for rgb in images])).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        before = random_model(x).numpy()
    damaged = copy.deepcopy(program)
    victim = damaged.conv_commands[4].output
    damaged.tensors[victim].scale[3] *= 64.0
    rows = depth_sensitivity(random_model, damaged, images, top_tensors=1, top_channels=3)
    assert sorted(row.tensor for row in rows) == sorted(["input"] + [c.output for c in program.conv_commands])
    assert all(row.abs_rel.shape == (2,) and np.all(row.abs_rel >= 0) for row in rows)
    assert rows[0].tensor == victim and rows[0].channels[0][0] == 3
    assert len(rows[0].channels) == 3 and all(not row.channels for row in rows[1:])
    assert rows[0].channels[0][1].max() > 10 * rows[0].channels[1][1].max()  # measured ~40x
    text = format_sensitivity(rows, ["a", "b"], top=2)
    assert victim in text and "channel 3" in text
    with torch.no_grad():
        np.testing.assert_array_equal(random_model(x).numpy(), before)


def test_depthwise_step_search_never_worse_than_the_plain_step():
    """round_depthwise_rescaled tries coarser steps per channel; the plain step is a candidate, so the expected
    output error (in units of the plain step) never rises, and kernels whose values nearly cancel gain."""
    from pynq_depth.quantize import DEPTHWISE_STEP_FACTORS, round_depthwise, round_depthwise_rescaled

    rng = np.random.default_rng(11)
    c = 60
    values = rng.normal(0, 40, size=(c, 3, 3))
    values[:, 1, 1] = -(values.sum(axis=(1, 2)) - values[:, 1, 1])  # edge detectors: the 9 values sum to 0
    values *= 127 / np.abs(values).reshape(c, 9).max(axis=1)[:, None, None]
    windows = rng.normal(2.0, 0.5, size=(c, 400, 9))  # bright inputs: the kernel sum's error matters
    moments = np.einsum("cni,cnj->cij", windows, windows) / 400
    chosen, factors = round_depthwise_rescaled(values, moments)
    plain = round_depthwise(values, moments)

    def cost(q, f):
        d = (q.reshape(c, 9).astype(np.float64) / f[:, None]) - values.reshape(c, 9)
        return np.einsum("ci,cij,cj->c", d, moments, d)

    assert chosen.dtype == np.int8 and np.abs(chosen.astype(int)).max() <= 127
    assert set(np.unique(factors)) <= set(DEPTHWISE_STEP_FACTORS) | {1.0}
    assert np.all(cost(chosen, factors) <= cost(plain, np.ones(c)) + 1e-9)
    assert np.mean(cost(chosen, factors)) < 0.7 * np.mean(cost(plain, np.ones(c)))  # measured: 0.55
    assert np.any(factors < 1)


# ----------------------------------------------------------------- channel replicas
@pytest.mark.parametrize("copies", [2, 3, 4])
def test_staggered_copies_sum_to_the_channel_rounded_n_times_finer(copies):
    """Hermite's identity: copies rounded half up with replicate_channels' offsets sum to round(n v), and each
    copy's clamp [0, 255] makes the sum's clamp [0, 255 n] exactly."""
    from pynq_depth.quantize import replicate_channels

    sources, offsets = replicate_channels(3, {1: copies})
    assert sources.tolist() == [0, 1, 2] + [1] * (copies - 1)
    assert np.all(offsets[sources != 1] == 0) and np.all(np.abs(offsets) < 0.5)
    values = np.random.default_rng(copies).uniform(-3.0, 258.0, 200_000)  # in steps, beyond both clamps
    if copies in (2, 4):  # dyadic: every tie of the finer grid is exact in float64
        values = np.concatenate([values, np.arange(-2.0, 258.0, 1.0 / (2 * copies))])
    total = sum(np.clip(np.floor(values + offset + 0.5), 0, 255) for offset in offsets[sources == 1].astype(float))
    assert_array_equal(total, np.clip(np.floor(copies * values + 0.5), 0, 255 * copies))


def test_replicated_channels_resolve_finer_on_the_same_arithmetic(random_model, random_maxima, photos, tmp_path):
    """f2.dw (block 1's depthwise output) with channel 3 in 2 copies and channel 5 in 4: its input f1 carries
    identical copies, each copy's integer is the plain program's value rounded with its offset, so the merged
    channel is within half a fine step (and the offsets' rounding into the bias) of the exact value (the plain one reaches half a coarse step), and the
    channels carried once are unchanged.  The file keeps the channel map."""
    from pynq_depth.arith import conv_acc
    from pynq_depth.program import load_program
    from pynq_depth.quantize import QuantizeOptions, replicable_tensors

    assert "f2.dw" in replicable_tensors(random_model.graph(HW))
    copies = {3: 2, 5: 4}
    plain = quantize_model(random_model, random_maxima, HW)
    program = quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(replicas={"f2.dw": copies}))
    assert validate_program(program) is None
    info, f1 = program.tensors["f2.dw"], program.tensors["f1"]
    assert info.shape[2] == 32 + 1 + 3 and info.network_channels == 32
    assert_array_equal(f1.sources, info.sources) and f1.offsets is None
    emulator = Emulator()
    ints_plain = emulator.run(plain, photos[0], trace=True)
    ints = emulator.run(program, photos[0], trace=True)
    assert_array_equal(ints["f1"], ints_plain["f1"][..., info.sources])
    dw = next(c for c in plain.conv_commands if c.output == "f2.dw")
    acc = conv_acc(ints_plain["f1"], dw.weights, dw.bias, dw.kind, dw.stride, dw.pad).astype(np.float64)
    exact = np.clip(acc * dw.mult * np.exp2(-dw.shift.astype(np.float64)), 0, 255)  # in coarse steps
    merged = info.to_network(ints["f2.dw"]) / plain.tensors["f2.dw"].scale.astype(np.float64)
    for channel, n in copies.items():
        fine_error = np.abs(merged[..., channel] - exact[..., channel]).max()
        coarse_error = np.abs(ints_plain["f2.dw"][..., channel] - exact[..., channel]).max()
        # the offsets lie in the int32 bias, which is rounded with them: within one accumulator unit, a small
        # fraction of a step
        unit = float(dw.mult[channel] * 2.0 ** -dw.shift[channel])
        assert unit < 0.02
        assert fine_error <= 0.5 / n + unit < coarse_error - 0.1, (channel, fine_error, coarse_error)
    once = [c for c in range(32) if c not in copies]
    assert_array_equal(ints["f2.dw"][..., once], ints_plain["f2.dw"][..., once])
    assert_array_equal(info.from_network(exact * plain.tensors["f2.dw"].scale)[..., once],
                       ints_plain["f2.dw"][..., once])
    path = tmp_path / "replicated.npz"
    program.save(path)
    loaded = load_program(path)
    assert_array_equal(loaded.tensors["f2.dw"].sources, info.sources)
    assert_array_equal(loaded.tensors["f2.dw"].offsets, info.offsets)
    assert_array_equal(emulator.run(loaded, photos[1]), emulator.run(program, photos[1]))


def test_replicas_are_refused_where_nothing_can_merge_them(random_model, random_maxima):
    """A tensor read by a depthwise layer, one in a residual add, the depth, an unknown name, a channel out of
    range: clear errors.  A damaged channel map in a program is caught by validation."""
    from pynq_depth.quantize import QuantizeOptions

    residual = next(n.output for n in random_model.graph(HW) if n.op == "conv" and n.residual is not None)
    for replicas, message in [({"f1": {0: 2}}, "only pointwise"), ({residual: {0: 2}}, "residual"),
                              ({"depth": {0: 2}}, "not a convolution"), ({"nope": {0: 2}}, "not a convolution"),
                              ({"f2.dw": {32: 2}}, "outside")]:
        with pytest.raises(ValueError, match=message):
            quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(replicas=replicas))
    program = quantize_model(random_model, random_maxima, HW, options=QuantizeOptions(replicas={"f2.dw": {1: 2}}))
    broken = copy.deepcopy(program)
    broken.tensors["f2.dw"].offsets[1] = 0.5
    assert "offsets" in validate_program(broken)
    broken = copy.deepcopy(program)
    broken.tensors["f1"].sources = None
    assert "same channels" in validate_program(broken)


def test_choose_replicas_picks_the_coarse_channel(random_model, random_maxima, photos):
    """A channel of a replicable tensor whose step was made 64x coarser is the first one chosen."""
    from pynq_depth.quantize import choose_replicas

    program = quantize_model(random_model, random_maxima, HW)
    program.tensors["f2.dw"].scale[6] *= 64.0
    replicas = choose_replicas(random_model, program, photos[:2], channels=2, copies=3)
    assert list(replicas) == ["f2.dw"] and list(replicas["f2.dw"].items())[0] == (6, 3)
    assert len(replicas["f2.dw"]) == 2
    assert choose_replicas(random_model, program, photos[:2], channels=0) == {}
