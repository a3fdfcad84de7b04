# Processing-system set-up per Zynq family, for build_overlay.tcl (Vivado 2023.1).
#
# The two families name the same things differently (FCLK_CLK0 / pl_clk0,
# M_AXI_GP0 / M_AXI_HPM0_FPD, S_AXI_HP0 / S_AXI_HP0_FPD, ...).  Each family
# proc creates the PS, applies the board preset (DDR, MIO, PS clocks come from
# the board files, never from this script), enables exactly the ports the
# overlay uses, sets the fabric clock, and returns a dict naming them, so the
# rest of the build is family-agnostic:
#
#   cell      the PS cell
#   clk       fabric clock output            resetn   its active-low reset output
#   gp        AXI master for register access gp_aclk  clock input of that master
#   hp        AXI slave the DMA masters use  hp_aclk  clock input of that slave
#   irq       fabric-to-PS interrupt input
#   act_mhz   the clock frequency the PS will actually produce (may be empty)
#
# Everything numeric (clock, port width) is an argument taken from the
# generated config.tcl.

namespace eval ps {}

# Zynq-7000: processing_system7, GP0 master, HP0 slave, FCLK_CLK0.
proc ps::create_zynq7 {vlnv name clock_mhz hp_bits} {
    set cell [create_bd_cell -type ip -vlnv $vlnv $name]
    # The board preset brings DDR and MIO; DDR and FIXED_IO must be external
    # ports or validation fails.  Master/Slave Disable: we wire AXI ourselves.
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $cell
    # Set after the preset: applying a preset would overwrite these.
    set_property -dict [list \
        CONFIG.PCW_USE_M_AXI_GP0 {1} \
        CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH $hp_bits \
        CONFIG.PCW_EN_CLK0_PORT {1} \
        CONFIG.PCW_EN_RST0_PORT {1} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz \
        CONFIG.PCW_USE_FABRIC_INTERRUPT {1} \
        CONFIG.PCW_IRQ_F2P_INTR {1} \
    ] $cell
    return [dict create \
        cell $cell \
        clk [get_bd_pins $cell/FCLK_CLK0] \
        resetn [get_bd_pins $cell/FCLK_RESET0_N] \
        gp [get_bd_intf_pins $cell/M_AXI_GP0] \
        gp_aclk [get_bd_pins $cell/M_AXI_GP0_ACLK] \
        hp [get_bd_intf_pins $cell/S_AXI_HP0] \
        hp_aclk [get_bd_pins $cell/S_AXI_HP0_ACLK] \
        irq [get_bd_pins $cell/IRQ_F2P] \
        act_mhz [get_property -quiet CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ $cell] \
    ]
}

# Zynq UltraScale+ MPSoC: zynq_ultra_ps_e, HPM0_FPD master, HP0_FPD slave, pl_clk0.
proc ps::create_zynqmp {vlnv name clock_mhz hp_bits} {
    set cell [create_bd_cell -type ip -vlnv $vlnv $name]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $cell
    # HP0_FPD (S_AXI_GP2) rather than HPC0: PYNQ buffers are non-coherent and
    # flushed explicitly, so the coherent port would only add latency.
    # Board presets (ZCU104, KV260) enable HPM1_FPD / HPM0_LPD; an enabled but
    # unconnected master has an undriven clock and fails validation, so the
    # unused masters are switched off explicitly.
    set_property -dict [list \
        CONFIG.PSU__USE__M_AXI_GP0 {1} \
        CONFIG.PSU__USE__M_AXI_GP1 {0} \
        CONFIG.PSU__USE__M_AXI_GP2 {0} \
        CONFIG.PSU__USE__S_AXI_GP2 {1} \
        CONFIG.PSU__SAXIGP2__DATA_WIDTH $hp_bits \
        CONFIG.PSU__FPGA_PL0_ENABLE {1} \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz \
        CONFIG.PSU__USE__IRQ0 {1} \
    ] $cell
    return [dict create \
        cell $cell \
        clk [get_bd_pins $cell/pl_clk0] \
        resetn [get_bd_pins $cell/pl_resetn0] \
        gp [get_bd_intf_pins $cell/M_AXI_HPM0_FPD] \
        gp_aclk [get_bd_pins $cell/maxihpm0_fpd_aclk] \
        hp [get_bd_intf_pins $cell/S_AXI_HP0_FPD] \
        hp_aclk [get_bd_pins $cell/saxihp0_fpd_aclk] \
        irq [get_bd_pins $cell/pl_ps_irq0] \
        act_mhz [get_property -quiet CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ $cell] \
    ]
}

# The IP catalogue key of the PS for a family (a key of cfg::IP_VLNV).
proc ps::ip_key {family} {
    switch -- $family {
        zynq7 { return processing_system7 }
        zynqmp { return zynq_ultra_ps_e }
        default { error "unknown PS family '$family' (expected zynq7 or zynqmp)" }
    }
}

# Create the PS of $family; see the header for the returned dict.
proc ps::create {family vlnv name clock_mhz hp_bits} {
    ps::ip_key $family ;# rejects an unknown family before anything is created
    set handles [ps::create_$family $vlnv $name $clock_mhz $hp_bits]
    # act_mhz is informative only (reported, never required).
    foreach key {cell clk resetn gp gp_aclk hp hp_aclk irq} {
        if {[dict get $handles $key] eq ""} {
            error "PS $vlnv has no '$key' after configuration (did the IP version change its pin names?)"
        }
    }
    return $handles
}
