"""The bit-exact NumPy emulator: the executable specification of the hardware."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from ..arith import FusedConv, conv_acc_float, fast_weights, requant_scales, requantize_float
from ..config import HwConfig
from ..program import NUMPY_DTYPES, ConvCmd, Program
from .base import Backend

#: Default thread count: the CPUs this process may run on, at most this many.
MAX_DEFAULT_THREADS = 8

#: Guards the process-wide pools and BLAS control below.
_pools_lock = threading.Lock()


def default_threads() -> int:
    """The CPUs this process may use (``os.sched_getaffinity`` where it exists), capped at
    :data:`MAX_DEFAULT_THREADS`: the emulator's default, like torch's for the float model."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_THREADS, cpus))


class _CpuLoad:
    """How many CPUs other processes kept busy lately: ``/proc/stat`` busy time less this process's
    own, averaged over windows of at least :attr:`WINDOW_S` (Linux; None elsewhere or before the
    first window).  Used to run no more strip threads than there are free cores: a helper thread
    that has to share a core holds up every layer's end while the scheduler runs the other process.
    """

    WINDOW_S = 0.5

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()
        self._others: float | None = None

    @staticmethod
    def _sample() -> tuple[float, int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                fields = [int(v) for v in stat.readline().split()[1:9]]
            with open("/proc/self/stat", encoding="ascii") as own:
                mine = own.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            return None
        busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]  # all but idle, iowait
        return time.monotonic(), busy, int(mine[11]) + int(mine[12])  # utime + stime of every thread

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


def free_threads(limit: int) -> int:
    """At most ``limit`` threads, one per CPU that other processes left free lately (at least one)."""
    global _load
    with _pools_lock:
        if _load is None:
            _load = _CpuLoad()
        others = _load.others()
    if others is None:
        return limit
    return max(1, min(limit, int(default_threads() - others + 0.5)))


class _Job:
    """One layer's strips, claimed one at a time by whichever thread is free (so a thread the
    scheduler has paused holds up at most the strip it is on)."""

    def __init__(self, task: Callable[[int], None], n: int) -> None:
        self.task, self.n = task, n
        self.claimed = self.done = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def work(self) -> None:
        while True:
            with self.lock:
                i = self.claimed
                if i >= self.n:
                    return
                self.claimed += 1
            try:
                if self.error is None:
                    self.task(i)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.error = self.error or exc
            finally:
                with self.lock:
                    self.done += 1
                    if self.done == self.n:
                        self.finished.set()


class StripPool:
    """Runs a layer's strips on the calling thread and ``threads - 1`` helper threads.

    NumPy's elementwise loops, which are most of the emulator's time, run on one
    core and release the GIL, so strips of one layer run in parallel.  Helpers are
    daemon threads started on first use (again after a fork); a caller that finds
    the pool busy (another thread's layer) runs its strips itself.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._pid = -1

    def _start(self) -> None:
        self._pid = os.getpid()
        self._busy = threading.Lock()
        self._wake = threading.Condition()
        self._job: _Job | None = None
        self._generation = 0
        for i in range(self.threads - 1):
            threading.Thread(target=self._helper, name=f"pynq-depth-strips-{i}", daemon=True).start()

    def _helper(self) -> None:
        seen = 0
        while True:
            with self._wake:
                while self._generation == seen:
                    self._wake.wait()
                seen = self._generation
                job = self._job
            if job is not None:
                job.work()

    def map(self, task: Callable[[int], None], n: int) -> None:
        """Run ``task(0) ... task(n - 1)`` (in any order) and return when all have; re-raises the first
        exception of any of them."""
        if self.threads == 1 or n < 2:
            for i in range(n):
                task(i)
            return
        if self._pid != os.getpid():
            with _pools_lock:  # two first callers must not both start helpers
                if self._pid != os.getpid():
                    self._start()
        if not self._busy.acquire(blocking=False):
            for i in range(n):
                task(i)
            return
        try:
            job = _Job(task, n)
            with self._wake:
                self._job = job
                self._generation += 1
                self._wake.notify_all()
            job.work()
            job.finished.wait()
            with self._wake:
                self._job = None
        finally:
            self._busy.release()
        if job.error is not None:
            raise job.error


_pools: dict[int, StripPool] = {}


def strip_pool(threads: int) -> StripPool:
    """The process's shared pool of ``threads`` threads (emulators share helpers)."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = StripPool(threads)
        return pool


class _BlasThreads:
    """Holds the OpenBLAS libraries loaded in this process at one thread while an emulator runs.

    The emulator splits each layer between its own threads, matrix products
    included, so BLAS threads would only compete with them; and OpenBLAS's threads
    synchronise by spinning, which on a loaded machine (another CPU-bound process)
    makes each call wait for a worker the scheduler has paused (a frame took 10x
    longer).  The libraries are found in ``/proc/self/maps`` and set through their
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
    with _pools_lock:
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
    threads : int, optional
        Threads that share each layer's strips.  Default: :func:`default_threads`, less
        the CPUs other processes kept busy lately (:func:`free_threads`, checked per
        frame).  The result does not depend on it.
    """

    name = "emulator"

    def __init__(self, config: HwConfig | None = None, threads: int | None = None) -> None:
        super().__init__(config)
        self.adaptive = threads is None
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self._frame_threads = self.threads

    def run(self, program: Program, rgb: np.ndarray, trace: bool = False,
            on_layer: Callable[[str, np.ndarray], None] | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """:meth:`Backend.run <pynq_depth.backends.base.Backend.run>` with BLAS held at one thread
        throughout (see :class:`_BlasThreads`)."""
        self._frame_threads = free_threads(self.threads) if self.adaptive else self.threads
        with blas_threads().single():
            return super().run(program, rgb, trace=trace, on_layer=on_layer)

    def run_conv(self, cmd: ConvCmd, x: np.ndarray, skip: np.ndarray | None, out_dtype: str) -> np.ndarray:
        """Convolution + requantisation exactly as :mod:`pynq_depth.arith` defines them.

        Uses arith's fused strip path (:class:`~pynq_depth.arith.FusedConv`), or for a
        layer outside its proven bounds the whole-layer fast path
        (:func:`~pynq_depth.arith.conv_acc_float` + :func:`~pynq_depth.arith.requantize_float`);
        both are proven to give the integers of :func:`~pynq_depth.arith.conv_acc` and
        :func:`~pynq_depth.arith.requantize`.  Each layer is prepared once and cached.
        The strips of a layer run on :attr:`threads` threads, each with its own matrix
        product where BLAS can be held at one thread, else after one product per layer.
        """
        fused = self._fused(cmd, x.dtype, None if skip is None else skip.dtype, out_dtype)
        if fused is None:
            weights, bias, scale, scale_neg, skip_scale = self._constants(cmd)
            acc = conv_acc_float(x, weights, cmd.kind, cmd.stride, cmd.pad)
            out = requantize_float(acc, bias, scale, scale_neg, cmd.lo, cmd.hi, skip=skip, skip_scale=skip_scale)
            return out.astype(NUMPY_DTYPES[out_dtype])
        blas = blas_threads()
        threads = self._frame_threads
        with blas.single():
            return fused(x, skip, strip_pool(threads).map, threads, strip_gemm=blas.available)

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
