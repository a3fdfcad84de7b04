// Minimal arbitrary-width integer types for C simulation WITHOUT Xilinx tools.
//
// Written for pynq-depth; implements only what hls/conv_accel.cpp uses:
// ap_int<W> / ap_uint<W> for 0 <= W <= 64 with wrap-around (two's complement
// modulo 2**W) on every assignment, exact arithmetic through C++ integers and
// the range(hi, lo) bit-slice (read and write).  Under Vitis HLS the real
// <ap_int.h> is found first on the include path and this file is never used.
//
// Why the conversion rules below: a real ap_int product widens (8 x 9 bits ->
// 17 bits), so C++ arithmetic must never be narrower than the real one.
// Values of at most 15 bits convert to `int` (any product of two of them fits
// in 31 bits, and int keeps the host compiler's vectoriser happy); wider values
// convert to `long long`, 64-bit unsigned to `unsigned long long`.
#ifndef PD_CSIM_AP_INT_H
#define PD_CSIM_AP_INT_H

#include <stdint.h>

namespace pd_csim {

template <bool C, class A, class B> struct pick { typedef A type; };
template <class A, class B> struct pick<false, A, B> { typedef B type; };

/// \brief Storage and conversion types of a W-bit integer.
template <int W, bool S> struct traits {
    typedef typename pick<(W <= 8), typename pick<S, int8_t, uint8_t>::type,
            typename pick<(W <= 16), typename pick<S, int16_t, uint16_t>::type,
            typename pick<(W <= 32), typename pick<S, int32_t, uint32_t>::type,
            typename pick<S, int64_t, uint64_t>::type>::type>::type>::type store;
    typedef typename pick<(W <= 15), int,
            typename pick<(W == 64 && !S), unsigned long long, long long>::type>::type conv;
    static const int BITS = (W <= 8) ? 8 : (W <= 16) ? 16 : (W <= 32) ? 32 : 64;

    /// \brief Reduce any integer modulo 2**W (sign-extending when signed).
    static store wrap(unsigned long long x) {
        if (W == 0) return 0;
        if (W == BITS) return (store)x;  // the native type wraps by itself
        const int pad = W >= 1 ? 64 - W : 0;  // W >= 1 here; keeps the shift count in range
        if (S) return (store)((long long)(x << pad) >> pad);
        return (store)(x & (~0ULL >> pad));
    }
};

template <int W, bool S> class ap_base;

/// \brief Proxy for x.range(hi, lo): readable as an unsigned value, assignable.
template <int W, bool S> class range_ref {
  public:
    range_ref(ap_base<W, S>& ref, int hi, int lo) : ref_(ref), hi_(hi), lo_(lo) {}
    /// \brief The selected bits, right-aligned.
    operator unsigned long long() const {
        unsigned long long x = (unsigned long long)ref_.raw();
        int n = hi_ - lo_ + 1;
        x >>= lo_;
        return n >= 64 ? x : (x & ((1ULL << n) - 1));
    }
    /// \brief Overwrite the selected bits with the low bits of v.
    range_ref& operator=(unsigned long long v) {
        int n = hi_ - lo_ + 1;
        unsigned long long mask = (n >= 64 ? ~0ULL : ((1ULL << n) - 1)) << lo_;
        unsigned long long x = (unsigned long long)ref_.raw();
        ref_.set_raw((x & ~mask) | ((v << lo_) & mask));
        return *this;
    }
    range_ref& operator=(const range_ref& o) { return *this = (unsigned long long)o; }

  private:
    ap_base<W, S>& ref_;
    int hi_, lo_;
};

/// \brief Common implementation of ap_int<W> (S = true) and ap_uint<W> (S = false).
template <int W, bool S> class ap_base {
  public:
    typedef traits<W, S> T;
    typedef typename T::store store;
    typedef typename T::conv conv;

    ap_base() : v_(0) {}
    ap_base(int x) : v_(T::wrap((unsigned long long)(long long)x)) {}
    ap_base(unsigned x) : v_(T::wrap(x)) {}
    ap_base(long x) : v_(T::wrap((unsigned long long)(long long)x)) {}
    ap_base(unsigned long x) : v_(T::wrap(x)) {}
    ap_base(long long x) : v_(T::wrap((unsigned long long)x)) {}
    ap_base(unsigned long long x) : v_(T::wrap(x)) {}
    ap_base(bool x) : v_(x ? 1 : 0) {}
    template <int W2, bool S2> ap_base(const ap_base<W2, S2>& o) : v_(T::wrap((unsigned long long)(long long)o.raw())) {}
    template <int W2, bool S2> ap_base(const range_ref<W2, S2>& r) : v_(T::wrap((unsigned long long)r)) {}

    /// \brief Value as a C++ integer (see the file comment for the choice of type).
    operator conv() const { return (conv)v_; }
    store raw() const { return v_; }
    void set_raw(unsigned long long x) { v_ = T::wrap(x); }

    range_ref<W, S> range(int hi, int lo) { return range_ref<W, S>(*this, hi, lo); }
    unsigned long long range(int hi, int lo) const {
        return (unsigned long long)range_ref<W, S>(const_cast<ap_base&>(*this), hi, lo);
    }
    bool operator[](int i) const { return ((unsigned long long)v_ >> i) & 1; }
    int length() const { return W; }

#define PD_CSIM_OP(op)                                                                            \
    template <class X> ap_base& operator op##=(const X& x) {                                    \
        v_ = T::wrap((unsigned long long)((conv)v_ op x));                                      \
        return *this;                                                                           \
    }
    PD_CSIM_OP(+) PD_CSIM_OP(-) PD_CSIM_OP(*) PD_CSIM_OP(&) PD_CSIM_OP(|) PD_CSIM_OP(^)
#undef PD_CSIM_OP
    ap_base& operator++() { return *this += 1; }
    ap_base& operator--() { return *this -= 1; }
    ap_base operator++(int) { ap_base t = *this; *this += 1; return t; }
    ap_base operator--(int) { ap_base t = *this; *this -= 1; return t; }

  private:
    store v_;
};

}  // namespace pd_csim

/// \brief Signed W-bit integer (two's complement, wraps on assignment).
template <int W> class ap_int : public pd_csim::ap_base<W, true> {
  public:
    typedef pd_csim::ap_base<W, true> base;
    ap_int() : base() {}
    template <class X> ap_int(const X& x) : base(x) {}
};

/// \brief Unsigned W-bit integer (wraps modulo 2**W on assignment).
template <int W> class ap_uint : public pd_csim::ap_base<W, false> {
  public:
    typedef pd_csim::ap_base<W, false> base;
    ap_uint() : base() {}
    template <class X> ap_uint(const X& x) : base(x) {}
};

#endif
