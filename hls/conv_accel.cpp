// pynq-depth streaming convolution accelerator (Vitis HLS 2023.1 C++).
// Protocol, registers and types: conv_accel.h.  Arithmetic: pynq_depth/arith.py.
// Per-loop initiation intervals, memory ports and the resource estimate: hls/README.md.
//
// Structure of one call: load the per-channel constants and the weights of ALL
// output-channel groups of the call into on-chip buffers, then walk the output
// rows.  Before each output row the input rows it needs enter a 3-row circular
// line buffer (one pipelined loop per row).  Each output row is then ONE
// flattened pipeline at II=1 over (pixel, output block, step): the MAC array
// (PE_OUT x PE_IN) runs over the (tap, channel group) steps of a block while the
// block's partial sums / residual are read and the previous block's results are
// requantised and written, so the pipeline fills once per row, not per pixel,
// and every input row is streamed once per call whatever the number of output
// groups.  Depthwise layers compute all 9 taps of PE_IN channels per cycle
// (the line buffer is banked by pixel % 3 so that a 3x3 window is 9 memories,
// each read once per cycle at its own address; a fixed 3x3 selector then routes
// the 9 words to the taps).  A fourth kind resizes (bilinear, align_corners) on
// chip, one pixel group per cycle.
//
// Synthesis notes: no dynamic memory, recursion, pointers or internal streams;
// every run-time x run-time product is a ctl_mul (narrow, one DSP48 each) or a
// datapath product counted in pynq_depth.perf.estimate_resources; carried loop
// state is advanced by running sums, never by a multiply.
#include "conv_accel.h"

#include <cassert>

namespace {

const int PE_IN = CONV_PE_IN;
const int PE_OUT = CONV_PE_OUT;
const int BEAT_BYTES = CONV_BEAT_BYTES;
const int PSUM_PER_BEAT = CONV_BEAT_BITS / 32;
const int BANKS = CONV_LB_BANKS;
const int LB_WORDS = CONV_LB_BANK_WORDS;
const int MAX_BLOCKS = CONV_MAX_OUT / PE_OUT;  ///< depth of the per-channel constant memories
const int DW_PER_BLOCK = PE_OUT / PE_IN;       ///< depthwise blocks (PE_IN channels) per constant word
const int RS_F = CONV_RESIZE_FRAC_BITS;

/// Per-channel requantisation constants.
struct lane_params_t {
    acc_t bias;
    mult_t mult;
    mult_t mult_neg;
    shift_t shift;
};

/// One entry of the resize x table: the two source columns as (bank, word of their first group), the fraction.
struct rs_col_t {
    ap_uint<2> bank0;
    ap_uint<2> bank1;
    ap_uint<CONV_BITS_GROUPS> word0;
    ap_uint<CONV_BITS_GROUPS> word1;
    ap_uint<RS_F> frac;
};

/// One entry of the resize y table: the two source rows and the fraction of the second.
struct rs_row_t {
    ap_uint<16> i0;
    ap_uint<16> i1;
    ap_uint<RS_F> frac;
};

typedef act_t lbuf_t[CONV_LB_ROWS][BANKS][LB_WORDS][PE_IN];
const int LUT_WORDS = 256 / BEAT_BYTES;  ///< beats of one colour channel's quantisation table
/// Input quantisation table, as streamed: channel c, byte value v -> int8 in word v / 8, byte v % 8
/// (one write per beat while loading, one read per channel per pixel).
typedef beat_t lut_t[3][LUT_WORDS];

/// Unpacker of the raw RGB frame (in_rgb): a continuous byte stream, 3 bytes per pixel.
struct rgb_state_t {
    beat_t cur;    ///< the beat being used
    unsigned pos;  ///< its next unused byte (BEAT_BYTES: used up)
};
typedef wgt_t wbuf_t[CONV_WBUF_WORDS][PE_OUT][PE_IN];
typedef lane_params_t prm_t[PE_OUT][MAX_BLOCKS];

/// \brief Ceiling division by a compile-time power-of-two or small constant (shifts / constant logic).
inline unsigned ceil_div(unsigned a, unsigned b) { return (a + b - 1) / b; }

/// \brief Product of two narrow unsigned control values (loop bounds, buffer checks) on one DSP48E1.
///
/// WA <= 24 and WB <= 17 bits, so the product fits the 25 x 18 signed multiplier.  The
/// register checks that come first guarantee the operands fit (asserted in csim).  These
/// are the kernel's only run-time x run-time products outside the datapath: each call site
/// is one DSP in pynq_depth.perf.estimate_resources (an upper bound: HLS may share them).
template <int WA, int WB> inline ap_uint<WA + WB> ctl_mul(unsigned a, unsigned b) {
#pragma HLS INLINE
    static_assert(WA <= 24 && WB <= 17, "a control product must fit one DSP48E1 (25 x 18 signed)");
    assert((a >> WA) == 0 && (b >> WB) == 0);
    const ap_uint<WA + WB> p = (ap_uint<WA>)a * (ap_uint<WB>)b;
#pragma HLS BIND_OP variable = p op = mul impl = dsp
    return p;
}

/// \brief (a + t) % 3 for a, t in 0..2: the fixed rotation of the 3-row / 3-bank line buffer.
inline unsigned rot3(unsigned a, unsigned t) {
#pragma HLS INLINE
    return a + t >= 3 ? a + t - 3 : a + t;
}

/// \brief Round-half-up arithmetic right shift, arith.round_shift: (v + 2**(s-1)) >> s.
///
/// An out-of-spec shift of 0 is treated as 1 so the hardware never shifts by -1
/// (the host validates shifts in [1, 46] before anything is sent).
inline wide_t round_shift(wide_t v, unsigned s) {
#pragma HLS INLINE
    unsigned sh = s < 1 ? 1u : s;
    wide_t half = ((wide_t)1) << (sh - 1);
    return (v + half) >> sh;
}

/// \brief Read the constants of channels 0..n_out-1 (2 beats each); channel c -> prm[c % PE_OUT][c / PE_OUT].
void read_params(hls::stream<pkt_t>& in, prm_t prm, unsigned n_out) {
    unsigned lane = 0, blk = 0;  // running c % PE_OUT, c / PE_OUT
PARAMS:
    for (unsigned c = 0; c < n_out; c++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_PARAMS_MIN max = CONV_TRIP_PARAMS_MAX
#pragma HLS PIPELINE II = 2
        beat_t b0 = in.read().data;
        beat_t b1 = in.read().data;
        lane_params_t p;
        p.bias = (acc_t)b0.range(31, 0);
        p.mult = (mult_t)b0.range(47, 32);
        p.mult_neg = (mult_t)b0.range(63, 48);
        p.shift = (shift_t)b1.range(5, 0);
        prm[lane][blk] = p;
        if (lane == PE_OUT - 1) {
            lane = 0;
            blk++;
        } else {
            lane++;
        }
    }
}

/// \brief Fill the weight buffer: `words` x PE_OUT beats (conv/pw) or `words` x 9 beats (dw).
///
/// Depthwise word g holds the 9 taps (lanes 0..8) of the PE_IN channels of group g,
/// so one read feeds the whole 3x3 x PE_IN depthwise datapath.
void read_weights(hls::stream<pkt_t>& in, wbuf_t wbuf, bool dw, unsigned words) {
    const unsigned lanes = dw ? 9u : (unsigned)PE_OUT;
    const unsigned total = dw ? words * 9 : words * PE_OUT;  // constant multipliers: shifts and adds
    unsigned w = 0, o = 0;
WEIGHT_BEATS:
    for (unsigned it = 0; it < total; it++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_WEIGHT_BEATS_MIN max = CONV_TRIP_WEIGHT_BEATS_MAX
#pragma HLS PIPELINE II = 1
        beat_t beat = in.read().data;
    BYTES:
        for (int i = 0; i < PE_IN; i++) {
            wbuf[w][o][i] = (wgt_t)beat.range(8 * i + 7, 8 * i);
        }
        if (o == lanes - 1) {
            o = 0;
            w++;
        } else {
            o++;
        }
    }
}
/// \brief Read the input quantisation table (in_rgb): 3 x 32 beats, channel c byte v in beat c*32 + v/8, lane v%8.
void read_lut(hls::stream<pkt_t>& in, lut_t lut) {
    unsigned c = 0, w = 0;
LUT_BEATS:
    for (unsigned i = 0; i < 3 * LUT_WORDS; i++) {
#pragma HLS PIPELINE II = 1
        lut[c][w] = in.read().data;  // the beat as it is: one write per cycle
        if (w == LUT_WORDS - 1) {
            w = 0;
            c++;
        } else {
            w++;
        }
    }
}

/// \brief The next raw RGB pixel of the frame stream, quantised through the table into lanes 0..2.
///
/// The frame is sent as it lies in memory (H x W x 3 bytes, rows back to back), so a
/// pixel may straddle two beats; a beat is read only when fewer than 3 bytes are left,
/// which happens at most once per pixel (3 < BEAT_BYTES): the row pipeline keeps II=1.
inline beat_t rgb_pixel(hls::stream<pkt_t>& in, const lut_t lut, rgb_state_t& st) {
#pragma HLS INLINE
    // One read site: the pixel's bytes come from the current beat and, past its end, the next one.
    const bool fetch = st.pos + 3 > (unsigned)BEAT_BYTES;
    beat_t next = 0;
    if (fetch) next = in.read().data;
    beat_t beat = 0;
RGB_LANES:
    for (int c = 0; c < 3; c++) {
        const unsigned idx = st.pos + c;
        ap_uint<8> value = idx < (unsigned)BEAT_BYTES ? (ap_uint<8>)st.cur.range(8 * idx + 7, 8 * idx)
                                                      : (ap_uint<8>)next.range(8 * (idx - BEAT_BYTES) + 7,
                                                                               8 * (idx - BEAT_BYTES));
        const beat_t word = lut[c][value / BEAT_BYTES];  // one read of channel c's table
        const unsigned lane = value % BEAT_BYTES;
        beat.range(8 * c + 7, 8 * c) = (ap_uint<8>)word.range(8 * lane + 7, 8 * lane);
    }
    if (fetch) {
        st.cur = next;
        st.pos = st.pos + 3 - BEAT_BYTES;
    } else {
        st.pos += 3;
    }
    return beat;
}

/// \brief Load one padded row into line-buffer slot `slot`; real pixels come from the stream.
///
/// One flattened pipeline over (pixel, channel group) of `beats` = padded_w x groups
/// iterations (computed once per call): the fill is paid once per row.  Padding rows
/// and columns are written as zeros so that the MAC loop needs no bounds checks.
/// Pixel px goes to bank px % 3, word (px / 3) * groups + g (running counters).
/// With `rgb` the pixels are raw frame bytes quantised on the way in (rgb_pixel).
void load_row(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, lbuf_t lbuf, unsigned slot, bool real_row,
              unsigned beats, unsigned pad_l, unsigned in_w, unsigned groups, unsigned cat_groups, bool sign,
              bool rgb, const lut_t lut, rgb_state_t& st) {
    unsigned px = 0, g = 0, bank = 0, base = 0;
ROW_BEATS:
    for (unsigned it = 0; it < beats; it++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_ROW_BEATS_MIN max = CONV_TRIP_ROW_BEATS_MAX
#pragma HLS PIPELINE II = 1
        bool real = real_row && px >= pad_l && px < pad_l + in_w;
        beat_t beat = 0;
        // Concat through the side stream: groups >= cat_groups (when non-zero) come from `side`.
        if (real && rgb) {
            beat = rgb_pixel(in, lut, st);
        } else if (real) {
            beat = (cat_groups != 0 && g >= cat_groups) ? side.read().data : in.read().data;
        }
    ROW_BYTES:
        for (int i = 0; i < PE_IN; i++) {
            ap_uint<8> byte = (ap_uint<8>)beat.range(8 * i + 7, 8 * i);
            // Widen once on entry: the MACs then see one 9-bit signed type.
            lbuf[slot][bank][base + g][i] = sign ? (act_t)(ap_int<8>)byte : (act_t)byte;
        }
        if (g == groups - 1) {  // next pixel: next bank, and a new word row every 3 pixels
            g = 0;
            px++;
            if (bank == BANKS - 1) {
                bank = 0;
                base += groups;
            } else {
                bank++;
            }
        } else {
            g++;
        }
    }
}

/// \brief Requantise one accumulator exactly as arith.requantize (without the clamp).
///
/// One 32 x 16-bit product (two DSP48E1: 32 bits exceed the 25-bit port); |acc * m| < 2**46.
inline wide_t requant_lane(acc_t acc, const lane_params_t& p) {
#pragma HLS INLINE
    const mult_t m = acc >= 0 ? p.mult : p.mult_neg;
    const wide_t product = acc * m;
    return round_shift(product, p.shift);
}

/// \brief Write one AXI-Stream beat (TKEEP all ones).
inline void write_beat(hls::stream<pkt_t>& out, beat_t data, bool last) {
#pragma HLS INLINE
    pkt_t pkt;
    pkt.data = data;
    pkt.keep = -1;
    pkt.strb = -1;
    pkt.last = last;  // user/id/dest are zero-width in pkt_t (ap_axiu<.., 0, 0, 0>): nothing to set
    out.write(pkt);
}

/// \brief Bilinear resize (kind CONV_KIND_RESIZE), arith.resize_bilinear bit for bit.
///
/// Stream: out_w x-coefficient beats, out_h y-coefficient beats, then all in_h
/// source rows in order (each enters the line buffer when the first output row
/// that needs it is reached; rows no output row needs are read and dropped at the
/// end).  Output: per output pixel cin_groups beats, same byte layout as the input.
/// `row_beats` = in_w x groups, `pixels` = out_w x groups (products made once by the caller).
void run_resize(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, hls::stream<pkt_t>& out, lbuf_t lbuf,
                const lut_t lut, rgb_state_t& st, unsigned in_h, unsigned in_w, unsigned out_h, unsigned out_w,
                unsigned groups, bool sign, unsigned row_beats, unsigned pixels) {
    rs_col_t xtab[CONV_MAX_WIDTH];
    rs_row_t ytab[CONV_MAX_WIDTH];
    // LUTRAM (640 x 33 + 640 x 40 bits, ~730 LUTs): their BRAM36 went to the side DMA's FIFOs.
#pragma HLS BIND_STORAGE variable = xtab type = ram_1p impl = lutram
#pragma HLS BIND_STORAGE variable = ytab type = ram_1p impl = lutram
RS_TABLES:
    for (unsigned i = 0; i < out_w + out_h; i++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_RS_TABLES_MIN max = CONV_TRIP_RS_TABLES_MAX
#pragma HLS PIPELINE II = 1
        beat_t b = in.read().data;
        const bool is_x = i < out_w;
        const unsigned lim = is_x ? in_w - 1 : in_h - 1;
        unsigned i0 = (unsigned)b.range(15, 0), i1 = (unsigned)b.range(31, 16);
        // Align-corners tables have i1 = i0 or i0 + 1 (arith.resize_coeffs): then the two columns
        // lie in two banks (or are one word) and the two rows are resident.  A malformed entry is
        // clamped to that, so it never reads outside the rows.
        i0 = i0 > lim ? lim : i0;
        i1 = (i1 == i0 + 1 && i1 <= lim) ? i1 : i0;
        const unsigned frac = (unsigned)b.range(47, 32) & ((1u << RS_F) - 1);
        if (is_x) {
            // Column -> (bank, word of its first channel group): two narrow products per entry,
            // here once per output column instead of in the pixel pipeline.
            rs_col_t c;
            c.bank0 = i0 % BANKS;
            c.bank1 = i1 % BANKS;
            c.word0 = ctl_mul<CONV_BITS_COL, CONV_BITS_GROUPS>(i0 / BANKS, groups);
            c.word1 = ctl_mul<CONV_BITS_COL, CONV_BITS_GROUPS>(i1 / BANKS, groups);
            c.frac = frac;
            xtab[i] = c;
        } else {
            rs_row_t r;
            r.i0 = i0;
            r.i1 = i1;
            r.frac = frac;
            ytab[i - out_w] = r;
        }
    }
    unsigned rows_loaded = 0, load_slot = 0;  // load_slot = rows_loaded % 3
RS_ROWS:
    for (unsigned oy = 0; oy < out_h; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_RS_ROWS_MIN max = CONV_TRIP_RS_ROWS_MAX
        const rs_row_t cy = ytab[oy];
    RS_LOAD:
        for (; rows_loaded <= (unsigned)cy.i1; rows_loaded++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_RS_LOAD_MIN max = CONV_TRIP_RS_LOAD_MAX
            load_row(in, side, lbuf, load_slot, true, row_beats, 0, in_w, groups, 0, sign, false, lut, st);
            load_slot = rot3(load_slot, 1);
        }
        const unsigned s0 = (unsigned)cy.i0 % CONV_LB_ROWS, s1 = (unsigned)cy.i1 % CONV_LB_ROWS;
        const ap_uint<RS_F> fy = cy.frac;
        unsigned ox = 0, g = 0;
    RS_PIXELS:
        for (unsigned it = 0; it < pixels; it++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_RS_PIXELS_MIN max = CONV_TRIP_RS_PIXELS_MAX
#pragma HLS PIPELINE II = 1
            const rs_col_t cx = xtab[ox];
            const ap_uint<RS_F> fx = cx.frac;
            // Each of the 9 line-buffer memories is read once, at its own address (bank b holds
            // column x0 when b == bank0, else column x1), then a fixed selector picks the 4 neighbours.
            act_t v[CONV_LB_ROWS][BANKS][PE_IN];
#pragma HLS ARRAY_PARTITION variable = v dim = 0 type = complete
        RS_WIN_ROWS:
            for (int r = 0; r < CONV_LB_ROWS; r++) {
            RS_WIN_BANKS:
                for (int m = 0; m < BANKS; m++) {
                    const unsigned addr = ((unsigned)m == (unsigned)cx.bank0 ? (unsigned)cx.word0
                                                                             : (unsigned)cx.word1) + g;
                RS_WIN_BYTES:
                    for (int i = 0; i < PE_IN; i++) v[r][m][i] = lbuf[r][m][addr][i];
                }
            }
            beat_t beat = 0;
        RS_LANES:
            for (int i = 0; i < PE_IN; i++) {
                const act_t p00 = v[s0][cx.bank0][i], p10 = v[s1][cx.bank0][i];
                const act_t p01 = v[s0][cx.bank1][i], p11 = v[s1][cx.bank1][i];
                // Vertical then horizontal, as arith.resize_bilinear: a*(ONE-f) + b*f is computed in
                // the exact form a*ONE + (b-a)*f, one product per pair; the three products of a lane
                // are bound to fabric (LUTs), so the resize uses no DSP (pynq_depth.perf).
                const ap_int<10> d0 = p10 - p00, d1 = p11 - p01;
                const ap_int<19> m0 = d0 * fy;
#pragma HLS BIND_OP variable = m0 op = mul impl = fabric
                const ap_int<19> m1 = d1 * fy;
#pragma HLS BIND_OP variable = m1 op = mul impl = fabric
                const ap_int<20> v0 = ((ap_int<20>)p00 << RS_F) + m0;
                const ap_int<20> v1 = ((ap_int<20>)p01 << RS_F) + m1;
                const ap_int<21> dv = v1 - v0;
                const ap_int<29> mx = dv * fx;
#pragma HLS BIND_OP variable = mx op = mul impl = fabric
                const ap_int<32> total = ((ap_int<32>)v0 << RS_F) + mx;
                const ap_int<32> y = (total + (1 << (2 * RS_F - 1))) >> (2 * RS_F);
                beat.range(8 * i + 7, 8 * i) = (ap_uint<8>)y;
            }
            write_beat(out, beat, oy == out_h - 1 && it == pixels - 1);
            if (g == groups - 1) {
                g = 0;
                ox++;
            } else {
                g++;
            }
        }
    }
RS_DROP:
    for (; rows_loaded < in_h; rows_loaded++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_RS_DROP_MIN max = CONV_TRIP_RS_DROP_MAX
        load_row(in, side, lbuf, load_slot, true, row_beats, 0, in_w, groups, 0, sign, false, lut, st);
        load_slot = rot3(load_slot, 1);
    }
}

}  // namespace

unsigned conv_accel(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, hls::stream<pkt_t>& out, unsigned kind, unsigned stride,
                    unsigned in_h, unsigned in_w, unsigned pad_t, unsigned pad_b, unsigned pad_l,
                    unsigned pad_r, unsigned out_h, unsigned out_w, unsigned cin_groups, unsigned n_out,
                    unsigned in_signed, unsigned out_bytes, unsigned has_skip, unsigned skip_signed,
                    unsigned skip_mult, unsigned skip_shift, int lo, int hi, unsigned psum_in,
                    unsigned psum_out, unsigned cat_groups, unsigned in_rgb) {
#pragma HLS INTERFACE mode = axis port = in
#pragma HLS INTERFACE mode = axis port = side
#pragma HLS INTERFACE mode = axis port = out
#pragma HLS INTERFACE mode = s_axilite port = kind bundle = control
#pragma HLS INTERFACE mode = s_axilite port = stride bundle = control
#pragma HLS INTERFACE mode = s_axilite port = in_h bundle = control
#pragma HLS INTERFACE mode = s_axilite port = in_w bundle = control
#pragma HLS INTERFACE mode = s_axilite port = pad_t bundle = control
#pragma HLS INTERFACE mode = s_axilite port = pad_b bundle = control
#pragma HLS INTERFACE mode = s_axilite port = pad_l bundle = control
#pragma HLS INTERFACE mode = s_axilite port = pad_r bundle = control
#pragma HLS INTERFACE mode = s_axilite port = out_h bundle = control
#pragma HLS INTERFACE mode = s_axilite port = out_w bundle = control
#pragma HLS INTERFACE mode = s_axilite port = cin_groups bundle = control
#pragma HLS INTERFACE mode = s_axilite port = n_out bundle = control
#pragma HLS INTERFACE mode = s_axilite port = in_signed bundle = control
#pragma HLS INTERFACE mode = s_axilite port = out_bytes bundle = control
#pragma HLS INTERFACE mode = s_axilite port = has_skip bundle = control
#pragma HLS INTERFACE mode = s_axilite port = skip_signed bundle = control
#pragma HLS INTERFACE mode = s_axilite port = skip_mult bundle = control
#pragma HLS INTERFACE mode = s_axilite port = skip_shift bundle = control
#pragma HLS INTERFACE mode = s_axilite port = lo bundle = control
#pragma HLS INTERFACE mode = s_axilite port = hi bundle = control
#pragma HLS INTERFACE mode = s_axilite port = psum_in bundle = control
#pragma HLS INTERFACE mode = s_axilite port = psum_out bundle = control
#pragma HLS INTERFACE mode = s_axilite port = cat_groups bundle = control
#pragma HLS INTERFACE mode = s_axilite port = in_rgb bundle = control
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control
#pragma HLS INTERFACE mode = ap_ctrl_hs port = return

    // Buffers are locals (not statics) so that csim calls are re-entrant (the csim
    // backend runs calls on several threads); HLS maps them to BRAM all the same.
    // Every call writes what it reads, so no state is carried between calls.
    // Weights: one memory per output lane, PE_IN bytes reshaped into one wide
    // word -> PE_OUT x PE_IN bytes per cycle.
    wbuf_t wbuf;
#pragma HLS ARRAY_PARTITION variable = wbuf dim = 2 type = complete
#pragma HLS ARRAY_RESHAPE variable = wbuf dim = 3 type = complete
    // Line buffer: 3 rows x 3 banks (pixel % 3) in 9 memories, PE_IN channels per word:
    // the pixel pipeline reads each memory once per cycle, at its own address.
    lbuf_t lbuf;
#pragma HLS ARRAY_PARTITION variable = lbuf dim = 1 type = complete
#pragma HLS ARRAY_PARTITION variable = lbuf dim = 2 type = complete
#pragma HLS ARRAY_RESHAPE variable = lbuf dim = 4 type = complete
    // Per-channel constants: one small LUTRAM per lane, read once per block (all lanes at
    // one address) into the latched copy `dprm`.
    prm_t prm;
#pragma HLS ARRAY_PARTITION variable = prm dim = 1 type = complete
#pragma HLS BIND_STORAGE variable = prm type = ram_1p impl = lutram
    // Input quantisation table (in_rgb): one 32 x 64-bit LUTRAM per colour channel (~3 x 32 LUTs).
    lut_t lut;
#pragma HLS ARRAY_PARTITION variable = lut dim = 1 type = complete
#pragma HLS BIND_STORAGE variable = lut type = ram_1p impl = lutram
    rgb_state_t rgb_state;
    rgb_state.cur = 0;
    rgb_state.pos = BEAT_BYTES;  // nothing read yet

    // ---- register checks: refuse (read nothing) rather than overrun a buffer ----
    // First every register against its width (conv_commands.h): after that all products
    // below are of narrow values (ctl_mul) and cannot overflow.
    if (CONV_REGISTERS_OUT_OF_RANGE) return CONV_ERR_RANGE;
    const bool rs = kind == CONV_KIND_RESIZE;
    const bool dw = kind == CONV_KIND_DW3X3;
    const bool pw = kind == CONV_KIND_PW1X1;
    const unsigned k = pw ? 1 : 3;
    const unsigned padded_h = pad_t + in_h + pad_b;
    const unsigned padded_w = pad_l + in_w + pad_r;
    const unsigned bl = dw ? (unsigned)PE_IN : (unsigned)PE_OUT;                // output lanes per block
    const unsigned nb = dw ? ceil_div(n_out, PE_IN) : ceil_div(n_out, PE_OUT);  // output blocks of the call
    const unsigned kk_groups = pw ? cin_groups : 9 * cin_groups;                // weight words per block (conv/pw)
    const unsigned macs = dw ? 1 : kk_groups;                                   // MAC steps per (pixel, block)
    // Line-buffer words of one row (15 x 16 bits here: any in-range registers).
    const unsigned lb_words = ctl_mul<CONV_REG_BITS_IN_W, CONV_REG_BITS_CIN_GROUPS>(ceil_div(padded_w, BANKS),
                                                                                   cin_groups);
    const bool rgb = in_rgb != 0;
    unsigned long long w_words = 0;  // weight words of the call
    unsigned err = 0;
    if (rs) {
        if (stride != 1 || pad_t || pad_b || pad_l || pad_r || in_w > CONV_MAX_WIDTH || out_w > CONV_MAX_WIDTH ||
            out_h > CONV_MAX_WIDTH)
            err |= CONV_ERR_KIND;
        if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) err |= CONV_ERR_SHAPE;
        if (cin_groups < 1 || lb_words > (unsigned)LB_WORDS) err |= CONV_ERR_LINEBUF;
    } else {
        if (kind > CONV_KIND_PW1X1 || (stride != 1 && stride != 2) || (out_bytes != 1 && out_bytes != 2) ||
            in_w > CONV_MAX_WIDTH)
            err |= CONV_ERR_KIND;
        const unsigned span_h = stride == 2 ? (out_h - 1) << 1 : out_h - 1;  // (out - 1) * stride, stride 1 or 2
        const unsigned span_w = stride == 2 ? (out_w - 1) << 1 : out_w - 1;
        if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || span_h + k != padded_h || span_w + k != padded_w)
            err |= CONV_ERR_SHAPE;
        if (cin_groups < 1 || lb_words > (unsigned)LB_WORDS) err |= CONV_ERR_LINEBUF;
        // conv/pw: nb x kk_groups words, 20 x 13 bits (kk_groups <= 9 * 2**16, nb <= 2**16 / PE_OUT);
        // depthwise: one word per channel group.
        static_assert(PE_OUT >= 8, "nb fits CONV_REG_BITS_N_OUT - 3 bits");
        w_words = dw ? (unsigned long long)cin_groups
                     : (unsigned long long)ctl_mul<CONV_REG_BITS_CIN_GROUPS + 4, CONV_REG_BITS_N_OUT - 3>(kk_groups,
                                                                                                         nb);
        if (w_words > CONV_WBUF_WORDS) err |= CONV_ERR_WEIGHTS;
        if (n_out < 1 || n_out > CONV_MAX_OUT || (dw && cin_groups != nb)) err |= CONV_ERR_LANES;
        // A concat split needs the side stream to itself (no partial sums, no residual).
        if (cat_groups != 0 && (cat_groups >= cin_groups || psum_in || has_skip)) err |= CONV_ERR_LANES;
        // The raw frame fills lanes 0..2 of one group with int8 table values, on `in` only.
        if (rgb && (cin_groups != 1 || in_signed == 0 || cat_groups != 0 || psum_in || dw)) err |= CONV_ERR_LANES;
    }
    if (err) return err;
    // Every value below is now within the buffers' limits (conv_config.h CONV_BITS_*).
    // Beats of one line-buffer row (resize: padded_w = in_w).
    const unsigned row_beats = ctl_mul<CONV_BITS_PADDED_W, CONV_BITS_GROUPS>(padded_w, cin_groups);
    if (rs) {
        run_resize(in, side, out, lbuf, lut, rgb_state, in_h, in_w, out_h, out_w, cin_groups, in_signed != 0,
                   row_beats, ctl_mul<CONV_BITS_WIDTH, CONV_BITS_GROUPS>(out_w, cin_groups));
        return 0;
    }

    read_params(in, prm, n_out);
    read_weights(in, wbuf, dw, (unsigned)w_words);
    if (rgb) read_lut(in, lut);

    const bool sign = in_signed != 0;
    const mult_t skip_m = (mult_t)skip_mult;  // its real width (< 2**15): one DSP48 per lane for the residual
    // Beats per (pixel, block) of a full block; the last block may have fewer lanes.
    const unsigned pin_full = psum_in ? bl / PSUM_PER_BEAT : 0;
    const unsigned skin_full = has_skip ? bl / BEAT_BYTES : 0;
    const unsigned out_full = psum_out ? bl / PSUM_PER_BEAT : (out_bytes == 2 ? 2 * bl : bl) / BEAT_BYTES;
    unsigned steps = macs;  // pipeline iterations per (pixel, block)
    if (pin_full + skin_full > steps) steps = pin_full + skin_full;
    if (out_full > steps) steps = out_full;
    const unsigned out_lanes = out_bytes == 2 ? BEAT_BYTES / 2 : BEAT_BYTES;  // results per output beat (no divider)
    // + one block time to drain the row's last block
    const unsigned row_iters = ctl_mul<CONV_BITS_PADDED_W + CONV_BITS_BLOCKS, CONV_BITS_STEPS>(
        ctl_mul<CONV_BITS_PADDED_W, CONV_BITS_BLOCKS>(out_w, nb) + 1, steps);
    unsigned rows_loaded = 0;       // padded rows already in the line buffer
    unsigned rows_needed = k;       // padded rows output row oy needs: oy * stride + k (running)
    unsigned load_slot = 0;         // slot of padded row `rows_loaded` (= rows_loaded % 3)
    unsigned top_slot = 0;          // slot of padded row oy*stride

OUT_ROWS:
    for (unsigned oy = 0; oy < out_h; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_OUT_ROWS_MIN max = CONV_TRIP_OUT_ROWS_MAX
        // Bring in the rows this output row needs (at most 3, fewer when rows are shared).
    LOAD_ROWS:
        for (; rows_loaded < rows_needed; rows_loaded++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_LOAD_ROWS_MIN max = CONV_TRIP_LOAD_ROWS_MAX
            bool real_row = rows_loaded >= pad_t && rows_loaded < pad_t + in_h;
            load_row(in, side, lbuf, load_slot, real_row, row_beats, pad_l, in_w, cin_groups, cat_groups, sign, rgb,
                     lut, rgb_state);
            load_slot = rot3(load_slot, 1);
        }
        rows_needed += stride;

        acc_t acc[PE_OUT];   // accumulating block
        acc_t pin[PE_OUT];   // its streamed partial sums
        act_t skv[PE_OUT];   // its residual
        acc_t done[PE_OUT];  // finished block being requantised and written
        act_t dskip[PE_OUT];
        lane_params_t dprm[PE_OUT];  // its constants, latched when it finished
#pragma HLS ARRAY_PARTITION variable = acc type = complete
#pragma HLS ARRAY_PARTITION variable = pin type = complete
#pragma HLS ARRAY_PARTITION variable = skv type = complete
#pragma HLS ARRAY_PARTITION variable = done type = complete
#pragma HLS ARRAY_PARTITION variable = dskip type = complete
#pragma HLS ARRAY_PARTITION variable = dprm type = complete
    ROW_CLEAR:
        for (int o = 0; o < PE_OUT; o++) {
#pragma HLS UNROLL
            acc[o] = 0;
            pin[o] = 0;
            skv[o] = 0;
            done[o] = 0;
            dskip[o] = 0;
            dprm[o].bias = 0;
            dprm[o].mult = 0;
            dprm[o].mult_neg = 0;
            dprm[o].shift = 1;
        }
        unsigned j = 0, b = 0, ox = 0;             // step within the block, block, output column
        unsigned widx = 0, wblock = 0;             // weight word; first word of block b (= b * macs, running)
        unsigned ky = 0, kx = 0, g = 0;            // MAC step: tap, channel group
        unsigned pblk = 0, psub = 0;               // constants of block b: word pblk, dw sub-block psub
        unsigned rem = n_out;                      // channels from block b on (= n_out - b * bl, running)
        unsigned nl = n_out < bl ? n_out : bl;     // lanes of block b
        unsigned bank0 = 0, wbase0 = 0;            // window column x0 = ox*stride: bank x0 % 3, word (x0/3)*groups
        unsigned olane = 0;                        // first lane of output beat j (= j * out_lanes, running)
        bool d_pending = false, d_last = false;    // the finished block waiting for output
        unsigned d_lanes = 0, d_beats = 0;
    PIXEL_PIPE:
        for (unsigned it = 0; it < row_iters; it++) {
#pragma HLS LOOP_TRIPCOUNT min = CONV_TRIP_PIXEL_PIPE_MIN max = CONV_TRIP_PIXEL_PIPE_MAX
#pragma HLS PIPELINE II = 1
            const bool active = ox < out_w;  // false during the final drain block
            const unsigned pin_b = psum_in ? ceil_div(nl, PSUM_PER_BEAT) : 0;
            const unsigned skin_b = has_skip ? ceil_div(nl, BEAT_BYTES) : 0;
            if (active && j < macs) {
                // Each of the 9 line-buffer memories is read once, at its own address: bank m holds
                // window column x0 + ((m - bank0) mod 3), whose word is wbase0 (m >= bank0) or
                // wbase0 + groups (m < bank0); the group is g (conv/pw) or the block b (dw).
                // pw1x1 windows are 1 column wide: the unused banks may point past the row (clamped).
                const unsigned word = dw ? b : g;
                act_t v[CONV_LB_ROWS][BANKS][PE_IN];
#pragma HLS ARRAY_PARTITION variable = v dim = 0 type = complete
            WIN_ROWS:
                for (int r = 0; r < CONV_LB_ROWS; r++) {
                WIN_BANKS:
                    for (int m = 0; m < BANKS; m++) {
                        const unsigned addr = ((unsigned)m < bank0 ? wbase0 + cin_groups : wbase0) + word;
                        const unsigned a = addr < (unsigned)LB_WORDS ? addr : 0;
                    WIN_BYTES:
                        for (int i = 0; i < PE_IN; i++) v[r][m][i] = lbuf[r][m][a][i];
                    }
                }
                // Fixed 3x3 selector: tap (ty, tx) is padded row oy*stride + ty (slot top_slot + ty)
                // and column x0 + tx (bank bank0 + tx), both mod 3.
                act_t win[3][3][PE_IN];
#pragma HLS ARRAY_PARTITION variable = win dim = 0 type = complete
            WIN_TY:
                for (int ty = 0; ty < 3; ty++) {
                WIN_TX:
                    for (int tx = 0; tx < 3; tx++) {
                    WIN_SEL:
                        for (int i = 0; i < PE_IN; i++) win[ty][tx][i] = v[rot3(top_slot, ty)][rot3(bank0, tx)][i];
                    }
                }
                // One PE_OUT x PE_IN array of products serves both kinds (the operand
                // multiplexers are cheaper than 9*PE_IN more DSPs): conv/pw multiply
                // weight word widx by the window's tap (ky, kx) (lane o = output channel),
                // depthwise multiplies weight word b (lane o = tap) by the whole window.
                const unsigned wsel = dw ? b : widx;
                acc_t prod[PE_OUT][PE_IN];
#pragma HLS ARRAY_PARTITION variable = prod dim = 0 type = complete
            MAC_LANES:
                for (int o = 0; o < PE_OUT; o++) {
                MAC_BYTES:
                    for (int i = 0; i < PE_IN; i++) {
                        const act_t a = dw ? (o < 9 ? win[o / 3][o % 3][i] : (act_t)0) : win[ky][kx][i];
                        prod[o][i] = wbuf[wsel][o][i] * a;
                    }
                }
                if (dw) {
                DW_SUM:
                    for (int i = 0; i < PE_IN; i++) {
                        acc_t sum = 0;
                    DW_TAPS:
                        for (int t = 0; t < 9; t++) sum += prod[t][i];
                        acc[i] = sum;
                    }
                } else {
                MAC_SUM:
                    for (int o = 0; o < PE_OUT; o++) {
                        acc_t sum = 0;
                    MAC_TERMS:
                        for (int i = 0; i < PE_IN; i++) sum += prod[o][i];
                        acc[o] += sum;
                    }
                    widx++;
                    if (g == cin_groups - 1) {
                        g = 0;
                        if (kx == k - 1) {
                            kx = 0;
                            ky++;
                        } else {
                            kx++;
                        }
                    } else {
                        g++;
                    }
                }
            }
            // Partial sums and the residual arrive on the second input (`side`, its own DMA),
            // so the processor never interleaves them with the rows of `in`.
            if (active && j < pin_b) {
                beat_t beat = side.read().data;
            PSUM_IN:
                for (int q = 0; q < PSUM_PER_BEAT; q++) {
                    unsigned o = j * PSUM_PER_BEAT + q;
                    if (o < (unsigned)PE_OUT) pin[o] = (acc_t)beat.range(32 * q + 31, 32 * q);
                }
            } else if (active && j < pin_b + skin_b) {
                beat_t beat = side.read().data;
            SKIP_IN:
                for (int q = 0; q < BEAT_BYTES; q++) {
                    unsigned o = (j - pin_b) * BEAT_BYTES + q;
                    ap_uint<8> byte = (ap_uint<8>)beat.range(8 * q + 7, 8 * q);
                    if (o < (unsigned)PE_OUT) skv[o] = skip_signed ? (act_t)(ap_int<8>)byte : (act_t)byte;
                }
            }
            // Output beat j of the previous block (a block's beats never outnumber the steps),
            // from registers only: done[] and the latched constants dprm[].
            if (d_pending && j < d_beats) {
                beat_t beat = 0;
                if (psum_out) {
                OUT_PSUM:
                    for (int q = 0; q < PSUM_PER_BEAT; q++) {
                        unsigned o = j * PSUM_PER_BEAT + q;
                        if (o < d_lanes) beat.range(32 * q + 31, 32 * q) = done[o];
                    }
                } else {
                OUT_LANES:
                    for (int q = 0; q < BEAT_BYTES; q++) {
                        const unsigned o = olane + q;
                        if (q < (int)out_lanes && o < d_lanes) {
                            wide_t y = requant_lane(done[o], dprm[o]);
                            if (has_skip) {
                                const ap_int<25> sp = dskip[o] * skip_m;  // 9 x 16 bits: one DSP48
                                y += round_shift(sp, skip_shift);
                            }
                            if (y < lo) y = lo;
                            if (y > hi) y = hi;
                            if (out_bytes == 1) {
                                beat.range(8 * q + 7, 8 * q) = (ap_int<8>)y;
                            } else {
                                beat.range(16 * q + 15, 16 * q) = (ap_int<16>)y;
                            }
                        }
                    }
                }
                write_beat(out, beat, d_last && j == d_beats - 1);
            }
            if (j == steps - 1) {  // end of a block: hand it to the output, start the next
                d_pending = active;
                if (active) {
                    // Latch the block's constants: every lane memory read once, all at word pblk;
                    // depthwise blocks (PE_IN channels) are sub-block psub of that word (fixed selector).
                    lane_params_t row[PE_OUT];
#pragma HLS ARRAY_PARTITION variable = row type = complete
                PRM_READ:
                    for (int o = 0; o < PE_OUT; o++) row[o] = prm[o][pblk];
                BLOCK_DONE:
                    for (int o = 0; o < PE_OUT; o++) {
                        const lane_params_t p = dw ? row[(psub * PE_IN + o) % PE_OUT] : row[o];
                        // Accumulators start at 0; bias or the previous chunk's partial sums are
                        // added here (integer addition: the same sum in any order).
                        done[o] = (unsigned)o < nl ? (acc_t)(acc[o] + (psum_in ? pin[o] : p.bias)) : (acc_t)0;
                        dprm[o] = p;
                        dskip[o] = skv[o];
                        acc[o] = 0;
                    }
                    d_lanes = nl;
                    d_beats = psum_out ? ceil_div(nl, PSUM_PER_BEAT) : ceil_div(out_bytes == 2 ? 2 * nl : nl, BEAT_BYTES);
                    d_last = oy == out_h - 1 && ox == out_w - 1 && b == nb - 1;
                    ky = kx = g = 0;
                    if (b == nb - 1) {  // next pixel: the window moves by stride
                        b = 0;
                        ox++;
                        wblock = 0;
                        pblk = psub = 0;
                        rem = n_out;
                        bank0 += stride;
                        if (bank0 >= (unsigned)BANKS) {
                            bank0 -= BANKS;
                            wbase0 += cin_groups;
                        }
                    } else {
                        b++;
                        wblock += macs;
                        rem -= bl;
                        if (!dw || psub == DW_PER_BLOCK - 1) {
                            psub = 0;
                            pblk++;
                        } else {
                            psub++;
                        }
                    }
                    widx = wblock;
                    nl = rem < bl ? rem : bl;
                }
                j = 0;
                olane = 0;
            } else {
                j++;
                olane += out_lanes;
            }
        }
        top_slot = rot3(top_slot, stride);
    }
    return 0;
}
