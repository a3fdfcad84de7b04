// Minimal AXI-Stream side-channel packet for C simulation WITHOUT Xilinx tools
// (pynq-depth's own, built on Xilinx's ap_int.h found through pynq_depth/hls_types.py).
// Same template and field names as Vitis HLS's ap_axiu<D, U, TI, TD>, so the
// kernel compiles unchanged against the real header.  The kernel sets only data,
// keep, strb and last (user/id/dest are zero-width in its pkt_t).
#ifndef PD_CSIM_AP_AXI_SDATA_H
#define PD_CSIM_AP_AXI_SDATA_H

#include <ap_int.h>

/// \brief One AXI4-Stream beat: data plus TKEEP/TSTRB/TUSER/TLAST/TID/TDEST.
template <int D, int U, int TI, int TD> struct ap_axiu {
    ap_uint<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<U> user;
    ap_uint<1> last;
    ap_uint<TI> id;
    ap_uint<TD> dest;
};

#endif
