// Minimal hls::stream for C simulation WITHOUT Xilinx tools (pynq-depth's own;
// the element types come from Xilinx's ap_int.h, see pynq_depth/hls_types.py).
//
// An unbounded FIFO, like Vitis csim's.  A read of an empty stream is where the
// hardware would stall for ever (there is no producer thread in a sequential
// simulation), so it is a hard error: read() throws hls::stream_underflow naming
// the stream, and the caller (hls/csim_api.cpp, hls/tb) reports it.  Vitis csim
// only warns and returns an undefined value, which could let a wrong beat count
// pass as a silently shifted result.
#ifndef PD_CSIM_HLS_STREAM_H
#define PD_CSIM_HLS_STREAM_H

#include <deque>
#include <stdexcept>
#include <string>

namespace hls {

/// \brief Thrown by stream::read() on an empty stream (csim only: the hardware stalls).
class stream_underflow : public std::runtime_error {
  public:
    stream_underflow(const std::string& name, unsigned long reads)
        : std::runtime_error("stream '" + name + "' read while empty after " + std::to_string(reads) + " reads"),
          stream_name(name),
          reads_served(reads) {}
    std::string stream_name;     ///< name given to the stream's constructor
    unsigned long reads_served;  ///< successful reads before the failing one
};

/// \brief FIFO channel between functions (csim stand-in for hls::stream).
template <class T> class stream {
  public:
    stream() : name_("unnamed"), reads_(0) {}
    explicit stream(const char* name) : name_(name ? name : "unnamed"), reads_(0) {}

    /// \brief Pop the oldest element; throws stream_underflow when empty.
    T read() {
        if (q_.empty()) throw stream_underflow(name_, reads_);
        T x = q_.front();
        q_.pop_front();
        ++reads_;
        return x;
    }
    void read(T& x) { x = read(); }
    /// \brief Push an element.
    void write(const T& x) { q_.push_back(x); }
    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    unsigned long size() const { return (unsigned long)q_.size(); }
    stream& operator>>(T& x) {
        x = read();
        return *this;
    }
    stream& operator<<(const T& x) {
        write(x);
        return *this;
    }
    /// \brief The name given to the constructor.
    const std::string& name() const { return name_; }
    /// \brief Successful reads so far.
    unsigned long reads() const { return reads_; }

  private:
    std::string name_;
    unsigned long reads_;
    std::deque<T> q_;
};

}  // namespace hls

#endif
