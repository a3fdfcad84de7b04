"""pynq-depth: monocular depth estimation on Zynq PYNQ boards through an int8 HLS convolution accelerator."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

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
        "torch": ["torch>=2.1"],
        "board": ["pynq>=3.0"],
        "test": ["pytest>=7", "hypothesis>=6.80", "scikit-image>=0.21", "nbclient>=0.7", "nbformat>=5.7",
                 "ipykernel>=6.0"],
    },
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
