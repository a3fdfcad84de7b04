"""The accelerator's command format, defined once: registers, layer-kind codes, error bits.

One kernel call is configured through the AXI-Lite arguments of ``conv_accel``
(``hls/conv_accel.h``), listed here in argument order with the width and
signedness of the value the kernel uses.  Everything else derives from this
module: :mod:`pynq_depth.protocol` (``REGISTERS``, ``KIND_CODES``,
``KERNEL_ERRORS``), the board driver's register-map check, and the C++ header
``conv_commands.h`` that :func:`commands_header` writes (through
``python -m pynq_depth.codegen``) for the kernel, ``hls/csim_api.cpp`` and the
test bench.  ``host_tests/test_hls_sources.py`` proves the kernel's hand-written
top signature equals this list.

Every argument is a 32-bit AXI-Lite register (``unsigned``, or ``int`` when
signed); :attr:`Register.bits` is the width of the values a valid command holds.
The kernel refuses a call with a wider value before anything else
(``CONV_ERR_RANGE``), so that its datapath and control products can be narrow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    """One AXI-Lite argument of ``conv_accel``.

    Attributes
    ----------
    name : str
        Argument name in the C++ top function (and in the ``.hwh`` register map).
    bits : int
        Width of the values a valid command holds.
    signed : bool
        Two's complement (C type ``int``) or unsigned (``unsigned``).
    doc : str
        Meaning, one line.
    """

    name: str
    bits: int
    signed: bool
    doc: str

    @property
    def c_type(self) -> str:
        """C type of the argument (a 32-bit AXI-Lite register)."""
        return "int" if self.signed else "unsigned"

    @property
    def lo(self) -> int:
        """Smallest value of :attr:`bits`."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        """Largest value of :attr:`bits`."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


@dataclass(frozen=True)
class ErrorBit:
    """One bit of the kernel's return value (the call was refused: nothing read or written)."""

    name: str
    bit: int
    text: str
    doc: str


#: The kernel's register arguments, in argument order (= ``pd_conv_call``'s array and the AXI-Lite map order).
REGISTER_SPECS: tuple[Register, ...] = (
    Register("kind", 2, False, "layer kind (CONV_KIND_*)"),
    Register("stride", 2, False, "1 or 2 (resize: 1)"),
    Register("in_h", 16, False, "real input rows streamed in this call"),
    Register("in_w", 16, False, "real input columns (<= CONV_MAX_WIDTH)"),
    Register("pad_t", 1, False, "zero rows above, made on chip"),
    Register("pad_b", 1, False, "zero rows below"),
    Register("pad_l", 1, False, "zero columns left"),
    Register("pad_r", 1, False, "zero columns right"),
    Register("out_h", 16, False, "output rows ((padded - k) / stride + 1)"),
    Register("out_w", 16, False, "output columns"),
    Register("cin_groups", 16, False, "PE_IN-channel groups per input pixel"),
    Register("n_out", 16, False, "output channels of the call (1..CONV_MAX_OUT)"),
    Register("in_signed", 1, False, "input is int8 (1) or uint8 (0)"),
    Register("out_bytes", 2, False, "bytes per result: 1 (int8/uint8) or 2 (int16)"),
    Register("has_skip", 1, False, "fused residual add"),
    Register("skip_signed", 1, False, "residual is int8 (1) or uint8 (0)"),
    Register("skip_mult", 16, False, "residual multiplier (< 2**15, the requantisation multipliers' width)"),
    Register("skip_shift", 6, False, "residual shift (1..46)"),
    Register("lo", 16, True, "output clamp, low (int8/uint8/int16 range)"),
    Register("hi", 16, True, "output clamp, high"),
    Register("psum_in", 1, False, "accumulators start from streamed partial sums (not bias)"),
    Register("psum_out", 1, False, "write raw int32 accumulators instead of requantised results"),
    Register("cat_groups", 16, False, "0, or channel groups of a concat's first part (the rest on `side`)"),
    Register("in_rgb", 1, False, "input rows are the raw RGB frame, quantised on chip"),
)
#: Register names in argument order.
REGISTERS: tuple[str, ...] = tuple(r.name for r in REGISTER_SPECS)
#: Register by name.
REGISTER_BY_NAME: dict[str, Register] = {r.name: r for r in REGISTER_SPECS}

#: Layer-kind codes (register ``kind``); C names ``CONV_KIND_<NAME>``.
KIND_CODES: dict[str, int] = {"conv3x3": 0, "dw3x3": 1, "pw1x1": 2, "resize": 3}

#: Error bits of the kernel's return value; C names ``CONV_ERR_<NAME>``.
ERROR_BITS: tuple[ErrorBit, ...] = (
    ErrorBit("KIND", 1, "kind/stride/padding", "unknown kind, stride, padding or output width"),
    ErrorBit("SHAPE", 2, "shape", "output size does not follow from input + padding"),
    ErrorBit("LINEBUF", 4, "line buffer overflow", "padded row does not fit the line buffer"),
    ErrorBit("WEIGHTS", 8, "weight buffer overflow", "weights of the call do not fit the weight buffer"),
    ErrorBit("LANES", 16, "lane count", "n_out outside 1..CONV_MAX_OUT or cin_groups inconsistent"),
    ErrorBit("RANGE", 32, "register out of range", "a register holds more bits than its width (checked first, alone)"),
)
#: Error bit -> text (what :class:`~pynq_depth.protocol.ProtocolError` messages say).
KERNEL_ERRORS: dict[int, str] = {e.bit: e.text for e in ERROR_BITS}


def check_registers(regs: dict[str, int]) -> list[str]:
    """Names of the registers of ``regs`` whose value lies outside its :attr:`Register.bits`."""
    return [r.name for r in REGISTER_SPECS if not r.lo <= int(regs[r.name]) <= r.hi]


def top_parameters() -> list[tuple[str, str]]:
    """(C type, name) of the kernel's register arguments, in order."""
    return [(r.c_type, r.name) for r in REGISTER_SPECS]


def commands_header() -> str:
    """Text of ``conv_commands.h``: register indices and widths, kind codes, error bits, call macros."""
    width = max(len(r.name) for r in REGISTER_SPECS)
    lines = [
        "// Generated by `python -m pynq_depth.codegen` from pynq_depth/commands.py - do not edit, do not commit.",
        "// The command format of conv_accel: its AXI-Lite register arguments in order, layer kinds, error bits.",
        "#ifndef CONV_COMMANDS_H",
        "#define CONV_COMMANDS_H",
        "",
        "/// Register arguments of conv_accel (32-bit AXI-Lite registers; pd_conv_call's int array order).",
        f"#define CONV_NUM_REGS {len(REGISTER_SPECS)}",
    ]
    for i, r in enumerate(REGISTER_SPECS):
        lines.append(f"#define CONV_REG_{r.name.upper():<{width}} {i:2d}  ///< {r.doc}")
    lines.append("/// Width of the values a valid command holds in each register (signed: lo, hi).")
    for r in REGISTER_SPECS:
        lines.append(f"#define CONV_REG_BITS_{r.name.upper():<{width}} {r.bits}")
    lines += ["", "/// Layer kinds (register `kind`).", "enum {"]
    lines += [f"    CONV_KIND_{name.upper()} = {code}," for name, code in KIND_CODES.items()]
    lines += ["};", "", "/// Error bits of the return value (the call was refused: no beat read or written).", "enum {"]
    lines += [f"    CONV_ERR_{e.name} = {e.bit},  ///< {e.doc}" for e in ERROR_BITS]
    lines += ["};", ""]
    checks = " || ".join(f"({r.name} < {r.lo} || {r.name} > {r.hi})" if r.signed else f"({r.name} >> {r.bits}) != 0"
                         for r in REGISTER_SPECS)
    lines += [
        "/// True when a register argument of conv_accel holds more bits than its width (then CONV_ERR_RANGE).",
        f"#define CONV_REGISTERS_OUT_OF_RANGE ({checks})",
        "",
    ]
    types = ", ".join(r.c_type for r in REGISTER_SPECS)
    args = ", ".join(f"({r.c_type})(r)[CONV_REG_{r.name.upper()}]" for r in REGISTER_SPECS)
    lines += [
        "/// C types of the register arguments, in order (conv_accel.h checks the top signature against it).",
        f"#define CONV_REGISTER_TYPES {types}",
        "/// The register arguments of one call from an int array r[CONV_NUM_REGS] (csim_api.cpp, the test bench).",
        f"#define CONV_REGISTER_ARGS(r) {args}",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)
