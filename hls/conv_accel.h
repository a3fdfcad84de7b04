// pynq-depth streaming convolution accelerator: types, register semantics and
// the stream protocol.  Implements pynq_depth/arith.py bit for bit.
//
// Build: Vitis HLS 2023.1 (hls/run_hls.tcl), or g++ for C simulation without
// Xilinx tools (pynq_depth/backends/csim.py): Xilinx's own ap_int.h (from the
// hls4ml wheel, pynq_depth/hls_types.py) with the project's minimal hls::stream
// and ap_axiu from hls/csim_include/.
// `conv_config.h` is GENERATED from pynq_depth/hw_config.json by
// `python -m pynq_depth.codegen hls/build/` and never edited by hand.
//
// ---------------------------------------------------------------------------
// One call = one layer, ALL output channels whose weights fit the weight buffer
// (n_out <= CONV_MAX_OUT, in blocks of PE_OUT lanes; depthwise: blocks of PE_IN
// channels), one column tile, one input-channel chunk.  Every input row is
// streamed once per call, whatever the number of output blocks.  The host
// (pynq_depth/protocol.py) plans the calls; every count below is exact, and the
// host builds the input stream in exactly the order the kernel reads it.
//
// Input stream (64-bit beats, little-endian byte lanes; TLAST ignored):
//   1. PARAMS  2 beats per output channel c < n_out:
//        beat 0: bits 31..0 bias (int32), 47..32 mult, 63..48 mult_neg
//        beat 1: bits  5..0 shift (1..46)
//   2. WEIGHTS conv3x3 / pw1x1: for block b < ceil(n_out/PE_OUT), tap t < k*k,
//        group g < cin_groups, lane o < PE_OUT: one beat = PE_IN int8 weights
//        w[b*PE_OUT + o][t][g*PE_IN + i] in byte i (lanes past n_out zero).
//      dw3x3: for group g < cin_groups, tap t < 9: one beat, byte i = weight
//        of channel g*PE_IN + i at tap t.
//   2b. INPUT TABLE (register in_rgb = 1 only): 96 beats, the int8 value of
//        byte v of colour channel c (quantize_input's 3 x 256 table) in beat
//        c*32 + v/8, byte lane v%8.  The ROWS are then the raw frame as it lies
//        in memory: 3 bytes (R, G, B) per pixel, rows back to back, the last beat
//        zero-padded; pixel bytes map through the table to lanes 0..2 of the one
//        channel group (lanes 3..7 zero).  Needs cin_groups = 1, in_signed = 1, a
//        standard or pointwise kernel, no partial sums, no concat (else CONV_ERR_LANES).
//   3. ROWS    for output row oy: the input rows that row needs and that have
//        not been sent yet (real rows only, in order; a row is in_w pixels x
//        cin_groups beats, PE_IN channels per beat, zero-padded channels).
//        The input stream carries nothing else: a tensor in the stream layout
//        is sent as it lies in memory.
//      Concat through the side stream (register cat_groups != 0): the input is
//        a channel concat left unmade; of every pixel's cin_groups beats the
//        first cat_groups (the first part, a whole number of groups) come on
//        `in` and the rest on `side`, each part's rows as they lie in its own
//        buffer.  The side stream then carries these row beats only, so
//        cat_groups must be < cin_groups and psum_in = has_skip = 0 (else
//        CONV_ERR_LANES).  cat_groups = 0: every row beat on `in`.
// Side stream (second AXI-Stream input `side`, fed by its own MM2S-only DMA;
//   empty unless psum_in, has_skip or cat_groups; cat_groups: see ROWS): for every output pixel (row-major) and
//   every block b (nl lanes: PE_OUT, or PE_IN for dw, the last block fewer), if
//   psum_in ceil(nl/2) beats of int32 partial sums (lane 2j in bits 31..0, 2j+1
//   in 63..32), then, if has_skip, ceil(nl/8) beats of the residual (one byte
//   per lane).  Since blocks hold a multiple of 8 lanes, with only one of the
//   two this is exactly the HWC layout with channels padded to 2 (partial sums:
//   the previous chunk's output) or 8 (residual): the buffer is sent as it is.
//   The kernel reads the two inputs concurrently (rows on `in`, per-pixel beats
//   on `side` inside the pixel pipeline), so both DMAs must be running.
//      Input lanes past the layer's channels (the rest of the last group) are
//      don't-care: their weights are zero, and depthwise lanes past n_out are
//      written as zero, so the host streams channel-padded maps as they lie in
//      memory (the quantised frame in a 3-of-8-channel DMA slot, kernel outputs).
//      Padded row p (0 <= p < pad_t + in_h + pad_b) is needed by output row oy
//      when p < oy*stride + k; padding rows/columns are zeros made on chip.
// Output stream: per output pixel (row-major), per block, psum_out ? ceil(nl/2)
//   beats of int32 accumulators : ceil(nl*out_bytes/8) beats of clamped results
//   (out_bytes = 1: int8/uint8 byte lanes; 2: int16 lanes) -- i.e. the HWC
//   layout with channels padded to a whole beat, which is the next layer's input
//   layout.  Unused lanes zero, TKEEP all ones, TLAST on the last beat of the call.
//
// Resize call (kind CONV_KIND_RESIZE; bilinear, align_corners, arith.resize_bilinear):
//   registers in_h, in_w (source), out_h, out_w, cin_groups, in_signed; stride 1,
//   no padding; the others are ignored.  Input: out_w x-coefficient beats then
//   out_h y-coefficient beats (bits 15..0 i0, 31..16 i1, 47..32 fraction of i1
//   in CONV_RESIZE_FRAC_BITS bits), then the in_h source rows (in_w x cin_groups
//   beats each).  Output: per output pixel cin_groups beats, the input's layout.
// Return value (ap_return): 0, or CONV_ERR_* bits when the registers are
// outside what the buffers support; then no beat is read or written.
// ---------------------------------------------------------------------------
#ifndef CONV_ACCEL_H
#define CONV_ACCEL_H

#include <ap_axi_sdata.h>
#include <ap_int.h>
#include <hls_stream.h>

#include "conv_config.h"

typedef ap_axiu<CONV_BEAT_BITS, 0, 0, 0> pkt_t;  ///< AXI-Stream beat with TKEEP/TLAST
typedef ap_uint<CONV_BEAT_BITS> beat_t;          ///< beat payload
typedef ap_int<8> wgt_t;                         ///< int8 weight
typedef ap_int<9> act_t;                         ///< int8 or uint8 activation, sign-extended
typedef ap_int<CONV_ACC_BITS> acc_t;             ///< 32-bit accumulator (exact per arith.py)
typedef ap_int<48> wide_t;                       ///< requantisation products: |acc*mult| < 2**46
typedef ap_uint<16> mult_t;                      ///< requantisation multiplier (< 2**15)
typedef ap_uint<6> shift_t;                      ///< requantisation shift (1..46)

/// Layer kinds (register `kind`).
enum { CONV_KIND_CONV3X3 = 0, CONV_KIND_DW3X3 = 1, CONV_KIND_PW1X1 = 2, CONV_KIND_RESIZE = 3 };

/// Error bits of the return value.
enum {
    CONV_ERR_KIND = 1,      ///< unknown kind, stride, padding or output width
    CONV_ERR_SHAPE = 2,     ///< output size does not follow from input + padding
    CONV_ERR_LINEBUF = 4,   ///< padded row does not fit the line buffer
    CONV_ERR_WEIGHTS = 8,   ///< weights of the call do not fit the weight buffer
    CONV_ERR_LANES = 16     ///< n_out outside 1..CONV_MAX_OUT or cin_groups inconsistent
};

/// \brief Run one call of one convolution layer (see the protocol above).
///
/// \param in, out   AXI4-Stream ports (side-channel packets with TLAST).
/// \param side      second input stream: partial sums and residual (see the protocol above).
/// \param kind      CONV_KIND_*; stride 1 or 2 (resize: 1).
/// \param in_h, in_w          real input rows/columns streamed in this call.
/// \param pad_t, pad_b, pad_l, pad_r   zero padding (0 or 1) made on chip.
/// \param out_h, out_w        output size of the call ((padded - k)/stride + 1).
/// \param cin_groups          PE_IN-channel groups per input pixel.
/// \param n_out               output channels of the call (1..CONV_MAX_OUT), in blocks of PE_OUT lanes.
/// \param in_signed           input is int8 (1) or uint8 (0).
/// \param out_bytes           1 (int8/uint8) or 2 (int16) bytes per result.
/// \param has_skip, skip_signed, skip_mult, skip_shift   fused residual add.
/// \param lo, hi              output clamp.
/// \param psum_in             accumulators start from streamed partial sums (not bias).
/// \param psum_out            write raw accumulators instead of requantised results.
/// \param cat_groups          0, or the channel groups of a concat's first part: row groups >= it come on `side`.
/// \param in_rgb              1: the input rows are the raw RGB frame, quantised on chip (INPUT TABLE above).
/// \return 0 or CONV_ERR_* bits.
unsigned conv_accel(hls::stream<pkt_t>& in, hls::stream<pkt_t>& side, hls::stream<pkt_t>& out, unsigned kind, unsigned stride,
                    unsigned in_h, unsigned in_w, unsigned pad_t, unsigned pad_b, unsigned pad_l,
                    unsigned pad_r, unsigned out_h, unsigned out_w, unsigned cin_groups, unsigned n_out,
                    unsigned in_signed, unsigned out_bytes, unsigned has_skip, unsigned skip_signed,
                    unsigned skip_mult, unsigned skip_shift, int lo, int hi, unsigned psum_in,
                    unsigned psum_out, unsigned cat_groups, unsigned in_rgb);

#endif
