"""Jupyter notebooks of pynq-depth (delivered by ``pynq get-notebooks pynq-depth``).

This package exists so that PYNQ can find the notebooks: ``setup.py`` registers
it under the ``pynq.notebooks`` entry-point group, and ``pynq get-notebooks``
copies the folder of the module the entry point names (every file but
``__pycache__``) into ``<jupyter home>/pynq-depth/``.

* ``depth_demo.ipynb``   image -> depth with ``runtime.create_estimator("auto")``
* ``benchmark.ipynb``    measured per-layer times and the performance model (``pynq_depth.perf``)
* ``camera_depth.ipynb`` USB-camera loop (falls back to the example photo)

Environment variables read by the notebooks: ``PYNQ_DEPTH_BACKEND`` (default
``auto``), ``PYNQ_DEPTH_IMAGE``, ``PYNQ_DEPTH_RUNS``, ``PYNQ_DEPTH_FRAMES``,
``PYNQ_DEPTH_CAMERA``.
"""

from pathlib import Path

#: Folder holding the notebooks.
NOTEBOOK_DIR = Path(__file__).resolve().parent


def notebooks() -> list[Path]:
    """The packaged notebooks."""
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))
