"""Every packaged notebook runs from top to bottom on the emulator backend, and is stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "pynq_depth" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_notebooks_present_and_packaged():
    assert {p.name for p in NOTEBOOKS} == {"depth_demo.ipynb", "benchmark.ipynb", "camera_depth.ipynb"}
    from pynq_depth import notebooks

    assert {p.name for p in notebooks.notebooks()} == {p.name for p in NOTEBOOKS}
    setup = (REPO_ROOT / "setup.py").read_text()
    assert "pynq.notebooks" in setup and "pynq_depth.notebooks" in setup and '"pynq_depth.notebooks": ["*.ipynb"]' in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_emulator(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PYNQ_DEPTH_BACKEND", "emulator")
    monkeypatch.setenv("PYNQ_DEPTH_RUNS", "1")
    monkeypatch.setenv("PYNQ_DEPTH_FRAMES", "2")
    monkeypatch.setenv("PYNQ_DEPTH_CAMERA", "-1")  # never open a camera in CI
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.outputs if out.get("output_type") == "stream")
    assert "backend: emulator" in text
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, f"{path.name} shows no picture"
