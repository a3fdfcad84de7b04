"""The pynq-depth overlay: bitstream + ``.hwh`` checks and the DMA / kernel IPs it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pynq

from ...config import HwConfig, default_config, load_config
from .dma import AxiDma, _param
from .errors import OverlayError
from .files import overlay_stem
from .ip import ConvAccelIP, accel_driver_class


# ------------------------------------------------------------------ overlay
class DepthOverlay(pynq.Overlay):
    """The pynq-depth overlay; refuses bitstreams built for another configuration.

    Parameters
    ----------
    bitfile : str or Path
        ``pynq_depth_<hw_id>.bit``; its ``.hwh`` must lie beside it.
    config : HwConfig, optional
        The configuration the driver runs (packaged default).
    download : bool
        Program the FPGA (pynq's own ``download``).
    device : pynq.Device, optional
        Device (the active one when omitted).
    """

    def __init__(self, bitfile: str | Path, config: HwConfig | None = None, download: bool = True,
                 device: Any = None) -> None:
        config = config or default_config()
        path = Path(bitfile).resolve()
        check_overlay_files(path, config)
        accel_driver_class(config.vlnv)
        try:
            super().__init__(str(path), download=download, device=device)
        except OverlayError:
            raise
        except Exception as exc:
            raise OverlayError(f"{path}: pynq cannot load this overlay ({type(exc).__name__}: {exc})") from exc
        self.hw_config = config
        self.accel_name, self.dma_name, self.side_dma_name = self._check_hwh(config)

    def _check_hwh(self, config: HwConfig) -> tuple[str, str, str]:
        ips = {name: desc for name, desc in self.ip_dict.items() if isinstance(desc, dict)}
        accel = [n for n, d in ips.items() if d.get("type") == config.vlnv]
        if not accel:
            vendor_lib_name = config.vlnv.rpartition(":")[0]
            other = [f"{n} ({d.get('type')})" for n, d in ips.items() if str(d.get("type", "")).startswith(vendor_lib_name)]
            hint = f"; found {', '.join(other)}: built for another configuration" if other else ""
            raise OverlayError(f"{self.bitfile_name}: no HLS IP {config.vlnv} in the .hwh{hint}")
        dmas = [n for n, d in ips.items() if str(d.get("type", "")).startswith("xilinx.com:ip:axi_dma:")]
        if len(dmas) != 2:
            raise OverlayError(f"{self.bitfile_name}: expected two AXI DMAs in the .hwh (axi_dma: MM2S + S2MM; "
                               f"axi_dma_side: MM2S only, feeding the kernel's side stream), found "
                               f"{dmas or 'none'}: the overlay was built before the side stream; rebuild it")
        s2mm = {n: int(_param(ips[n].get("parameters", {}), "c_include_s2mm", 1)) for n in dmas}
        main = [n for n in dmas if s2mm[n]]
        side = [n for n in dmas if not s2mm[n]]
        if len(main) != 1 or len(side) != 1:
            raise OverlayError(f"{self.bitfile_name}: expected one AXI DMA with S2MM and one MM2S-only DMA (the side "
                               f"stream), found c_include_s2mm {s2mm}")
        for name in dmas:
            params = ips[name].get("parameters", {})
            if int(_param(params, "c_include_sg", 0)) != 0:
                raise OverlayError(f"{name}: scatter-gather is enabled; the driver needs simple mode (c_include_sg=0)")
            if int(_param(params, "c_include_mm2s", 1)) != 1:
                raise OverlayError(f"{name}: has no MM2S channel")
            width = int(_param(params, "c_m_axis_mm2s_tdata_width", config.stream_bits))
            if width != config.stream_bits:
                raise OverlayError(f"{name}: stream width {width} bits, this configuration uses {config.stream_bits}")
        return accel[0], main[0], side[0]

    @property
    def accel(self) -> ConvAccelIP:
        """The bound HLS IP driver (through pynq's attribute lookup)."""
        obj: Any = self
        for part in self.accel_name.split("/"):
            obj = getattr(obj, part)
        if not isinstance(obj, ConvAccelIP):
            raise OverlayError(f"{self.accel_name} is bound to {type(obj).__name__}, not the pynq-depth driver")
        return obj

    def dma(self, side: bool = False) -> AxiDma:
        """The main AXI DMA (or the side one), at register level, with its length-register width from the .hwh."""
        desc = self.ip_dict[self.side_dma_name if side else self.dma_name]
        params = desc.get("parameters", {})
        bits = int(_param(params, "c_sg_length_width", 14))  # Vivado's default when absent
        addr_bits = int(_param(params, "c_addr_width", 32))
        return AxiDma(pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=self.device), bits, addr_bits,
                      has_s2mm=not side, prefix="side " if side else "")


def check_overlay_files(bitfile: Path, config: HwConfig) -> None:
    """File-level checks before pynq parses anything: name, ``.hwh`` beside, ``.json`` identity."""
    if not bitfile.is_file():
        raise OverlayError(f"{bitfile}: bitstream not found")
    expected = overlay_stem(config)
    if bitfile.stem != expected:
        raise OverlayError(f"{bitfile.name} was built for configuration {bitfile.stem.removeprefix('pynq_depth_')}, "
                           f"this driver runs {config.hw_id} (expected {expected}.bit): rebuild the overlay "
                           f"(make -C vivado) or pass the matching --hw configuration")
    hwh = bitfile.with_suffix(".hwh")
    if not hwh.is_file():
        raise OverlayError(f"{hwh}: missing; PYNQ needs the .hwh hardware handoff beside the .bit "
                           f"(copy both from the Vivado build: vivado/build/.../overlays)")
    meta = bitfile.with_suffix(".json")
    if meta.is_file():
        try:
            built = load_config(meta).hw_id
        except Exception as exc:  # noqa: BLE001
            raise OverlayError(f"{meta}: unreadable configuration ({exc})") from None
        if built != config.hw_id:
            raise OverlayError(f"{meta}: the overlay was built for {built}, this driver runs {config.hw_id}")
