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


def bits(n: int) -> int:
    """Bits of an unsigned value up to ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


@dataclass(frozen=True)
class LoopBounds:
    """Smallest and largest trip count of every variable-bound loop of ``hls/conv_accel.cpp``.

    Derived from the buffer sizes over every call the kernel's register checks accept
    (they are the ``LOOP_TRIPCOUNT`` pragmas, through ``conv_config.h``), so that a
    Vitis HLS latency report is not optimistic.  Frame height is not limited by the
    buffers (rows are streamed): ``OUT_ROWS``, ``RS_ROWS``, ``RS_LOAD`` and ``RS_DROP``
    assume frames no taller than :attr:`KernelGeometry.max_width`.  Each entry is
    ``(min, max)``.
    """

    params: tuple[int, int]
    weight_beats: tuple[int, int]
    row_beats: tuple[int, int]
    out_rows: tuple[int, int]
    load_rows: tuple[int, int]
    pixel_pipe: tuple[int, int]
    rs_tables: tuple[int, int]
    rs_rows: tuple[int, int]
    rs_load: tuple[int, int]
    rs_pixels: tuple[int, int]
    rs_drop: tuple[int, int]

    def as_dict(self) -> dict[str, tuple[int, int]]:
        """Loop label (upper case, as in the C++) -> (min, max)."""
        return {name.upper(): getattr(self, name) for name in self.__dataclass_fields__}


def pipeline_steps(g: KernelGeometry, lanes: int, macs: int) -> int:
    """Largest ``PIXEL_PIPE`` steps per (pixel, block): MAC steps or the block's side/output beats.

    With every option on (partial sums in and out, residual, int16 results), as the
    kernel's ``steps`` computes them for a full block of ``lanes`` lanes.
    """
    psum_per_beat = g.beat_bits // 32
    side = lanes // psum_per_beat + lanes // g.beat_bytes
    out = max(lanes // psum_per_beat, lanes * 2 // g.beat_bytes)
    return max(macs, side, out)


def loop_bounds(config: HwConfig | None = None) -> LoopBounds:
    """The :class:`LoopBounds` of a configuration (exhaustive over channel groups; cheap)."""
    g = geometry(config)
    lbw = g.lb_bank_words
    max_padded = g.max_width + 2
    row_beats = 0
    pixel = 0
    for cg in range(1, lbw + 1):
        padded = min(max_padded, LB_BANKS * (lbw // cg))  # ceil(padded / 3) * cg <= lb_bank_words
        row_beats = max(row_beats, padded * cg, min(g.max_width, padded) * cg)
        for k, dw in ((3, False), (1, False), (3, True)):
            out_w = padded - k + 1
            if out_w < 1:
                continue
            if dw:
                lanes, nb, macs = g.pe_in, cg, 1  # depthwise: one block per channel group
                if cg > min(g.max_out // g.pe_in, g.wbuf_words):
                    continue
            else:
                lanes, macs = g.pe_out, k * k * cg
                nb = min(g.max_out // g.pe_out, g.wbuf_words // macs)
                if nb < 1:
                    continue
            pixel = max(pixel, (out_w * nb + 1) * pipeline_steps(g, lanes, macs))
    dw_words = min(g.wbuf_words, g.max_out // g.pe_in)
    weight_beats = max(g.wbuf_words * g.pe_out, 9 * dw_words)
    height = g.max_width
    return LoopBounds(
        params=(1, g.max_out), weight_beats=(9, weight_beats), row_beats=(1, row_beats),
        out_rows=(1, height), load_rows=(1, 3), pixel_pipe=(2, pixel),
        rs_tables=(2, 2 * g.max_width), rs_rows=(1, g.max_width), rs_load=(0, height),
        rs_pixels=(1, g.max_width * lbw), rs_drop=(0, height))


def control_widths(config: HwConfig | None = None) -> dict[str, int]:
    """Bit widths of the kernel's control values once its register checks passed.

    They size the operands of its few run-time products (``ctl_mul`` in the C++), so
    that each fits one DSP48 and narrowing never drops a bit.

    ``PADDED_W``: a padded row's pixels (``max_width + 2``); ``GROUPS``: channel groups of a
    call (at most the words of a line-buffer bank); ``BLOCKS``: output blocks of a call;
    ``STEPS``: ``PIXEL_PIPE`` steps per (pixel, block); ``COL``: a resize source column.
    """
    g = geometry(config)
    blocks = max(g.max_out // g.pe_out, g.max_out // g.pe_in)
    steps = max(pipeline_steps(g, g.pe_out, 9 * g.lb_bank_words), pipeline_steps(g, g.pe_in, 1))
    return {"PADDED_W": bits(g.max_width + 2), "GROUPS": bits(g.lb_bank_words), "BLOCKS": bits(blocks),
            "STEPS": bits(steps), "COL": bits(g.max_width - 1), "WIDTH": bits(g.max_width)}
