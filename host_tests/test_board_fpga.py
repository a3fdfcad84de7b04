"""The accelerator on a real PYNQ board against the emulator (marked ``board``).

Skipped unless :func:`pynq_depth.backends.fpga.board_available` finds pynq, a board and
this configuration's overlay.  Run on the board with::

    sudo -E python3 -m pytest -m board host_tests/test_board_fpga.py -s
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pynq_depth import backends, runtime
from pynq_depth.backends import fpga as board
from pynq_depth.backends.emulator import Emulator
from pynq_depth.preprocess import load_image, resize_rgb
from pynq_depth.program import load_program
from pynq_depth.verify import first_difference, verify_random_layers

EXAMPLE = Path(__file__).resolve().parents[1] / "pynq_depth" / "data" / "example.jpg"
AVAILABLE, REASON = board.board_available()

pytestmark = [pytest.mark.board, pytest.mark.skipif(not AVAILABLE, reason=f"no PYNQ board: {REASON}")]


@pytest.fixture(scope="module")
def fpga():
    runner = backends.open_backend("fpga")
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def program_and_image():
    program = load_program(runtime.DEFAULT_WEIGHTS)
    return program, resize_rgb(load_image(EXAMPLE), *program.input_hw)


def test_every_layer_matches_the_emulator(fpga, program_and_image):
    program, rgb = program_and_image
    got = fpga.run(program, rgb, trace=True)
    expected = Emulator(fpga.config).run(program, rgb, trace=True)
    for cmd in program.commands:
        problem = first_difference(got[cmd.output], expected[cmd.output])
        assert problem is None, f"layer {cmd.name or cmd.output}: first difference {problem}"


def test_frames_match_and_fps(fpga, program_and_image):
    program, rgb = program_and_image
    expected = Emulator(fpga.config).run(program, rgb)
    fpga.run(program, rgb)  # warm-up
    frames, start = 5, time.perf_counter()
    for _ in range(frames):
        np.testing.assert_array_equal(fpga.run(program, rgb), expected)
    seconds = (time.perf_counter() - start) / frames
    slowest = sorted(fpga.layer_times.items(), key=lambda kv: -kv[1])[:5]
    print(f"\nfpga: {1 / seconds:.2f} frames/s ({seconds * 1e3:.0f} ms per frame, {fpga.calls} kernel calls so far); "
          f"slowest layers: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in slowest))


def test_random_layers(fpga):
    report = verify_random_layers(fpga, n=30, seed=5)
    assert report.ok, str(report)
