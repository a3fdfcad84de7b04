# Recording stand-ins for the Vivado Tcl commands build_overlay.tcl uses, so the
# script can run under a plain tclsh (`make dry-run`, host_tests/test_vivado_tcl.py).
#
# Every call is appended to the log (stub::LOG, JSON lines) as
#   {"cmd": NAME, "args": [...], "ret": RESULT}
# and the block-design-relevant effects also as structured events:
#   {"event": "cell",     "name": "/dma", "vlnv": "..."}
#   {"event": "prop",     "obj": "/dma", "key": "CONFIG.c_include_sg", "value": "0"}
#   {"event": "intf_net", "pins": ["/dma/M_AXIS_MM2S", "/conv_accel_0/in_r"]}
#   {"event": "net",      "pins": ["/ps/FCLK_CLK0", "/dma/m_axi_mm2s_aclk", ...]}
#   {"event": "file",     "path": "...", "what": "bitstream placeholder"}
#
# The stubs model just enough of each IP (its pins with NAME/TYPE/DIR, its
# interface pins with MODE/VLNV, a few interface parameters) for the script's
# pin look-ups and filters to behave as in Vivado: an unknown pin gives "", as
# Vivado does, and a command that is not stubbed is an error, so the list here
# is exactly the set of Vivado commands the script depends on.
#
# Knobs (environment variables, for negative tests):
#   STUB_VIVADO_VERSION     what `version -short` says       (default: the configuration's)
#   STUB_NO_BOARD_FILES     1: no board files installed
#   STUB_HLS_TDATA_BYTES    HLS stream width in bytes         (default: configuration stream/8)
#   STUB_HLS_TLAST          HLS output HAS_TLAST              (default 1)
#   STUB_HLS_DISPLAY_NAME   HLS ipdef display name            (default: as run_hls.tcl sets it)
#   STUB_MISSING_IPDEF      a VLNV get_ipdefs does not know
#   STUB_WNS                worst negative slack of impl_1    (default 0.250)
# Placeholder files written by the stubs say in their first line that they are not
# real outputs; the dry run must point OVERLAYS_DIR somewhere disposable.

namespace eval stub {
    variable LOG ""
    variable props      ;# props(obj) -> dict of property -> value
    array set props {}
    variable cells {}   ;# cell path -> vlnv
    variable project {} ;# dict: name dir
    variable bd ""
}

proc stub::env {name default} {
    if {[info exists ::env($name)] && $::env($name) ne ""} { return $::env($name) }
    return $default
}

# ---- JSON lines ----------------------------------------------------------------
proc stub::json_str {s} {
    set out [string map {\\ \\\\ \" \\\" \n \\n \r \\r \t \\t} $s]
    if {[regexp {[\x00-\x1f]} $out]} {
        set clean ""
        foreach c [split $out ""] {
            scan $c %c code
            if {$code < 0x20} { append clean [format \\u%04x $code] } else { append clean $c }
        }
        set out $clean
    }
    return "\"$out\""
}

proc stub::json_list {items} {
    set parts {}
    foreach item $items { lappend parts [stub::json_str $item] }
    return "\[[join $parts ,]\]"
}

proc stub::emit {pairs} {
    variable LOG
    set parts {}
    foreach {key kind value} $pairs {
        switch -- $kind {
            s { lappend parts "[stub::json_str $key]: [stub::json_str $value]" }
            l { lappend parts "[stub::json_str $key]: [stub::json_list $value]" }
        }
    }
    set fh [open $LOG a]
    puts $fh "\{[join $parts {, }]\}"
    close $fh
}

proc stub::record {cmd argv ret} {
    stub::emit [list cmd s $cmd args l $argv ret s $ret]
    return $ret
}

# ---- the IP models -------------------------------------------------------------
# pins: {name type dir ...}; intf: {name mode vlnv-kind ...}
proc stub::model {vlnv} {
    set axis xilinx.com:interface:axis_rtl:1.0
    set aximm xilinx.com:interface:aximm_rtl:1.0
    set ip [join [lrange [split $vlnv :] 0 2] :]
    set hls_vlnv [expr {[info exists ::cfg::HLS_VLNV] ? $::cfg::HLS_VLNV : ""}]
    if {$vlnv eq $hls_vlnv} { set ip hls }
    switch -- $ip {
        xilinx.com:ip:processing_system7 {
            return [list \
                pins {FCLK_CLK0 clk O FCLK_RESET0_N rst O M_AXI_GP0_ACLK clk I S_AXI_HP0_ACLK clk I IRQ_F2P intr I} \
                intf [list M_AXI_GP0 Master $aximm S_AXI_HP0 Slave $aximm \
                          DDR Master xilinx.com:interface:ddrx_rtl:1.0 FIXED_IO Master xilinx.com:display_processing_system7:fixedio_rtl:1.0]]
        }
        xilinx.com:ip:zynq_ultra_ps_e {
            return [list \
                pins {pl_clk0 clk O pl_resetn0 rst O maxihpm0_fpd_aclk clk I saxihp0_fpd_aclk clk I pl_ps_irq0 intr I} \
                intf [list M_AXI_HPM0_FPD Master $aximm S_AXI_HP0_FPD Slave $aximm]]
        }
        xilinx.com:ip:axi_dma {
            # Without the S2MM channel (c_include_s2mm 0) its pins and interfaces do not exist.
            if {[stub::config_of $vlnv c_include_s2mm 1]} {
                return [list \
                    pins {s_axi_lite_aclk clk I m_axi_mm2s_aclk clk I m_axi_s2mm_aclk clk I axi_resetn rst I
                          mm2s_introut intr O s2mm_introut intr O} \
                    intf [list S_AXI_LITE Slave $aximm M_AXI_MM2S Master $aximm M_AXI_S2MM Master $aximm \
                              M_AXIS_MM2S Master $axis S_AXIS_S2MM Slave $axis]]
            }
            return [list \
                pins {s_axi_lite_aclk clk I m_axi_mm2s_aclk clk I axi_resetn rst I mm2s_introut intr O} \
                intf [list S_AXI_LITE Slave $aximm M_AXI_MM2S Master $aximm M_AXIS_MM2S Master $axis]]
        }
        hls {
            # Vitis HLS renames the C++ ports `in`/`out` to in_r/out_r (`side` is kept).
            return [list \
                pins {ap_clk clk I ap_rst_n rst I interrupt intr O} \
                intf [list s_axi_control Slave $aximm in_r Slave $axis side Slave $axis out_r Master $axis]]
        }
        xilinx.com:ip:proc_sys_reset {
            return [list \
                pins {slowest_sync_clk clk I ext_reset_in rst I aux_reset_in rst I mb_debug_sys_rst rst I
                      dcm_locked data I peripheral_aresetn rst O interconnect_aresetn rst O
                      peripheral_reset rst O mb_reset rst O bus_struct_reset rst O} \
                intf {}]
        }
        xilinx.com:ip:smartconnect {
            set intf {}
            for {set i 0} {$i < [stub::config_of $vlnv NUM_SI 1]} {incr i} {
                lappend intf [format S%02d_AXI $i] Slave $aximm
            }
            for {set i 0} {$i < [stub::config_of $vlnv NUM_MI 1]} {incr i} {
                lappend intf [format M%02d_AXI $i] Master $aximm
            }
            return [list pins {aclk clk I aresetn rst I} intf $intf]
        }
        xilinx.com:ip:xlconcat {
            set pins {dout intr O}
            for {set i 0} {$i < [stub::config_of $vlnv NUM_PORTS 2]} {incr i} {
                lappend pins In$i intr I
            }
            return [list pins $pins intf {}]
        }
    }
    error "stub: no model for IP $vlnv"
}

# While a model is built for one cell, stub::current_cell names it, so models
# whose ports depend on parameters (NUM_SI, NUM_PORTS) see that cell's values.
proc stub::config_of {vlnv key default} {
    variable props
    variable current_cell
    if {[info exists props($current_cell)] && [dict exists $props($current_cell) CONFIG.$key]} {
        return [dict get $props($current_cell) CONFIG.$key]
    }
    return $default
}

proc stub::cell_model {cell} {
    variable cells
    variable current_cell $cell
    return [stub::model [dict get $cells $cell]]
}

# All pin objects of all cells: list of {path cell name props-dict}.
proc stub::all_pins {intf_wanted} {
    variable cells
    set result {}
    dict for {cell vlnv} $cells {
        set m [stub::cell_model $cell]
        if {$intf_wanted} {
            foreach {name mode kind} [dict get $m intf] {
                lappend result [list $cell/$name $cell [dict create NAME $name MODE $mode VLNV $kind]]
            }
        } else {
            foreach {name type dir} [dict get $m pins] {
                lappend result [list $cell/$name $cell [dict create NAME $name TYPE $type DIR $dir]]
            }
        }
    }
    return $result
}

# Vivado -filter subset: terms `PROP == v`, `PROP != v`, `PROP =~ glob`, `PROP !~ glob` joined by &&.
proc stub::filter_match {filter props} {
    foreach term [split [string map {&& \x01} $filter] \x01] {
        if {![regexp {^\s*(\w+)\s*(==|!=|=~|!~)\s*"?([^"]*?)"?\s*$} $term -> key op value]} {
            error "stub: cannot parse filter term '$term'"
        }
        set have [expr {[dict exists $props $key] ? [dict get $props $key] : ""}]
        switch -- $op {
            == { if {$have ne $value} { return 0 } }
            != { if {$have eq $value} { return 0 } }
            =~ { if {![string match $value $have]} { return 0 } }
            !~ { if {[string match $value $have]} { return 0 } }
        }
    }
    return 1
}

# get_bd_pins / get_bd_intf_pins: [-quiet] [-of_objects CELL] [-filter F] [PATH...]
proc stub::query_pins {intf argv} {
    set of {}
    set filter {}
    set names {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        set a [lindex $argv $i]
        switch -- $a {
            -quiet {}
            -of_objects { set of [lindex $argv [incr i]] }
            -filter { set filter [lindex $argv [incr i]] }
            default { lappend names $a }
        }
    }
    set found {}
    foreach pin [stub::all_pins $intf] {
        lassign $pin path cell props
        if {[llength $of] && $cell ni $of} { continue }
        if {[llength $names] && [string trimleft $path /] ni [lmap n $names {string trimleft $n /}]} { continue }
        if {$filter ne "" && ![stub::filter_match $filter $props]} { continue }
        lappend found $path
    }
    return $found
}

# ---- commands ------------------------------------------------------------------
proc version {args} {
    set v [stub::env STUB_VIVADO_VERSION $::cfg::VIVADO_VERSION]
    return [stub::record version $args $v]
}

proc create_project {args} {
    # create_project [-force] NAME DIR -part PART
    set words [lsearch -all -inline -not -regexp $args {^-}]
    set part [lindex $args [expr {[lsearch $args -part] + 1}]]
    set stub::project [dict create name [lindex $words 0] dir [lindex $words 1] part $part]
    return [stub::record create_project $args [lindex $words 0]]
}

proc current_project {args} { return [stub::record current_project $args [dict get $stub::project name]] }
proc current_fileset {args} { return [stub::record current_fileset $args sources_1] }

proc get_board_parts {args} {
    set ret ""
    if {[stub::env STUB_NO_BOARD_FILES 0] != 1} {
        # `*:zcu104:part0:*` -> `stub.example:zcu104:part0:1.0`
        set ret [regsub {\*$} [regsub {^\*} [lindex $args end] stub.example] 1.0]
    }
    return [stub::record get_board_parts $args $ret]
}

proc set_property {args} {
    if {[lindex $args 0] eq "-dict"} {
        set pairs [lindex $args 1]
        set objs [lindex $args 2]
    } else {
        set pairs [lrange $args 0 1]
        set objs [lindex $args 2]
    }
    if {[llength $pairs] % 2} { error "stub: set_property with an odd -dict" }
    if {![llength $objs]} { error "stub: set_property on no object" }
    foreach obj $objs {
        if {![info exists stub::props($obj)]} { set stub::props($obj) [dict create] }
        foreach {key value} $pairs {
            dict set stub::props($obj) $key $value
            stub::emit [list event s prop obj s $obj key s $key value s $value]
        }
    }
    return [stub::record set_property $args ""]
}

proc stub::default_property {key obj} {
    switch -glob -- $key {
        CONFIG.TDATA_NUM_BYTES {
            return [stub::env STUB_HLS_TDATA_BYTES [expr {$::cfg::STREAM_BITS / 8}]]
        }
        CONFIG.HAS_TLAST { return [stub::env STUB_HLS_TLAST 1] }
        DISPLAY_NAME { return [stub::env STUB_HLS_DISPLAY_NAME "pynq-depth conv_accel $::cfg::HW_ID"] }
        PROGRESS { return 100% }
        STATUS { return "route_design Complete!" }
        STATS.WNS { return [stub::env STUB_WNS 0.250] }
        STATS.WHS { return 0.020 }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ -
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ {
            # The PS derives the fabric clock from a PLL; echo the request.
            set key [string map {_ACT_FPGA0 _FPGA0 __ACT_FREQMHZ __FREQMHZ} $key]
            if {[info exists stub::props($obj)] && [dict exists $stub::props($obj) $key]} {
                return [dict get $stub::props($obj) $key]
            }
            return ""
        }
    }
    error "stub: get_property $key of $obj is not modelled"
}

proc get_property {args} {
    set args2 [lsearch -all -inline -not -exact $args -quiet]
    lassign $args2 key obj
    if {[info exists stub::props($obj)] && [dict exists $stub::props($obj) $key]} {
        set ret [dict get $stub::props($obj) $key]
    } else {
        set ret [stub::default_property $key $obj]
    }
    return [stub::record get_property $args $ret]
}

proc update_ip_catalog {args} { return [stub::record update_ip_catalog $args ""] }

proc get_ipdefs {args} {
    set vlnv [lindex $args end]
    set ret $vlnv
    if {$vlnv eq [stub::env STUB_MISSING_IPDEF ""]} { set ret "" }
    return [stub::record get_ipdefs $args $ret]
}

proc create_bd_design {args} {
    set stub::bd [lindex $args end]
    return [stub::record create_bd_design $args $stub::bd]
}

proc create_bd_cell {args} {
    # create_bd_cell -type ip -vlnv VLNV NAME
    set vlnv [lindex $args [expr {[lsearch $args -vlnv] + 1}]]
    set cell /[lindex $args end]
    if {[dict exists $stub::cells $cell]} { error "stub: cell $cell created twice" }
    stub::model $vlnv ;# unknown IPs fail here
    dict set stub::cells $cell $vlnv
    stub::emit [list event s cell name s $cell vlnv s $vlnv]
    return [stub::record create_bd_cell $args $cell]
}

proc get_bd_cells {args} {
    set names [lsearch -all -inline -not -regexp $args {^-}]
    set ret [lmap n $names {expr {[dict exists $stub::cells /[string trimleft $n /]] ? "/[string trimleft $n /]" : [continue]}}]
    return [stub::record get_bd_cells $args $ret]
}

proc get_bd_pins {args} { return [stub::record get_bd_pins $args [stub::query_pins 0 $args]] }
proc get_bd_intf_pins {args} { return [stub::record get_bd_intf_pins $args [stub::query_pins 1 $args]] }

proc stub::check_pins_exist {intf pins} {
    set all [lmap p [stub::all_pins $intf] {lindex $p 0}]
    foreach pin $pins {
        if {$pin ni $all} { error "stub: connecting unknown pin '$pin'" }
    }
}

proc connect_bd_intf_net {args} {
    set pins [lsearch -all -inline -not -regexp $args {^-}]
    if {[llength $pins] != 2} { error "stub: connect_bd_intf_net needs two interface pins, got '$pins'" }
    stub::check_pins_exist 1 $pins
    # An interface pin takes one connection in Vivado; a second is an error there too.
    foreach pin $pins {
        if {[info exists ::stub::intf_used($pin)]} { error "stub: interface pin $pin is already connected" }
        set ::stub::intf_used($pin) 1
    }
    stub::emit [list event s intf_net pins l $pins]
    return [stub::record connect_bd_intf_net $args ""]
}

proc connect_bd_net {args} {
    set pins [lsearch -all -inline -not -regexp $args {^-}]
    if {[llength $pins] < 2} { error "stub: connect_bd_net needs at least two pins, got '$pins'" }
    stub::check_pins_exist 0 $pins
    stub::emit [list event s net pins l $pins]
    return [stub::record connect_bd_net $args ""]
}

proc apply_bd_automation {args} { return [stub::record apply_bd_automation $args ""] }
proc assign_bd_address {args} { return [stub::record assign_bd_address $args ""] }
proc validate_bd_design {args} { return [stub::record validate_bd_design $args ""] }
proc save_bd_design {args} { return [stub::record save_bd_design $args ""] }

proc stub::gen_dir {} {
    set name [dict get $stub::project name]
    return [file join [dict get $stub::project dir] $name.gen sources_1 bd $stub::bd]
}

proc get_files {args} {
    return [stub::record get_files $args [file join [dict get $stub::project dir] \
        [dict get $stub::project name].srcs sources_1 bd $stub::bd [lindex $args end]]]
}

proc stub::placeholder {path what} {
    file mkdir [file dirname $path]
    set fh [open $path w]
    puts $fh "DRY-RUN PLACEHOLDER written by vivado/tests/vivado_stubs.tcl - NOT a $what."
    close $fh
    stub::emit [list event s file path s $path what s "$what placeholder"]
}

proc generate_target {args} {
    # In Vivado this writes the IP products and the hardware handoff.
    stub::placeholder [file join [stub::gen_dir] hw_handoff $stub::bd.hwh] "hardware handoff"
    return [stub::record generate_target $args ""]
}

proc make_wrapper {args} {
    return [stub::record make_wrapper $args [file join [stub::gen_dir] hdl ${stub::bd}_wrapper.v]]
}

proc add_files {args} { return [stub::record add_files $args ""] }
proc update_compile_order {args} { return [stub::record update_compile_order $args ""] }
proc launch_runs {args} { return [stub::record launch_runs $args [lsearch -all -inline -not -regexp $args {^-|^\d+$}]] }
proc wait_on_run {args} { return [stub::record wait_on_run $args ""] }
proc get_runs {args} { return [stub::record get_runs $args [lindex $args end]] }
proc open_run {args} { return [stub::record open_run $args [lindex $args end]] }
proc report_utilization {args} { return [stub::record report_utilization $args ""] }
proc report_timing_summary {args} { return [stub::record report_timing_summary $args ""] }

proc write_bitstream {args} {
    set path [lindex $args end]
    stub::placeholder $path bitstream
    return [stub::record write_bitstream $args ""]
}

# A Vivado command the stubs do not know is a test failure, not a silent no-op.
proc unknown {cmd args} {
    catch {stub::record UNSTUBBED [list $cmd {*}$args] ""}
    error "stub: Vivado command '$cmd' is not stubbed (add it to vivado/tests/vivado_stubs.tcl)"
}
