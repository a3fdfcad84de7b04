"""pynq-depth: monocular depth estimation on Zynq PYNQ boards through an int8 HLS convolution accelerator.

Importing the package has no side effects: no torch, no pynq, no device access.
The runtime path (emulator, CLI ``run``) needs only NumPy, Pillow and matplotlib.
"""

__version__ = "0.1.0"
