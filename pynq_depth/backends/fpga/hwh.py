"""Write a Vivado hardware-handoff (``.hwh``) and a ``.bit`` for a simulated overlay.

The simulated board (:mod:`pynq_depth.backends.fpga.sim`) loads its overlay through
the real ``pynq.Overlay`` and the real ``pynqmetadata`` HWH parser, so it needs
files shaped like the ones ``vivado/build_overlay.tcl`` publishes:

* ``pynq_depth_<hw_id>.hwh``: an ``EDKSYSTEM`` with a Zynq processing system
  whose general-purpose master port maps ``axi_dma_0`` (simple mode, its
  length-register width, stream widths), ``axi_dma_side`` (the same, MM2S only:
  it feeds the kernel's ``side`` input) and the HLS IP ``conv_accel_0`` (its
  VLNV and the register map Vitis HLS emits for ``ap_ctrl_hs`` with a return
  value: ``CTRL`` 0x00, ``GIER`` 0x04, ``IP_IER`` 0x08, ``IP_ISR`` 0x0C,
  ``ap_return`` 0x10, then one 32-bit scalar argument every 8 bytes from 0x18).
* ``pynq_depth_<hw_id>.bit``: a bitstream header (design, part, date, time)
  followed by a small configuration payload; PYNQ parses the header.

Nothing here imports pynq; the file formats are written from their public
descriptions, with only what the PYNQ parsers read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from ...config import HwConfig, default_config
from ...protocol import REGISTERS

#: Register offsets of the HLS block-level control interface (``ap_ctrl_hs``).
CTRL, GIER, IP_IER, IP_ISR, AP_RETURN = 0x00, 0x04, 0x08, 0x0C, 0x10
#: Offset of the first scalar argument and the distance between arguments.
ARG_BASE, ARG_STEP = 0x18, 8

DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
PS7_VLNV = "xilinx.com:ip:processing_system7:5.5"
DMA_BASE = 0x4040_0000
SIDE_DMA_BASE = 0x4041_0000
ACCEL_BASE = 0x43C0_0000
ADDR_RANGE = 0x1_0000


@dataclass
class OverlaySpec:
    """What a generated overlay declares (defaults: exactly the configuration's own).

    Attributes
    ----------
    hw_id : str
        Configuration identity put in the file names (another one simulates a
        bitstream built for another configuration).
    vlnv : str
        VLNV of the HLS IP.
    length_bits : int
        ``c_sg_length_width`` of the AXI DMA (14 is Vivado's default).
    stream_bits : int
        Stream data width of the DMA.
    registers : tuple of str
        Argument registers of the HLS IP, in offset order.
    include_sg : int
        ``c_include_sg`` (the driver needs simple mode, 0).
    accel_name, dma_name : str
        Instance names.
    side_dma_name : str or None
        Instance name of the MM2S-only DMA feeding the kernel's ``side`` stream
        (None: left out, as in an overlay built before the side stream).
    side_s2mm : int
        ``c_include_s2mm`` of that DMA (0; 1 simulates a wrongly built one).
    """

    hw_id: str
    vlnv: str
    length_bits: int
    stream_bits: int
    registers: tuple[str, ...] = REGISTERS
    include_sg: int = 0
    accel_name: str = "conv_accel_0"
    dma_name: str = "axi_dma_0"
    side_dma_name: str | None = "axi_dma_side"
    side_s2mm: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_config(cls, config: HwConfig | None = None, **changes) -> "OverlaySpec":
        """The spec of the overlay ``vivado/build_overlay.tcl`` builds for ``config``."""
        config = config or default_config()
        spec = cls(hw_id=config.hw_id, vlnv=config.vlnv,
                   length_bits=int(config.raw.get("dma", {}).get("buffer_length_bits", 26)),
                   stream_bits=config.stream_bits)
        for key, value in changes.items():
            setattr(spec, key, value)
        return spec


def _sub(parent: ET.Element, tag: str, **attrs: object) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def _params(module: ET.Element, values: dict[str, object]) -> None:
    params = _sub(module, "PARAMETERS")
    for name, value in values.items():
        _sub(params, "PARAMETER", NAME=name, VALUE=value)


def _ports(module: ET.Element, ports: list[tuple[str, str, str]]) -> None:
    """Ports as (name, dir, sigis)."""
    node = _sub(module, "PORTS")
    for name, direction, sigis in ports:
        attrs = {"DIR": direction, "NAME": name}
        if sigis:
            attrs["SIGIS"] = sigis
        _sub(node, "PORT", **attrs)


def _bus(parent: ET.Element, name: str, kind: str, vlnv: str, busname: str, portmaps: list[tuple[str, str]],
         params: dict[str, object] | None = None) -> None:
    bus = _sub(parent, "BUSINTERFACE", BUSNAME=busname, NAME=name, TYPE=kind, VLNV=vlnv)
    for pname, value in (params or {}).items():
        _sub(bus, "PARAMETER", NAME=pname, VALUE=value)
    maps = _sub(bus, "PORTMAPS")
    for logical, physical in portmaps:
        _sub(maps, "PORTMAP", LOGICAL=logical, PHYSICAL=physical)


def _register(parent: ET.Element, name: str, offset: int, description: str, access: str = "read-write",
              fields: list[tuple[str, int, int, str]] = ()) -> None:
    reg = _sub(parent, "REGISTER", NAME=name)
    for pname, value in (("DESCRIPTION", description), ("ADDRESS_OFFSET", offset), ("SIZE", 32),
                         ("ACCESS", access), ("IS_ENABLED", "true"), ("RESET_VALUE", "0x0")):
        _sub(reg, "PROPERTY", NAME=pname, VALUE=value)
    if fields:
        node = _sub(reg, "FIELDS")
        for fname, lsb, width, faccess in fields:
            fld = _sub(node, "FIELD", NAME=fname)
            for pname, value in (("DESCRIPTION", fname), ("ACCESS", faccess), ("BIT_OFFSET", lsb),
                                 ("BIT_WIDTH", width)):
                _sub(fld, "PROPERTY", NAME=pname, VALUE=value)


def _dma_module(modules: ET.Element, spec: OverlaySpec, name: str, base: int, s2mm: int,
                extra: dict) -> None:
    lite = [("ARADDR", "s_axi_lite_araddr"), ("AWADDR", "s_axi_lite_awaddr"), ("RDATA", "s_axi_lite_rdata"),
            ("WDATA", "s_axi_lite_wdata")]
    dma = _sub(modules, "MODULE", FULLNAME=f"/{name}", HWVERSION="7.1", INSTANCE=name,
               IPTYPE="PERIPHERAL", IS_ENABLE="1", MODCLASS="PERIPHERAL", MODTYPE="axi_dma", VLNV=DMA_VLNV)
    _params(dma, {"C_BASEADDR": f"0x{base:08X}", "C_HIGHADDR": f"0x{base + ADDR_RANGE - 1:08X}",
                  "c_include_sg": spec.include_sg, "c_sg_length_width": spec.length_bits,
                  "c_include_mm2s": 1, "c_include_s2mm": s2mm, "c_micro_dma": 0,
                  "c_m_axis_mm2s_tdata_width": spec.stream_bits, "c_s_axis_s2mm_tdata_width": spec.stream_bits,
                  "c_m_axi_mm2s_data_width": 64, "c_m_axi_s2mm_data_width": 64, "c_addr_width": 32,
                  **extra})
    ports = [("s_axi_lite_aclk", "I", "clk"), ("s_axi_lite_araddr", "I", ""), ("s_axi_lite_awaddr", "I", ""),
             ("s_axi_lite_rdata", "O", ""), ("s_axi_lite_wdata", "I", ""), ("mm2s_introut", "O", "INTERRUPT")]
    if s2mm:
        ports.append(("s2mm_introut", "O", "INTERRUPT"))
    _ports(dma, ports)
    buses = _sub(dma, "BUSINTERFACES")
    _bus(buses, "S_AXI_LITE", "SLAVE", "xilinx.com:interface:aximm:1.0", f"ctrl_{name}_S_AXI_LITE", lite)


def hwh_text(spec: OverlaySpec, part: str = "xc7z020clg400-1", clock_mhz: float = 125.0) -> str:
    """The XML text of the hardware handoff described by ``spec``."""
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="Thu Jan  1 00:00:00 2025",
                      VIVADOVERSION="2023.1")
    _sub(root, "SYSTEMINFO", ARCH="zynq", DEVICE=part, NAME="pynq_depth_bd", PACKAGE="clg400",
         SPEEDGRADE="-1")
    _sub(root, "EXTERNALPORTS")
    modules = _sub(root, "MODULES")
    gp = [("ARADDR", "M_AXI_GP0_ARADDR"), ("AWADDR", "M_AXI_GP0_AWADDR"), ("RDATA", "M_AXI_GP0_RDATA"),
          ("WDATA", "M_AXI_GP0_WDATA")]
    lite = lambda prefix: [("ARADDR", f"{prefix}_araddr"), ("AWADDR", f"{prefix}_awaddr"),  # noqa: E731
                           ("RDATA", f"{prefix}_rdata"), ("WDATA", f"{prefix}_wdata")]

    # --- processing system: the master that maps both register files
    ps = _sub(modules, "MODULE", FULLNAME="/processing_system7_0", HWVERSION="5.5",
              INSTANCE="processing_system7_0", IPTYPE="PERIPHERAL", IS_ENABLE="1", MODCLASS="PROCESSOR",
              MODTYPE="processing_system7", VLNV=PS7_VLNV)
    clocks: dict[str, object] = {}
    # Fabric clocks as the Zynq-7000 PS configuration names them.  All are declared disabled:
    # pynq 4.0 reads the achieved frequency of an enabled clock from a ZynqMP parameter that a
    # Zynq-7000 PS lacks (None -> TypeError); disabled clocks are set to pynq's default instead.
    for i in range(4):
        clocks[f"PCW_FPGA_FCLK{i}_ENABLE"] = 0
        clocks[f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ"] = clock_mhz if i == 0 else 100
        clocks[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = 8 if i == 0 else 10
        clocks[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = 1
        clocks[f"PCW_FCLK{i}_PERIPHERAL_CLKSRC"] = "IO PLL"
    _params(ps, {"C_M_AXI_GP0_ENABLE_STATIC_REMAP": 0, "PCW_USE_M_AXI_GP0": 1, "PCW_USE_S_AXI_HP0": 1,
                 **clocks})
    _ports(ps, [("FCLK_CLK0", "O", "clk"), ("M_AXI_GP0_ARADDR", "O", ""), ("M_AXI_GP0_AWADDR", "O", ""),
                ("M_AXI_GP0_RDATA", "I", ""), ("M_AXI_GP0_WDATA", "O", "")])
    buses = _sub(ps, "BUSINTERFACES")
    _bus(buses, "M_AXI_GP0", "MASTER", "xilinx.com:interface:aximm:1.0", "ps_M_AXI_GP0", gp)
    memmap = _sub(ps, "MEMORYMAP")
    slaves = [(spec.dma_name, "S_AXI_LITE", DMA_BASE, "Reg"), (spec.accel_name, "s_axi_control", ACCEL_BASE, "Reg")]
    if spec.side_dma_name:
        slaves.insert(1, (spec.side_dma_name, "S_AXI_LITE", SIDE_DMA_BASE, "Reg"))
    for inst, itf, base, block in slaves:
        _sub(memmap, "MEMRANGE", ADDRESSBLOCK=block, BASENAME="C_BASEADDR", BASEVALUE=f"0x{base:08X}",
             HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{base + ADDR_RANGE - 1:08X}", INSTANCE=inst, IS_DATA="TRUE",
             IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE="M_AXI_GP0", MEMTYPE="REGISTER",
             SLAVEBUSINTERFACE=itf)

    # --- AXI DMAs, simple (register) mode: the main one and the MM2S-only side one
    _dma_module(modules, spec, spec.dma_name, DMA_BASE, 1, spec.extra.get("dma_params", {}))
    if spec.side_dma_name:
        _dma_module(modules, spec, spec.side_dma_name, SIDE_DMA_BASE, spec.side_s2mm,
                    spec.extra.get("side_dma_params", {}))

    # --- the HLS IP with its register map
    vendor, library, name, version = spec.vlnv.split(":")
    accel = _sub(modules, "MODULE", FULLNAME=f"/{spec.accel_name}", HWVERSION=version, INSTANCE=spec.accel_name,
                 IPTYPE="PERIPHERAL", IS_ENABLE="1", MODCLASS="PERIPHERAL", MODTYPE=name, VLNV=spec.vlnv)
    _params(accel, {"C_S_AXI_CONTROL_ADDR_WIDTH": 8, "C_S_AXI_CONTROL_DATA_WIDTH": 32,
                    "C_S_AXI_CONTROL_BASEADDR": f"0x{ACCEL_BASE:08X}",
                    "C_S_AXI_CONTROL_HIGHADDR": f"0x{ACCEL_BASE + ADDR_RANGE - 1:08X}"})
    _ports(accel, [("ap_clk", "I", "clk"), ("s_axi_control_araddr", "I", ""), ("s_axi_control_awaddr", "I", ""),
                   ("s_axi_control_rdata", "O", ""), ("s_axi_control_wdata", "I", ""),
                   ("interrupt", "O", "INTERRUPT")])
    buses = _sub(accel, "BUSINTERFACES")
    _bus(buses, "s_axi_control", "SLAVE", "xilinx.com:interface:aximm:1.0", "ctrl_s_axi_control",
         lite("s_axi_control"))
    blocks = _sub(accel, "ADDRESSBLOCKS")
    block = _sub(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="s_axi_control", NAME="s_axi_control_reg",
                 RANGE=ADDR_RANGE, USAGE="register")
    regs = _sub(block, "REGISTERS")
    _register(regs, "CTRL", CTRL, "Control signals", fields=[
        ("AP_START", 0, 1, "read-write"), ("AP_DONE", 1, 1, "read-only"), ("AP_IDLE", 2, 1, "read-only"),
        ("AP_READY", 3, 1, "read-only"), ("AUTO_RESTART", 7, 1, "read-write")])
    _register(regs, "GIER", GIER, "Global Interrupt Enable Register", fields=[("Enable", 0, 1, "read-write")])
    _register(regs, "IP_IER", IP_IER, "IP Interrupt Enable Register",
              fields=[("CHAN0_INT_EN", 0, 1, "read-write"), ("CHAN1_INT_EN", 1, 1, "read-write")])
    _register(regs, "IP_ISR", IP_ISR, "IP Interrupt Status Register",
              fields=[("CHAN0_INT_ST", 0, 1, "read-write"), ("CHAN1_INT_ST", 1, 1, "read-write")])
    _register(regs, "ap_return", AP_RETURN, "Data signal of ap_return", access="read-only",
              fields=[("ap_return", 0, 32, "read-only")])
    for i, arg in enumerate(spec.registers):
        _register(regs, arg, ARG_BASE + ARG_STEP * i, f"Data signal of {arg}", access="write-only",
                  fields=[(arg, 0, 32, "write-only")])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def bit_bytes(design: str, part: str = "7z020clg400", payload: bytes = b"") -> bytes:
    """A ``.bit`` file: the standard header fields and a configuration payload."""
    def field_(key: bytes, text: str) -> bytes:
        data = text.encode() + b"\0"
        return key + struct.pack(">H", len(data)) + data

    payload = payload or (b"\xff" * 32 + b"\xaa\x99\x55\x66" + b"\x20\x00\x00\x00" * 7)
    payload += b"\0" * (-len(payload) % 4)
    head = struct.pack(">H", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">H", 1)
    head += field_(b"a", f"{design};UserID=0XFFFFFFFF;Version=2023.1") + field_(b"b", part)
    head += field_(b"c", "2025/01/01") + field_(b"d", "00:00:00")
    return head + b"e" + struct.pack(">I", len(payload)) + payload


def write_overlay(directory: str | Path, spec: OverlaySpec, with_hwh: bool = True,
                  config: HwConfig | None = None) -> Path:
    """Write ``pynq_depth_<spec.hw_id>.bit`` (and ``.hwh``) into ``directory``; return the ``.bit`` path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"pynq_depth_{spec.hw_id}"
    part = (config or default_config()).part
    base.with_suffix(".bit").write_bytes(bit_bytes("pynq_depth_bd_wrapper", part.split("-")[0].removeprefix("xc")))
    if with_hwh:
        base.with_suffix(".hwh").write_text(hwh_text(spec, part, (config or default_config()).clock_mhz))
    return base.with_suffix(".bit")
