"""Compile-time sizes of the HLS kernel, derived from the hardware configuration (``hw_config.json``).

Shared by everything that must agree with the kernel's buffers: the host protocol
(:mod:`pynq_depth.protocol`), the performance model (:mod:`pynq_depth.perf`), the
Vivado configuration and the C++ header generator (:mod:`pynq_depth.codegen`).
NumPy-free and cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, HwConfig, default_config

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
