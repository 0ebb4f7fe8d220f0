"""Block I/O: buffers, emulated disks with latency and injectable faults, and I/O completion.

A pager starts an I/O by building a :class:`buf` and calling
:meth:`BioMixin.vn_strategy`.  The disk completes it ``latency`` ticks later
(plus transfer time if the disk has a bandwidth), in "interrupt context":

* an asynchronous buffer (``B_ASYNC``) is handed to the ``iodone`` kernel
  thread, which runs its ``b_iodone`` routine (a generator: completion
  routines may need to sleep for a busy page, as the kernel's
  ``vm_page_busy_wait`` in ``swp_pager_async_iodone`` does);
* a synchronous buffer wakes the thread sleeping in :meth:`BioMixin.biowait`,
  which then runs the completion itself.

Faults are injected per disk (:meth:`disk.inject`): a rate of failed reads
or writes drawn from the machine's fault stream, or the next N I/Os failing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from .config import check_int
from .kern import IODONE

BIO_READ = 1
BIO_WRITE = 2

B_ASYNC = 0x4
B_ERROR = 0x800
B_DECIDED = 0x10000   # vmkit: the outcome was drawn when the I/O started (write-behind)


class buf:
    """One I/O request (``struct buf``): which pages, which blocks, and how it ended."""

    __slots__ = ("b_cmd", "b_pages", "b_blkno", "b_flags", "b_error", "b_iodone", "b_done",
                 "b_dev", "b_object", "b_pager_flags", "b_rtvals", "b_data")

    def __init__(self, cmd: int, pages: list, blkno: int, dev: "disk") -> None:
        self.b_cmd = cmd
        self.b_pages = pages
        self.b_blkno = blkno
        self.b_flags = 0
        self.b_error = 0
        self.b_iodone: Callable[["buf"], Generator] | None = None
        self.b_done = False
        self.b_dev = dev
        self.b_object: Any = None
        self.b_pager_flags = 0
        self.b_rtvals: list | None = None
        self.b_data: list[int] | None = None      # the stamps a write carries

    @property
    def b_npages(self) -> int:
        return len(self.b_pages)

    def __repr__(self) -> str:
        kind = "read" if self.b_cmd == BIO_READ else "write"
        return f"<buf {self.b_dev.name} {kind} blk={self.b_blkno} n={self.b_npages} done={self.b_done}>"


class disk:
    """An emulated disk: fixed latency per I/O, optional bandwidth, fault injection, counters."""

    def __init__(self, name: str, read_latency: int, write_latency: int, bandwidth: int,
                 rng: np.random.Generator) -> None:
        self.name = name
        self.read_latency = read_latency
        self.write_latency = write_latency
        self.bandwidth = bandwidth
        self.busy_until = 0.0
        self.inflight = 0
        self.reads = self.writes = 0
        self.pages_read = self.pages_written = 0
        self.read_errors = self.write_errors = 0
        self.write_error_rate = 0.0
        self.read_error_rate = 0.0
        self.fail_next_writes = 0
        self.fail_next_reads = 0
        self._rng = rng

    def inject(self, *, write_error_rate: float | None = None, read_error_rate: float | None = None,
               fail_next_writes: int | None = None, fail_next_reads: int | None = None) -> None:
        """Make future I/Os fail: a fraction of them (0-1), or the next N of them.  All or nothing."""
        new = {}
        for name, val in (("write_error_rate", write_error_rate), ("read_error_rate", read_error_rate)):
            if val is not None:
                if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= float(val) <= 1.0:
                    raise ValueError(f"{name} must be a number between 0.0 and 1.0, got {val!r}")
                new[name] = float(val)
        for name, val in (("fail_next_writes", fail_next_writes), ("fail_next_reads", fail_next_reads)):
            if val is not None:
                new[name] = check_int(val, name, 0, 1 << 30)
        for name, val in new.items():
            setattr(self, name, val)

    def decide(self, cmd: int) -> int:
        """Draw the outcome of an I/O now: 0, or EIO (counted as an error)."""
        if self._fails(cmd):
            if cmd == BIO_WRITE:
                self.write_errors += 1
            else:
                self.read_errors += 1
            return 5
        return 0

    def _fails(self, cmd: int) -> bool:
        if cmd == BIO_WRITE:
            if self.fail_next_writes:
                self.fail_next_writes -= 1
                return True
            return self.write_error_rate > 0.0 and self._rng.random() < self.write_error_rate
        if self.fail_next_reads:
            self.fail_next_reads -= 1
            return True
        return self.read_error_rate > 0.0 and self._rng.random() < self.read_error_rate

    def stats(self) -> dict[str, int]:
        return {
            "reads": self.reads, "writes": self.writes, "pages_read": self.pages_read,
            "pages_written": self.pages_written, "read_errors": self.read_errors,
            "write_errors": self.write_errors, "inflight": self.inflight,
        }

    def __repr__(self) -> str:
        return f"<disk {self.name} r={self.read_latency} w={self.write_latency} inflight={self.inflight}>"


class BioMixin:
    """Buffers, disks and the ``iodone`` thread of a :class:`~vmkit.machine.Machine`."""

    def _init_bio(self) -> None:
        self._iodoneq: deque[buf] = deque()
        self.fault_rng = np.random.default_rng([self.config.seed, 0xFA17])
        self.iodone_thread = self.kthread_create(self._iodone_main, "iodone")

    def disk_create(self, name: str, read_latency: int, write_latency: int, bandwidth: int) -> disk:
        return disk(name, read_latency, write_latency, bandwidth, self.fault_rng)

    def vn_strategy(self, bp: buf) -> None:
        """Start ``bp`` on its disk; it completes after the disk's latency (and transfer time)."""
        dev = bp.b_dev
        now = self.ticks
        n = bp.b_npages
        latency = dev.read_latency if bp.b_cmd == BIO_READ else dev.write_latency
        if dev.bandwidth:
            start = max(float(now), dev.busy_until)
            dev.busy_until = start + n / dev.bandwidth
            done = math.ceil(dev.busy_until) + latency
        else:
            done = now + latency
        if bp.b_cmd == BIO_READ:
            dev.reads += 1
            dev.pages_read += n
        else:
            dev.writes += 1
            dev.pages_written += n
        dev.inflight += 1
        self.callout_reset(max(1, done - now), self._biodone, bp)

    def _biodone(self, bp: buf) -> None:
        """Interrupt: the disk finished ``bp`` (with an injected error, perhaps)."""
        dev = bp.b_dev
        dev.inflight -= 1
        if not bp.b_flags & B_DECIDED:
            bp.b_error = dev.decide(bp.b_cmd)
            if bp.b_error:
                bp.b_flags |= B_ERROR
        bp.b_done = True
        if bp.b_flags & B_ASYNC:
            self._iodoneq.append(bp)
            self.wakeup(IODONE)
        else:
            self.wakeup(bp)

    def biowait(self, bp: buf, wmesg: str) -> Generator:
        """Sleep until ``bp`` completes (``yield from``); return its error (0 if none)."""
        while not bp.b_done:
            yield self.tsleep(bp, 0, wmesg, 0)
        return bp.b_error

    def _iodone_main(self) -> Generator:
        """The ``iodone`` kernel thread: run completion routines of asynchronous I/O in order."""
        while True:
            while self._iodoneq:
                bp = self._iodoneq.popleft()
                if bp.b_iodone is not None:
                    yield from bp.b_iodone(bp)
            yield self.tsleep(IODONE, 0, "iodone", 0)
