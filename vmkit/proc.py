"""Processes: creation, the user-mode reference loop, signals, exit (``kern_proc.c``, ``kern_exit.c``).

A process runs a workload, a stream of ``(virtual page, write)`` references,
at ``refs_per_tick`` references per tick.  References that hit a valid PTE
(and, for writes, a writeable one) are done by the MMU without the kernel;
vmkit executes a run of them with a handful of numpy operations
(:meth:`ProcMixin._run_resident`): look up the PTEs, find the first reference
that faults, and for everything before it set the A bits (M for writes),
check reads against the oracle and store write stamps.  The faulting
reference goes to :meth:`~vmkit.vm_fault.VmFaultMixin.vm_fault`.

Pids are given out as on a booted system: pid 0 is the kernel (``swapper``,
``P_SYSTEM``), pid 1 is ``init``, a few small system daemons follow, and
processes started with :meth:`ProcMixin.spawn` get pids from
``first_user_pid`` (100) up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import check_int
from .constants import (
    P_SWAPPEDOUT,
    P_SYSTEM,
    P_WEXIT,
    PG_A,
    PG_M,
    PG_RW,
    RLIM_INFINITY,
    RLIMIT_RSS,
    SACTIVE,
    SIGKILL,
    SSTAT_NAMES,
    SZOMB,
    P,
)
from .kern import PCATCH, PREEMPT, QUANTUM, TDS_SLEEP, thread
from .pmap import PTE_SHIFT
from .vm_map import Anon

if TYPE_CHECKING:  # pragma: no cover
    from .vm_map import vmspace
    from .workload import Workload

WINDOW_MIN = 8          # references tried right after a fault
WINDOW_MAX = 1 << 16
SCALAR_MAX = 32         # runs up to this long go through the plain-Python path (numpy costs ~15 us a call)
CHUNK_REFS = 1 << 16

#: (name, pages, pages touched per wake-up, seconds between wake-ups) of the daemons started at boot.
BOOT_DAEMONS = (
    ("init", 8, 1, 30),
    ("devd", 8, 2, 20),
    ("syslogd", 12, 3, 10),
    ("cron", 8, 2, 60),
    ("sshd", 12, 2, 45),
)


class proc:
    """``struct proc`` with the fields the daemon reads, plus the process's workload and counters."""

    __slots__ = (
        "p_pid", "p_comm", "p_flags", "p_stat", "p_nice", "p_rlimit", "p_vmspace",
        "p_siglist", "p_uid", "p_thread", "workload", "refs_per_tick", "p_refs",
        "p_minflt", "p_majflt", "p_zfod", "p_start_tick", "p_exit_tick", "p_xsig", "p_killed_why",
    )

    def __init__(self, pid: int, comm: str) -> None:
        self.p_pid = pid
        self.p_comm = comm
        self.p_flags = 0
        self.p_stat = SACTIVE
        self.p_nice = 0
        self.p_rlimit = {RLIMIT_RSS: [RLIM_INFINITY, RLIM_INFINITY]}
        self.p_vmspace: vmspace | None = None
        self.p_siglist: set[int] = set()
        self.p_uid = 0
        self.p_thread: thread | None = None
        self.workload: Workload | None = None
        self.refs_per_tick = 0
        self.p_refs = 0
        self.p_minflt = 0
        self.p_majflt = 0
        self.p_zfod = 0
        self.p_start_tick = 0
        self.p_exit_tick = -1
        self.p_xsig = 0
        self.p_killed_why = ""

    @property
    def rss_pages(self) -> int:
        """Resident pages mapped by this process (its pmap's resident count)."""
        return 0 if self.p_vmspace is None else self.p_vmspace.vm_pmap.pm_resident_count

    def __repr__(self) -> str:
        return (f"<proc {self.p_pid} {self.p_comm} {SSTAT_NAMES.get(self.p_stat, self.p_stat)} "
                f"rss={self.rss_pages} flags={P(self.p_flags)!r}>")


class ProcMixin:
    """Process table, user-mode execution, signals and exit of a :class:`~vmkit.machine.Machine`."""

    def _init_proc(self) -> None:
        self.allproc: dict[int, proc] = {}
        self.zombproc: list[proc] = []
        proc0 = proc(0, "swapper")
        proc0.p_flags |= P_SYSTEM
        self.allproc[0] = proc0
        self._nextpid = 1
        self.user_refs = 0
        if self.config.boot_userland:
            from .workload import IdleDaemon
            for name, pages, touch, period in BOOT_DAEMONS:
                self._proc_create(name, [Anon(pages, name)], IdleDaemon(pages, touch, period * self.hz),
                                  refs_per_tick=64, uid=0)
        self._nextpid = max(self._nextpid, self.config.first_user_pid)

    # -- creating processes ------------------------------------------------------------------------
    def spawn(self, name: str, workload: Workload, regions: list | None = None, *,
              refs_per_tick: int | None = None, rss_limit: int | str | None = None, uid: int = 1001) -> proc:
        """Start a user process running ``workload``; return it.

        ``regions`` lays out its address space (default: one anonymous region
        as large as the workload needs).  ``rss_limit`` sets RLIMIT_RSS, in
        pages or with a unit (``"8M"``).
        """
        from .config import parse_size
        from .workload import Workload as _W

        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if not isinstance(workload, _W):
            raise ValueError(f"workload must be a vmkit Workload (e.g. Sequential(pages=100)), got {workload!r}")
        if regions is None:
            regions = workload.regions(self, name)
        rpt = self.config.refs_per_tick if refs_per_tick is None else check_int(
            refs_per_tick, "refs_per_tick", 1, 10_000_000)
        check_int(uid, "uid", 0, 65535)
        limit = None
        if rss_limit is not None:
            limit = check_int(parse_size(rss_limit, "rss_limit", self.PAGE_SIZE), "rss_limit", 0, 1 << 40, " pages")
        p = self._proc_create(name, regions, workload, rpt, uid)
        if limit is not None:
            p.p_rlimit[RLIMIT_RSS] = [limit * self.PAGE_SIZE, limit * self.PAGE_SIZE]
        return p

    def _proc_create(self, name: str, regions: list, workload: Workload, refs_per_tick: int, uid: int) -> proc:
        plan = self.vmspace_plan(regions)      # validates the regions before anything is created
        mapped = sum(n for _, n, _ in plan)
        if workload.npages > mapped:
            raise ValueError(
                f"workload {workload!r} touches {workload.npages} pages but the regions map only {mapped}")
        pid = self._nextpid
        self._nextpid += 1
        p = proc(pid, name)
        p.p_uid = uid
        p.p_vmspace = self.vmspace_alloc(regions, p)
        workload.bind(np.random.default_rng([self.config.seed, pid]))
        p.workload = workload
        p.refs_per_tick = refs_per_tick
        p.p_start_tick = self.ticks
        self.allproc[pid] = p
        p.p_thread = self._thread_create(self._user_main(p), name, p, kernel=False)
        return p

    def pfind(self, pid: int) -> proc | None:
        return self.allproc.get(pid)

    def user_procs(self) -> list[proc]:
        """Live processes started with :meth:`spawn` (not the boot daemons), by pid."""
        first = self.config.first_user_pid
        return [p for pid, p in self.allproc.items() if pid >= first]

    def allproc_scan(self, callback: Callable[[proc, Any], Any], data: Any) -> Generator:
        """Call ``callback(p, data)`` for every process in pid order (``yield from``: callbacks may sleep)."""
        for pid in sorted(self.allproc):
            p = self.allproc.get(pid)
            if p is None:
                continue
            r = callback(p, data)
            if inspect.isgenerator(r):
                yield from r

    # -- signals -----------------------------------------------------------------------------------
    def ksignal(self, p: proc, sig: int) -> None:
        """Post signal ``sig`` to ``p``; a SIGKILL also ends an interruptible sleep."""
        if p.p_stat == SZOMB:
            return
        p.p_siglist.add(sig)
        if p.p_thread is not None:
            self.tsleep_interrupt(p.p_thread)

    def killproc(self, p: proc, why: str) -> None:
        """Log "pid N (comm), uid U, was killed: why" and send SIGKILL (facts §6)."""
        self.kprintf(f"pid {p.p_pid} ({p.p_comm}), uid {p.p_uid}, was killed: {why}")
        p.p_killed_why = why
        self.ksignal(p, SIGKILL)

    def lwp_slptime(self, p: proc) -> int:
        """Seconds the process's thread has been asleep (0 if runnable)."""
        td = p.p_thread
        if td is None or td.td_state != TDS_SLEEP:
            return 0
        return (self.ticks - td.td_slptick) // self.hz

    # -- exit --------------------------------------------------------------------------------------
    def exit1(self, p: proc, sig: int) -> Generator:
        """End ``p`` (``yield from``): free its address space, make it a zombie, reap it."""
        p.p_flags |= P_WEXIT
        p.p_xsig = sig
        vm = p.p_vmspace
        if vm is not None:
            yield from self.vmspace_free(vm)
        p.p_stat = SZOMB
        p.p_exit_tick = self.ticks
        self.allproc.pop(p.p_pid, None)
        self.zombproc.append(p)

    def _exit_if_signalled(self, p: proc) -> Generator:
        """The check on every return to user mode: a fatal signal ends the process."""
        if p.p_siglist:
            sig = min(p.p_siglist)
            yield from self.exit1(p, sig)
            return True
        return False

    # -- user mode ---------------------------------------------------------------------------------
    def _user_main(self, p: proc) -> Generator:
        """The process's thread: run its workload at ``refs_per_tick`` references a tick until it ends."""
        wl = p.workload
        pte = p.p_vmspace.vm_pmap.pm_mv
        vpns = writes = None
        vlist: list[int] | None = None
        wlist: list[bool] | None = None
        pos = end = 0
        window = WINDOW_MIN
        run = 0             # references since the last fault
        avg_run = 0.0       # a moving average of run: how far ahead to look after a fault
        while True:
            if p.p_flags & P_SWAPPEDOUT:
                p.p_flags &= ~P_SWAPPEDOUT      # running again: "swapped back in"
            budget = p.refs_per_tick
            while budget > 0:
                if pos >= end:
                    chunk = wl.next_chunk(CHUNK_REFS)
                    if chunk is None:
                        yield from self.exit1(p, 0)
                        return
                    if isinstance(chunk, int):      # idle: sleep that many ticks
                        yield self.tsleep(p, PCATCH, "nanslp", chunk)
                        if (yield from self._exit_if_signalled(p)):
                            return
                        budget = p.refs_per_tick
                        continue
                    vpns, writes = chunk
                    vlist = wlist = None            # Python lists, made only if the scalar path needs them
                    pos, end = 0, len(vpns)
                    if end == 0:
                        continue
                if vlist is None:
                    v = int(vpns[pos])
                    w = bool(writes[pos])
                else:
                    v = vlist[pos]
                    w = wlist[pos]
                e = pte[v]
                if e < 0 or (w and not e & PG_RW):
                    yield from self.vm_fault(p, v, w)
                    pos += 1
                    budget -= 1
                    avg_run += (run - avg_run) * 0.25
                    run = 0
                    # Look about as far ahead as faults have been apart lately:
                    # short runs go the plain-Python way, long ones to numpy.
                    window = max(WINDOW_MIN, int(2 * avg_run))
                    if (yield from self._exit_if_signalled(p)):
                        return
                    if self.need_resched:
                        yield PREEMPT
                    continue
                n = min(budget, end - pos, window)
                if n <= SCALAR_MAX:
                    if vlist is None:
                        vlist, wlist = vpns.tolist(), writes.tolist()
                    k = self._run_resident_scalar(p, vlist, wlist, pos, n)
                else:
                    k = self._run_resident(p, vpns, writes, pos, n)
                pos += k
                budget -= k
                run += k
                if k == n:
                    window = min(window * 2, WINDOW_MAX)
            # Back to user mode at the clock interrupt: a pending fatal signal ends the process.
            if (yield from self._exit_if_signalled(p)):
                return
            yield QUANTUM

    def _run_resident_scalar(self, p: proc, vlist: list, wlist: list, start: int, n: int) -> int:
        """:meth:`_run_resident` one reference at a time, for short runs (between frequent faults)."""
        vm = p.p_vmspace
        pte = vm.vm_pmap.pm_mv
        slot_mv = vm.vm_slot_mv
        phys = self.phys_mv
        oracle = self.oracle_mv
        check = self.config.check_reads
        k = 0
        while k < n:
            v = vlist[start + k]
            w = wlist[start + k]
            e = pte[v]
            if e < 0 or (w and not e & PG_RW):
                break
            pfn = e >> PTE_SHIFT
            slot = slot_mv[v]
            if check:
                exp, got = oracle[slot], phys[pfn]
                if exp != got:
                    m = self.vm_page_array[pfn]
                    self.oracle_report("read", m.object, m.pindex, exp, got, p.p_pid, v)
            if w:
                self.write_seq += 1
                phys[pfn] = oracle[slot] = self.write_seq
                pte[v] = e | (PG_A | PG_M)
            elif not e & PG_A:
                pte[v] = e | PG_A
            k += 1
        if check:
            self.refs_checked += k
        p.p_refs += k
        return k

    def _run_resident(self, p: proc, vpns: np.ndarray, writes: np.ndarray, start: int, n: int) -> int:
        """Execute references ``[start, start+n)`` that need no fault; return how many were done.

        Stops before the first reference to an invalid PTE or a write to a
        read-only PTE.  For the ones done: A bits set (A|M for writes), reads
        checked against the oracle, writes stamped in frame and oracle.
        """
        vm = p.p_vmspace
        pt = vm.vm_pmap.pm_pte
        v = vpns[start:start + n]
        w = writes[start:start + n]
        e = pt[v]
        bad = (e < 0) | (w & ((e & PG_RW) == 0))
        # The first faulting reference, if any.  (argmax and an index cost a
        # microsecond; ndarray.any() costs five, and this runs once a fault.)
        k = int(bad.argmax())
        if not bad[k]:
            k = n
        if k == 0:
            return 0
        if k < n:
            v, w, e = v[:k], w[:k], e[:k]
        frames = e >> PTE_SHIFT
        phys = self.phys_stamp
        oracle = self.oracle_expected
        slots = vm.vm_slot[v]
        if self.config.check_reads:
            # Every reference (read or write) sees the frame as it was before
            # this run's writes, so this checks each read exactly.
            got = phys[frames]
            exp = oracle[slots]
            bad_reads = got != exp
            if np.count_nonzero(bad_reads):
                for i in (bad_reads & ~w).nonzero()[0][:16].tolist():
                    m = self.vm_page_array[int(frames[i])]
                    self.oracle_report("read", m.object, m.pindex, int(exp[i]), int(got[i]), p.p_pid, int(v[i]))
            self.refs_checked += k
        pt[v] = e | PG_A
        widx = w.nonzero()[0]
        nw = widx.size
        if nw:
            vw = v[widx]
            pt[vw] = e[widx] | (PG_A | PG_M)
            seq = np.arange(self.write_seq + 1, self.write_seq + 1 + nw, dtype=np.int64)
            self.write_seq += nw
            # Stamps only grow, so the maximum is the last write to each frame or slot.
            np.maximum.at(phys, frames[widx], seq)
            np.maximum.at(oracle, slots[widx], seq)
        p.p_refs += k
        return k
