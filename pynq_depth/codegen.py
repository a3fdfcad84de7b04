"""Generate the HLS build's configuration files from ``hw_config.json``.

The kernel is written against a handful of compile-time constants (parallelism,
buffer sizes, stream width); they are never typed by hand in C++ or Tcl but
derived here from the one configuration file, so the HLS build, the Vivado
build, the host protocol (:mod:`pynq_depth.protocol`) and the driver cannot
disagree.  Generated files are not committed (``hls/build/`` is ignored).

Usage::

    python -m pynq_depth.codegen hls/build/            # packaged configuration
    python -m pynq_depth.codegen hls/build/ --config my_config.json
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, HwConfig, default_config, load_config

#: Line-buffer rows: a 3x3 window needs three input rows resident.
LB_ROWS = 3
#: Line-buffer banks per row: pixel ``p`` lives in bank ``p % 3`` so that the three
#: columns of a 3x3 window (depthwise: all nine taps in one cycle) are three memories.
LB_BANKS = 3
#: Beats of per-lane constants (bias, multipliers, shift) sent before the weights.
PARAM_BEATS_PER_LANE = 2


@dataclass(frozen=True)
class KernelGeometry:
    """Compile-time sizes of the kernel, derived from a :class:`HwConfig`.

    Attributes
    ----------
    pe_in, pe_out : int
        Input channels per MAC cycle and output channels per call (lanes).
    beat_bits, beat_bytes : int
        AXI-Stream data width.  One beat carries exactly one group of ``pe_in``
        int8 channels (``beat_bytes == pe_in``).
    wbuf_words : int
        Depth of the weight buffer in ``pe_out x pe_in`` byte words: a call with
        ``nb`` output groups of ``pe_out`` lanes holds ``nb*k*k*cin_groups <= wbuf_words``
        words (depthwise: ``cin_groups`` words of 9 taps x ``pe_in`` channels).
    lb_row_words : int
        Depth of one line-buffer row in ``pe_in``-byte words, split into
        :data:`LB_BANKS` banks of :attr:`lb_bank_words`: a call needs
        ``ceil(padded_width / 3) * cin_groups <= lb_bank_words``.
    max_width, max_channels : int
        Largest feature-map width / channel count (loop trip counts).
    """

    pe_in: int
    pe_out: int
    beat_bits: int
    beat_bytes: int
    wbuf_words: int
    lb_row_words: int
    max_width: int
    max_channels: int

    @property
    def lb_bank_words(self) -> int:
        """Words of one line-buffer bank (a row is :data:`LB_BANKS` banks)."""
        return self.lb_row_words // LB_BANKS

    @property
    def max_out(self) -> int:
        """Most output channels of one call (depth of the on-chip per-channel constants)."""
        return -(-self.max_channels // self.pe_out) * self.pe_out

    @property
    def max_cin_groups(self) -> int:
        """Largest channel-group count of one call."""
        return -(-self.max_channels // self.pe_in)


def geometry(config: HwConfig | None = None) -> KernelGeometry:
    """Derive the kernel's compile-time sizes and check that the kernel supports them.

    Raises
    ------
    ConfigError
        When the configuration breaks an assumption of the kernel (one beat = one
        ``pe_in`` channel group; ``pe_out`` a multiple of ``pe_in``; buffers too small).
    """
    config = config or default_config()
    raw = config.raw
    beat_bits = config.stream_bits
    pe_in, pe_out = config.pe_in, config.pe_out
    if beat_bits != 64:
        raise ConfigError(f"{config.path}: the kernel's stream protocol is defined for 64-bit beats "
                          f"(stream.data_bits={beat_bits})")
    if pe_in * 8 != beat_bits:
        raise ConfigError(f"{config.path}: the kernel packs one pe_in group per beat: pe_in*8 must equal "
                          f"stream.data_bits (pe_in={pe_in}, data_bits={beat_bits})")
    if pe_out % pe_in:
        raise ConfigError(f"{config.path}: pe_out ({pe_out}) must be a multiple of pe_in ({pe_in})")
    wbytes = int(raw["buffers"]["weight_buffer_bytes"])
    lbytes = int(raw["buffers"]["line_buffer_bytes"])
    wbuf_words = wbytes // (pe_in * pe_out)
    lb_row_words = lbytes // (LB_ROWS * pe_in)
    if wbuf_words < 9:
        raise ConfigError(f"{config.path}: weight buffer holds fewer than 9 words of {pe_in * pe_out} bytes")
    if pe_out < 9:
        raise ConfigError(f"{config.path}: pe_out ({pe_out}) must be >= 9 (a depthwise weight word holds 9 taps)")
    if lb_row_words < 3 * LB_BANKS:
        raise ConfigError(f"{config.path}: line buffer too small")
    return KernelGeometry(pe_in=pe_in, pe_out=pe_out, beat_bits=beat_bits, beat_bytes=beat_bits // 8,
                          wbuf_words=wbuf_words, lb_row_words=lb_row_words, max_width=config.max_width,
                          max_channels=config.max_channels)


def config_header(config: HwConfig | None = None) -> str:
    """Text of ``conv_config.h`` (C macros for the kernel)."""
    config = config or default_config()
    g = geometry(config)
    a = config.raw["arith"]
    lines = [
        "// Generated by `python -m pynq_depth.codegen` from " + config.path.name + " - do not edit, do not commit.",
        f"// Configuration {config.hw_id} (arithmetic {config.arith_id}).",
        "#ifndef CONV_CONFIG_H",
        "#define CONV_CONFIG_H",
        f'#define CONV_HW_ID "{config.hw_id}"',
        f'#define CONV_ARITH_ID "{config.arith_id}"',
        f"#define CONV_PE_IN {g.pe_in}",
        f"#define CONV_PE_OUT {g.pe_out}",
        f"#define CONV_BEAT_BITS {g.beat_bits}",
        f"#define CONV_BEAT_BYTES {g.beat_bytes}",
        f"#define CONV_WBUF_WORDS {g.wbuf_words}",
        f"#define CONV_LB_ROWS {LB_ROWS}",
        f"#define CONV_LB_ROW_WORDS {g.lb_row_words}",
        f"#define CONV_LB_BANKS {LB_BANKS}",
        f"#define CONV_LB_BANK_WORDS {g.lb_bank_words}",
        f"#define CONV_MAX_OUT {g.max_out}",
        f"#define CONV_RESIZE_FRAC_BITS {config.resize_frac_bits}",
        f"#define CONV_MAX_WIDTH {g.max_width}",
        f"#define CONV_MAX_CHANNELS {g.max_channels}",
        f"#define CONV_MAX_CIN_GROUPS {g.max_cin_groups}",
        f"#define CONV_PARAM_BEATS_PER_LANE {PARAM_BEATS_PER_LANE}",
        f"#define CONV_ACC_BITS {int(a['acc_bits'])}",
        f"#define CONV_MULT_BITS {int(a['mult_bits'])}",
        f"#define CONV_MAX_SHIFT {int(a['max_shift'])}",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def config_tcl(config: HwConfig | None = None) -> str:
    """Text of ``conv_config.tcl`` (part, clock and IP identity for ``run_hls.tcl``)."""
    config = config or default_config()
    ip = config.raw["ip"]
    period = 1000.0 / config.clock_mhz
    lines = [
        "# Generated by `python -m pynq_depth.codegen` - do not edit, do not commit.",
        f"set CONV_HW_ID {{{config.hw_id}}}",
        f"set CONV_PART {{{config.part}}}",
        f"set CONV_CLOCK_MHZ {config.clock_mhz:g}",
        f"set CONV_CLOCK_PERIOD_NS {period:.4f}",
        f"set CONV_IP_VENDOR {{{ip['vendor']}}}",
        f"set CONV_IP_LIBRARY {{{ip['library']}}}",
        f"set CONV_IP_NAME {{{ip['name']}}}",
        f"set CONV_IP_VERSION {{{ip['version']}}}",
        f"set CONV_VITIS_HLS_VERSION {{{config.raw.get('tools', {}).get('vitis_hls', '')}}}",
        "",
    ]
    return "\n".join(lines)


def write_hls_config(outdir: str | Path, config: HwConfig | None = None) -> list[Path]:
    """Write ``conv_config.h`` and ``conv_config.tcl`` into ``outdir`` (created if needed).

    Files are only rewritten when their content changes, so make-style tools and
    the csim cache see stable timestamps.

    Returns
    -------
    list of Path
        The two files.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [write_if_changed(outdir / "conv_config.h", config_header(config)),
            write_if_changed(outdir / "conv_config.tcl", config_tcl(config))]


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` only when the file differs: stable timestamps keep make and caches from rebuilding."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m pynq_depth.codegen OUTDIR [--config FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m pynq_depth.codegen", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", nargs="?", default="hls/build", help="where to write conv_config.h/.tcl")
    parser.add_argument("--config", default=None, help="hardware configuration JSON (packaged default)")
    args = parser.parse_args(argv)
    try:
        paths = write_hls_config(args.outdir, load_config(args.config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
