// pynq-depth streaming convolution accelerator: types, register semantics and
// the stream protocol.  Implements pynq_depth/arith.py bit for bit.
//
// Build: Vitis HLS 2023.1 (hls/run_hls.tcl), or g++ against hls/csim_include/
// for C simulation without Xilinx tools (pynq_depth/backends/csim.py).
// `conv_config.h` is GENERATED from pynq_depth/hw_config.json by
// `python -m pynq_depth.codegen hls/build/` and never edited by hand.
//
// ---------------------------------------------------------------------------
// One call = one layer, one group of n_out <= PE_OUT output channels, one
// column tile, one input-channel chunk.  The host (pynq_depth/protocol.py)
// plans the calls; every count below is exact, and the host builds the input
// stream in exactly the order the kernel reads it.
//
// Input stream (64-bit beats, little-endian byte lanes; TLAST ignored):
//   1. PARAMS  2 beats per lane, PE_OUT lanes (unused lanes zero):
//        beat 0: bits 31..0 bias (int32), 47..32 mult, 63..48 mult_neg
//        beat 1: bits  5..0 shift (1..46)
//   2. WEIGHTS conv3x3 / pw1x1: for tap t < k*k, for group g < cin_groups,
//        for lane o < PE_OUT: one beat = PE_IN int8 weights w[o][t][g*PE_IN + i]
//        in byte i.  dw3x3: for tap t < 9, PE_OUT/PE_IN beats with the weight
//        of lane o in byte o % PE_IN of beat o / PE_IN.
//   3. ROWS    for output row oy: first the input rows that row needs and that
//        have not been sent yet (real rows only, in order; a row is in_w
//        pixels x cin_groups beats, PE_IN channels per beat, zero-padded
//        channels), then for every output pixel of the row, if psum_in,
//        ceil(n_out/2) beats of int32 partial sums (lane 2j in bits 31..0,
//        2j+1 in 63..32), then, if has_skip, ceil(n_out/8) beats of the
//        residual (one byte per lane).
//      Padded row p (0 <= p < pad_t + in_h + pad_b) is needed by output row oy
//      when p < oy*stride + k; padding rows/columns are zeros made on chip.
// Output stream: per output pixel (row-major), psum_out ? ceil(n_out/2) beats
//   of int32 accumulators : ceil(n_out*out_bytes/8) beats of clamped results
//   (out_bytes = 1: int8/uint8 byte lanes; 2: int16 lanes).  Unused lanes zero,
//   TKEEP all ones, TLAST on the last beat of the call (AXI DMA S2MM needs it).
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
enum { CONV_KIND_CONV3X3 = 0, CONV_KIND_DW3X3 = 1, CONV_KIND_PW1X1 = 2 };

/// Error bits of the return value.
enum {
    CONV_ERR_KIND = 1,      ///< unknown kind, stride, padding or output width
    CONV_ERR_SHAPE = 2,     ///< output size does not follow from input + padding
    CONV_ERR_LINEBUF = 4,   ///< padded row does not fit the line buffer
    CONV_ERR_WEIGHTS = 8,   ///< weights of the call do not fit the weight buffer
    CONV_ERR_LANES = 16     ///< n_out outside 1..PE_OUT or cin_groups inconsistent
};

/// \brief Run one call of one convolution layer (see the protocol above).
///
/// \param in, out   AXI4-Stream ports (side-channel packets with TLAST).
/// \param kind      CONV_KIND_*; stride 1 or 2.
/// \param in_h, in_w          real input rows/columns streamed in this call.
/// \param pad_t, pad_b, pad_l, pad_r   zero padding (0 or 1) made on chip.
/// \param out_h, out_w        output size of the call ((padded - k)/stride + 1).
/// \param cin_groups          PE_IN-channel groups per input pixel.
/// \param n_out               output channels of the call (1..PE_OUT).
/// \param in_signed           input is int8 (1) or uint8 (0).
/// \param out_bytes           1 (int8/uint8) or 2 (int16) bytes per result.
/// \param has_skip, skip_signed, skip_mult, skip_shift   fused residual add.
/// \param lo, hi              output clamp.
/// \param psum_in             accumulators start from streamed partial sums (not bias).
/// \param psum_out            write raw accumulators instead of requantised results.
/// \return 0 or CONV_ERR_* bits.
unsigned conv_accel(hls::stream<pkt_t>& in, hls::stream<pkt_t>& out, unsigned kind, unsigned stride,
                    unsigned in_h, unsigned in_w, unsigned pad_t, unsigned pad_b, unsigned pad_l,
                    unsigned pad_r, unsigned out_h, unsigned out_w, unsigned cin_groups, unsigned n_out,
                    unsigned in_signed, unsigned out_bytes, unsigned has_skip, unsigned skip_signed,
                    unsigned skip_mult, unsigned skip_shift, int lo, int hi, unsigned psum_in,
                    unsigned psum_out);

#endif
