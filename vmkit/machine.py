"""The emulated machine: one object that owns the clock, memory, queues, disks, processes and log.

>>> from vmkit import Machine, Sequential
>>> m = Machine(ram="16M", swap="32M", seed=1)
>>> p = m.spawn("sweep", Sequential(pages=1000, writes=0.5))
>>> m.run()                      # until every spawned process has finished
>>> m.check()                    # the invariant checker: raises if anything is inconsistent
>>> m.lost_writes                # the data-integrity oracle's findings
[]

Each subsystem lives in its own module as a mixin (``vmkit.vm_page``,
``vmkit.pmap``, ``vmkit.swap_pager``, ...), and kernel functions keep their
kernel names, so the daemon's code calls ``vm.vm_page_deactivate(m)`` or
``vm.pmap_ts_referenced(m)`` as the C calls ``vm_page_deactivate(m)``.
Nothing is global: two machines in one notebook are independent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .check import check_machine
from .config import VMConfig, check_int
from .constants import OBJT_NAMES, PQ_ACTIVE, PQ_CACHE, PQ_FREE, PQ_HOLD, PQ_INACTIVE, SSTAT_NAMES
from .events import RecorderMixin
from .kern import TDS_SLEEP, KernMixin
from .oracle import OracleMixin
from .override import OverrideMixin
from .pmap import PmapMixin
from .proc import ProcMixin
from .swap_pager import SwapPagerMixin
from .sysctl import SysctlMixin
from .vfs_bio import BioMixin
from .vfs_sync import SyncerMixin
from .vm_fault import VmFaultMixin
from .vm_glue import VmGlueMixin
from .vm_map import VmMapMixin
from .vm_object import VmObjectMixin
from .vm_page import VmPageMixin
from .vm_pageout import PageoutMixin
from .vm_pager import VmPagerMixin
from .vnode_pager import VnodePagerMixin


class MachineStalled(RuntimeError):
    """``run()`` found that no process can make progress (for example: out of memory and no page daemon)."""


class Machine(
    KernMixin,
    PageoutMixin,
    OracleMixin,
    PmapMixin,
    VmPageMixin,
    VmObjectMixin,
    VmMapMixin,
    BioMixin,
    SwapPagerMixin,
    VnodePagerMixin,
    SyncerMixin,
    VmPagerMixin,
    VmFaultMixin,
    ProcMixin,
    VmGlueMixin,
    RecorderMixin,
    SysctlMixin,
    OverrideMixin,
):
    """An emulated computer running the DragonFly VM system.

    ``Machine(ram="64M", swap="128M", seed=1)`` or ``Machine(VMConfig(...))``;
    see :class:`~vmkit.config.VMConfig` for every setting.
    """

    def __init__(self, config: VMConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = VMConfig.from_kwargs(**kwargs)
        elif not isinstance(config, VMConfig):
            raise ValueError(f"config must be a VMConfig, got {type(config).__name__}")
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config
        self._init_kern()
        self._init_recorder()
        self._init_override()
        self._init_pageout()
        self._init_oracle()
        self._init_pmap()
        self._init_vm_page()
        self._init_vm_object()
        self._init_bio()
        self._init_swap()
        self._init_vnode()
        self._init_syncer()
        self._init_vm_glue()
        if config.pagedaemon:
            self._start_pageout_daemons()
        self._init_proc()

    # -- running -----------------------------------------------------------------------------------
    def run(self, until: int | None = None, *, seconds: float | None = None, stop_when_done: bool = False) -> None:
        """Run the machine.

        ``until`` is an absolute tick; ``seconds`` runs that many simulated
        seconds from now.  With neither, run until every process started with
        :meth:`spawn` has finished; raise :class:`MachineStalled` if none of
        them can make progress for ``stall_seconds``.  With ``until`` or
        ``seconds`` and ``stop_when_done``, also stop early once every spawned
        process has finished.
        """
        if until is not None and seconds is not None:
            raise ValueError("give until (a tick) or seconds, not both")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 1e7:
                raise ValueError(f"seconds must be a number between 0 and 10000000, got {seconds!r}")
            until = self.ticks + int(round(seconds * self.hz))
        elif until is not None:
            check_int(until, "until", 0, 1 << 62, " ticks")
            if until < self.ticks:
                raise ValueError(f"until must not be in the past: the machine is at tick {self.ticks}, got {until}")
        elif not self.user_procs():
            raise ValueError("nothing to run: spawn a process first, or give until= or seconds=")
        else:
            endless = [p for p in self.user_procs() if p.workload is not None and not p.workload.finite]
            if endless:
                p = endless[0]
                raise ValueError(f"pid {p.p_pid} ({p.p_comm}) runs {p.workload!r}, which never ends: "
                                 "give until= or seconds=")
        self._break = False
        if self._tick_open:                 # finish a tick a step interrupted
            self._run_tick()
            self._sample_stats()
            if self._break:
                return
        stall_limit = self.config.stall_seconds * self.hz
        progress: dict[int, tuple[int, int]] = {}    # pid -> (refs, tick of last progress)
        next_check = self.ticks
        while True:
            if until is not None:
                if self.ticks >= until or (stop_when_done and not self.user_procs()):
                    break
            elif not self.user_procs():
                break
            if not self._has_work_next_tick():
                nxt = self._next_event_tick()
                if nxt is None:
                    if until is None:
                        raise MachineStalled(self._stall_message("nothing is scheduled to happen ever again"))
                    self.ticks = until
                    break
                jump = nxt - 1 if until is None else min(nxt - 1, until - 1)
                if jump > self.ticks:
                    self.ticks = jump
            self._hardclock()
            self._run_tick()
            if self._break:
                return
            self._sample_stats()
            if until is None and self.ticks >= next_check:
                next_check = self.ticks + self.hz        # once a simulated second is plenty
                if self._stalled(progress, stall_limit):
                    raise MachineStalled(self._stall_message(
                        f"no running process made a memory reference for {self.config.stall_seconds} "
                        "simulated seconds"))

    # -- stepping (notebooks) ---------------------------------------------------------------------
    def step(self, decisions: int = 1, max_seconds: float = 3600.0) -> int:
        """Run until the page daemon has made ``decisions`` more decisions (event-log rows); return how many.

        The machine stops inside the daemon's scan, right after the decision,
        and the next ``run``/``step`` carries on from there.  Stops sooner if
        ``max_seconds`` of simulated time pass first.
        """
        check_int(decisions, "decisions", 1, 1 << 40)
        self.record_events = True
        start = self.event_count()
        self._break_at_event = start + decisions
        try:
            self.run(until=self.ticks + int(max_seconds * self.hz))
        finally:
            self._break_at_event = 0
        return self.event_count() - start

    def step_pass(self, max_seconds: float = 3600.0) -> bool:
        """Run until the page daemon finishes its next pass; return False if none finished in ``max_seconds``."""
        done = []

        def hook(vm: Machine, isep: int) -> None:
            done.append(isep)
            vm._break = True

        self.pass_hooks.append(hook)
        try:
            self.run(until=self.ticks + int(max_seconds * self.hz))
        finally:
            self.pass_hooks.remove(hook)
        return bool(done)

    def _stalled(self, progress: dict[int, tuple[int, int]], limit: int) -> bool:
        """True if every process that wants to run has made no reference for ``limit`` ticks.

        A process asleep by its own choice (an idle program, in "nanslp") is
        not stuck and does not count.
        """
        now = self.ticks
        stuck = False
        for p in self.user_procs():
            td = p.p_thread
            idle = td is not None and td.td_state == TDS_SLEEP and td.td_wmesg == "nanslp"
            last = progress.get(p.p_pid)
            if idle or last is None or last[0] != p.p_refs:
                progress[p.p_pid] = (p.p_refs, now)
                if not idle:
                    return False
            elif now - last[1] <= limit:
                return False
            else:
                stuck = True
        return stuck

    def _stall_message(self, why: str) -> str:
        def state(p: Any) -> str:
            td = p.p_thread
            return f"sleeping on {td.td_wmesg}" if td.td_state == TDS_SLEEP else "runnable"

        waits = ", ".join(f"pid {p.p_pid} ({p.p_comm}) {state(p)}" for p in self.user_procs())
        vs = self.vmstats
        return (f"machine stalled at tick {self.ticks}: {why}. Processes: {waits}. "
                f"free={vs.v_free_count} cache={vs.v_cache_count} inactive={vs.v_inactive_count} "
                f"active={vs.v_active_count}, swap free={self.vm_swap_size}. "
                "If memory is full, the page daemon must be running to free it.")

    # -- checks and summaries ----------------------------------------------------------------------
    def run_in_thread(self, genfunc: Any, *args: Any, max_ticks: int = 100000, name: str = "call") -> Any:
        """Run ``genfunc(*args)`` (a kernel function that may sleep) as a kernel thread; return its result.

        The machine runs tick by tick until the thread ends; other threads run
        as usual meanwhile.  For tests, exercises and the assignments' batteries,
        which call one daemon function on a machine set up by hand.
        """
        check_int(max_ticks, "max_ticks", 1, 1 << 40)
        box: dict[str, Any] = {}

        def main() -> Any:
            box["result"] = yield from genfunc(*args)
            box["done"] = True

        self.kthread_create(main, name)
        start = self.ticks
        while "done" not in box:
            if self.ticks - start > max_ticks:
                raise MachineStalled(f"{name} did not finish within {max_ticks} ticks")
            self.run(until=self.ticks + 1)
        return box["result"]

    def check(self) -> None:
        """Run the invariant checker; raise ``InvariantError`` listing every violation (see :mod:`vmkit.check`)."""
        check_machine(self)

    def vmstats_dict(self) -> dict[str, int]:
        return self.vmstats.as_dict()

    def counters(self) -> dict[str, int]:
        """Event counters (``vmstat -s``) and daemon counters."""
        c = self.cnt.as_dict()
        c["swap_writes"] = self.swapdev.writes
        c["swap_pages_written"] = self.swapdev.pages_written
        c["swap_reads"] = self.swapdev.reads
        c["file_writes"] = self.filedev.writes
        c["file_reads"] = self.filedev.reads
        return c

    def processes(self) -> list[dict[str, Any]]:
        """One dict per process (live ones, then exited ones): pid, name, state, rss and limit in pages."""
        rows = []
        for p in list(self.allproc.values()) + self.zombproc:
            lim = p.p_rlimit[5][0]
            rows.append({
                "pid": p.p_pid, "name": p.p_comm, "state": SSTAT_NAMES.get(p.p_stat, p.p_stat),
                "rss_pages": p.rss_pages,
                "rss_limit_pages": None if lim >= (1 << 62) else lim // self.PAGE_SIZE,
                "refs": p.p_refs, "minflt": p.p_minflt, "majflt": p.p_majflt,
            })
        return rows

    def summary(self) -> dict[str, Any]:
        """The state of the machine as plain data (JSON-ready)."""
        return {
            "ticks": self.ticks,
            "seconds": self.ticks / self.hz,
            "references": sum(p.p_refs for p in list(self.allproc.values()) + self.zombproc),
            "faults": self.cnt.v_vm_faults,
            "counters": self.counters(),
            "vmstats": self.vmstats_dict(),
            "processes": self.processes(),
            "swap": {"total": self.vm_swap_max, "free": self.vm_swap_size,
                     "full": self.swap_pager_full, "almost_full": self.swap_pager_almost_full},
            "dmesg": self.dmesg(),
            "lost_writes": len(self.lost_writes),
            "refs_checked": self.refs_checked,
        }

    def queue_counts(self) -> dict[str, int]:
        """Pages on each queue (all colours)."""
        return {name: self.queue_count(base) for name, base in
                (("free", PQ_FREE), ("cache", PQ_CACHE), ("inactive", PQ_INACTIVE),
                 ("active", PQ_ACTIVE), ("hold", PQ_HOLD))}

    def state_digest(self) -> str:
        """A hash of the whole machine state: two runs with one seed give the same digest."""
        h = hashlib.sha256()
        h.update(repr((self.ticks, self.vmstats_dict(), self.counters(), self.dmesg_lines,
                       self.vm_swap_size, self.swap_pager_full, self.write_seq)).encode())
        h.update(self.phys_stamp.tobytes())
        h.update(self.swap_stamp.tobytes())
        h.update(self.oracle_expected[: self._oracle_used].tobytes())
        for q in self.vm_page_queues:
            if q.lcnt:
                h.update(repr((q.index, [m.pfn for m in q])).encode())
        # Every page's state, not only its place on the queues.
        h.update(repr([(m.flags, m.act_count, m.dirty, m.valid, m.busy, m.hold_count, m.wire_count,
                        -1 if m.object is None else m.object.id, m.pindex) for m in self.vm_page_array]).encode())
        h.update(repr([(td.td_tid, td.td_state, td.td_wmesg) for td in self.allthreads]).encode())
        for obj in self.vm_objects():
            h.update(repr((obj.id, OBJT_NAMES[obj.type], sorted(obj.swblock.items()))).encode())
        for p in list(self.allproc.values()) + self.zombproc:
            h.update(repr((p.p_pid, p.p_stat, p.p_refs, p.rss_pages)).encode())
            if p.p_vmspace is not None and p.p_vmspace.vm_pmap.pm_npages:
                h.update(p.p_vmspace.vm_pmap.pm_pte.tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        vs = self.vmstats
        return (f"<Machine ram={self.config.ram_pages}p swap={self.config.swap_pages}p tick={self.ticks} "
                f"free={vs.v_free_count} cache={vs.v_cache_count} inactive={vs.v_inactive_count} "
                f"active={vs.v_active_count} procs={len(self.allproc)}>")
