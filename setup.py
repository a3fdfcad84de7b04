"""pynq-depth: monocular depth estimation on Zynq PYNQ boards through an int8 HLS convolution accelerator."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
#: The HLS kernel's sources live at the repository root (``hls/``); a built wheel carries them as
#: ``pynq_depth/hls/`` so that the csim and sim backends work from an installed package
#: (``pynq_depth.backends.csim.hls_dir`` looks there first, then in the checkout).
HLS_SOURCES = ROOT / "hls"
#: Never shipped: ``hls/build/`` (generated headers, Vitis projects, test vectors) and compiler outputs.
HLS_EXCLUDED_DIRS = {"build", "__pycache__"}
HLS_EXCLUDED_SUFFIXES = {".o", ".so", ".a", ".log", ".pyc"}


def hls_source_files() -> list[Path]:
    """Every file of ``hls/`` shipped in the wheel (kernel, headers, csim stand-ins, test bench, Tcl, README),
    relative to ``hls/``."""
    found = []
    for path in HLS_SOURCES.rglob("*"):
        rel = path.relative_to(HLS_SOURCES)
        if (path.is_file() and not HLS_EXCLUDED_DIRS.intersection(rel.parts[:-1])
                and not any(part.startswith(".") for part in rel.parts) and path.suffix not in HLS_EXCLUDED_SUFFIXES):
            found.append(rel)
    return sorted(found)


class BuildPyWithHls(build_py):
    """``build_py`` that also copies ``hls/`` into the built package as ``pynq_depth/hls/``.

    An editable install keeps using the checkout's ``hls/`` (nothing is copied).
    """

    def _hls_targets(self) -> list[tuple[Path, Path]]:
        target = Path(self.build_lib) / "pynq_depth" / "hls"
        return [(HLS_SOURCES / rel, target / rel) for rel in hls_source_files()]

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, target in self._hls_targets():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(target) for _, target in self._hls_targets()]


setup(
    name="pynq-depth",
    version="0.1.0",
    description="Monocular depth estimation (MobileNetV2 DenseDepth) on PYNQ boards with an int8 HLS accelerator",
    long_description=(ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["pynq_depth", "pynq_depth.*"]),
    package_data={"pynq_depth": ["hw_config.json", "configs/*.json", "boards.json", "data/*.jpg", "data/*.npz"],
                  "pynq_depth.notebooks": ["*.ipynb"]},
    install_requires=[
        "numpy>=1.26,<3",
        "pillow>=9.0",
        "matplotlib>=3.5",
        "tqdm>=4.60",
    ],
    extras_require={
        # Host tooling: float model, quantiser, training. Not installable on a PYNQ-Z2 (armv7l).
        # scikit-image: the built-in calibration set's real photos (pynq_depth/photos.py).
        "torch": ["torch>=2.1", "scikit-image>=0.21"],
        "board": ["pynq>=3.0"],
        # C simulation (--backend csim/sim): Xilinx's ap_int.h headers ship in the hls4ml wheel (Apache-2.0);
        # its own dependencies are small (h5py, pyyaml, quantizers, pydigitalwavetools).
        "csim": ["hls4ml==1.3.0"],
        # setuptools >= 70.1 builds wheels by itself: test_install.py installs the checkout offline.
        "test": ["pytest>=7", "hypothesis>=6.80", "scikit-image>=0.21", "nbclient>=0.7", "nbformat>=5.7",
                 "ipykernel>=6.0", "setuptools>=70.1", "hls4ml==1.3.0"],
    },
    cmdclass={"build_py": BuildPyWithHls},
    entry_points={
        "console_scripts": ["pynq-depth=pynq_depth.cli:main"],
        # `pynq get-notebooks pynq-depth` copies the folder of this module (pynq_depth/notebooks/).
        "pynq.notebooks": ["pynq-depth = pynq_depth.notebooks"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
