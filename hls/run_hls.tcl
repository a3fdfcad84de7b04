# Vitis HLS 2023.1 build of the pynq-depth convolution accelerator.
#
#   python -m pynq_depth.codegen hls/build/                 # conv_config.h/.tcl + conv_commands.h
#   python scripts/hls_tb_vectors.py hls/build/vectors      # test-bench vectors (emulator arithmetic)
#   cd hls && vitis_hls -f run_hls.tcl                      # csim, csynth, cosim, export
#   cd hls && vitis_hls -f run_hls.tcl -tclargs csim csynth # only some steps
#
# Part, clock and the IP's VLNV come from build/conv_config.tcl, generated from
# pynq_depth/hw_config.json: nothing about the target is typed here.
set here [file dirname [file normalize [info script]]]
set build $here/build
if {![file exists $build/conv_config.tcl]} {
    error "run `python -m pynq_depth.codegen hls/build/` first"
}
source $build/conv_config.tcl

set steps $argv
if {[llength $steps] == 0} {
    set steps {csim csynth cosim export}
}
set vectors $build/vectors
# Cosimulation is RTL-slow: a few calls are enough to prove the interfaces.
set cosim_cases 6

set cflags "-std=c++14 -I$build -I$here"
open_project -reset $build/conv_accel_prj
set_top conv_accel
add_files $here/conv_accel.cpp -cflags $cflags
add_files -tb $here/tb/tb_conv_accel.cpp -cflags $cflags
open_solution -reset sol1 -flow_target vivado
set_part $CONV_PART
create_clock -period $CONV_CLOCK_PERIOD_NS -name default
config_export -format ip_catalog -vendor $CONV_IP_VENDOR -library $CONV_IP_LIBRARY \
    -ipname $CONV_IP_NAME -version $CONV_IP_VERSION -display_name "pynq-depth conv_accel $CONV_HW_ID"

if {[lsearch $steps csim] >= 0} {
    csim_design -argv $vectors
}
if {[lsearch $steps csynth] >= 0} {
    csynth_design
}
if {[lsearch $steps cosim] >= 0} {
    cosim_design -argv "$vectors $cosim_cases" -trace_level none
}
if {[lsearch $steps export] >= 0} {
    export_design -format ip_catalog -vendor $CONV_IP_VENDOR -library $CONV_IP_LIBRARY \
        -ipname $CONV_IP_NAME -version $CONV_IP_VERSION \
        -description "pynq-depth int8 streaming convolution accelerator ($CONV_HW_ID)" \
        -output $build/ip/${CONV_IP_NAME}_${CONV_HW_ID}.zip
}
exit
