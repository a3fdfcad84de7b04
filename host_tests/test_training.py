"""Training, data loaders and evaluation on tiny runs (the real training run is not part of CI)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from pynq_depth import cli  # noqa: E402
from pynq_depth.training.data import (NyuZipDataset, PairFolderDataset, decode_depth_png,  # noqa: E402
                                      open_dataset)
from pynq_depth.training.losses import densedepth_loss, ssim  # noqa: E402
from pynq_depth.training.train import TrainConfig, to_sample, train  # noqa: E402

SIZE = (64, 96)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny batches gain nothing from threads, and a busy machine makes OpenMP spin (6x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_config(steps: int, **kw) -> TrainConfig:
    # dataset_length=2: the same two scenes every step, so a few steps must reduce the loss.
    return TrainConfig(data="synthetic", size=SIZE, steps=steps, batch_size=2, lr=1e-3, encoder_lr_scale=1.0,
                       seed=3, workers=0, checkpoint_every=2, dataset_length=2, **kw)


def test_loss_terms_are_zero_for_a_perfect_prediction() -> None:
    target = torch.rand(2, 1, 16, 24) * 99 + 1
    terms = densedepth_loss(target.clone(), target)
    assert float(terms["loss"]) == pytest.approx(0.0, abs=1e-5)
    assert float(ssim(target, target)) == pytest.approx(1.0, abs=1e-5)
    assert float(densedepth_loss(target * 1.5, target)["loss"]) > 0.1


def test_sample_target_is_densedepth_inverse_depth_at_half_resolution() -> None:
    rgb = np.zeros((6, 8, 3), np.uint8)
    depth = np.full((6, 8), 2.0, np.float32)
    depth[:, :2] = 20.0  # clamps to 10 m
    x, target = to_sample(rgb, depth)
    assert x.shape == (3, 6, 8) and target.shape == (1, 3, 4)
    np.testing.assert_allclose(target[0, :, 1:].numpy(), 5.0)  # 10 / 2 m
    np.testing.assert_allclose(target[0, :, 0].numpy(), 10 / 10.0)  # mean 11 m -> clamped 10 m


def test_tiny_training_reduces_loss_and_resumes_exactly(tmp_path) -> None:
    full = tmp_path / "full.pt"
    result = train(_tiny_config(8), full, pretrained=False, progress=False, log=lambda s: None)
    losses = result["losses"]
    assert len(losses) == 8
    assert np.mean(losses[-3:]) < losses[0] * 0.97

    # Interrupted run: stop at 4 of 8 steps, then resume to 8; must match the uninterrupted run.
    part = tmp_path / "part.pt"
    first = train(_tiny_config(8), part, pretrained=False, progress=False, log=lambda s: None, stop_at=4)
    assert first["step"] == 4
    cfg = _tiny_config(8)
    resumed = train(cfg, part, resume=part, progress=False, log=lambda s: None)
    assert resumed["step"] == 8
    a = torch.load(str(full), weights_only=True)["state_dict"]
    b = torch.load(str(part), weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_training_cli_and_eval_cli(tmp_path, capsys) -> None:
    ckpt = tmp_path / "cli.pt"
    code = cli.main(["train", "--data", "synthetic", "--size", "64x96", "--steps", "2", "--batch-size", "1",
                     "--workers", "0", "--no-pretrained", "-o", str(ckpt)])
    assert code == 0 and ckpt.is_file()
    capsys.readouterr()
    code = cli.main(["eval", "--data", "synthetic", "--backend", "float", "--checkpoint", str(ckpt),
                     "--limit", "2", "--json", "--median-scale"])
    assert code == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 2 and 0.0 <= report["delta1"] <= 1.0 and report["abs_rel"] > 0


def test_quantisation_aware_fine_tuning_cli(tmp_path, capsys, tiny_weights) -> None:
    """--init a checkpoint, --quant-aware its int8 weights file: a short run trains under fake quantisation
    and writes a checkpoint; a weights file of another network is a one-line error."""
    ckpt = tmp_path / "float.pt"
    assert cli.main(["train", "--data", "synthetic", "--size", "64x96", "--steps", "1", "--batch-size", "1",
                     "--workers", "0", "--no-pretrained", "-o", str(ckpt)]) == 0
    weights = tmp_path / "int8.npz"
    assert cli.main(["quantize", str(ckpt), "-o", str(weights), "--size", "64x96", "--num-calib", "2",
                     "--bias-correction", "0"]) == 0
    capsys.readouterr()
    tuned = tmp_path / "qat.pt"
    code = cli.main(["train", "--data", "synthetic", "--size", "64x96", "--steps", "2", "--batch-size", "1",
                     "--workers", "0", "--init", str(ckpt), "--quant-aware", str(weights), "-o", str(tuned)])
    captured = capsys.readouterr()
    assert code == 0 and tuned.is_file() and "quantisation-aware" in captured.err
    blob = torch.load(str(tuned), weights_only=True)
    assert blob["train_config"]["quant_aware"] == str(weights)
    before = torch.load(str(ckpt), weights_only=True)["state_dict"]
    assert any(not torch.equal(before[k], v) for k, v in blob["state_dict"].items() if k in before)
    code = cli.main(["train", "--data", "synthetic", "--size", "64x96", "--steps", "1", "--batch-size", "1",
                     "--workers", "0", "--init", str(ckpt), "--quant-aware", str(tiny_weights), "-o",
                     str(tmp_path / "bad.pt")])
    err = capsys.readouterr().err
    assert code != 0 and "tiny-test" in err and "Traceback" not in err


def test_missing_imagenet_weights_is_a_clear_error(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PYNQ_DEPTH_IMAGENET", str(tmp_path / "absent.pth"))
    code = cli.main(["train", "--steps", "1", "--size", "64x96", "-o", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code != 0 and "absent.pth" in err and "fetch_imagenet_weights" in err and "Traceback" not in err


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_depth_png_decoding() -> None:
    eight = np.array([[0, 255, 51]], np.uint8)
    np.testing.assert_allclose(decode_depth_png(_png_bytes(eight)), [[0.0, 10.0, 2.0]])
    sixteen = np.array([[1500, 65535]], np.uint16)
    np.testing.assert_allclose(decode_depth_png(_png_bytes(sixteen)), [[1.5, 65.535]])


def test_nyu_zip_and_pair_folder(tmp_path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    zpath = tmp_path / "nyu_data.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("data/nyu2_train.csv", "data/nyu2_train/a/1.jpg,data/nyu2_train/a/1.png\n")
        z.writestr("data/nyu2_test.csv", "data/nyu2_test/00000_colors.png,data/nyu2_test/00000_depth.png\n")
        z.writestr("data/nyu2_train/a/1.jpg", _png_bytes(rgb))
        z.writestr("data/nyu2_train/a/1.png", _png_bytes(np.full((12, 16), 102, np.uint8)))
        z.writestr("data/nyu2_test/00000_colors.png", _png_bytes(rgb))
        z.writestr("data/nyu2_test/00000_depth.png", _png_bytes(np.full((12, 16), 3000, np.uint16)))
    train_set = NyuZipDataset(zpath, (6, 8), split="train")
    image, depth = train_set[0]
    assert image.shape == (6, 8, 3) and depth.shape == (6, 8)
    np.testing.assert_allclose(depth, 4.0, rtol=1e-6)  # 102/255 * 10 m
    _, depth = open_dataset(str(zpath), (6, 8), split="test")[0]
    np.testing.assert_allclose(depth, 3.0)

    folder = tmp_path / "pairs"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    Image.fromarray(rgb).save(folder / "rgb" / "x.png")
    Image.fromarray(np.full((12, 16), 2500, np.uint16)).save(folder / "depth" / "x.png")
    pairs = PairFolderDataset(folder, (12, 16))
    assert len(pairs) == 1
    np.testing.assert_allclose(pairs[0][1], 2.5)
    with pytest.raises(ValueError, match="no RGB/depth pairs"):
        PairFolderDataset(tmp_path, (12, 16))
