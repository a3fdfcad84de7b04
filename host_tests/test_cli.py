"""The ``pynq-depth`` command line end to end (``cli.main`` in process, one real subprocess).

Error contract: every user-fixable error is one line naming the file, no
traceback, a non-zero exit status, and the other images of a batch are still
processed.  Most tests use the hand-built 32x32 program (fast); the ones about
the product output (size, range, colours) use the packaged weights.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pynq_depth import cli
from pynq_depth.program import load_program

from conftest import REPO_ROOT, build_tiny_program


# ----------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("PYNQ_DEPTH_DEBUG", raising=False)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def error_lines(err: str) -> list[str]:
    lines = [line.split("\r")[-1] for line in err.splitlines()]
    return [line for line in lines if line.startswith("error:")]


def assert_clean_errors(err: str, *names: str) -> None:
    """One 'error:' line per named file, no traceback."""
    assert "Traceback" not in err
    lines = error_lines(err)
    for name in names:
        matching = [line for line in lines if name in line]
        assert len(matching) == 1, (name, err)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def gradient_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx * 3 + yy * 5) % 256], axis=-1)
    rgb = rgb.astype(np.int64)
    rgb[: h // 3, : w // 4] = rng.integers(0, 256, (h // 3, w // 4, 3))  # an asymmetric feature
    return rgb.astype(np.uint8)


def save_image(path: Path, rgb: np.ndarray, **kwargs) -> Path:
    Image.fromarray(rgb).save(path, **kwargs)
    return path


@pytest.fixture
def tiny(tiny_weights) -> Path:
    return tiny_weights


PLASMA_COLOURS: set[tuple[int, int, int]] | None = None


def plasma_colours() -> set[tuple[int, int, int]]:
    global PLASMA_COLOURS
    if PLASMA_COLOURS is None:
        from matplotlib import colormaps

        lut = colormaps["plasma_r"](np.linspace(0, 1, 256))[:, :3]
        PLASMA_COLOURS = {tuple(v) for v in (lut * 255.0 + 0.5).astype(np.uint8).tolist()}
    return PLASMA_COLOURS


# ----------------------------------------------------------------- run: the product
def test_run_example_writes_plasma_png_and_npy(capsys, tmp_path, example_jpg, packaged_weights):
    out = tmp_path / "out.png"
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--backend", "emulator", "--npy")
    assert rc == 0, err
    assert "backend: emulator" in err and str(out) in err
    png = np.asarray(Image.open(out))
    assert png.shape == (240, 320, 3) and png.dtype == np.uint8  # upsampled to the network input
    colours = {tuple(v) for v in png.reshape(-1, 3).tolist()}
    assert colours <= plasma_colours()
    assert len(colours) > 20
    depth = np.load(out.with_suffix(".npy"), allow_pickle=False)
    assert depth.dtype == np.float32 and depth.shape == (240, 320)
    assert np.all(np.isfinite(depth)) and depth.min() >= 0.1 and depth.max() <= 10.0
    # near = bright yellow, far = dark purple: the nearest pixel is brighter than the farthest
    near, far = np.unravel_index(depth.argmin(), depth.shape), np.unravel_index(depth.argmax(), depth.shape)
    if depth.max() - depth.min() > 0.5:
        assert png[near].astype(int).sum() > png[far].astype(int).sum()
    assert no_temp_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy", "out.png"]


def test_run_colorbar(capsys, tmp_path, example_jpg, tiny):
    plain, bar = tmp_path / "plain.png", tmp_path / "bar.png"
    assert run_cli(capsys, "run", example_jpg, "-o", plain, "--weights", tiny, "--backend", "emulator")[0] == 0
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", bar, "--weights", tiny, "--colorbar",
                         "--backend", "emulator")
    assert rc == 0, err
    with Image.open(bar) as image:
        assert image.format == "PNG"
        assert image.width > Image.open(plain).width  # the scale is beside the picture
    assert no_temp_files(tmp_path)


def test_run_default_output_name_and_auto_backend(capsys, tmp_path, tiny, monkeypatch):
    img = save_image(tmp_path / "scene.png", gradient_rgb(40, 60))
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(capsys, "run", img, "--weights", tiny, "-v")
    assert rc == 0, err
    assert (tmp_path / "scene_depth.png").is_file()
    assert "backend: emulator" in err and "reason" in err


def test_run_folder_skips_non_images(capsys, tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "a.png", gradient_rgb(40, 50, 1))
    save_image(src / "b.jpg", gradient_rgb(30, 50, 2))
    (src / "notes.txt").write_text("not an image")
    (src / "data.npy").write_bytes(b"\x93NUMPY")
    (src / "sub").mkdir()
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "run", src, "-O", out, "--weights", tiny, "--backend", "emulator", "-q")
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a_depth.png", "b_depth.png"]
    assert "skipping" in err and "notes.txt" in err and "data.npy" in err
    assert not error_lines(err)


def test_run_batch_with_corrupt_and_truncated_images(capsys, tmp_path, tiny, example_jpg):
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "good1.png", gradient_rgb(40, 50, 1))
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    data = example_jpg.read_bytes()
    (src / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (src / "empty.png").write_bytes(b"")
    save_image(src / "good2.jpg", gradient_rgb(30, 50, 2))
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "run", src, "-O", out, "--weights", tiny, "--backend", "emulator", "-q")
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["good1_depth.png", "good2_depth.png"]
    assert_clean_errors(err, "corrupt.jpg", "truncated.jpg", "empty.png")
    assert len(error_lines(err)) == 3
    assert [line for line in error_lines(err) if "empty.png" in line] == [f"error: {src / 'empty.png'}: empty file"]
    assert "done: 2 of 5" in err and "3 failed" in err
    assert no_temp_files(tmp_path)


def test_run_batch_progress_bar_keeps_errors_on_their_own_line(capsys, tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        save_image(src / f"ok{i}.png", gradient_rgb(32, 40, i))
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc, _, err = run_cli(capsys, "run", src, "-O", tmp_path / "out", "--weights", tiny, "--backend", "emulator")
    assert rc == 1
    assert_clean_errors(err, "bad.png")
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_run_explicit_missing_file_and_directory_args(capsys, tmp_path, tiny):
    good = save_image(tmp_path / "good.png", gradient_rgb(40, 50))
    rc, _, err = run_cli(capsys, "run", good, tmp_path / "missing.png", "-O", tmp_path / "out", "--weights", tiny,
                         "--backend", "emulator", "-q")
    assert rc == 1
    assert_clean_errors(err, "missing.png")
    assert (tmp_path / "out" / "good_depth.png").is_file()


@pytest.mark.parametrize("kind", ["png16", "rgba", "la", "l", "p", "p_transparent", "cmyk_jpeg", "bmp", "gif",
                                  "tiff_float"])
def test_run_image_modes(capsys, tmp_path, tiny, kind):
    rgb = gradient_rgb(36, 52)
    path = tmp_path / "img.png"
    if kind == "png16":
        data = (rgb[..., 0].astype(np.uint16) * 257)
        Image.fromarray(data).save(path)
        with Image.open(path) as check:
            assert check.mode.startswith("I")
    elif kind == "rgba":
        rgba = np.dstack([rgb, (np.arange(52) * 5).astype(np.uint8)[None, :].repeat(36, 0)])
        Image.fromarray(rgba, mode="RGBA").save(path)
    elif kind == "la":
        Image.fromarray(rgb).convert("LA").save(path)
    elif kind == "l":
        Image.fromarray(rgb[..., 0]).save(path)
    elif kind == "p":
        Image.fromarray(rgb).convert("P").save(path)
    elif kind == "p_transparent":
        Image.fromarray(rgb).convert("P").save(path, transparency=0)
    elif kind == "cmyk_jpeg":
        path = tmp_path / "img.jpg"
        Image.fromarray(rgb).convert("CMYK").save(path)
    elif kind == "bmp":
        path = tmp_path / "img.bmp"
        Image.fromarray(rgb).save(path)
    elif kind == "gif":
        path = tmp_path / "img.gif"
        Image.fromarray(rgb).save(path)
    else:
        path = tmp_path / "img.tiff"
        Image.fromarray(rgb[..., 1].astype(np.float32) * 3.5, mode="F").save(path)
    out = tmp_path / "out.png"
    rc, _, err = run_cli(capsys, "run", path, "-o", out, "--weights", tiny, "--backend", "emulator", "--npy")
    assert rc == 0, err
    depth = np.load(out.with_suffix(".npy"))
    assert depth.shape == (32, 32) and np.all(np.isfinite(depth))


def test_load_image_16bit_scales_by_full_range(tmp_path):
    from pynq_depth.preprocess import load_image

    data = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(data).save(path)
    rgb = load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 1, 255, 128])
    rgba = np.zeros((2, 2, 4), np.uint8)  # fully transparent black composites to white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    assert np.all(load_image(tmp_path / "t.png") == 255)


def test_run_exif_rotated_jpeg(capsys, tmp_path, tiny):
    from pynq_depth.preprocess import load_image

    rgb = gradient_rgb(48, 80)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated_jpg = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(rotated_jpg, exif=exif, quality=95)
    loaded = load_image(rotated_jpg)
    assert loaded.shape == (80, 48, 3)  # the displayed (rotated) aspect
    with Image.open(rotated_jpg) as raw_image:
        raw = np.asarray(raw_image.convert("RGB"))  # decoded pixels, EXIF ignored
    assert raw.shape == (48, 80, 3)
    manual = tmp_path / "manual.png"
    save_image(manual, np.ascontiguousarray(np.rot90(raw, k=-1)))  # 90 degrees clockwise, lossless
    unrotated = tmp_path / "unrotated.png"
    save_image(unrotated, raw)
    np.testing.assert_array_equal(loaded, np.rot90(raw, k=-1))
    results = {}
    for name, path in [("exif", rotated_jpg), ("manual", manual), ("unrotated", unrotated)]:
        out = tmp_path / f"{name}_out.png"
        rc, _, err = run_cli(capsys, "run", path, "-o", out, "--weights", tiny, "--backend", "emulator", "--npy")
        assert rc == 0, err
        results[name] = np.load(out.with_suffix(".npy"))
    np.testing.assert_array_equal(results["exif"], results["manual"])
    assert not np.array_equal(results["exif"], results["unrotated"])


def test_run_decompression_bomb_limit(capsys, tmp_path, tiny, monkeypatch):
    import PIL.Image

    big = save_image(tmp_path / "big.png", gradient_rgb(64, 64))      # 4096 px > 2 x limit: error
    warn = save_image(tmp_path / "warn.png", gradient_rgb(40, 40))    # 1600 px > limit: warning -> error
    small = save_image(tmp_path / "small.png", gradient_rgb(20, 30))  # 600 px: fine
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    rc, _, err = run_cli(capsys, "run", big, warn, small, "-O", tmp_path / "out", "--weights", tiny,
                         "--backend", "emulator", "-q")
    assert rc == 1
    assert_clean_errors(err, "big.png", "warn.png")
    assert "decompression-bomb" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small_depth.png"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_run_crafted_huge_png_header(capsys, tmp_path, tiny):
    """A valid PNG header declaring 100000 x 100000 pixels is refused before any allocation."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(data)
    good = save_image(tmp_path / "good.png", gradient_rgb(40, 40))
    rc, _, err = run_cli(capsys, "run", bomb, good, "-O", tmp_path / "out", "--weights", tiny,
                         "--backend", "emulator", "-q")
    assert rc == 1
    assert_clean_errors(err, "bomb.png")
    assert (tmp_path / "out" / "good_depth.png").is_file()


# ----------------------------------------------------------------- run: weights errors
def _other_config_weights(tmp_path) -> Path:
    program = build_tiny_program()
    program.arith_id = "z2i8-a00000000"
    path = tmp_path / "other.npz"
    program.save(path)
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "truncated", "empty", "directory", "mismatched", "zip",
                                  "checksum"])
def test_run_weights_errors(capsys, tmp_path, example_jpg, tiny_program_bytes, case):
    path = tmp_path / "w.npz"
    if case == "corrupt":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(tiny_program_bytes)) as archive:
            info = archive.getinfo("__header__.npy")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data = bytearray(tiny_program_bytes)
        data[start + info.compress_size // 2] ^= 0xFF  # inside the compressed header
        path.write_bytes(bytes(data))
    elif case == "truncated":
        path.write_bytes(tiny_program_bytes[: len(tiny_program_bytes) * 2 // 3])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "directory":
        path.mkdir()
    elif case == "mismatched":
        path = _other_config_weights(tmp_path)
    elif case == "zip":
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
    elif case == "checksum":  # a valid archive and header, one weight changed
        with np.load(io.BytesIO(tiny_program_bytes), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        key = next(k for k, v in arrays.items() if not k.startswith("__") and v.dtype == np.int8 and v.size > 8)
        arrays[key] = arrays[key].copy()
        arrays[key].flat[3] ^= 1
        np.savez(path, **arrays)
    out = tmp_path / "out.png"
    out.write_bytes(b"previous")
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", path, "--backend", "emulator")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0], err
    assert "Traceback" not in err
    assert "quantize" in lines[0]  # what to do: another --weights file or a new quantisation
    if case == "mismatched":
        assert "configuration" in lines[0]
    if case == "checksum":
        assert f"array {key} checksum mismatch" in lines[0]
    assert out.read_bytes() == b"previous"


def test_run_weights_error_debug_shows_traceback(tmp_path, example_jpg, monkeypatch):
    from pynq_depth.program import WeightsError

    monkeypatch.setenv("PYNQ_DEPTH_DEBUG", "1")
    with pytest.raises(WeightsError):
        cli.main(["run", str(example_jpg), "-o", str(tmp_path / "o.png"), "--weights", str(tmp_path / "none.npz")])


def test_run_bad_hw_config(capsys, tmp_path, example_jpg):
    bad = tmp_path / "hw.json"
    bad.write_text("{not json")
    rc, _, err = run_cli(capsys, "--hw-config", bad, "run", example_jpg, "-o", tmp_path / "o.png")
    assert rc == 1 and str(bad) in err and "Traceback" not in err


# ----------------------------------------------------------------- run: outputs
def test_run_unwritable_output_under_a_file(capsys, tmp_path, tiny, example_jpg):
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file")
    out = blocker / "out.png"
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", tiny, "--backend", "emulator")
    assert rc == 1
    assert_clean_errors(err, str(out))
    assert blocker.read_text() == "I am a file"
    assert no_temp_files(tmp_path)
    rc, _, err = run_cli(capsys, "run", example_jpg, "-O", blocker / "sub", "--weights", tiny,
                         "--backend", "emulator")
    assert rc == 2
    assert_clean_errors(err, str(blocker / "sub"))


def test_run_batch_one_output_unwritable_others_written(capsys, tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        save_image(src / f"{name}.png", gradient_rgb(32, 48))
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_depth.png").mkdir()  # the output name is taken by a folder
    rc, _, err = run_cli(capsys, "run", src, "-O", out, "--weights", tiny, "--backend", "emulator", "-q")
    assert rc == 1
    assert_clean_errors(err, "b_depth.png")
    assert (out / "a_depth.png").is_file() and (out / "c_depth.png").is_file()
    assert (out / "b_depth.png").is_dir()
    assert no_temp_files(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["a_depth.png", "b_depth.png", "c_depth.png"]


def test_run_refuses_to_overwrite_input(capsys, tmp_path, tiny):
    img = tmp_path / "photo.png"
    save_image(img, gradient_rgb(40, 40))
    before = img.read_bytes()
    for target in (img, tmp_path / "." / "photo.png"):
        rc, _, err = run_cli(capsys, "run", img, "-o", target, "--weights", tiny, "--backend", "emulator")
        assert rc == 2
        assert_clean_errors(err, "photo.png")
        assert "overwrite" in err
    assert img.read_bytes() == before
    # -O onto the input folder with an input already named like an output
    clash = tmp_path / "x_depth.png"
    save_image(clash, gradient_rgb(40, 40))
    save_image(tmp_path / "x.png", gradient_rgb(40, 40))
    clash_before = clash.read_bytes()
    rc, _, err = run_cli(capsys, "run", tmp_path / "x.png", clash, "-O", tmp_path, "--weights", tiny,
                         "--backend", "emulator")
    assert rc == 2 and clash.read_bytes() == clash_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == ["photo.png", "x.png", "x_depth.png"]


def test_run_output_argument_errors(capsys, tmp_path, tiny):
    a = save_image(tmp_path / "a.png", gradient_rgb(32, 32))
    b = save_image(tmp_path / "b.png", gradient_rgb(32, 32))
    rc, _, err = run_cli(capsys, "run", a, b, "-o", tmp_path / "o.png", "--weights", tiny)
    assert rc == 2 and "-O" in err
    rc, _, err = run_cli(capsys, "run", a, "-o", tmp_path / "o.jpg", "--weights", tiny)
    assert rc == 2 and "o.jpg" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = run_cli(capsys, "run", empty, "--weights", tiny)
    assert rc == 2 and "no images" in err
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    save_image(tmp_path / "d1" / "same.png", gradient_rgb(32, 32))
    save_image(tmp_path / "d2" / "same.png", gradient_rgb(32, 32))
    rc, _, err = run_cli(capsys, "run", tmp_path / "d1", tmp_path / "d2", "-O", tmp_path / "o", "--weights", tiny)
    assert rc == 2 and "same output" in err


def test_run_overwrites_existing_output_atomically(capsys, tmp_path, tiny):
    img = save_image(tmp_path / "a.png", gradient_rgb(32, 32))
    out = tmp_path / "o.png"
    out.write_bytes(b"stale")
    rc, _, _ = run_cli(capsys, "run", img, "-o", out, "--weights", tiny, "--backend", "emulator")
    assert rc == 0
    with Image.open(out) as image:
        assert image.size == (32, 32)
    assert no_temp_files(tmp_path)


def test_run_prints_times_only_for_images_written(capsys, tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        save_image(src / f"{name}.png", gradient_rgb(32, 48))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_depth.png").mkdir()  # both output names are taken by folders: nothing can be written
    (out / "b_depth.png").mkdir()
    rc, _, err = run_cli(capsys, "run", src, "-O", out, "--weights", tiny, "--backend", "emulator", "-v")
    assert rc == 1
    assert "done: 0 of 2 images written; 2 failed" in err
    assert " s per image" not in err and " s)" not in err and " -> " not in err
    (out / "b_depth.png").rmdir()
    rc, _, err = run_cli(capsys, "run", src, "-O", out, "--weights", tiny, "--backend", "emulator", "-v")
    assert rc == 1
    assert re.search(r"done: 1 of 2 images written, \d+\.\d\d s per image; 1 failed", err), err
    assert [line for line in err.splitlines() if " s)" in line] == \
        [line for line in err.splitlines() if line.startswith(f"{src / 'b.png'} -> ")]
    rc, _, err = run_cli(capsys, "run", src / "a.png", "-o", out / "a_depth.png", "--weights", tiny,
                         "--backend", "emulator")
    assert rc == 1 and " s)" not in err and " s per image" not in err


def test_run_colorbar_scale_is_the_printed_full_range(capsys, tmp_path, example_jpg, packaged_weights):
    """The printed range, the colour bar's ends and the colours' ends are the same numbers (nothing clipped)."""
    from matplotlib import colormaps

    from pynq_depth.depth import COLORMAP, colorize, make_figure

    bar_png, plain_png = tmp_path / "bar.png", tmp_path / "plain.png"
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", bar_png, "--colorbar", "--npy", "--backend", "emulator")
    assert rc == 0, err
    printed = re.search(r"depth (\d+\.\d\d)-(\d+\.\d\d) m", err)
    assert printed, err
    depth = np.load(bar_png.with_suffix(".npy"))
    lo, hi = float(depth.min()), float(depth.max())
    assert hi - lo > 0.5  # a real scene: a clipped scale would show here
    assert printed.group(1, 2) == (f"{lo:.2f}", f"{hi:.2f}")
    # the colour bar drawn for this map (the figure depth_png renders): its axis spans exactly lo..hi
    figure = make_figure([("depth", colorize(depth))], depth_for_colorbar=depth)
    figure.canvas.draw()
    bar_axes = figure.axes[-1]
    np.testing.assert_allclose(sorted(bar_axes.get_ylim()), [lo, hi], rtol=1e-6)
    labels = [float(t.get_text().replace("\u2212", "-")) for t in bar_axes.get_yticklabels() if t.get_text()]
    np.testing.assert_allclose(labels, bar_axes.get_yticks())  # the labels say where they are
    assert sum(lo <= t <= hi for t in labels) >= 3
    assert f"{lo:.2f}-{hi:.2f}" in bar_axes.get_ylabel()
    with Image.open(bar_png) as image:
        assert image.width > 320 and image.height > 240  # the map plus its scale (a matplotlib figure)
    # the picture's colours reach both ends of the colormap: nearest = its first colour, farthest = its last
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", plain_png, "--backend", "emulator")
    assert rc == 0, err
    png = np.asarray(Image.open(plain_png))
    ends = (colormaps[COLORMAP]([0.0, 1.0])[:, :3] * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(png[np.unravel_index(depth.argmin(), depth.shape)], ends[0])
    np.testing.assert_array_equal(png[np.unravel_index(depth.argmax(), depth.shape)], ends[1])


def test_depth_range_is_the_full_range():
    from pynq_depth.depth import depth_range

    depth = np.linspace(1.0, 2.0, 1000, dtype=np.float32).reshape(20, 50)
    depth[5, 7] = 9.0  # one far outlier stays on the scale
    assert depth_range(depth) == (1.0, 9.0)
    flat = np.full((4, 4), 2.0, np.float32)
    lo, hi = depth_range(flat)
    assert lo < 2.0 < hi  # a flat map still gets a scale around its value


# ----------------------------------------------------------------- run: backend errors
def previous_output(tmp_path: Path) -> Path:
    out = tmp_path / "out.png"
    out.write_bytes(b"previous")
    return out


def assert_one_backend_error(rc: int, err: str, *hints: str) -> str:
    """Exit 1, exactly one 'error:' line carrying every hint, no traceback; returns the line."""
    assert rc == 1, err
    assert "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 1, err
    for hint in hints:
        assert hint in lines[0], (hint, lines[0])
    return lines[0]


NEEDS_COMPILER = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")


@pytest.mark.parametrize("case", ["no-sources", "no-compiler", pytest.param("compile-error", marks=NEEDS_COMPILER),
                                  "cache-unwritable", "bad-library"])
def test_run_csim_build_errors(capsys, tmp_path, example_jpg, tiny, monkeypatch, case):
    from pynq_depth.backends import csim

    monkeypatch.setenv("PYNQ_DEPTH_CACHE", str(tmp_path / "cache"))
    hints: tuple[str, ...]
    if case == "no-sources":
        monkeypatch.setenv("PYNQ_DEPTH_HLS_DIR", str(tmp_path / "nowhere"))
        hints = ("conv_accel.cpp missing", "reinstall pynq-depth", "PYNQ_DEPTH_HLS_DIR")
    elif case == "no-compiler":
        monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
        hints = ("not found", "set CXX")
    elif case == "compile-error":
        broken = tmp_path / "hls"
        shutil.copytree(csim.hls_dir(), broken, ignore=shutil.ignore_patterns("build"))
        (broken / "conv_accel.cpp").write_text("#error deliberately broken\n" + (broken / "conv_accel.cpp").read_text())
        monkeypatch.setenv("PYNQ_DEPTH_HLS_DIR", str(broken))
        hints = ("compiling the csim library", "deliberately broken", "PYNQ_DEPTH_DEBUG=1")
    elif case == "cache-unwritable":
        (tmp_path / "cache").write_text("a file where the cache folder should be")
        hints = ("csim build cache", "PYNQ_DEPTH_CACHE")
    else:
        junk = tmp_path / "libconv_csim.so"
        junk.write_text("not a shared library")
        monkeypatch.setattr(csim, "build_library", lambda *args, **kwargs: junk)
        hints = ("cannot load the csim library", "delete")
    out = previous_output(tmp_path)
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", tiny, "--backend", "csim")
    line = assert_one_backend_error(rc, err, "csim backend", *hints)
    assert "\n" not in line
    assert out.read_bytes() == b"previous" and no_temp_files(tmp_path)


@pytest.mark.parametrize("command", ["verify", "bench"])
def test_verify_and_bench_csim_without_sources(capsys, tmp_path, monkeypatch, tiny, command):
    monkeypatch.setenv("PYNQ_DEPTH_HLS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PYNQ_DEPTH_CACHE", str(tmp_path / "cache"))
    args = (["verify", "--backend", "csim", "--random-layers", "2"] if command == "verify"
            else ["bench", "--backend", "csim", "--weights", tiny, "--runs", "1"])
    rc, _, err = run_cli(capsys, *args)
    assert_one_backend_error(rc, err, "csim backend", "missing", "PYNQ_DEPTH_HLS_DIR")


def test_run_csim_protocol_error_is_one_line(capsys, tmp_path, example_jpg, tiny, monkeypatch):
    from pynq_depth import protocol
    from pynq_depth.backends.csim import CsimBackend

    def refuse(self, regs, stream, n_out_beats, where="", side=None):
        raise protocol.ProtocolError(f"{where}: 3 output beats, expected 4\nregisters {regs}")

    monkeypatch.setattr(CsimBackend, "call_kernel", refuse)
    out = previous_output(tmp_path)
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", tiny, "--backend", "csim")
    assert_one_backend_error(rc, err, "csim backend", "expected 4", "a bug", "PYNQ_DEPTH_DEBUG=1")
    assert out.read_bytes() == b"previous"


@pytest.mark.parametrize("backend", ["fpga", "sim"])
def test_run_board_backends_without_pynq(capsys, tmp_path, example_jpg, tiny, monkeypatch, backend):
    monkeypatch.setitem(sys.modules, "pynq", None)  # as on a machine without pynq: import fails, find_spec is None
    out = previous_output(tmp_path)
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", tiny, "--backend", backend)
    assert_one_backend_error(rc, err, backend, "needs pynq", "pip install 'pynq-depth[board]'")
    assert out.read_bytes() == b"previous"


def test_run_fpga_without_a_board(capsys, tmp_path, example_jpg, tiny, monkeypatch):
    """Whether pynq is installed or not, no board here: one line that says what is missing and what to do."""
    monkeypatch.setenv("PYNQ_DEPTH_OVERLAY_DIR", str(tmp_path / "overlays"))
    out = previous_output(tmp_path)
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", out, "--weights", tiny, "--backend", "fpga")
    line = assert_one_backend_error(rc, err, "fpga")
    assert "pip install" in line or "PYNQ_DEPTH_OVERLAY_DIR" in line, line
    assert out.read_bytes() == b"previous"


# ----------------------------------------------------------------- info / bench / help
def _total_gmac(text: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith("total:"))
    return float(line.split()[1])


def test_info_totals(capsys):
    rc, out, _ = run_cli(capsys, "info")
    assert rc == 0
    assert "z2-mnv2" in out and "240x320" in out
    assert _total_gmac(out) <= 2.0
    rc, out, _ = run_cli(capsys, "info", "--config", "densedepth-mnv2")
    assert rc == 0
    assert _total_gmac(out) == pytest.approx(16.3, abs=0.05)
    rc, out, _ = run_cli(capsys, "info", "--config", "densedepth-mnv2", "--size", "480x640")
    assert _total_gmac(out) == pytest.approx(16.3, abs=0.05)


def test_info_json(capsys):
    rc, out, _ = run_cli(capsys, "info", "--json", "--size", "120x160")
    assert rc == 0
    data = json.loads(out)
    assert data["config"] == "z2-mnv2" and data["input_hw"] == [120, 160]
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["total_weight_bytes"] == sum(layer["weight_bytes"] for layer in data["layers"])
    assert data["layers"][-1]["out_shape"] == [30, 40, 1]
    assert {"name", "op", "kind", "stride", "act", "in_shape", "out_shape"} <= set(data["layers"][0])
    rc, out, _ = run_cli(capsys, "info", "--json")
    assert json.loads(out)["total_macs"] <= 2e9


def test_info_errors(capsys):
    rc, _, err = run_cli(capsys, "info", "--config", "nope")
    assert rc == 2 and "nope" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as info:
        cli.main(["info", "--size", "10x10"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["info", "--size", "banana"])
    assert "240x320" in capsys.readouterr().err


def test_bench_json(capsys):
    rc, out, _ = run_cli(capsys, "bench", "--backend", "emulator", "--runs", "1", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["backend"] == "emulator"
    assert data["total_s"] > 0 and data["fps"] > 0 and data["runs"] == 1
    assert len(data["layers"]) >= 66
    assert all(layer["median_s"] >= 0 for layer in data["layers"])


def test_bench_text_with_tiny_weights(capsys, tiny, tmp_path):
    img = save_image(tmp_path / "a.png", gradient_rgb(32, 32))
    rc, out, _ = run_cli(capsys, "bench", "--backend", "emulator", "--runs", "2", "--weights", tiny, "--image", img,
                         "--top", "2")
    assert rc == 0
    assert "total (median of 2)" in out and "more layers" in out


def test_bench_unknown_backend(capsys):
    rc, _, err = run_cli(capsys, "bench", "--backend", "quantum", "--runs", "1")
    assert rc == 1 and "quantum" in err and "Traceback" not in err


@pytest.mark.parametrize("sub", ["run", "info", "quantize", "bench", "eval", "train", "verify"])
def test_subcommand_help(capsys, sub):
    with pytest.raises(SystemExit) as info:
        cli.main([sub, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: pynq-depth {sub}" in out


def test_top_level_help_and_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    assert "plasma" in capsys.readouterr().out
    assert cli.main([]) == 2
    assert "usage" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert "pynq-depth" in capsys.readouterr().out


# ----------------------------------------------------------------- quantize
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from pynq_depth.model import DepthModel, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(DepthModel("z2-mnv2"), path, note="random init for tests")
    return path


def test_quantize_cli_produces_loadable_weights(capsys, tmp_path, tiny_checkpoint, example_jpg):
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(3):
        save_image(calib / f"c{i}.png", gradient_rgb(50, 70, i))
    (calib / "README.txt").write_text("ignored")
    out = tmp_path / "q.npz"
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", out, "--calib", calib, "--num-calib", "3",
                         "--size", "64x96")
    assert rc == 0, err
    assert "Traceback" not in err and str(out) in err
    program = load_program(out)
    assert program.input_hw == (64, 96) and program.model == "z2-mnv2"
    assert program.meta["num_calibration"] == 3
    assert no_temp_files(tmp_path)
    quantize_err = err
    png = tmp_path / "d.png"
    rc, _, err = run_cli(capsys, "run", example_jpg, "-o", png, "--weights", out, "--backend", "emulator", "--npy")
    assert rc == 0, err
    assert np.load(png.with_suffix(".npy")).shape == (64, 96)  # the 16x24 map upsampled to the input
    assert program.meta["weight_rounding"] == "adaptive"
    assert set(program.meta["range_factors"]) <= set(program.tensors)
    from pynq_depth.quantize import REPLICA_CHANNELS, REPLICA_COPIES

    # by default the worst channels are replicated, and the weights file says which
    ((tensor, picks),) = program.meta["replicas"].items()
    assert len(picks) == REPLICA_CHANNELS and set(picks.values()) == {REPLICA_COPIES}
    assert program.tensors[tensor].sources is not None and "replicating " + tensor in quantize_err
    assert program.tensors[tensor].shape[2] == program.tensors[tensor].network_channels + REPLICA_CHANNELS * (
        REPLICA_COPIES - 1)
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", out, "--calib", calib, "--num-calib", "3",
                         "--size", "64x96", "--replicate", "0")
    assert rc == 0, err
    assert load_program(out).meta["replicas"] == {} and "replicating" not in err
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", tmp_path / "bad.npz", "--copies", "1")
    assert rc == 2 and "--copies 1" in err and not (tmp_path / "bad.npz").exists()


def test_quantize_cli_report_names_the_limiting_layers(capsys, tmp_path, tiny_checkpoint):
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(2):
        save_image(calib / f"c{i}.png", gradient_rgb(50, 70, i))
    rc, out, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", tmp_path / "q.npz", "--calib", calib,
                           "--num-calib", "2", "--size", "64x96", "--report",
                           "--bias-correction", "0")
    assert rc == 0, err
    program = load_program(tmp_path / "q.npz")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["layer", "network", "SQNR"]
    assert len(lines) == 1 + len(program.conv_commands) + 2  # header, one row per layer, the two summaries
    assert lines[-2].startswith("limiting layers (lowest own SQNR): ") and lines[-1].startswith("output: ")
    assert "quantisation noise per layer on 2 calibration images" in err
    assert program.meta["range_factors"] == {} and "bias_correction_images" not in program.meta
    assert program.meta["relu6_spread"] == 0.75  # the quantiser's default
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", tmp_path / "bad.npz", "--calib", calib,
                         "--relu6-spread", "1.5")
    assert rc == 2 and "--relu6-spread 1.5" in err and not (tmp_path / "bad.npz").exists()


def test_quantize_cli_errors(capsys, tmp_path, tiny_checkpoint):
    pytest.importorskip("torch")
    rc, _, err = run_cli(capsys, "quantize", tmp_path / "none.pt", "-o", tmp_path / "q.npz", "--size", "64x96")
    assert rc == 2 and "none.pt" in err and "Traceback" not in err
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    rc, _, err = run_cli(capsys, "quantize", truncated, "-o", tmp_path / "q.npz", "--size", "64x96")
    assert rc == 2 and "truncated.pt" in err and "Traceback" not in err
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", tmp_path / "q.npz", "--calib",
                         tmp_path / "nodir", "--size", "64x96")
    assert rc == 1 and "nodir" in err and "Traceback" not in err
    calib = tmp_path / "calib"
    calib.mkdir()
    save_image(calib / "c.png", gradient_rgb(40, 40))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    rc, _, err = run_cli(capsys, "quantize", tiny_checkpoint, "-o", blocker / "q.npz", "--calib", calib,
                         "--num-calib", "1", "--size", "64x96")
    assert rc == 2 and "q.npz" in err and "Traceback" not in err
    assert not list(tmp_path.glob("q.npz"))


@pytest.mark.parametrize("content", [b"not a checkpoint", b"junk\n"])
@pytest.mark.parametrize("command", ["quantize", "run-float"])
def test_garbage_checkpoint_is_one_line_error(capsys, tmp_path, example_jpg, content, command):
    pytest.importorskip("torch")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(content)
    if command == "quantize":
        args = ["quantize", junk, "-o", tmp_path / "q.npz", "--size", "64x96"]
    else:
        args = ["run", example_jpg, "-o", tmp_path / "o.png", "--backend", "float", "--checkpoint", junk]
    rc, _, err = run_cli(capsys, *args)
    assert rc in (1, 2) and "junk.pt" in err and "Traceback" not in err


# ----------------------------------------------------------------- a real process
def test_console_entry_point_subprocess(tmp_path, tiny, example_jpg):
    out = tmp_path / "o.png"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PYNQ_DEPTH_DEBUG", None)
    ok = subprocess.run([sys.executable, "-m", "pynq_depth.cli", "run", str(example_jpg), "-o", str(out),
                         "--weights", str(tiny), "--backend", "emulator"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert out.is_file()
    bad = subprocess.run([sys.executable, "-m", "pynq_depth.cli", "run", str(tmp_path / "missing.jpg"), "-o",
                          str(tmp_path / "x.png"), "--weights", str(tiny), "--backend", "emulator"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == \
        [f"error: {tmp_path / 'missing.jpg'}: no such file"]
