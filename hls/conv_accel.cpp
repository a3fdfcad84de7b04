// pynq-depth streaming convolution accelerator (Vitis HLS 2023.1 C++).
// Protocol, registers and types: conv_accel.h.  Arithmetic: pynq_depth/arith.py.
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
// (the line buffer is banked by pixel % 3 so that a 3x3 window is 9 memories).
// A fourth kind resizes (bilinear, align_corners) on chip, one pixel group per cycle.
#include "conv_accel.h"

namespace {

const int PE_IN = CONV_PE_IN;
const int PE_OUT = CONV_PE_OUT;
const int BEAT_BYTES = CONV_BEAT_BYTES;
const int PSUM_PER_BEAT = CONV_BEAT_BITS / 32;
const int BANKS = CONV_LB_BANKS;
const int MAX_BLOCKS = CONV_MAX_OUT / PE_OUT;  ///< depth of the per-channel constant memories
const int MAX_PADDED = CONV_MAX_WIDTH + 2;
const int RS_F = CONV_RESIZE_FRAC_BITS;

/// Per-channel requantisation constants.
struct lane_params_t {
    acc_t bias;
    mult_t mult;
    mult_t mult_neg;
    shift_t shift;
};

/// One entry of a resize coefficient table: neighbours i0, i1 and the fraction of i1.
struct rs_coef_t {
    ap_uint<16> i0;
    ap_uint<16> i1;
    ap_uint<RS_F + 1> frac;
};

typedef act_t lbuf_t[CONV_LB_ROWS][BANKS][CONV_LB_BANK_WORDS][PE_IN];
typedef ap_int<8> lut_t[3][256];  ///< input quantisation table: channel, byte value -> int8

/// Unpacker of the raw RGB frame (in_rgb): a continuous byte stream, 3 bytes per pixel.
struct rgb_state_t {
    beat_t cur;    ///< the beat being used
    unsigned pos;  ///< its next unused byte (BEAT_BYTES: used up)
};
typedef wgt_t wbuf_t[CONV_WBUF_WORDS][PE_OUT][PE_IN];
typedef lane_params_t prm_t[PE_OUT][MAX_BLOCKS];

/// \brief Ceiling division for the small beat counts of the protocol.
inline unsigned ceil_div(unsigned a, unsigned b) { return (a + b - 1) / b; }

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
PARAMS:
    for (unsigned c = 0; c < n_out; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CONV_MAX_OUT
#pragma HLS PIPELINE II = 2
        beat_t b0 = in.read().data;
        beat_t b1 = in.read().data;
        lane_params_t p;
        p.bias = (acc_t)b0.range(31, 0);
        p.mult = (mult_t)b0.range(47, 32);
        p.mult_neg = (mult_t)b0.range(63, 48);
        p.shift = (shift_t)b1.range(5, 0);
        prm[c % PE_OUT][c / PE_OUT] = p;
    }
}

/// \brief Fill the weight buffer: `words` x PE_OUT beats (conv/pw) or `words` x 9 beats (dw).
///
/// Depthwise word g holds the 9 taps (lanes 0..8) of the PE_IN channels of group g,
/// so one read feeds the whole 3x3 x PE_IN depthwise datapath.
void read_weights(hls::stream<pkt_t>& in, wbuf_t wbuf, bool dw, unsigned words) {
    const unsigned lanes = dw ? 9u : (unsigned)PE_OUT;
    const unsigned total = words * lanes;
    unsigned w = 0, o = 0;
WEIGHT_BEATS:
    for (unsigned it = 0; it < total; it++) {
#pragma HLS LOOP_TRIPCOUNT min = 9 max = CONV_WBUF_WORDS * PE_OUT
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
LUT_BEATS:
    for (unsigned i = 0; i < 3 * 256 / BEAT_BYTES; i++) {
#pragma HLS PIPELINE II = 1
        beat_t beat = in.read().data;
    LUT_BYTES:
        for (int q = 0; q < BEAT_BYTES; q++) {
            lut[i / (256 / BEAT_BYTES)][(i % (256 / BEAT_BYTES)) * BEAT_BYTES + q] =
                (ap_int<8>)beat.range(8 * q + 7, 8 * q);
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
        beat.range(8 * c + 7, 8 * c) = (ap_uint<8>)lut[c][value];
    }
    if (fetch) {
        st.cur = next;
        st.pos = st.pos + 3 - BEAT_BYTES;
    } else {
        st.pos += 3;
    }
    return beat;
}

/// \brief Load padded row `p` into line-buffer slot `slot`; real pixels come from the stream.
///
/// One flattened pipeline over (pixel, channel group): the fill is paid once per
/// row.  Padding rows and columns are written as zeros so that the MAC loop needs
/// no bounds checks.  Pixel px goes to bank px % 3, word (px / 3) * groups + g.
/// With `rgb` the pixels are raw frame bytes quantised on the way in (rgb_pixel).
void load_row(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, lbuf_t lbuf, unsigned slot, bool real_row,
              unsigned padded_w, unsigned pad_l, unsigned in_w, unsigned groups, unsigned cat_groups, bool sign,
              bool rgb, const lut_t lut, rgb_state_t& st) {
    const unsigned total = padded_w * groups;
    unsigned px = 0, g = 0, bank = 0, base = 0;
ROW_BEATS:
    for (unsigned it = 0; it < total; it++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_PADDED * 4
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
inline wide_t requant_lane(acc_t acc, const lane_params_t& p) {
#pragma HLS INLINE
    mult_t m = acc >= 0 ? p.mult : p.mult_neg;
    return round_shift((wide_t)acc * (wide_t)m, p.shift);
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
void run_resize(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, hls::stream<pkt_t>& out, lbuf_t lbuf,
                const lut_t lut, rgb_state_t& st, unsigned in_h, unsigned in_w, unsigned out_h, unsigned out_w,
                unsigned groups, bool sign) {
    rs_coef_t xtab[CONV_MAX_WIDTH];
    rs_coef_t ytab[CONV_MAX_WIDTH];
    // LUTRAM (2 x 640 x 41 bits, ~820 LUTs): their BRAM36 went to the side DMA's FIFOs.
#pragma HLS BIND_STORAGE variable = xtab type = ram_1p impl = lutram
#pragma HLS BIND_STORAGE variable = ytab type = ram_1p impl = lutram
RS_TABLES:
    for (unsigned i = 0; i < out_w + out_h; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 2 max = 2 * CONV_MAX_WIDTH
#pragma HLS PIPELINE II = 1
        beat_t b = in.read().data;
        rs_coef_t c;
        unsigned lim = i < out_w ? in_w - 1 : in_h - 1;
        unsigned i0 = (unsigned)b.range(15, 0), i1 = (unsigned)b.range(31, 16);
        c.i0 = i0 > lim ? lim : i0;  // clamped: a malformed table never reads outside the rows
        c.i1 = i1 > lim ? lim : i1;
        c.frac = (unsigned)b.range(47, 32) & ((1u << RS_F) - 1);
        if (i < out_w) {
            xtab[i] = c;
        } else {
            ytab[i - out_w] = c;
        }
    }
    const int ONE = 1 << RS_F;
    unsigned rows_loaded = 0;
RS_ROWS:
    for (unsigned oy = 0; oy < out_h; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 240
        const rs_coef_t cy = ytab[oy];
    RS_LOAD:
        for (; rows_loaded <= (unsigned)cy.i1; rows_loaded++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 2
            load_row(in, side, lbuf, rows_loaded % CONV_LB_ROWS, true, in_w, 0, in_w, groups, 0, sign, false, lut, st);
        }
        const unsigned s0 = (unsigned)cy.i0 % CONV_LB_ROWS, s1 = (unsigned)cy.i1 % CONV_LB_ROWS;
        const int fy = (int)cy.frac;
        unsigned ox = 0, g = 0;
    RS_PIXELS:
        for (unsigned it = 0; it < out_w * groups; it++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CONV_MAX_WIDTH * 4
#pragma HLS PIPELINE II = 1
            const rs_coef_t cx = xtab[ox];
            const unsigned x0 = (unsigned)cx.i0, x1 = (unsigned)cx.i1;
            const unsigned a0 = (x0 / BANKS) * groups + g, a1 = (x1 / BANKS) * groups + g;
            const int fx = (int)cx.frac;
            beat_t beat = 0;
        RS_LANES:
            for (int i = 0; i < PE_IN; i++) {
                // vertical then horizontal, as arith.resize_bilinear: all integer, exact
                ap_int<20> v0 = lbuf[s0][x0 % BANKS][a0][i] * (ONE - fy) + lbuf[s1][x0 % BANKS][a0][i] * fy;
                ap_int<20> v1 = lbuf[s0][x1 % BANKS][a1][i] * (ONE - fy) + lbuf[s1][x1 % BANKS][a1][i] * fy;
                ap_int<32> total = (ap_int<32>)v0 * (ONE - fx) + (ap_int<32>)v1 * fx;
                ap_int<32> y = (total + (1 << (2 * RS_F - 1))) >> (2 * RS_F);
                beat.range(8 * i + 7, 8 * i) = (ap_uint<8>)y;
            }
            write_beat(out, beat, oy == out_h - 1 && it == out_w * groups - 1);
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
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1
        load_row(in, side, lbuf, rows_loaded % CONV_LB_ROWS, true, in_w, 0, in_w, groups, 0, sign, false, lut, st);
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
    // a 3x3 window (depthwise: 9 taps at once) reads each memory once per cycle.
    lbuf_t lbuf;
#pragma HLS ARRAY_PARTITION variable = lbuf dim = 1 type = complete
#pragma HLS ARRAY_PARTITION variable = lbuf dim = 2 type = complete
#pragma HLS ARRAY_RESHAPE variable = lbuf dim = 4 type = complete
    // Per-channel constants: one small LUTRAM per lane (8 lanes read per output beat).
    prm_t prm;
#pragma HLS ARRAY_PARTITION variable = prm dim = 1 type = complete
#pragma HLS BIND_STORAGE variable = prm type = ram_1p impl = lutram
    // Input quantisation table (in_rgb): one 256 x 8-bit LUTRAM per colour channel (~3 x 32 LUTs).
    lut_t lut;
#pragma HLS ARRAY_PARTITION variable = lut dim = 1 type = complete
#pragma HLS BIND_STORAGE variable = lut type = ram_1p impl = lutram
    rgb_state_t rgb_state;
    rgb_state.cur = 0;
    rgb_state.pos = BEAT_BYTES;  // nothing read yet

    // ---- register checks: refuse (read nothing) rather than overrun a buffer ----
    const bool rs = kind == CONV_KIND_RESIZE;
    const bool dw = kind == CONV_KIND_DW3X3;
    const unsigned k = kind == CONV_KIND_PW1X1 ? 1 : 3;
    const unsigned padded_h = pad_t + in_h + pad_b;
    const unsigned padded_w = pad_l + in_w + pad_r;
    unsigned err = 0;
    if (rs) {
        if (stride != 1 || pad_t || pad_b || pad_l || pad_r || in_w > CONV_MAX_WIDTH || out_w > CONV_MAX_WIDTH ||
            out_h > CONV_MAX_WIDTH)
            err |= CONV_ERR_KIND;
        if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) err |= CONV_ERR_SHAPE;
        if (cin_groups < 1 || (unsigned long long)ceil_div(in_w, BANKS) * cin_groups > CONV_LB_BANK_WORDS)
            err |= CONV_ERR_LINEBUF;
        if (err) return err;
        run_resize(in, side, out, lbuf, lut, rgb_state, in_h, in_w, out_h, out_w, cin_groups, in_signed != 0);
        return 0;
    }
    const unsigned bl = dw ? (unsigned)PE_IN : (unsigned)PE_OUT;  // output lanes per block
    const unsigned nb = ceil_div(n_out, bl);                      // output blocks of the call
    if (kind > CONV_KIND_PW1X1 || (stride != 1 && stride != 2) || pad_t > 1 || pad_b > 1 || pad_l > 1 ||
        pad_r > 1 || (out_bytes != 1 && out_bytes != 2) || in_w > CONV_MAX_WIDTH)
        err |= CONV_ERR_KIND;
    if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || (out_h - 1) * stride + k != padded_h ||
        (out_w - 1) * stride + k != padded_w)
        err |= CONV_ERR_SHAPE;
    if (cin_groups < 1 || (unsigned long long)ceil_div(padded_w, BANKS) * cin_groups > CONV_LB_BANK_WORDS)
        err |= CONV_ERR_LINEBUF;
    if ((dw ? (unsigned long long)cin_groups : (unsigned long long)nb * k * k * cin_groups) > CONV_WBUF_WORDS)
        err |= CONV_ERR_WEIGHTS;
    if (n_out < 1 || n_out > CONV_MAX_OUT || (dw && cin_groups != nb)) err |= CONV_ERR_LANES;
    // A concat split needs the side stream to itself (no partial sums, no residual).
    if (cat_groups != 0 && (cat_groups >= cin_groups || psum_in || has_skip)) err |= CONV_ERR_LANES;
    // The raw frame fills lanes 0..2 of one group with int8 table values, on `in` only.
    const bool rgb = in_rgb != 0;
    if (rgb && (cin_groups != 1 || in_signed == 0 || cat_groups != 0 || psum_in || dw)) err |= CONV_ERR_LANES;
    if (err) return err;

    read_params(in, prm, n_out);
    read_weights(in, wbuf, dw, dw ? cin_groups : nb * k * k * cin_groups);
    if (rgb) read_lut(in, lut);

    const bool sign = in_signed != 0;
    const unsigned macs = dw ? 1 : k * k * cin_groups;  // MAC steps per (pixel, block)
    // Beats per (pixel, block) of a full block; the last block may have fewer lanes.
    const unsigned pin_full = psum_in ? bl / PSUM_PER_BEAT : 0;
    const unsigned skin_full = has_skip ? bl / BEAT_BYTES : 0;
    const unsigned out_full = psum_out ? bl / PSUM_PER_BEAT : bl * out_bytes / BEAT_BYTES;
    unsigned steps = macs;  // pipeline iterations per (pixel, block)
    if (pin_full + skin_full > steps) steps = pin_full + skin_full;
    if (out_full > steps) steps = out_full;
    const unsigned out_lanes = BEAT_BYTES / out_bytes;
    const unsigned row_iters = (out_w * nb + 1) * steps;  // + one block time to drain the row's last block
    unsigned rows_loaded = 0;   // padded rows already in the line buffer
    unsigned load_slot = 0;     // slot of padded row `rows_loaded` (= rows_loaded % 3)
    unsigned top_slot = 0;      // slot of padded row oy*stride

OUT_ROWS:
    for (unsigned oy = 0; oy < out_h; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 240
        // Bring in the rows this output row needs (at most 3, fewer when rows are shared).
    LOAD_ROWS:
        for (unsigned need = oy * stride + k; rows_loaded < need; rows_loaded++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 3
            bool real_row = rows_loaded >= pad_t && rows_loaded < pad_t + in_h;
            load_row(in, side, lbuf, load_slot, real_row, padded_w, pad_l, in_w, cin_groups, cat_groups, sign, rgb, lut,
                     rgb_state);
            load_slot = load_slot == CONV_LB_ROWS - 1 ? 0 : load_slot + 1;
        }
        unsigned slot_of[3];
#pragma HLS ARRAY_PARTITION variable = slot_of type = complete
        slot_of[0] = top_slot;
        slot_of[1] = top_slot == 2 ? 0 : top_slot + 1;
        slot_of[2] = slot_of[1] == 2 ? 0 : slot_of[1] + 1;

        acc_t acc[PE_OUT];   // accumulating block
        acc_t pin[PE_OUT];   // its streamed partial sums
        act_t skv[PE_OUT];   // its residual
        acc_t done[PE_OUT];  // finished block being requantised and written
        act_t dskip[PE_OUT];
#pragma HLS ARRAY_PARTITION variable = acc type = complete
#pragma HLS ARRAY_PARTITION variable = pin type = complete
#pragma HLS ARRAY_PARTITION variable = skv type = complete
#pragma HLS ARRAY_PARTITION variable = done type = complete
#pragma HLS ARRAY_PARTITION variable = dskip type = complete
    ROW_CLEAR:
        for (int o = 0; o < PE_OUT; o++) {
#pragma HLS UNROLL
            acc[o] = 0;
            pin[o] = 0;
            skv[o] = 0;
            done[o] = 0;
            dskip[o] = 0;
        }
        unsigned j = 0, b = 0, ox = 0;         // step within the block, block, output column
        unsigned widx = 0, ky = 0, kx = 0, g = 0;  // MAC step: weight word, tap, channel group
        unsigned nl = n_out < bl ? n_out : bl;     // lanes of block b
        bool d_pending = false, d_last = false;    // the finished block waiting for output
        unsigned d_block = 0, d_lanes = 0, d_beats = 0;
    PIXEL_PIPE:
        for (unsigned it = 0; it < row_iters; it++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 320 * 16
#pragma HLS PIPELINE II = 1
            const bool active = ox < out_w;  // false during the final drain block
            const unsigned x0 = ox * stride;
            const unsigned pin_b = psum_in ? ceil_div(nl, PSUM_PER_BEAT) : 0;
            const unsigned skin_b = has_skip ? ceil_div(nl, BEAT_BYTES) : 0;
            if (active && j < macs) {
                // One PE_OUT x PE_IN array of products serves both kinds (the operand
                // multiplexers are cheaper than 9*PE_IN more DSPs): conv/pw multiply
                // weight word widx by the pixel word (lane o = output channel), depthwise
                // multiplies weight word b (lane o = tap) by the 3x3 window (9 memories).
                const unsigned p = x0 + kx;
                const unsigned addr = (p / BANKS) * cin_groups + g;
                const unsigned wsel = dw ? b : widx;
                acc_t prod[PE_OUT][PE_IN];
#pragma HLS ARRAY_PARTITION variable = prod dim = 0 type = complete
            MAC_LANES:
                for (int o = 0; o < PE_OUT; o++) {
                MAC_BYTES:
                    for (int i = 0; i < PE_IN; i++) {
                        act_t a;
                        if (dw) {
                            const unsigned q = x0 + o % 3;  // tap o = (o / 3, o % 3); lanes >= 9 unused
                            a = o < 9 ? lbuf[slot_of[(o / 3) % 3]][q % BANKS][(q / BANKS) * cin_groups + b][i]
                                      : (act_t)0;
                        } else {
                            a = lbuf[slot_of[ky]][p % BANKS][addr][i];
                        }
                        prod[o][i] = wbuf[wsel][o][i] * a;
                    }
                }
                if (dw) {
                DW_SUM:
                    for (int i = 0; i < PE_IN; i++) {
                        acc_t sum = 0;
                        for (int t = 0; t < 9; t++) sum += prod[t][i];
                        acc[i] = sum;
                    }
                } else {
                MAC_SUM:
                    for (int o = 0; o < PE_OUT; o++) {
                        acc_t sum = 0;
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
            // Output beat j of the previous block (a block's beats never outnumber the steps).
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
                        unsigned o = j * out_lanes + q;
                        if (q < (int)out_lanes && o < d_lanes) {
                            const unsigned c = d_block * bl + o;
                            wide_t y = requant_lane(done[o], prm[c % PE_OUT][c / PE_OUT]);
                            if (has_skip) y += round_shift((wide_t)dskip[o] * (wide_t)skip_mult, skip_shift);
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
                BLOCK_DONE:
                    for (int o = 0; o < PE_OUT; o++) {
                        const unsigned c = b * bl + o;
                        const acc_t start = psum_in ? pin[o] : prm[c % PE_OUT][(c / PE_OUT) % MAX_BLOCKS].bias;
                        // Accumulators start at 0; bias or the previous chunk's partial sums are
                        // added here (integer addition: the same sum in any order).
                        done[o] = (unsigned)o < nl ? (acc_t)(acc[o] + start) : (acc_t)0;
                        dskip[o] = skv[o];
                        acc[o] = 0;
                    }
                    d_block = b;
                    d_lanes = nl;
                    d_beats = psum_out ? ceil_div(nl, PSUM_PER_BEAT) : ceil_div(nl * out_bytes, BEAT_BYTES);
                    d_last = oy == out_h - 1 && ox == out_w - 1 && b == nb - 1;
                    ky = kx = g = 0;
                    if (b == nb - 1) {
                        b = 0;
                        ox++;
                        widx = 0;
                    } else {
                        b++;
                        widx = b * macs;
                    }
                    nl = n_out - b * bl < bl ? n_out - b * bl : bl;
                }
                j = 0;
            } else {
                j++;
            }
        }
        top_slot = (top_slot + stride) % CONV_LB_ROWS;
    }
    return 0;
}
