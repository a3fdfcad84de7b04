"""The bit-exact NumPy emulator: the executable specification of the hardware."""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..arith import FusedConv, conv_acc_float, fast_weights, requant_scales, requantize_float
from ..config import HwConfig
from ..program import NUMPY_DTYPES, ConvCmd, HostCmd, Program
from .base import Backend

#: At most this many processes share a layer by default (one helper process; see _Helper).
MAX_DEFAULT_WORKERS = 2
#: Layers expected to take less (FusedConv.cost_ns) run in this process only: a helper round trip
#: costs ~20-50 us.
SHARE_MIN_NS = 150_000.0

#: Guards the process-wide helper, load probe and BLAS control below.
_lock = threading.Lock()


def default_workers() -> int:
    """The CPUs this process may use (``os.sched_getaffinity`` where it exists), capped at
    :data:`MAX_DEFAULT_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


class _CpuLoad:
    """How many CPUs other processes kept busy lately: ``/proc/stat`` busy time less this process's
    own and its helper's, averaged over windows of at least :attr:`WINDOW_S` (Linux; None elsewhere or before the
    first window).  The helper process is used only while a core is free: one that has to share
    a core holds up every layer's end while the scheduler runs the other process.
    """

    WINDOW_S = 0.5

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()
        self._others: float | None = None

    @staticmethod
    def _cpu_ticks(pid: int | str) -> int:
        """utime + stime of every thread of a process, in clock ticks (0 if it is gone)."""
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as own:
                fields = own.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            return 0

    @classmethod
    def _sample(cls) -> tuple[float, int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                fields = [int(v) for v in stat.readline().split()[1:9]]
        except (OSError, ValueError, IndexError):
            return None
        busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]  # all but idle, iowait
        mine = cls._cpu_ticks("self")
        helper = _helper  # the helper's time is ours too, not another process's
        if helper is not None:
            mine += cls._cpu_ticks(helper.proc.pid)
        return time.monotonic(), busy, mine

    def others(self) -> float | None:
        """CPUs busy with other processes in the last complete window, or None."""
        now = self._sample()
        if now is None or self._last is None:
            return None
        elapsed = now[0] - self._last[0]
        if elapsed >= self.WINDOW_S:
            ticks = (now[1] - self._last[1]) - (now[2] - self._last[2])
            self._others = max(0.0, ticks / self._tick / elapsed)
            self._last = now
        return self._others


_load: _CpuLoad | None = None


def free_cpus(limit: int) -> int:
    """At most ``limit``: the CPUs that other processes left free lately (at least one)."""
    global _load
    with _lock:
        if _load is None:
            _load = _CpuLoad()
        others = _load.others()
    if others is None:
        return limit
    return max(1, min(limit, int(default_workers() - others + 0.5)))


# ---------------------------------------------------------------------------------------------- helper process
# Why a process and not threads: a strip is ~25 NumPy calls of a few microseconds each, and every one
# hands the GIL over; on this kind of machine two threads running independent 64K-value loops were 3x
# SLOWER than one (only calls of about a million values gained).  A helper process has its own GIL: it
# computes the second half of a large layer's strips into a shared memory-mapped arena holding every
# tensor of the run, while this process computes the first half.

#: Seconds to wait for the helper's answer before giving up on it (the layer is then recomputed here).
HELPER_TIMEOUT_S = 60.0
#: The helper's start-up per request (wake-up, message), counted against its share of strips.
HELPER_LATENCY_S = 30e-6
#: Seconds either side polls for the other's message before blocking (see _wait_readable).
SPIN_S = 0.002


def _send(stream: Any, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _wait_readable(stream: Any, timeout: float | None) -> None:
    """Poll for up to SPIN_S, then block (up to ``timeout``): an answer due within a layer's time
    would otherwise cost a wake-up of an idle CPU, which on a virtual machine can take longer than
    a small layer.  Only while a CPU is free is the helper used at all, so this spins on no one's core."""
    if os.name == "nt":  # select() does not take pipes on Windows: just block
        return
    deadline = time.perf_counter() + SPIN_S
    while time.perf_counter() < deadline:
        if select.select([stream], [], [], 0)[0]:
            return
    if not select.select([stream], [], [], timeout)[0]:
        raise TimeoutError(f"no answer from the helper process in {timeout} s")


def _read_exactly(stream: Any, size: int, timeout: float | None) -> bytes:
    chunks, left = [], size
    while left:
        _wait_readable(stream, timeout)
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("helper process closed its pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(stream: Any, timeout: float | None = None) -> Any:
    (size,) = struct.unpack("<Q", _read_exactly(stream, 8, timeout))
    return pickle.loads(_read_exactly(stream, size, timeout))


def _view(buffer: Any, spec: tuple[int, tuple[int, ...], str]) -> np.ndarray:
    offset, shape, dtype = spec
    return np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)


def _helper_strips(arenas: dict[int, mmap.mmap], layers: dict[int, FusedConv], key: int, token: int,
                   x_spec: tuple, skip_spec: tuple | None, out_spec: tuple, bounds: list[int], first: int,
                   last: int) -> None:
    """Strips ``first:last`` of a layer, from and into the arena (the views end with this call)."""
    arena, fused = arenas[token], layers[key]
    x, result = _view(arena, x_spec), _view(arena, out_spec)
    skip = None if skip_spec is None else _view(arena, skip_spec)
    for i in range(first, last):
        fused.run_strip(x, None, skip, result, bounds[i], bounds[i + 1])


def helper_main() -> None:
    """The helper process: maps arenas, keeps layers, computes strips on request (stdin/stdout pipes)."""
    inp, out = sys.stdin.buffer.raw, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message pipe
    arenas: dict[int, mmap.mmap] = {}
    layers: dict[int, FusedConv] = {}
    with blas_threads().single():
        _send(out, ("ready",))
        while True:
            try:
                message = _receive(inp)
            except EOFError:
                return
            op = message[0]
            try:
                if op == "stop":
                    return
                if op == "arena":
                    _, token, path, size = message
                    with open(path, "r+b") as f:
                        arenas[token] = mmap.mmap(f.fileno(), size)
                elif op == "forget":
                    for key in message[1]:
                        layers.pop(key, None)
                    for token in message[2]:
                        arenas.pop(token, None)  # unmapped when no view of it is left
                elif op == "layer":
                    layers[message[1]] = message[2]
                elif op == "run":
                    start = time.perf_counter()
                    _helper_strips(arenas, layers, *message[1:])
                    end = time.perf_counter()
                    _send(out, ("ok", end - start, start, end))  # perf_counter: one clock for both processes
                    continue
                _send(out, ("ok",))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which recomputes
                _send(out, ("error", f"{type(exc).__name__}: {exc}"))


class _Helper:
    """The helper process (one per Python process, shared by emulators, one layer at a time)."""

    def __init__(self) -> None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root] + sys.path[1:]))
        # A fresh interpreter running only this module (not multiprocessing's spawn, which would
        # re-import the caller's __main__ script with its side effects).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pynq_depth.backends.emulator import helper_main; helper_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
        self.owner = os.getpid()
        self.busy = threading.Lock()
        self.layers: set[int] = set()
        self.alive = True
        self.ready = False  # until its first message: it is importing NumPy (~0.3 s)
        self._forget: tuple[list[int], list[int]] = ([], [])  # sent with the next request
        weakref.finalize(self, _Helper._stop, self.proc, self.owner)

    @staticmethod
    def _stop(proc: subprocess.Popen, owner: int | None = None) -> None:
        if owner is not None and owner != os.getpid():
            return  # a forked child's copy: the helper is its parent's
        try:
            if proc.poll() is None:
                _send(proc.stdin, ("stop",))
                proc.stdin.close()
                proc.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()

    def forget(self, key: int | None = None, token: int | None = None) -> None:
        """Let the helper drop a layer or an arena collected here (told with the next request;
        called by finalizers, so only appends)."""
        if key is not None:
            self._forget[0].append(key)
        if token is not None:
            self._forget[1].append(token)

    def is_ready(self) -> bool:
        """Whether the helper has started (without waiting: until then frames run here alone)."""
        if not self.ready and self.alive:
            try:
                if select.select([self.proc.stdout], [], [], 0)[0]:
                    self.ready = _receive(self.proc.stdout, HELPER_TIMEOUT_S) == ("ready",)
                    if not self.ready:
                        self.fail()
            except (OSError, EOFError, ValueError, pickle.UnpicklingError):
                self.fail()
        return self.ready

    def wait_ready(self, timeout: float = HELPER_TIMEOUT_S) -> bool:
        """Wait until the helper has started (or failed); True when it is ready."""
        deadline = time.monotonic() + timeout
        while self.alive and not self.is_ready() and time.monotonic() < deadline:
            select.select([self.proc.stdout], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
        return self.ready

    def request(self, message: tuple) -> None:
        """Send without waiting; :meth:`reply` collects the answer."""
        if self._forget[0] or self._forget[1]:
            keys, paths = self._forget
            self._forget = ([], [])
            self.call(("forget", keys, paths))
        _send(self.proc.stdin, message)

    def reply(self) -> tuple:
        """The answer to the last request (for "run": ``("ok", seconds computing)``); raises
        RuntimeError for an error in the helper."""
        answer = _receive(self.proc.stdout, HELPER_TIMEOUT_S)
        if answer[0] != "ok":
            raise RuntimeError(answer[1])
        return answer

    def call(self, message: tuple) -> None:
        self.request(message)
        self.reply()

    def fail(self) -> None:
        """Stop using the helper (after an error or a closed pipe); the caller recomputes."""
        self.alive = False
        self._stop(self.proc, self.owner)


_helper: _Helper | None = None
_layer_keys = itertools.count(1)
_arena_tokens = itertools.count(1)


def shared_helper() -> _Helper | None:
    """The process's helper, started on first use; None where it cannot run (Windows, whose pipes
    cannot be polled; no interpreter path; a failed start; an earlier failure)."""
    global _helper
    with _lock:
        if _helper is not None and _helper.owner != os.getpid():
            _helper = None  # forked: the inherited one is the parent's
        if _helper is None:
            if not sys.executable or os.name == "nt":
                return None
            try:
                _helper = _Helper()
            except OSError:
                return None
        return _helper if _helper.alive else None


class _Arena:
    """Every tensor of a program in one shared memory-mapped file (a slot per tensor name)."""

    def __init__(self, program: Program) -> None:
        self.specs: dict[str, tuple[int, tuple[int, ...], str]] = {}
        offset = 0
        for name, info in program.tensors.items():
            dtype = np.dtype(NUMPY_DTYPES[info.dtype])
            self.specs[name] = (offset, tuple(info.shape), dtype.str)
            offset += -(-int(np.prod(info.shape)) * dtype.itemsize // 64) * 64
        self.size = max(offset, 64)
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, self.path = tempfile.mkstemp(prefix="pynq-depth-arena-", dir=folder)
        # The helper knows it by this token, never by its path: the file is removed once shared, and a
        # later arena may be given the same name.
        self.token = next(_arena_tokens)
        try:
            os.ftruncate(fd, self.size)
            self.buffer = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)
        self.base = np.frombuffer(self.buffer, dtype=np.uint8)
        self.shared = False  # the helper has it mapped (then the file is unlinked)
        weakref.finalize(self, _Arena._remove, self.path)

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def share(self, helper: _Helper) -> None:
        if not self.shared:
            helper.call(("arena", self.token, self.path, self.size))
            self.shared = True
            self._remove(self.path)  # both have it mapped: nothing is left behind, even after a crash
            weakref.finalize(self, helper.forget, None, self.token)

    def slot(self, name: str) -> np.ndarray:
        return _view(self.buffer, self.specs[name])

    def spec_of(self, array: np.ndarray | None) -> tuple[int, tuple[int, ...], str] | None:
        """The arena spec of ``array`` if it is a whole C-contiguous slot view, else None."""
        if array is None or not array.flags.c_contiguous:
            return None
        start = array.__array_interface__["data"][0] - self.base.__array_interface__["data"][0]
        if not 0 <= start < self.size:
            return None
        return (start, tuple(array.shape), array.dtype.str)


class _BlasThreads:
    """Holds the OpenBLAS libraries loaded in this process at one thread while an emulator runs.

    The emulator makes one matrix product per strip and may split a layer's strips
    with a helper process, so BLAS threads would only compete with it; and
    OpenBLAS's threads synchronise by spinning, which on a loaded machine (another
    CPU-bound process) makes each call wait for a worker the scheduler has paused
    (a frame took 10x longer).  The libraries are found in ``/proc/self/maps`` and set through their
    ``*openblas_set_num_threads*`` entry points, as threadpoolctl does; the previous
    count is restored when the last emulator leaves.  Where none is found (another
    platform or BLAS) :attr:`available` is False and the emulator instead makes one
    product per layer and leaves BLAS its own threads.
    """

    _PREFIXES = ("scipy_openblas", "openblas")
    _SUFFIXES = ("64_", "_64", "")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: list[tuple[Callable[[int], None], int]] = []
        self._controls = self._find()
        self.available = bool(self._controls)

    @classmethod
    def _find(cls) -> list[tuple[Callable[[], int], Callable[[int], None]]]:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                paths = {line.split(None, 5)[-1].strip() for line in maps if "openblas" in line.lower()}
        except OSError:
            return []
        controls = []
        for path in sorted(p for p in paths if p.startswith("/") and os.path.isfile(p)):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in cls._PREFIXES:
                for suffix in cls._SUFFIXES:
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and put is not None:
                        get.restype, get.argtypes = ctypes.c_int, []
                        put.restype, put.argtypes = None, [ctypes.c_int]
                        controls.append((get, put))
                        break
                else:
                    continue
                break
        return controls

    @contextmanager
    def single(self) -> Iterator[None]:
        """One BLAS thread inside (nestable, from any thread)."""
        with self._lock:
            if self._depth == 0:
                self._saved = []
                for get, put in self._controls:
                    self._saved.append((put, get()))
                    put(1)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for put, count in self._saved:
                        put(count)


_blas: _BlasThreads | None = None


def blas_threads() -> _BlasThreads:
    """The process's :class:`_BlasThreads` (made on first use, after NumPy has loaded its BLAS)."""
    global _blas
    with _lock:
        if _blas is None:
            _blas = _BlasThreads()
        return _blas


class Emulator(Backend):
    """The bit-exact NumPy emulator: the executable specification of the hardware.

    Runs every convolution with :mod:`pynq_depth.arith`; resize and concat run on
    the processor as :class:`~pynq_depth.backends.base.Backend` defines them.

    Parameters
    ----------
    config : HwConfig, optional
        Accelerator configuration (packaged default when omitted).
    workers : int, optional
        Processes that share each large layer: 1 (this one) or 2 (with a helper
        process, see :func:`helper_main`).  Default: :func:`default_workers`, less the
        CPUs other processes kept busy lately (:func:`free_cpus`, checked per frame).
        An explicit 2 keeps the helper even on a busy machine, where the two sides'
        short polling for each other (:data:`SPIN_S`) then costs time (a frame took
        4x longer with both cores taken): leave it None unless the machine is yours.
        The result does not depend on it.
    """

    name = "emulator"

    def __init__(self, config: HwConfig | None = None, workers: int | None = None) -> None:
        super().__init__(config)
        self.adaptive = workers is None
        self.workers = default_workers() if workers is None else max(1, min(2, int(workers)))
        if self.workers > 1:
            shared_helper()  # start it now: it is used from the first frame after it is ready
        self._arenas: dict[int, tuple[Program, _Arena]] = {}
        self._run_lock = threading.Lock()
        self._frame: tuple[_Arena, _Helper] | None = None  # set while run() shares layers

    # ------------------------------------------------------------------ running a frame
    def run(self, program: Program, rgb: np.ndarray, trace: bool = False,
            on_layer: Callable[[str, np.ndarray], None] | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """:meth:`Backend.run <pynq_depth.backends.base.Backend.run>` with BLAS held at one thread
        (see :class:`_BlasThreads`) and, while a second CPU is free, large layers shared with the
        helper process.  Returned tensors (and those given to ``on_layer``) are the caller's own."""
        workers = free_cpus(self.workers) if self.adaptive else self.workers
        helper = shared_helper() if workers > 1 else None
        if helper is not None and not helper.is_ready():
            helper = None
        with blas_threads().single():
            if helper is None or not helper.busy.acquire(blocking=False):
                return super().run(program, rgb, trace=trace, on_layer=on_layer)
            try:
                if not self._run_lock.acquire(blocking=False):  # this emulator is running elsewhere
                    return super().run(program, rgb, trace=trace, on_layer=on_layer)
                try:
                    self._frame = (self._arena(program), helper)
                    callback = None if on_layer is None else (lambda name, value: on_layer(name, np.array(value)))
                    result = super().run(program, rgb, trace=trace, on_layer=callback)
                finally:
                    self._frame = None
                    self._run_lock.release()
            finally:
                helper.busy.release()
        if trace:
            return {name: np.array(value) for name, value in result.items()}  # type: ignore[union-attr]
        return np.array(result)

    def _arena(self, program: Program) -> _Arena:
        hit = self._arenas.get(id(program))
        if hit is None or hit[0] is not program:
            hit = self._arenas[id(program)] = (program, _Arena(program))
        return hit[1]

    def input_tensor(self, program: Program, rgb: np.ndarray) -> np.ndarray:
        """The quantised frame, in the arena while layers are shared."""
        return self._into(self._slot("input"), super().input_tensor(program, rgb))

    def run_host(self, cmd: HostCmd, tensors: dict[str, np.ndarray], program: Program) -> np.ndarray:
        """Resize / concat on the processor, the result in the arena while layers are shared."""
        return self._into(self._slot(cmd.output), super().run_host(cmd, tensors, program))

    # ------------------------------------------------------------------ one convolution
    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Convolution + requantisation exactly as :mod:`pynq_depth.arith` defines them.

        Uses arith's fused strip path (:class:`~pynq_depth.arith.FusedConv`), or for a
        layer outside its proven bounds the whole-layer fast path
        (:func:`~pynq_depth.arith.conv_acc_float` + :func:`~pynq_depth.arith.requantize_float`);
        both are proven to give the integers of :func:`~pynq_depth.arith.conv_acc` and
        :func:`~pynq_depth.arith.requantize`.  Each layer is prepared once and cached.
        Every strip makes its own matrix product where BLAS can be held at one thread,
        else the layer makes one; during :meth:`run` a large layer's second half of
        strips is computed by the helper process.
        """
        fused = self._fused(cmd, x.dtype, None if skip is None else skip.dtype, out_dtype)
        slot = self._slot(cmd.output)
        if fused is None:
            weights, bias, scale, scale_neg, skip_scale = self._constants(cmd)
            acc = conv_acc_float(x, weights, cmd.kind, cmd.stride, cmd.pad)
            out = requantize_float(acc, bias, scale, scale_neg, cmd.lo, cmd.hi, skip=skip, skip_scale=skip_scale)
            return self._into(slot, out.astype(NUMPY_DTYPES[out_dtype]))
        blas = blas_threads()
        with blas.single():
            shared = self._shared_conv(cmd, fused, x, skip)
            if shared is not None:
                return shared
            ho, wo = fused.out_size(x.shape[0], x.shape[1])
            if slot is not None and (slot.shape != (ho, wo, fused.cout) or slot.dtype != fused.out_dtype):
                slot = None
            return fused(x, skip, strip_gemm=blas.available, out=slot)

    def _slot(self, name: str) -> np.ndarray | None:
        """The arena slot of tensor ``name`` while a shared frame runs, else None.  Every layer writes
        there, shared or not, so that the next layer's input is in the arena too."""
        if self._frame is None or name not in self._frame[0].specs:
            return None
        return self._frame[0].slot(name)

    @staticmethod
    def _into(slot: np.ndarray | None, value: np.ndarray) -> np.ndarray:
        if slot is None or slot.shape != value.shape or slot.dtype != value.dtype:
            return value
        np.copyto(slot, value)
        return slot

    def _shared_conv(self, cmd: ConvCmd, fused: FusedConv, x: np.ndarray,
                     skip: np.ndarray | None) -> np.ndarray | None:
        """The layer computed half here, half by the helper, into its arena slot; None when it is
        not shared (no frame in progress, a small layer, a tensor outside the arena)."""
        if self._frame is None or not blas_threads().available:
            return None
        arena, helper = self._frame
        ho, wo = fused.out_size(x.shape[0], x.shape[1])
        spec = arena.specs.get(cmd.output)
        if spec is None or spec[1] != (ho, wo, fused.cout) or np.dtype(spec[2]) != fused.out_dtype:
            return None
        if fused.cost_ns(ho, wo, x.shape[2]) < SHARE_MIN_NS:
            return None
        x_spec, skip_spec = arena.spec_of(x), arena.spec_of(skip)
        if x_spec is None or (skip is not None and skip_spec is None):
            return None
        out = arena.slot(cmd.output)
        cost = fused.cost_ns(ho, wo, x.shape[2])
        bounds = fused.strips(ho, wo, 4 if cost >= 4 * SHARE_MIN_NS else 2)
        n = len(bounds) - 1
        if n < 2:
            return None
        # The helper takes the last strips, as many as its measured speed deserves (it starts later
        # and computes a little slower: the first frames showed ~20% for the same strips).
        share = fused.__dict__.get("_helper_share", 0.5)
        half = n - min(n - 1, max(1, round(n * share)))
        key = fused.__dict__.get("_helper_key")
        if key is None:  # unique for the process's lifetime (an id() could be reused after collection)
            key = fused.__dict__["_helper_key"] = next(_layer_keys)
        try:
            arena.share(helper)
            if key not in helper.layers:
                helper.call(("layer", key, fused))
                helper.layers.add(key)
                weakref.finalize(fused, helper.forget, key)
            helper.request(("run", key, arena.token, x_spec, skip_spec, arena.specs[cmd.output], bounds, half,
                            len(bounds) - 1))
        except (OSError, EOFError, RuntimeError, ValueError, pickle.PicklingError):  # TimeoutError is an OSError
            helper.fail()
            return None
        start = time.perf_counter()
        try:
            for i in range(half):
                fused.run_strip(x, None, skip, out, bounds[i], bounds[i + 1])
        except BaseException:
            helper.fail()  # its answer would never be read: the next reply would be this one's
            raise
        mine = time.perf_counter() - start
        try:
            answer = helper.reply()
        except (OSError, EOFError, RuntimeError, ValueError):
            helper.fail()
            for i in range(half, n):  # recompute what the helper may not have finished
                fused.run_strip(x, None, skip, out, bounds[i], bounds[i + 1])
            return out
        theirs = float(answer[1]) + HELPER_LATENCY_S
        if mine > 0 and theirs > 0:  # balance the next frame: equal finishing times
            per_mine, per_theirs = mine / half, theirs / (n - half)
            fused.__dict__["_helper_share"] = 0.7 * share + 0.3 * per_mine / (per_mine + per_theirs)
        return out

    def _cached(self, cmd: ConvCmd, key: tuple, make: Callable[[], object]) -> object:
        """``make()`` cached per command and ``key`` while the command's arrays and constants stay the same."""
        cache = self.__dict__.setdefault("_constant_cache", {})
        sources = (cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift, cmd.skip_mult, cmd.skip_shift,
                   cmd.lo, cmd.hi, cmd.kind, cmd.stride, cmd.pad)
        hit = cache.get((id(cmd),) + key)
        if hit is not None and all(a is b if isinstance(a, np.ndarray) else a == b for a, b in zip(hit[0], sources)):
            return hit[1]
        value = make()
        cache[(id(cmd),) + key] = (sources, value)
        return value

    def _fused(self, cmd: ConvCmd, in_dtype: np.dtype, skip_dtype: np.dtype | None,
               out_dtype: str) -> FusedConv | None:
        """The layer prepared for the fused path for these dtypes, or None outside its bounds."""
        key = ("fused", np.dtype(in_dtype).str, None if skip_dtype is None else np.dtype(skip_dtype).str, out_dtype)
        return self._cached(cmd, key, lambda: FusedConv.prepare(  # type: ignore[return-value]
            cmd.weights, cmd.bias, cmd.mult, cmd.mult_neg, cmd.shift, cmd.lo, cmd.hi, cmd.kind, cmd.stride,
            cmd.pad, in_dtype, NUMPY_DTYPES[out_dtype], skip_dtype, cmd.skip_mult, cmd.skip_shift))

    def _constants(self, cmd: ConvCmd) -> tuple:
        """A layer's constants in the whole-layer fast path's form (cached like :meth:`_fused`)."""
        def make() -> tuple:
            scale = requant_scales(cmd.mult, cmd.shift)
            scale_neg = None if np.array_equal(cmd.mult, cmd.mult_neg) else requant_scales(cmd.mult_neg, cmd.shift)
            skip_scale = float(requant_scales(np.array([cmd.skip_mult]), np.array([cmd.skip_shift]))[0])
            return fast_weights(cmd.weights, cmd.kind), cmd.bias.astype(np.float64), scale, scale_neg, skip_scale
        return self._cached(cmd, ("float",), make)  # type: ignore[return-value]
