"""The kernel core: one clock, threads as generators, tsleep/wakeup, kprintf.

Mirrors the parts of DragonFly's ``kern_synch.c``, ``kern_clock.c`` and
``lwkt_thread.c`` that the page-out daemon relies on (facts §8):

* ``ticks`` advances ``hz`` times per simulated second;
* a kernel thread or a user process is a Python generator; it blocks by
  yielding a request, the way SimPy processes yield events::

      error = yield vm.tsleep(ident, 0, "psleep", hz)   # 0 if woken, EWOULDBLOCK on timeout

  A function that may block is itself a generator and is called with
  ``yield from``, so every place where a thread can sleep is marked in the
  code;
* ``wakeup(ident)`` wakes every thread sleeping on ``ident``;
* ``lwkt_yield()`` lets other threads run; a kernel thread that yields more
  than ``kthread_yields_per_tick`` times in one tick continues at the next
  tick, which is how kernel CPU time costs simulated time.

Scheduling is deterministic: kernel threads run before user processes; a
user process that wakes a kernel thread (for example by calling
``pagedaemon_wakeup()``) is preempted after the current fault so the kernel
thread runs first, as it would on a second CPU.  Threads run in the order
they became runnable.  Sleep identifiers ("wait channels") are the objects
the kernel sleeps on: a ``vm_page``, a process, a vnode, or a string naming a
kernel global such as ``"vm_pages_needed"`` for ``&vm_pages_needed``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Generator, Hashable
from typing import Any

from .config import check_int
from .constants import EINTR, EWOULDBLOCK, TDF_SYSTHREAD

TDS_RUN = 0
TDS_SLEEP = 1
TDS_EXIT = 2

# The kernel's "addresses" used as wait channels for globals.
VM_PAGES_NEEDED = "vm_pages_needed"
V_FREE_COUNT = "vmstats.v_free_count"
VM_PAGEOUT_PAGES_NEEDED = "vm_pageout_pages_needed"
VM_PAGEDAEMON_TIME = "vm_pagedaemon_time"
SEQUENCE_EMERG_PAGER = "sequence_emerg_pager"
VM_DAEMON_NEEDED = "vm_daemon_needed"
IODONE = "iodone"


class SleepRequest:
    """What ``tsleep()`` returns; a thread yields it to block."""

    __slots__ = ("ident", "flags", "wmesg", "timo")

    def __init__(self, ident: Hashable, flags: int, wmesg: str, timo: int) -> None:
        self.ident = ident
        self.flags = flags
        self.wmesg = wmesg
        self.timo = timo

    def __repr__(self) -> str:
        return f"tsleep({self.ident!r}, {self.flags}, {self.wmesg!r}, {self.timo})"


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Yielded by lwkt_yield(): let other runnable threads go first.
YIELD = _Marker("YIELD")
#: Yielded by a user process that has used this tick's references.
QUANTUM = _Marker("QUANTUM")
#: Yielded by a user process after it woke a kernel thread.
PREEMPT = _Marker("PREEMPT")

PCATCH = 0x100  # tsleep flag: a signal interrupts the sleep with EINTR


class thread:
    """A kernel thread or the single thread (LWP) of a user process.

    ``td_proc`` is the process for a user thread and ``None`` for a kernel
    thread.  ``td_wchan``/``td_wmesg`` say what a sleeping thread waits on,
    as ``ps -axl`` shows it.
    """

    __slots__ = (
        "td_tid", "td_name", "td_gen", "td_proc", "td_flags", "td_state",
        "td_wchan", "td_wmesg", "td_sleepseq", "td_value", "td_yields",
        "td_yield_tick", "td_slptick", "td_sleepflags", "td_kernel",
    )

    def __init__(self, tid: int, name: str, gen: Generator, proc: Any, kernel: bool) -> None:
        self.td_tid = tid
        self.td_name = name
        self.td_gen = gen
        self.td_proc = proc
        self.td_flags = TDF_SYSTHREAD if kernel else 0
        self.td_kernel = kernel
        self.td_state = TDS_RUN
        self.td_wchan: Hashable = None
        self.td_wmesg = ""
        self.td_sleepseq = 0
        self.td_value: Any = None
        self.td_yields = 0
        self.td_yield_tick = -1
        self.td_slptick = 0
        self.td_sleepflags = 0

    def __repr__(self) -> str:
        state = {TDS_RUN: "run", TDS_SLEEP: f"sleep:{self.td_wmesg}", TDS_EXIT: "exit"}[self.td_state]
        return f"<thread {self.td_tid} {self.td_name} {state}>"


class KernelThreadError(RuntimeError):
    """A simulated kernel thread raised: a bug in vmkit or in code plugged into it."""


class KernelPanic(RuntimeError):
    """The simulated kernel called ``panic()``: an invariant the kernel asserts was broken."""


class KernMixin:
    """Clock, scheduler and sleep queues of a :class:`~vmkit.machine.Machine`."""

    def _init_kern(self) -> None:
        cfg = self.config
        self.hz: int = cfg.hz
        self.ticks: int = 0
        self.curthread: thread | None = None
        self.allthreads: list[thread] = []
        self._next_tid = 1
        self._sleepq: dict[Hashable, list[thread]] = {}
        self._timeouts: list[tuple[int, int, thread, int]] = []
        self._callouts: list[tuple[int, int, Callable, tuple]] = []
        self._seq = 0
        self._krunq: deque[thread] = deque()
        self._urunq: deque[thread] = deque()
        self._knext: list[thread] = []
        self._unext: list[thread] = []
        self._yield_limit = cfg.kthread_yields_per_tick
        self.need_resched = False
        self._tick_open = False       # a tick was interrupted by a break and is not finished
        self._break = False           # stop the scheduler at the next opportunity
        self._break_at_event = 0      # ... once the event log has this many rows
        self.dmesg_lines: list[str] = []
        self.dmesg_ticks: list[int] = []

    # -- time --------------------------------------------------------------------------------------
    @property
    def time_uptime(self) -> int:
        """Whole simulated seconds since boot (DragonFly's ``time_uptime``)."""
        return self.ticks // self.hz

    # -- the kernel log ----------------------------------------------------------------------------
    def kprintf(self, text: str) -> None:
        """Append one line to the kernel message buffer (``dmesg``)."""
        self.dmesg_lines.append(text.rstrip("\n"))
        self.dmesg_ticks.append(self.ticks)

    def panic(self, msg: str) -> None:
        """Stop the machine: raise :class:`KernelPanic` with ``msg`` (the kernel's ``panic()``)."""
        raise KernelPanic(f"panic: {msg} (tick {self.ticks})")

    def dmesg(self) -> list[str]:
        """The kernel log so far, one string per line, as ``dmesg`` prints it."""
        return list(self.dmesg_lines)

    # -- threads -----------------------------------------------------------------------------------
    def kthread_create(self, func: Callable[..., Generator], name: str, *args: Any) -> thread:
        """Start a kernel thread running generator function ``func(*args)``; return it."""
        return self._thread_create(func(*args), name, None, kernel=True)

    def _thread_create(self, gen: Generator, name: str, proc: Any, kernel: bool) -> thread:
        td = thread(self._next_tid, name, gen, proc, kernel)
        self._next_tid += 1
        self.allthreads.append(td)
        (self._krunq if kernel else self._urunq).append(td)
        return td

    # -- sleeping and waking -----------------------------------------------------------------------
    def tsleep(self, ident: Hashable, flags: int, wmesg: str, timo: int) -> SleepRequest:
        """Block the current thread on ``ident`` for at most ``timo`` ticks (0: forever).

        Use as ``error = yield vm.tsleep(...)``: the thread resumes with 0 when
        woken by ``wakeup(ident)``, ``EWOULDBLOCK`` on timeout, and ``EINTR``
        when a signal arrives and ``flags`` has ``PCATCH`` (facts §8).
        """
        check_int(timo, "timo", 0, 1 << 62, " ticks")
        return SleepRequest(ident, flags, wmesg, timo)

    def wakeup(self, ident: Hashable) -> None:
        """Make every thread sleeping on ``ident`` runnable (facts §8)."""
        sleepers = self._sleepq.pop(ident, None)
        if not sleepers:
            return
        for td in sleepers:
            self._setrunnable(td, 0)

    def _setrunnable(self, td: thread, value: int) -> None:
        td.td_state = TDS_RUN
        td.td_value = value
        td.td_wchan = None
        td.td_sleepseq += 1
        if td.td_kernel:
            self._krunq.append(td)
            cur = self.curthread
            if cur is not None and not cur.td_kernel:
                self.need_resched = True
        else:
            self._urunq.append(td)

    def _unsleep(self, td: thread) -> None:
        lst = self._sleepq.get(td.td_wchan)
        if lst is not None:
            lst.remove(td)
            if not lst:
                del self._sleepq[td.td_wchan]

    def tsleep_interrupt(self, td: thread) -> bool:
        """Deliver a signal to ``td``: end a ``PCATCH`` sleep with ``EINTR``. Returns True if it was ended."""
        if td.td_state == TDS_SLEEP and td.td_sleepflags & PCATCH:
            self._unsleep(td)
            self._setrunnable(td, EINTR)
            return True
        return False

    def lwkt_yield(self) -> _Marker:
        """Let other runnable threads run (``yield vm.lwkt_yield()``)."""
        return YIELD

    # -- callouts: work scheduled for a later tick (device interrupts) -----------------------------
    def callout_reset(self, delay: int, func: Callable, *args: Any) -> None:
        """Run ``func(*args)`` at the start of tick ``ticks + delay`` (delay >= 1), in interrupt context."""
        self._seq += 1
        heapq.heappush(self._callouts, (self.ticks + max(1, delay), self._seq, func, args))

    # -- the clock ---------------------------------------------------------------------------------
    def _hardclock(self) -> None:
        """Advance one tick: expire tsleep timeouts, then run due callouts."""
        self.ticks += 1
        now = self.ticks
        to = self._timeouts
        while to and to[0][0] <= now:
            _, _, td, seq = heapq.heappop(to)
            if td.td_state == TDS_SLEEP and td.td_sleepseq == seq:
                self._unsleep(td)
                self._setrunnable(td, EWOULDBLOCK)
        co = self._callouts
        while co and co[0][0] <= now:
            _, _, func, args = heapq.heappop(co)
            func(*args)

    def _next_event_tick(self) -> int | None:
        """The earliest future tick at which a timeout or callout is due."""
        to = self._timeouts
        while to and not (to[0][2].td_state == TDS_SLEEP and to[0][2].td_sleepseq == to[0][3]):
            heapq.heappop(to)
        cands = []
        if to:
            cands.append(to[0][0])
        if self._callouts:
            cands.append(self._callouts[0][0])
        return min(cands) if cands else None

    def _has_work_next_tick(self) -> bool:
        return bool(self._knext or self._unext or self._krunq or self._urunq)

    # -- the scheduler -----------------------------------------------------------------------------
    def _run_tick(self) -> None:
        """Run every runnable thread until all have blocked or used this tick.

        If a break is requested (``self._break``, set by the stepping
        controls), stop between two threads or at a thread's next
        ``lwkt_yield()`` and leave the tick open: the next call carries on
        with the same tick.
        """
        if not self._tick_open:
            if self._knext:
                self._krunq.extend(self._knext)
                self._knext.clear()
            if self._unext:
                self._urunq.extend(self._unext)
                self._unext.clear()
        self._tick_open = True
        krunq, urunq = self._krunq, self._urunq
        while True:
            if self._break:
                self.curthread = None
                return
            if krunq:
                td = krunq.popleft()
            elif urunq:
                td = urunq.popleft()
            else:
                break
            self._switch(td)
        self._tick_open = False
        self.curthread = None

    def _switch(self, td: thread) -> None:
        """Run ``td`` until it blocks, yields to another thread, or ends."""
        self.curthread = td
        self.need_resched = False
        value, td.td_value = td.td_value, None
        send = td.td_gen.send
        while True:
            try:
                req = send(value)
            except StopIteration:
                td.td_state = TDS_EXIT
                return
            except KernelPanic:
                td.td_state = TDS_EXIT
                raise
            except Exception as exc:  # a bug: say which thread, keep the cause
                td.td_state = TDS_EXIT
                raise KernelThreadError(
                    f"thread {td.td_name!r} (tid {td.td_tid}) raised {type(exc).__name__} at tick {self.ticks}: {exc}"
                ) from exc
            if req is YIELD:
                if td.td_yield_tick != self.ticks:
                    td.td_yield_tick = self.ticks
                    td.td_yields = 0
                td.td_yields += 1
                if td.td_yields >= self._yield_limit:
                    (self._knext if td.td_kernel else self._unext).append(td)   # out of CPU for this tick
                    return
                if self._break_at_event and len(self._ev_rows) >= self._break_at_event:
                    self._break = True
                if self._break:           # stepping: stop here, carry on from here next time
                    (self._krunq if td.td_kernel else self._urunq).appendleft(td)
                    return
                if td.td_kernel and not self._krunq:
                    value = None                  # nobody else at kernel priority: carry on
                    continue
                (self._krunq if td.td_kernel else self._urunq).append(td)
                return
            break
        if type(req) is SleepRequest:
            if req.timo < 0:
                raise KernelThreadError(f"thread {td.td_name!r}: tsleep with negative timeout {req.timo}")
            td.td_state = TDS_SLEEP
            td.td_wchan = req.ident
            td.td_wmesg = req.wmesg
            td.td_sleepflags = req.flags
            td.td_slptick = self.ticks
            td.td_sleepseq += 1
            self._sleepq.setdefault(req.ident, []).append(td)
            if req.timo:
                self._seq += 1
                heapq.heappush(self._timeouts, (self.ticks + req.timo, self._seq, td, td.td_sleepseq))
        elif req is QUANTUM:
            self._unext.append(td)
        elif req is PREEMPT:
            self._urunq.appendleft(td)
        else:
            td.td_state = TDS_EXIT
            raise KernelThreadError(
                f"thread {td.td_name!r} yielded {req!r}; yield vm.tsleep(...), vm.lwkt_yield() or use 'yield from'"
            )

    def sleeping_on(self, ident: Hashable) -> list[thread]:
        """Threads currently sleeping on ``ident`` (for tests and notebooks)."""
        return list(self._sleepq.get(ident, ()))
