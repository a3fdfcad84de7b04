// Minimal hls::stream for C simulation WITHOUT Xilinx tools (pynq-depth).
//
// An unbounded FIFO, like Vitis csim's.  Reading an empty stream does not
// block (there is no producer thread in a sequential simulation): it returns a
// default value and counts an underflow, so that the csim wrapper can report a
// protocol error (the hardware would stall on the same input) instead of
// crashing.
#ifndef PD_CSIM_HLS_STREAM_H
#define PD_CSIM_HLS_STREAM_H

#include <deque>

namespace hls {

/// \brief FIFO channel between functions (csim stand-in for hls::stream).
template <class T> class stream {
  public:
    stream() : underflows(0) {}
    explicit stream(const char*) : underflows(0) {}

    /// \brief Pop the oldest element (a default one, counted, when empty).
    T read() {
        if (q_.empty()) {
            ++underflows;
            return T();
        }
        T x = q_.front();
        q_.pop_front();
        return x;
    }
    void read(T& x) { x = read(); }
    /// \brief Push an element.
    void write(const T& x) { q_.push_back(x); }
    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    unsigned long size() const { return (unsigned long)q_.size(); }
    stream& operator>>(T& x) { x = read(); return *this; }
    stream& operator<<(const T& x) { write(x); return *this; }

    /// Number of reads that found the stream empty.
    unsigned long underflows;

  private:
    std::deque<T> q_;
};

}  // namespace hls

#endif
