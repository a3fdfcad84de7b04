// C ABI around conv_accel for the Python csim backend (pynq_depth/backends/csim.py).
// Not synthesised: it plays the part of the AXI DMA engines, turning arrays of
// 64-bit beats into AXI-Stream packets and back, and reports protocol errors
// (beats left unread, a read of an empty stream, TLAST position) so that a
// wrong beat count is a test failure, not a silently shifted result.  A read of
// an empty stream aborts the call (hls::stream_underflow, csim_include/hls_stream.h):
// the hardware would stall there.
#include <stdint.h>

#include <string>

#include "conv_accel.h"

namespace {
/// \brief Text of the last underflow of this thread's calls (the csim backend calls from several threads).
std::string& last_error() {
    static thread_local std::string text;
    return text;
}
}  // namespace

extern "C" {

/// \brief Text of the stream underflow that stopped this thread's last pd_conv_call ("" when none).
const char* pd_last_error() { return last_error().c_str(); }

/// \brief Identity of the configuration this library was compiled for.
const char* pd_hw_id() { return CONV_HW_ID; }

/// \brief Compile-time geometry: PE_IN, PE_OUT, BEAT_BITS, WBUF_WORDS, LB_ROW_WORDS, LB_ROWS.
void pd_geometry(int* out) {
    out[0] = CONV_PE_IN;
    out[1] = CONV_PE_OUT;
    out[2] = CONV_BEAT_BITS;
    out[3] = CONV_WBUF_WORDS;
    out[4] = CONV_LB_ROW_WORDS;
    out[5] = CONV_LB_ROWS;
}

/// \brief Run one kernel call on beat arrays.
///
/// \param in        beats of the `in` stream (n_in of them); TLAST is set on the last, as a DMA would.
/// \param side      beats of the `side` stream (n_side of them; partial sums / residual).
/// \param out       room for out_cap output beats.
/// \param regs      CONV_NUM_REGS register values (conv_commands.h, pynq_depth.commands.REGISTERS order).
/// \param info      out: [0] output beats produced, [1] input beats left unread,
///                  [2] 1 if the call stopped on a read of the empty `in` stream, [3] index of the first
///                  output beat with TLAST (-1 if none), [4] beats with TLAST,
///                  [5] output beats dropped because out_cap was too small,
///                  [6] side beats left unread, [7] 1 if the call stopped on a read of the empty `side`
///                  stream (the call was abandoned there; text: pd_last_error()).
/// \return the kernel's return value (0 or CONV_ERR_* bits; 0 after an underflow).
static void fill(hls::stream<pkt_t>& s, const uint64_t* beats, long n) {
    for (long i = 0; i < n; i++) {
        pkt_t p;
        p.data = (unsigned long long)beats[i];
        p.keep = -1;
        p.strb = -1;
        p.last = i == n - 1;
        s.write(p);
    }
}

int pd_conv_call(const uint64_t* in, long n_in, const uint64_t* side, long n_side, uint64_t* out, long out_cap,
                 const int* regs, long* info) {
    hls::stream<pkt_t> sin("in"), sside("side"), sout("out");
    fill(sin, in, n_in);
    fill(sside, side, n_side);
    const int* r = regs;
    int status = 0;
    long under_in = 0, under_side = 0;
    last_error().clear();
    try {
        status = (int)conv_accel(sin, sside, sout, CONV_REGISTER_ARGS(r));
    } catch (const hls::stream_underflow& e) {
        // The hardware would stall here: the call stops, the caller decides (csim backend:
        // ProtocolError naming the layer and the stream; simulated board: wait for more data).
        (e.stream_name == "side" ? under_side : under_in) = 1;
        last_error() = e.what();
    }
    long produced = 0, first_last = -1, n_last = 0, dropped = 0;
    while (!sout.empty()) {
        pkt_t p = sout.read();
        if (p.last) {
            if (first_last < 0) first_last = produced;
            n_last++;
        }
        if (produced < out_cap) {
            out[produced] = (uint64_t)(unsigned long long)p.data;
        } else {
            dropped++;
        }
        produced++;
    }
    info[0] = produced;
    info[1] = (long)sin.size();
    info[2] = under_in;
    info[3] = first_last;
    info[4] = n_last;
    info[5] = dropped;
    info[6] = (long)sside.size();
    info[7] = under_side;
    return status;
}

}  // extern "C"
