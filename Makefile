# pynq-depth: `make` builds the HLS IP and the overlay bitstream for the
# configuration's board (Vitis HLS + Vivado, versions in pynq_depth/hw_config.json).
# Everything is in vivado/Makefile; these targets forward to it with the same
# variables (BOARD, CONFIG, JOBS, HLS_STEPS, PYTHON, VIVADO, VITIS_HLS, TCLSH).
#
#   make                 # hls/build IP, then overlays/pynq_depth_<hw_id>.bit/.hwh
#   make BOARD=zcu104    # pynq-z2 (default), ultra96-v2, zcu104, kv260
#   make dry-run         # the Vivado script under tclsh with stubs (no Vivado needed)
#   make dry-run-all     # ... for every board
#   make hls | bd | config | clean

.PHONY: all hls bd bitstream config dry-run dry-run-all clean
all: bitstream

hls bd bitstream config dry-run dry-run-all clean:
	$(MAKE) -C vivado $@
