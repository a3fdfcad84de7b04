// C test bench for conv_accel (Vitis HLS csim/cosim, or g++ with hls/csim_include and Xilinx's ap_int.h:
// host_tests/test_hls_csim.py, pynq_depth.backends.csim.include_flags).
//
// Usage: tb_conv_accel VECTOR_DIR [MAX_CASES]
// VECTOR_DIR holds case_NNNN.bin files written by
// `python scripts/hls_tb_vectors.py VECTOR_DIR` (pynq_depth.verify.write_tb_vectors).
// The expected output beats in those files come from the NumPy emulator
// (pynq_depth/arith.py), never from this kernel, so a pass is an independent
// bit-exactness check.  File layout (little-endian):
//   char magic[4] = "PDV2"; int32 n_regs; int32 regs[n_regs];
//   int64 n_in; int64 n_side; int64 n_out; uint64 in[n_in]; uint64 side[n_side];
//   uint64 expected[n_out]
// (`in` feeds the kernel's first input stream, `side` its second: partial sums /
// residual.)  Every output beat is compared, TLAST must be on the last beat
// only, and the kernel must consume exactly n_in and n_side beats.  Exit status 0 = all cases passed.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <exception>
#include <vector>

#include "conv_accel.h"

namespace {

const int N_REGS = CONV_NUM_REGS;  ///< conv_commands.h (pynq_depth/commands.py)

/// \brief Read exactly n bytes or fail.
bool read_exact(FILE* f, void* dst, size_t n) { return fread(dst, 1, n, f) == n; }

/// \brief Run one vector file; return 0 on pass, 1 on mismatch, -1 when the file is absent.
int run_case(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) return -1;
    char magic[4];
    int32_t n_regs = 0;
    int32_t regs[N_REGS];
    int64_t n_in = 0, n_side = 0, n_out = 0;
    bool ok = read_exact(f, magic, 4) && memcmp(magic, "PDV2", 4) == 0 && read_exact(f, &n_regs, 4) &&
              n_regs == N_REGS && read_exact(f, regs, sizeof(regs)) && read_exact(f, &n_in, 8) &&
              read_exact(f, &n_side, 8) && read_exact(f, &n_out, 8) && n_in >= 0 && n_side >= 0 && n_out > 0 &&
              n_in < (1LL << 28) && n_side < (1LL << 28) && n_out < (1LL << 28);
    std::vector<uint64_t> in(ok ? (size_t)n_in : 0), side(ok ? (size_t)n_side : 0),
        expected(ok ? (size_t)n_out : 0);
    ok = ok && read_exact(f, in.data(), in.size() * 8) && read_exact(f, side.data(), side.size() * 8) &&
         read_exact(f, expected.data(), expected.size() * 8);
    fclose(f);
    if (!ok) {
        printf("%s: malformed vector file\n", path);
        return 1;
    }
    hls::stream<pkt_t> sin("tb_in"), sside("tb_side"), sout("tb_out");
    for (int s = 0; s < 2; s++) {
        const std::vector<uint64_t>& beats = s ? side : in;
        for (size_t i = 0; i < beats.size(); i++) {
            pkt_t p;
            p.data = (unsigned long long)beats[i];
            p.keep = -1;
            p.strb = -1;
            p.last = i == beats.size() - 1;
            (s ? sside : sin).write(p);
        }
    }
    const int32_t* r = regs;
    unsigned status = 0;
    try {
        status = conv_accel(sin, sside, sout, CONV_REGISTER_ARGS(r));
    } catch (const std::exception& e) {  // hls/csim_include's stream throws on underflow (hardware: a stall)
        printf("%s: %s (the kernel reads more beats than the vector holds)\n", path, e.what());
        return 1;
    }
    if (status != 0) {
        printf("%s: kernel refused the call, status %u\n", path, status);
        return 1;
    }
    int errors = 0;
    for (int64_t i = 0; i < n_out; i++) {
        if (sout.empty()) {
            printf("%s: output ended after %lld of %lld beats\n", path, (long long)i, (long long)n_out);
            return 1;
        }
        pkt_t p = sout.read();
        uint64_t got = (uint64_t)(unsigned long long)p.data;
        bool last = p.last;
        if (got != expected[i] && errors++ < 5)
            printf("%s: beat %lld: got %016llx expected %016llx\n", path, (long long)i, (unsigned long long)got,
                   (unsigned long long)expected[i]);
        if (last != (i == n_out - 1) && errors++ < 5) printf("%s: TLAST wrong on beat %lld\n", path, (long long)i);
    }
    if (!sout.empty()) {
        printf("%s: more than %lld output beats\n", path, (long long)n_out);
        errors++;
    }
    if (!sin.empty() || !sside.empty()) {
        printf("%s: %lu input and %lu side beats left unread\n", path, (unsigned long)sin.size(),
               (unsigned long)sside.size());
        errors++;
    }
    return errors ? 1 : 0;
}

}  // namespace

/// \brief Run every case_NNNN.bin of the vector folder (up to MAX_CASES).
int main(int argc, char** argv) {
    if (argc < 2) {
        printf("usage: %s VECTOR_DIR [MAX_CASES]\n", argv[0]);
        return 2;
    }
    long max_cases = argc > 2 ? atol(argv[2]) : 1000000;
    int passed = 0, failed = 0;
    for (long i = 0; i < max_cases; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/case_%04ld.bin", argv[1], i);
        int rc = run_case(path);
        if (rc < 0) break;
        if (rc == 0) passed++; else failed++;
    }
    printf("tb_conv_accel: %d passed, %d failed\n", passed, failed);
    if (passed + failed == 0) {
        printf("no vectors found in %s (run scripts/hls_tb_vectors.py)\n", argv[1]);
        return 2;
    }
    return failed ? 1 : 0;
}
