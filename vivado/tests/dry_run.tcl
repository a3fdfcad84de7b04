# Run build_overlay.tcl under a plain tclsh with the recording Vivado stubs.
#
#   tclsh vivado/tests/dry_run.tcl LOG.jsonl CONFIG_TCL [build_overlay options...]
#
# LOG.jsonl receives one JSON object per stubbed call / block-design event (see
# vivado_stubs.tcl).  CONFIG_TCL must point IP_REPO and OVERLAYS_DIR at
# disposable directories: the stubs write clearly marked placeholder files
# there, never a real bitstream.  Exit status 0 means the script completed.
if {[llength $argv] < 2} {
    puts stderr "usage: tclsh dry_run.tcl LOG.jsonl CONFIG_TCL \[build_overlay options...\]"
    exit 2
}
set here [file dirname [file normalize [info script]]]
source [file join $here vivado_stubs.tcl]
set stub::LOG [file normalize [lindex $argv 0]]
close [open $stub::LOG w]

set argv [lrange $argv 1 end]
set argc [llength $argv]
if {[catch {source [file join [file dirname $here] build_overlay.tcl]} msg]} {
    puts stderr "dry run failed: $msg"
    exit 1
}
puts "dry run completed; calls logged to $stub::LOG"
exit 0
