"""C-simulation backend: the HLS kernel's own C++, compiled with g++ and run through ctypes.

``hls/conv_accel.cpp`` is compiled against Xilinx's own arbitrary-precision
integers (``ap_int.h`` from the hls4ml wheel, :mod:`pynq_depth.hls_types`) and
the project's minimal ``hls::stream`` / ``ap_axiu`` in ``hls/csim_include/``,
together with ``hls/csim_api.cpp`` (a C ABI that plays the DMA engines) and the
``conv_config.h`` / ``conv_commands.h`` generated from the configuration and the command format (the
sources are found by :func:`hls_dir`: the checkout's ``hls/`` or, installed, the package's
``pynq_depth/hls/``).  The shared library is cached under ``~/.cache/pynq-depth/csim/<hash>/`` (or
``$PYNQ_DEPTH_CACHE/csim``), never beside the sources, keyed by the sources, the Xilinx headers, the
configuration, the compiler and the flags, so it is rebuilt whenever any of
them changes.  The compile command, with its include path, is written to
``build.log`` beside the library (and printed with ``verbose=True``).

Every layer is run through exactly the protocol of :mod:`pynq_depth.protocol`
that the board driver uses: the same tiling plan, register values, 64-bit
beats, beat counts and TLAST position; any deviation (a beat left unread, a
read past the end, TLAST misplaced) raises :class:`~pynq_depth.protocol.ProtocolError`.
A read of an empty stream stops the call at once (the hardware would stall
there) and the error names the layer and the stream.

With ``sanitize=True`` the library is built with
``-fsanitize=address,undefined`` (separate cache entry).  AddressSanitizer
must be the first library of the process: run Python with
``LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from .. import hls_types, protocol
from ..codegen import commands_header, config_header
from ..config import HwConfig
from ..program import NUMPY_DTYPES, ConvCmd, HostCmd, Program
from .base import BackendError, check_frame
from .kernel import KernelBackend

#: Compiler flags of the simulation library (the brief's ``-O2 -fPIC -shared``).
BASE_FLAGS = ("-O2", "-fPIC", "-shared", "-std=c++14", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-label")
#: AddressSanitizer + UBSan.  ``shift-base`` is left out: Xilinx's ``etc/ap_private.h`` sign-extends with
#: ``((int64_t)VAL << k) >> k`` on negative values (defined from C++20, and what GCC does in C++14 too), so
#: UBSan would stop in the vendor header on the first negative ``ap_int``; shift-exponent checks stay on.
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize=shift-base", "-fno-omit-frame-pointer",
                  "-fno-sanitize-recover=undefined")
_SOURCES = ("conv_accel.cpp", "csim_api.cpp")
_HEADERS = ("conv_accel.h", "csim_include/hls_stream.h", "csim_include/ap_axi_sdata.h")
#: Name of the build log written beside the cached library.
BUILD_LOG = "build.log"
_BUILD_LOCK = threading.Lock()


class BuildError(BackendError):
    """The C++ simulation library could not be compiled."""


#: Where a built wheel carries the HLS sources (``setup.py`` copies ``hls/`` there).
PACKAGED_HLS_DIR = Path(__file__).resolve().parents[1] / "hls"
#: The HLS sources of a checkout (also what an editable install uses).
CHECKOUT_HLS_DIR = Path(__file__).resolve().parents[2] / "hls"


def hls_dir() -> Path:
    """Folder of the HLS sources, read-only: ``$PYNQ_DEPTH_HLS_DIR``, else the installed package's
    ``pynq_depth/hls/``, else the checkout's ``hls/``.

    Every user of the C++ sources (this backend, the simulated board, the test
    bench script, the tests) finds them here; nothing is ever written into
    this folder (builds go to :func:`cache_root`).
    """
    env = os.environ.get("PYNQ_DEPTH_HLS_DIR")
    if env:
        return Path(env)
    if (PACKAGED_HLS_DIR / _SOURCES[0]).is_file():
        return PACKAGED_HLS_DIR
    return CHECKOUT_HLS_DIR


def cache_root() -> Path:
    """Root of the csim build cache."""
    env = os.environ.get("PYNQ_DEPTH_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pynq-depth"
    return base / "csim"


def find_compiler() -> str:
    """The C++ compiler (`$CXX`, default g++); :class:`BuildError` when it is not on the PATH."""
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError(f"C++ compiler {cxx!r} not found (set CXX)")
    return cxx


def ap_types_dir() -> Path:
    """Xilinx's ``ap_int.h`` folder (:func:`pynq_depth.hls_types.ap_types_dir`), as a :class:`BuildError`."""
    try:
        return hls_types.ap_types_dir()
    except hls_types.ApTypesMissing as exc:
        raise BuildError(str(exc)) from None


def include_flags(generated: str | Path, src: Path | None = None) -> list[str]:
    """Include path of every C++ build of the kernel (library, test bench, ``-Werror`` check).

    ``hls/csim_include`` (the project's ``hls_stream.h`` / ``ap_axi_sdata.h``) comes first, so
    that hls4ml's own ``hls_stream.h`` (not Apache-licensed) is never picked; Xilinx's
    ``ap_int.h`` folder is a system directory (``-isystem``: its own warnings are not ours);
    then the folder of the generated headers and ``hls/``.
    """
    src = src or hls_dir()
    return ["-I", str(src / "csim_include"), "-isystem", str(ap_types_dir()), "-I", str(generated), "-I", str(src)]


def build_library(config: HwConfig, sanitize: bool = False, extra_flags: tuple[str, ...] = (),
                  verbose: bool = False) -> Path:
    """Compile (or find in the cache) the simulation library for a configuration.

    Returns
    -------
    Path
        The shared library.

    Raises
    ------
    BuildError
        With the compiler's output when compilation fails.
    """
    src = hls_dir()
    cxx = find_compiler()
    flags = BASE_FLAGS + (SANITIZE_FLAGS if sanitize else ()) + tuple(extra_flags)
    header = config_header(config)
    cmd_header = commands_header()
    digest = hashlib.sha256()
    for name in _SOURCES + _HEADERS:
        path = src / name
        if not path.is_file():
            raise BuildError(f"HLS source {path} missing: reinstall pynq-depth (the wheel ships them as "
                             f"pynq_depth/hls/) or set PYNQ_DEPTH_HLS_DIR to the hls/ folder of a checkout")
        digest.update(name.encode() + b"\0" + path.read_bytes())
    ap_dir = ap_types_dir()
    for path in hls_types.header_files(ap_dir):
        digest.update(str(path.relative_to(ap_dir)).encode() + b"\0" + path.read_bytes())
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    digest.update(header.encode() + cmd_header.encode() + repr((cxx, version, flags, str(ap_dir))).encode())
    out_dir = cache_root() / digest.hexdigest()[:16]
    lib = out_dir / "libconv_csim.so"
    with _BUILD_LOCK:
        if lib.is_file():
            return lib
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "conv_config.h").write_text(header)
            (out_dir / "conv_commands.h").write_text(cmd_header)
            fd, tmp = tempfile.mkstemp(prefix=".lib", suffix=".so", dir=out_dir)
        except OSError as exc:
            raise BuildError(f"cannot write the csim build cache {out_dir} ({exc.strerror or exc}); "
                             f"set PYNQ_DEPTH_CACHE to a writable folder") from None
        os.close(fd)
        cmd = [cxx, *flags, *include_flags(out_dir, src), *(str(src / s) for s in _SOURCES), "-o", tmp]
        if verbose:
            print(f"Xilinx ap_int.h from {ap_dir}")
            print(" ".join(cmd))
        result = subprocess.run(cmd, capture_output=True, text=True)
        (out_dir / BUILD_LOG).write_text(f"# Xilinx ap_int.h from {ap_dir}\n{' '.join(cmd)}\n"
                                         f"# exit status {result.returncode}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            Path(tmp).unlink(missing_ok=True)
            errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()
            first = errors[0].strip() if errors else f"exit status {result.returncode}"
            raise BuildError(f"compiling the csim library from {src} failed ({first}); check the HLS sources "
                             f"and the compiler (CXX)\n{' '.join(cmd)}\n{result.stderr}")
        os.replace(tmp, lib)  # atomic: a concurrent builder never sees a half-written library
    return lib


class CsimBackend(KernelBackend):
    """Runs convolutions through the compiled HLS C++ (bit-exact C simulation).

    Parameters
    ----------
    config : HwConfig, optional
        Accelerator configuration (packaged default).
    sanitize : bool
        Build with ``-fsanitize=address,undefined`` (see the module notes).
    threads : int, optional
        Independent kernel calls run concurrently on this many threads (the
        library call releases the GIL); ``os.cpu_count()`` capped at 4 by default.
    extra_flags : tuple of str
        More compiler flags (part of the cache key).
    """

    name = "csim"

    def __init__(self, config: HwConfig | None = None, sanitize: bool = False, threads: int | None = None,
                 extra_flags: tuple[str, ...] = ()) -> None:
        super().__init__(config)
        self.sanitize = sanitize
        self.extra_flags = tuple(extra_flags)
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._lib: ctypes.CDLL | None = None
        #: Kernel calls made (for benchmarks).
        self.calls = 0
        self._prepared: dict[tuple, protocol.PreparedLayer] = {}
        self._prep_lock = threading.Lock()

    # ------------------------------------------------------------ library
    @property
    def library(self) -> ctypes.CDLL:
        """The loaded simulation library (built on first use)."""
        if self._lib is None:
            path = build_library(self.config, self.sanitize, self.extra_flags)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise BuildError(f"cannot load the csim library {path} ({exc}); delete {path.parent} "
                                 f"so that it is rebuilt") from None
            lib.pd_conv_call.restype = ctypes.c_int
            lib.pd_conv_call.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long,
                                         ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
            lib.pd_hw_id.restype = ctypes.c_char_p
            lib.pd_last_error.restype = ctypes.c_char_p
            lib.pd_last_error.argtypes = []
            hw_id = lib.pd_hw_id().decode()
            if hw_id != self.config.hw_id:
                raise BuildError(f"{path} was built for {hw_id}, expected {self.config.hw_id}")
            self._lib = lib
        return self._lib

    def call_kernel(self, regs: dict[str, int], stream: np.ndarray, n_out_beats: int,
                    where: str = "", side: np.ndarray | None = None) -> np.ndarray:
        """One kernel call on beat arrays; checks every protocol invariant.

        Parameters
        ----------
        regs : dict
            Register values (all of :data:`~pynq_depth.protocol.REGISTERS`).
        stream : ndarray of uint64
            Beats of the ``in`` stream (TLAST is put on the last one, as a DMA would).
        n_out_beats : int
            Expected output beats.
        where : str
            Description for error messages.
        side : ndarray of uint64, optional
            Beats of the ``side`` stream (partial sums / residual).

        Returns
        -------
        ndarray of uint64
            Output beats.
        """
        lib = self.library
        stream = np.ascontiguousarray(stream, dtype=np.uint64)
        side = np.ascontiguousarray(np.zeros(0, np.uint64) if side is None else side, dtype=np.uint64).reshape(-1)
        regs_arr = np.array([regs[name] for name in protocol.REGISTERS], dtype=np.int32)
        out = np.zeros(n_out_beats, dtype=np.uint64)
        info = np.zeros(8, dtype=np.int64)
        status = lib.pd_conv_call(stream.ctypes.data, stream.size, side.ctypes.data, side.size, out.ctypes.data,
                                  out.size, regs_arr.ctypes.data, info.ctypes.data)
        if status:
            bits = ", ".join(text for bit, text in protocol.KERNEL_ERRORS.items() if status & bit)
            raise protocol.ProtocolError(f"{where}: kernel refused the call (status {status}: {bits}); "
                                         f"registers {regs}")
        produced, left, underflows, first_last, n_last, _, side_left, side_under = (int(v) for v in info)
        if underflows or side_under:  # the call stopped there: nothing else about it is meaningful
            name, sent = ("side", side.size) if side_under else ("in", stream.size)
            raise protocol.ProtocolError(
                f"{where}: stream underflow on `{name}`: the kernel reads past the end of the {sent} beats sent "
                f"({lib.pd_last_error().decode()}; the hardware would stall here)")
        problems = []
        if produced != n_out_beats:
            problems.append(f"{produced} output beats, expected {n_out_beats}")
        if left:
            problems.append(f"input stream `in`: {left} beats unread ({stream.size} sent)")
        if side_left:
            problems.append(f"side stream `side`: {side_left} beats unread ({side.size} sent)")
        if n_last != 1 or first_last != n_out_beats - 1:
            problems.append(f"TLAST on {n_last} beats, first at {first_last}, expected only at {n_out_beats - 1}")
        if problems:
            raise protocol.ProtocolError(f"{where}: " + "; ".join(problems))
        return out

    # ------------------------------------------------------------ layers
    def prepared(self, cmd: ConvCmd, in_shape: tuple[int, int, int],
                 input_lut: np.ndarray | None = None) -> protocol.PreparedLayer:
        """The layer's plan and packed constants/weights, packed once per (command, input shape, table)."""
        key = (id(cmd), tuple(in_shape), None if input_lut is None else id(input_lut))
        with self._prep_lock:
            prep = self._prepared.get(key)
            if prep is None or prep.cmd is not cmd:
                prep = protocol.prepare_layer(cmd, tuple(in_shape), self.config,  # type: ignore[arg-type]
                                              input_lut)
                if len(self._prepared) >= 512:  # many random programs: keep memory bounded
                    self._prepared.clear()
                self._prepared[key] = prep
        return prep

    def _kernel(self, regs: dict[str, int], segments: list[np.ndarray], side: np.ndarray | None,
                n_out_beats: int, where: str) -> np.ndarray:
        self.calls += 1
        return self.call_kernel(regs, np.concatenate([np.asarray(s).reshape(-1) for s in segments]),
                                n_out_beats, where, side)

    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Run one layer as a sequence of kernel calls (see :func:`pynq_depth.protocol.run_layer`)."""
        prep = self.prepared(cmd, x.shape, x.lut if isinstance(x, protocol.RawFrame) else None)
        return protocol.run_layer(prep, x, skip, out_dtype, self._kernel, NUMPY_DTYPES[out_dtype])

    def input_tensor(self, program: Program, rgb: np.ndarray):  # type: ignore[override]
        """The frame as the board driver sends it (:class:`~pynq_depth.protocol.RawFrame`, quantised by the
        kernel) when the layer that reads it can take it, else quantised here."""
        check_frame(program, rgb)
        first = protocol.frame_reader(program)
        shape = tuple(program.tensors["input"].shape)
        if first is None or not self.prepared(first, shape, program.input_lut).rgb:  # type: ignore[arg-type]
            return super().input_tensor(program, rgb)
        return protocol.RawFrame.of(rgb, program.input_lut)

    def send_resize(self, cmd: HostCmd, call: protocol.Call, regs: dict[str, int], rows: np.ndarray,
                    where: str) -> np.ndarray:
        """One resize call: the coefficient head packed here, then the rows."""
        return self._kernel(regs, [protocol.resize_head(call, self.config), rows], None,
                            protocol.resize_output_beats(call, self.config), where)
