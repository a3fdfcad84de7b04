"""``pip install .`` (a real, non-editable wheel) carries the HLS sources, and csim runs from it anywhere.

The checkout is copied to a temporary folder (so the in-tree build leaves no
``build/`` or ``.egg-info`` in the checkout) and installed with
``pip install --no-deps --no-build-isolation --no-index --target``: no network,
the shared environment untouched.  The installed package is then run in child
processes whose ``PYTHONPATH`` is that target only, from a folder outside the
checkout, with ``$PYNQ_DEPTH_HLS_DIR`` unset, so the C++ can only come from the
installed package's ``pynq_depth/hls/``.  Needs pip and setuptools >= 70.1
(``[test]``; ``.ci/run`` installs them) and, for the csim run, a C++ compiler
(like every csim test, that one is skipped, with the reason, where there is none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pynq_depth.backends import csim

from conftest import REPO_ROOT

#: What a wheel is built from (the rest of the checkout is not part of the package).
BUILD_INPUTS = ("setup.py", "MANIFEST.in", "README.md", "pynq_depth", "hls")
IGNORED = shutil.ignore_patterns("build", "__pycache__", "*.egg-info", "*.o", "*.so", "*.pyc", ".*")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def checkout_hls_files() -> set[str]:
    """The HLS files of the checkout a user would get (not ``hls/build/``)."""
    kept = set()
    for rel in files_under(REPO_ROOT / "hls"):
        parts = Path(rel).parts
        if not ({"build", "__pycache__"} & set(parts[:-1]) or any(part.startswith(".") for part in parts)
                or rel.endswith((".o", ".so", ".a", ".log", ".pyc"))):
            kept.add(rel)
    return kept


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The checkout installed (non-editable) into a fresh ``--target`` folder."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=IGNORED)
        elif path.is_file():
            shutil.copy2(path, source / name)
    target = root / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                             "--no-index", "--disable-pip-version-check", "--target", str(target), str(source)],
                            capture_output=True, text=True, env=env, cwd=root, timeout=300)
    hint = ("\n(an offline wheel build needs setuptools >= 70.1, or older setuptools with the wheel package: "
            "pip install 'pynq-depth[test]')" if "bdist_wheel" in result.stderr else "")
    assert result.returncode == 0, result.stdout + result.stderr + hint
    return target


def child_env(target: Path, cache: Path) -> dict[str, str]:
    """Only the installed package on the path; no source folder override; csim cache in a temporary folder."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PYNQ_DEPTH_"))}
    return {**env, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "PYNQ_DEPTH_CACHE": str(cache)}


def test_wheel_ships_every_hls_source(installed):
    shipped = installed / "pynq_depth" / "hls"
    expected = checkout_hls_files()
    assert {"conv_accel.cpp", "conv_accel.h", "csim_api.cpp", "run_hls.tcl", "tb/tb_conv_accel.cpp",
            "csim_include/hls_stream.h", "csim_include/ap_axi_sdata.h"} <= expected
    assert files_under(shipped) == expected
    for rel in expected:
        assert (shipped / rel).read_bytes() == (REPO_ROOT / "hls" / rel).read_bytes(), rel


def test_checkout_uses_its_own_hls_folder(monkeypatch):
    """From a checkout (or an editable install) the sources are ``<repo>/hls``; the variable overrides both."""
    monkeypatch.delenv("PYNQ_DEPTH_HLS_DIR", raising=False)
    assert csim.hls_dir() == REPO_ROOT / "hls"
    assert not csim.PACKAGED_HLS_DIR.exists()  # nothing was built into the checkout's package
    monkeypatch.setenv("PYNQ_DEPTH_HLS_DIR", "/somewhere/hls")
    assert csim.hls_dir() == Path("/somewhere/hls")


NEEDS_COMPILER = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")


@NEEDS_COMPILER
def test_installed_package_runs_csim_from_another_folder(installed, tmp_path):
    """``pynq-depth run --backend csim`` and ``pynq-depth verify --backend csim`` from the wheel alone."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache = tmp_path / "cache"
    env = child_env(installed, cache)
    before = files_under(installed)

    where = subprocess.run([sys.executable, "-c", "import pynq_depth, pynq_depth.backends.csim as c; "
                            "print(pynq_depth.__file__); print(c.hls_dir())"],
                           capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60)
    assert where.returncode == 0, where.stderr
    module_file, hls = (Path(line) for line in where.stdout.splitlines())
    assert module_file == installed / "pynq_depth" / "__init__.py"
    assert hls == installed / "pynq_depth" / "hls"

    example = installed / "pynq_depth" / "data" / "example.jpg"
    out = elsewhere / "depth.png"
    run = subprocess.run([sys.executable, "-m", "pynq_depth.cli", "run", str(example), "-o", str(out),
                          "--backend", "csim", "--npy", "-q"],
                         capture_output=True, text=True, env=env, cwd=elsewhere, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "backend: csim" in run.stderr and "Traceback" not in run.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (320, 240)
    depth = np.load(out.with_suffix(".npy"), allow_pickle=False)
    assert depth.shape == (240, 320) and depth.dtype == np.float32

    # the console script the wheel installs (its bin/ wrapper), on random layers
    script = installed / "bin" / "pynq-depth"
    assert script.is_file()
    verify = subprocess.run([sys.executable, str(script), "verify", "--backend", "csim", "--random-layers", "10",
                             "--seed", "3"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=600)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "bit-exact" in verify.stdout

    # the library was built in the cache, nothing was written into the installed package
    assert list(cache.glob("csim/*/libconv_csim.so"))
    assert files_under(installed) == before
    assert sorted(p.name for p in elsewhere.iterdir()) == ["depth.npy", "depth.png"]


@NEEDS_COMPILER
def test_installed_package_runs_the_simulated_board(installed, tmp_path):
    """The ``sim`` backend (pynq driving the simulated board, whose kernel is the C simulation) from the wheel."""
    pytest.importorskip("pynq")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = files_under(installed)
    result = subprocess.run([sys.executable, "-m", "pynq_depth.cli", "verify", "--backend", "sim",
                             "--random-layers", "4", "--seed", "1"], capture_output=True, text=True,
                            env=child_env(installed, tmp_path / "cache"), cwd=elsewhere, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bit-exact" in result.stdout
    assert files_under(installed) == before and not list(elsewhere.iterdir())
