// pynq-depth streaming convolution accelerator (Vitis HLS 2023.1 C++).
// Protocol, registers and types: conv_accel.h.  Arithmetic: pynq_depth/arith.py.
//
// Structure of one call: load the per-lane constants and the weights of the
// call into on-chip buffers, then walk the output rows; before each output row
// the input rows it needs enter a 3-row circular line buffer; every output
// pixel is a PE_OUT x PE_IN MAC array running over (tap, channel group) at II=1,
// followed by the requantisation of the lanes and the output beats.
// Resize and concat stay on the processor: they are memory-bound, cost almost
// no arithmetic, and keeping them out saves BRAM and LUTs for the MAC array.
#include "conv_accel.h"

namespace {

const int PE_IN = CONV_PE_IN;
const int PE_OUT = CONV_PE_OUT;
const int BEAT_BYTES = CONV_BEAT_BYTES;
const int PSUM_PER_BEAT = CONV_BEAT_BITS / 32;
const int MAX_OUT_BEATS = (PE_OUT * 2 + BEAT_BYTES - 1) / BEAT_BYTES;
const int MAX_PADDED = CONV_MAX_WIDTH + 2;

/// Per-lane requantisation constants of the call.
struct lane_params_t {
    acc_t bias;
    mult_t mult;
    mult_t mult_neg;
    shift_t shift;
};

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

/// \brief Read the per-lane bias/multipliers/shift (CONV_PARAM_BEATS_PER_LANE beats each).
void read_params(hls::stream<pkt_t>& in, lane_params_t prm[PE_OUT]) {
PARAMS:
    for (int o = 0; o < PE_OUT; o++) {
#pragma HLS PIPELINE II = 2
        beat_t b0 = in.read().data;
        beat_t b1 = in.read().data;
        prm[o].bias = (acc_t)b0.range(31, 0);
        prm[o].mult = (mult_t)b0.range(47, 32);
        prm[o].mult_neg = (mult_t)b0.range(63, 48);
        prm[o].shift = (shift_t)b1.range(5, 0);
    }
}

/// \brief Fill the weight buffer: one beat per (word, lane) for conv/pw, PE_OUT/PE_IN beats per tap for dw.
void read_weights(hls::stream<pkt_t>& in, wgt_t wbuf[CONV_WBUF_WORDS][PE_OUT][PE_IN], bool dw, unsigned words) {
    if (dw) {
    DW_TAPS:
        for (int t = 0; t < 9; t++) {
        DW_BEATS:
            for (int b = 0; b < PE_OUT / PE_IN; b++) {
#pragma HLS PIPELINE II = 1
                beat_t beat = in.read().data;
            DW_BYTES:
                for (int i = 0; i < PE_IN; i++) {
                    // Depthwise weights live in byte 0 of each lane's word: the MAC
                    // loop then reads them with the same port as conv weights.
                    wbuf[t][b * PE_IN + i][0] = (wgt_t)beat.range(8 * i + 7, 8 * i);
                }
            }
        }
        return;
    }
WORDS:
    for (unsigned w = 0; w < words; w++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CONV_WBUF_WORDS
    LANES:
        for (int o = 0; o < PE_OUT; o++) {
#pragma HLS PIPELINE II = 1
            beat_t beat = in.read().data;
        BYTES:
            for (int i = 0; i < PE_IN; i++) {
                wbuf[w][o][i] = (wgt_t)beat.range(8 * i + 7, 8 * i);
            }
        }
    }
}

/// \brief Load padded row `p` into line-buffer slot `slot`; real pixels come from the stream.
///
/// Padding rows and columns are written as zeros so that the MAC loop needs no
/// bounds checks (it reads the padded geometry directly).
void load_row(hls::stream<pkt_t>& in, act_t lbuf[CONV_LB_ROWS][CONV_LB_ROW_WORDS][PE_IN], unsigned slot,
              bool real_row, unsigned padded_w, unsigned pad_l, unsigned in_w, unsigned groups, bool sign) {
    unsigned addr = 0;
ROW_PIXELS:
    for (unsigned px = 0; px < padded_w; px++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_PADDED
        bool real = real_row && px >= pad_l && px < pad_l + in_w;
    ROW_GROUPS:
        for (unsigned g = 0; g < groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CONV_MAX_CIN_GROUPS
#pragma HLS PIPELINE II = 1
            beat_t beat = 0;
            if (real) beat = in.read().data;
        ROW_BYTES:
            for (int i = 0; i < PE_IN; i++) {
                ap_uint<8> byte = (ap_uint<8>)beat.range(8 * i + 7, 8 * i);
                // Widen once on entry: the MACs then see one 9-bit signed type.
                lbuf[slot][addr][i] = sign ? (act_t)(ap_int<8>)byte : (act_t)byte;
            }
            addr++;
        }
    }
}

/// \brief Requantise one accumulator exactly as arith.requantize (without the clamp).
inline wide_t requant_lane(acc_t acc, const lane_params_t& p) {
#pragma HLS INLINE
    mult_t m = acc >= 0 ? p.mult : p.mult_neg;
    return round_shift((wide_t)acc * (wide_t)m, p.shift);
}

}  // namespace

unsigned conv_accel(hls::stream<pkt_t>& in, hls::stream<pkt_t>& out, unsigned kind, unsigned stride,
                    unsigned in_h, unsigned in_w, unsigned pad_t, unsigned pad_b, unsigned pad_l,
                    unsigned pad_r, unsigned out_h, unsigned out_w, unsigned cin_groups, unsigned n_out,
                    unsigned in_signed, unsigned out_bytes, unsigned has_skip, unsigned skip_signed,
                    unsigned skip_mult, unsigned skip_shift, int lo, int hi, unsigned psum_in,
                    unsigned psum_out) {
#pragma HLS INTERFACE mode = axis port = in
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
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control
#pragma HLS INTERFACE mode = ap_ctrl_hs port = return

    // Buffers are locals (not statics) so that csim calls are re-entrant; HLS
    // maps them to BRAM all the same.  Weights: one memory per output lane,
    // PE_IN bytes reshaped into one wide word -> PE_OUT x PE_IN bytes per cycle.
    wgt_t wbuf[CONV_WBUF_WORDS][PE_OUT][PE_IN];
#pragma HLS ARRAY_PARTITION variable = wbuf dim = 2 type = complete
#pragma HLS ARRAY_RESHAPE variable = wbuf dim = 3 type = complete
    // Line buffer: three rows in separate memories, PE_IN channels per word.
    act_t lbuf[CONV_LB_ROWS][CONV_LB_ROW_WORDS][PE_IN];
#pragma HLS ARRAY_PARTITION variable = lbuf dim = 1 type = complete
#pragma HLS ARRAY_RESHAPE variable = lbuf dim = 3 type = complete
    lane_params_t prm[PE_OUT];
#pragma HLS ARRAY_PARTITION variable = prm dim = 1 type = complete

    // ---- register checks: refuse (read nothing) rather than overrun a buffer ----
    const bool dw = kind == CONV_KIND_DW3X3;
    const unsigned k = kind == CONV_KIND_PW1X1 ? 1 : 3;
    const unsigned padded_h = pad_t + in_h + pad_b;
    const unsigned padded_w = pad_l + in_w + pad_r;
    unsigned err = 0;
    if (kind > CONV_KIND_PW1X1 || (stride != 1 && stride != 2) || pad_t > 1 || pad_b > 1 || pad_l > 1 ||
        pad_r > 1 || (out_bytes != 1 && out_bytes != 2) || in_w > CONV_MAX_WIDTH)
        err |= CONV_ERR_KIND;
    if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || (out_h - 1) * stride + k != padded_h ||
        (out_w - 1) * stride + k != padded_w)
        err |= CONV_ERR_SHAPE;
    if (cin_groups < 1 || (unsigned long long)padded_w * cin_groups > CONV_LB_ROW_WORDS)
        err |= CONV_ERR_LINEBUF;
    if (!dw && (unsigned long long)k * k * cin_groups > CONV_WBUF_WORDS) err |= CONV_ERR_WEIGHTS;
    if (n_out < 1 || n_out > PE_OUT || (dw && cin_groups != ceil_div(n_out, PE_IN))) err |= CONV_ERR_LANES;
    if (err) return err;

    read_params(in, prm);
    read_weights(in, wbuf, dw, k * k * cin_groups);

    const bool sign = in_signed != 0;
    const unsigned psum_beats = ceil_div(n_out, PSUM_PER_BEAT);
    const unsigned skip_beats = ceil_div(n_out, BEAT_BYTES);
    const unsigned out_lanes = BEAT_BYTES / out_bytes;
    const unsigned out_beats = psum_out ? psum_beats : ceil_div(n_out * out_bytes, BEAT_BYTES);
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
            load_row(in, lbuf, load_slot, real_row, padded_w, pad_l, in_w, cin_groups, sign);
            load_slot = load_slot == CONV_LB_ROWS - 1 ? 0 : load_slot + 1;
        }
        unsigned slot_of[3];
#pragma HLS ARRAY_PARTITION variable = slot_of type = complete
        slot_of[0] = top_slot;
        slot_of[1] = top_slot == 2 ? 0 : top_slot + 1;
        slot_of[2] = slot_of[1] == 2 ? 0 : slot_of[1] + 1;

    OUT_COLS:
        for (unsigned ox = 0; ox < out_w; ox++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 320
            acc_t acc[PE_OUT];
#pragma HLS ARRAY_PARTITION variable = acc type = complete
            // Accumulators start from the bias, or from the partial sums of the
            // previous input-channel chunk (bias was added by the first chunk).
        ACC_INIT:
            for (int o = 0; o < PE_OUT; o++) {
#pragma HLS UNROLL
                acc[o] = prm[o].bias;
            }
            if (psum_in) {
            PSUM_IN:
                for (unsigned b = 0; b < psum_beats; b++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = PE_OUT / 2
#pragma HLS PIPELINE II = 1
                    beat_t beat = in.read().data;
                    for (int j = 0; j < PSUM_PER_BEAT; j++) {
                        unsigned o = b * PSUM_PER_BEAT + j;
                        if (o < (unsigned)PE_OUT) acc[o] = (acc_t)beat.range(32 * j + 31, 32 * j);
                    }
                }
            }

            const unsigned x0 = ox * stride;
            if (dw) {
            DW_KY:
                for (int ky = 0; ky < 3; ky++) {
                DW_KX:
                    for (int kx = 0; kx < 3; kx++) {
#pragma HLS PIPELINE II = 1
                        unsigned base = (x0 + kx) * cin_groups;
                    DW_LANES:
                        for (int o = 0; o < PE_OUT; o++) {
                            // Lanes past the call's channels have zero weights; skip
                            // the read so it never leaves the pixel's words.
                            if ((unsigned)(o / PE_IN) < cin_groups) {
                                acc[o] += wbuf[ky * 3 + kx][o][0] * lbuf[slot_of[ky]][base + o / PE_IN][o % PE_IN];
                            }
                        }
                    }
                }
            } else {
                unsigned widx = 0;
            MAC_KY:
                for (unsigned ky = 0; ky < k; ky++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 3
                MAC_KX:
                    for (unsigned kx = 0; kx < k; kx++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 3
                        unsigned addr = (x0 + kx) * cin_groups;
                        const unsigned slot = slot_of[ky];
                    MAC_GROUPS:
                        for (unsigned g = 0; g < cin_groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CONV_WBUF_WORDS
#pragma HLS PIPELINE II = 1
                        MAC_LANES:
                            for (int o = 0; o < PE_OUT; o++) {
                                acc_t sum = 0;
                            MAC_BYTES:
                                for (int i = 0; i < PE_IN; i++) {
                                    sum += wbuf[widx][o][i] * lbuf[slot][addr][i];
                                }
                                acc[o] += sum;
                            }
                            widx++;
                            addr++;
                        }
                    }
                }
            }

            // Residual (one byte per lane) for the requantisation below.
            act_t skip[PE_OUT];
#pragma HLS ARRAY_PARTITION variable = skip type = complete
        SKIP_CLEAR:
            for (int o = 0; o < PE_OUT; o++) {
#pragma HLS UNROLL
                skip[o] = 0;
            }
            if (has_skip) {
            SKIP_IN:
                for (unsigned b = 0; b < skip_beats; b++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = PE_OUT / BEAT_BYTES
#pragma HLS PIPELINE II = 1
                    beat_t beat = in.read().data;
                    for (int j = 0; j < BEAT_BYTES; j++) {
                        unsigned o = b * BEAT_BYTES + j;
                        ap_uint<8> byte = (ap_uint<8>)beat.range(8 * j + 7, 8 * j);
                        if (o < (unsigned)PE_OUT) skip[o] = skip_signed ? (act_t)(ap_int<8>)byte : (act_t)byte;
                    }
                }
            }

            const bool last_pixel = oy == out_h - 1 && ox == out_w - 1;
        OUT_BEATS:
            for (unsigned b = 0; b < out_beats; b++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_OUT_BEATS
#pragma HLS PIPELINE II = 1
                beat_t beat = 0;
                if (psum_out) {
                    for (int j = 0; j < PSUM_PER_BEAT; j++) {
                        unsigned o = b * PSUM_PER_BEAT + j;
                        if (o < n_out) beat.range(32 * j + 31, 32 * j) = acc[o];
                    }
                } else {
                    for (int j = 0; j < BEAT_BYTES; j++) {
                        unsigned o = b * out_lanes + j;
                        if (j < (int)out_lanes && o < n_out) {
                            wide_t y = requant_lane(acc[o], prm[o]);
                            if (has_skip) y += round_shift((wide_t)skip[o] * (wide_t)skip_mult, skip_shift);
                            if (y < lo) y = lo;
                            if (y > hi) y = hi;
                            if (out_bytes == 1) {
                                beat.range(8 * j + 7, 8 * j) = (ap_int<8>)y;
                            } else {
                                beat.range(16 * j + 15, 16 * j) = (ap_int<16>)y;
                            }
                        }
                    }
                }
                pkt_t pkt;
                pkt.data = beat;
                pkt.keep = -1;
                pkt.strb = -1;
                pkt.user = 0;
                pkt.id = 0;
                pkt.dest = 0;
                pkt.last = last_pixel && b == out_beats - 1;
                out.write(pkt);
            }
        }
        top_slot = (top_slot + stride) % CONV_LB_ROWS;
    }
    return 0;
}
