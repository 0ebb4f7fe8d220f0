"""Physical pages, the page queues, vmstats, and the vm_page operations.

Mirrors DragonFly's ``vm_page.h``, ``vm_page2.h`` and the parts of
``vm_page.c`` that the page-out daemon calls, with the behaviour stated in
../shared/reference/dragonfly-vm-facts.md §2-§4.

* :class:`vm_page` has every field the seed touches (facts §2 lists widths).
* The queues FREE, INACTIVE, ACTIVE, CACHE and HOLD are each split into
  ``PQ_L2_SIZE`` colour sub-queues; a page on a queue has
  ``m.queue == base + m.pc`` (facts §1).  A queue is a doubly linked list
  threaded through the pages (the kernel's ``TAILQ``), so insert, remove and
  marker hops are O(1).
* ``vmstats`` counts pages per queue.  DragonFly keeps per-CPU pending
  adjustments and rolls them up each tick (facts §3); vmkit keeps the counts
  exact at all times and ``vmstats_rollup()`` is a no-op (docs/fidelity.md).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .constants import (
    ACT_INIT,
    P_LOWMEMKILL,
    PG,
    PG_ALLOC_KEEP,
    PG_BUSY,
    PG_FICTITIOUS,
    PG_MAPPED,
    PG_MARKER,
    PG_NEED_COMMIT,
    PG_REFERENCED,
    PG_SBUSY,
    PG_UNMANAGED,
    PG_WANTED,
    PG_WINATCFLS,
    PG_WRITEABLE,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_COUNT,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    PQ_NAMES,
    PQ_NONE,
    PQ_SET_ASSOC,
    TDF_SYSTHREAD,
    VM_ALLOC_INTERRUPT,
    VM_ALLOC_NORMAL,
    VM_ALLOC_SYSTEM,
    VM_PAGE_BITS_ALL,
    VM_PROT_NONE,
    VM_PROT_READ,
)
from .kern import V_FREE_COUNT, VM_PAGEOUT_PAGES_NEEDED, VM_PAGES_NEEDED

if TYPE_CHECKING:  # pragma: no cover
    from .vm_object import vm_object


class vm_page:
    """One physical page (``struct vm_page``).

    ``pq_next``/``pq_prev`` are the ``pageq`` TAILQ links; ``md_pv`` is the
    pmap's reverse map, a list of ``(pmap, vpn)`` for every mapping of the
    page (facts §5).  ``phys_addr`` is the frame's physical address and
    ``pfn`` its frame number; a marker page has ``pfn == -1``.
    """

    __slots__ = (
        "object", "pindex", "queue", "pc", "flags", "act_count", "busy",
        "hold_count", "wire_count", "valid", "dirty", "pq_next", "pq_prev",
        "md_pv", "phys_addr", "pfn",
    )

    def __init__(self, pfn: int, pc: int, page_shift: int = 12) -> None:
        self.object: vm_object | None = None
        self.pindex = 0
        self.queue = PQ_NONE
        self.pc = pc
        self.flags = 0
        self.act_count = 0
        self.busy = 0
        self.hold_count = 0
        self.wire_count = 0
        self.valid = 0
        self.dirty = 0
        self.pq_next: vm_page | None = None
        self.pq_prev: vm_page | None = None
        self.md_pv: list = []
        self.phys_addr = pfn << page_shift if pfn >= 0 else 0
        self.pfn = pfn

    def __repr__(self) -> str:
        if self.flags & PG_MARKER:
            return f"<vm_page marker queue={self.queue}>"
        base = self.queue - self.pc
        qname = PQ_NAMES.get(base, str(self.queue)) if self.queue else "NONE"
        obj = "-" if self.object is None else f"obj{self.object.id}:{self.pindex}"
        return (
            f"<vm_page pfn={self.pfn} {obj} {qname}+{self.pc} act={self.act_count} "
            f"dirty={self.dirty:#x} flags={PG(self.flags)!r}>"
        )


def vm_page_marker(queue: int, pc: int) -> vm_page:
    """A scan marker as the seed builds one: ``PG_BUSY | PG_FICTITIOUS | PG_MARKER``, wired, on ``queue``."""
    marker = vm_page(-1, pc)
    marker.flags = PG_BUSY | PG_FICTITIOUS | PG_MARKER
    marker.queue = queue
    marker.wire_count = 1
    return marker


class vpgqueue:
    """One colour sub-queue (``struct vpgqueues``): its TAILQ, ``lcnt`` and the vmstats counter it feeds."""

    __slots__ = ("pl_first", "pl_last", "lcnt", "cnt_offset", "index")

    def __init__(self, index: int, cnt_offset: str | None) -> None:
        self.pl_first: vm_page | None = None
        self.pl_last: vm_page | None = None
        self.lcnt = 0
        self.cnt_offset = cnt_offset
        self.index = index

    def __iter__(self):
        m = self.pl_first
        while m is not None:
            nxt = m.pq_next
            yield m
            m = nxt

    def __repr__(self) -> str:
        return f"<vpgqueue {self.index} lcnt={self.lcnt}>"


# --- TAILQ operations: they link and unlink only; counts are the caller's job --------

def TAILQ_FIRST(q: vpgqueue) -> vm_page | None:
    return q.pl_first


def TAILQ_NEXT(m: vm_page) -> vm_page | None:
    return m.pq_next


def TAILQ_INSERT_HEAD(q: vpgqueue, m: vm_page) -> None:
    first = q.pl_first
    m.pq_prev = None
    m.pq_next = first
    if first is None:
        q.pl_last = m
    else:
        first.pq_prev = m
    q.pl_first = m


def TAILQ_INSERT_TAIL(q: vpgqueue, m: vm_page) -> None:
    last = q.pl_last
    m.pq_next = None
    m.pq_prev = last
    if last is None:
        q.pl_first = m
    else:
        last.pq_next = m
    q.pl_last = m


def TAILQ_INSERT_AFTER(q: vpgqueue, listelm: vm_page, m: vm_page) -> None:
    nxt = listelm.pq_next
    m.pq_prev = listelm
    m.pq_next = nxt
    if nxt is None:
        q.pl_last = m
    else:
        nxt.pq_prev = m
    listelm.pq_next = m


def TAILQ_REMOVE(q: vpgqueue, m: vm_page) -> None:
    prev, nxt = m.pq_prev, m.pq_next
    if prev is None:
        q.pl_first = nxt
    else:
        prev.pq_next = nxt
    if nxt is None:
        q.pl_last = prev
    else:
        nxt.pq_prev = prev
    m.pq_prev = m.pq_next = None


class vmstats_t:
    """``struct vmstats`` (facts §3): page counts and the daemon's thresholds."""

    __slots__ = (
        "v_page_count", "v_free_reserved", "v_free_target", "v_free_min",
        "v_free_severe", "v_cache_min", "v_cache_max", "v_pageout_free_min",
        "v_interrupt_free_min", "v_free_count", "v_wire_count", "v_active_count",
        "v_inactive_target", "v_inactive_count", "v_cache_count",
    )

    def __init__(self) -> None:
        for f in self.__slots__:
            setattr(self, f, 0)

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in self.__slots__}

    def __repr__(self) -> str:
        return "vmstats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


class vmmeter_t:
    """Event counters (``struct vmmeter``, the kernel's ``gd_cnt``), summed over CPUs."""

    __slots__ = (
        "v_vm_faults", "v_zfod", "v_intrans", "v_reactivated", "v_pdwakeups",
        "v_pdpages", "v_dfree", "v_pfree", "v_tfree", "v_swapin", "v_swapout",
        "v_swappgsin", "v_swappgsout", "v_vnodein", "v_vnodeout",
        "v_vnodepgsin", "v_vnodepgsout",
    )

    def __init__(self) -> None:
        for f in self.__slots__:
            setattr(self, f, 0)

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in self.__slots__}


_QUEUE_COUNTER = {
    PQ_FREE: "v_free_count",
    PQ_CACHE: "v_cache_count",
    PQ_INACTIVE: "v_inactive_count",
    PQ_ACTIVE: "v_active_count",
    PQ_HOLD: "v_active_count",   # facts §1: both ACTIVE and HOLD feed v_active_count
}


class VmPageMixin:
    """The ``vm_page.c`` operations of a :class:`~vmkit.machine.Machine` (facts §4)."""

    def _init_vm_page(self) -> None:
        """Build ``vm_page_array`` and put every page on the free queues (``vm_page_startup``)."""
        cfg = self.config
        L2 = cfg.pq_l2_size
        self.PQ_L2_SIZE = L2
        self.PQ_L2_MASK = L2 - 1
        self.vmstats = vmstats_t()
        self.cnt = vmmeter_t()
        queues = []
        for i in range(PQ_COUNT):
            base = PQ_NONE if i == 0 else 1 + ((i - 1) // 512) * 512
            queues.append(vpgqueue(i, _QUEUE_COUNTER.get(base)))
        self.vm_page_queues = queues
        self.vm_swapcache_inactive_heuristic = 0
        self.vm_pages_waiting = 0
        npages = cfg.ram_pages
        shift = cfg.page_shift
        mask = L2 - 1
        # Page colour as vm_add_new_page computes it (facts §1), with this machine's PQ_L2_SIZE.
        arr = [vm_page(pfn, (pfn ^ (pfn // L2) ^ (pfn // (L2 * L2))) & mask, shift) for pfn in range(npages)]
        self.vm_page_array = arr
        # Link the pages onto FREE + pc in frame order (so allocation starts at low frames).
        tails: list[vm_page | None] = [None] * L2
        for m in arr:
            c = m.pc
            m.queue = PQ_FREE + c
            t = tails[c]
            if t is None:
                queues[PQ_FREE + c].pl_first = m
            else:
                t.pq_next = m
                m.pq_prev = t
            tails[c] = m
        for c in range(L2):
            q = queues[PQ_FREE + c]
            q.pl_last = tails[c]
        for m in arr:
            queues[m.queue].lcnt += 1
        self.vmstats.v_page_count = npages
        self.vmstats.v_free_count = npages

    # -- flags -------------------------------------------------------------------------------------
    @staticmethod
    def vm_page_flag_set(m: vm_page, bits: int) -> None:
        m.flags |= bits

    @staticmethod
    def vm_page_flag_clear(m: vm_page, bits: int) -> None:
        m.flags &= ~bits

    # -- queue membership (the kernel's _vm_page_add/rem_queue_spinlocked) -------------------------
    def _vm_page_rem_queue(self, m: vm_page) -> int:
        """Take ``m`` off its queue; return the queue base it was on (PQ_NONE if none)."""
        queue = m.queue
        if queue == PQ_NONE:
            return PQ_NONE
        q = self.vm_page_queues[queue]
        TAILQ_REMOVE(q, m)
        q.lcnt -= 1
        base = queue - m.pc
        vs = self.vmstats
        if base == PQ_INACTIVE:
            vs.v_inactive_count -= 1
        elif base == PQ_ACTIVE or base == PQ_HOLD:
            vs.v_active_count -= 1
        elif base == PQ_FREE:
            vs.v_free_count -= 1
        elif base == PQ_CACHE:
            vs.v_cache_count -= 1
        m.queue = PQ_NONE
        return base

    def _vm_page_add_queue(self, m: vm_page, base: int, athead: bool) -> None:
        """Put ``m`` (on no queue) on ``base + m.pc``, at the head or the tail."""
        queue = base + m.pc
        q = self.vm_page_queues[queue]
        m.queue = queue
        if athead:
            TAILQ_INSERT_HEAD(q, m)
        else:
            TAILQ_INSERT_TAIL(q, m)
        q.lcnt += 1
        vs = self.vmstats
        if base == PQ_INACTIVE:
            vs.v_inactive_count += 1
        elif base == PQ_ACTIVE or base == PQ_HOLD:
            vs.v_active_count += 1
        elif base == PQ_FREE:
            vs.v_free_count += 1
        elif base == PQ_CACHE:
            vs.v_cache_count += 1

    def vm_page_requeue_tail(self, m: vm_page, base: int) -> None:
        """Move ``m`` to the tail of its queue if it is still on ``base``.

        The seed repeats this block a dozen times ("requeue at tail"); on the
        inactive queue it also bumps ``vm_swapcache_inactive_heuristic``.
        """
        if m.queue - m.pc == base:
            q = self.vm_page_queues[m.queue]
            last = q.pl_last
            if last is not m:
                # TAILQ_REMOVE + TAILQ_INSERT_TAIL, written out: the daemon's scans call this per page.
                prev, nxt = m.pq_prev, m.pq_next
                if prev is None:
                    q.pl_first = nxt
                else:
                    prev.pq_next = nxt
                nxt.pq_prev = prev
                last.pq_next = m
                m.pq_prev = last
                m.pq_next = None
                q.pl_last = m
            if base == PQ_INACTIVE:
                self.vm_swapcache_inactive_heuristic += 1

    # -- busy, soft-busy, hold, wire (facts §4) ----------------------------------------------------
    def vm_page_busy_try(self, m: vm_page, also: bool) -> bool:
        """Try to hard-busy ``m`` without blocking. Returns True on FAILURE (facts §4)."""
        if m.flags & PG_BUSY or (also and m.flags & PG_SBUSY):
            return True
        m.flags |= PG_BUSY
        return False

    def vm_page_busy_wait(self, m: vm_page, also: bool, wmesg: str) -> Generator:
        """Hard-busy ``m``, sleeping while it is busy (sets PG_WANTED and PG_REFERENCED). Use with ``yield from``."""
        while m.flags & PG_BUSY or (also and m.flags & PG_SBUSY):
            m.flags |= PG_WANTED | PG_REFERENCED
            yield self.tsleep(m, 0, wmesg, 0)
        m.flags |= PG_BUSY

    def vm_page_wakeup(self, m: vm_page) -> None:
        """Release the hard busy; wake sleepers if PG_WANTED was set (facts §4)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_wakeup: page not busy: {m!r}")
        wanted = m.flags & PG_WANTED
        m.flags &= ~(PG_BUSY | PG_WANTED)
        if wanted:
            self.wakeup(m)

    def vm_page_io_start(self, m: vm_page) -> None:
        """Add a soft-busy (I/O) reference; the page must be hard-busy (facts §4)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_io_start: page not busy: {m!r}")
        m.busy += 1
        m.flags |= PG_SBUSY

    def vm_page_io_finish(self, m: vm_page) -> None:
        """Drop a soft-busy reference; wakes no one (facts §4)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_io_finish: page not busy: {m!r}")
        if m.busy <= 0:
            self.panic(f"vm_page_io_finish: soft-busy count underflow: {m!r}")
        m.busy -= 1
        if m.busy == 0:
            m.flags &= ~PG_SBUSY

    def vm_page_hold(self, m: vm_page) -> None:
        """``hold_count++``; a free page moves to HOLD (facts §4)."""
        m.hold_count += 1
        if m.queue - m.pc == PQ_FREE:
            self._vm_page_rem_queue(m)
            self._vm_page_add_queue(m, PQ_HOLD, False)

    def vm_page_unhold(self, m: vm_page) -> None:
        """``hold_count--``; at zero a page on HOLD moves to the head of FREE (facts §4)."""
        if m.hold_count <= 0:
            self.panic(f"vm_page_unhold: hold count underflow: {m!r}")
        m.hold_count -= 1
        if m.hold_count == 0 and m.queue - m.pc == PQ_HOLD:
            self._vm_page_rem_queue(m)
            self._vm_page_add_queue(m, PQ_FREE, True)
            self.vm_page_free_wakeup()

    def vm_page_wire(self, m: vm_page) -> None:
        """Wire ``m``: the first wiring takes it off the paging queues (``v_wire_count``)."""
        if m.wire_count == 0:
            if not m.flags & PG_UNMANAGED:
                self.vm_page_unqueue(m)
            self.vmstats.v_wire_count += 1
        m.wire_count += 1

    def vm_page_unwire(self, m: vm_page, activate: bool) -> None:
        """Unwire ``m``; the last unwiring puts it on ACTIVE, or INACTIVE clearing PG_WINATCFLS."""
        if m.wire_count <= 0:
            self.panic(f"vm_page_unwire: wire count underflow: {m!r}")
        m.wire_count -= 1
        if m.wire_count == 0:
            self.vmstats.v_wire_count -= 1
            if not m.flags & PG_UNMANAGED:
                if activate:
                    self._vm_page_add_queue(m, PQ_ACTIVE, False)
                else:
                    m.flags &= ~PG_WINATCFLS
                    self._vm_page_add_queue(m, PQ_INACTIVE, False)

    # -- queue moves (facts §4) --------------------------------------------------------------------
    def vm_page_activate(self, m: vm_page) -> None:
        """Put ``m`` at the tail of ACTIVE with ``act_count >= ACT_INIT`` (facts §4).

        Already active: only raises act_count.  From CACHE counts
        ``v_reactivated``; from CACHE or FREE wakes the page daemon.  A wired
        or unmanaged page is left on no queue.
        """
        if m.queue != PQ_ACTIVE + m.pc:
            oqueue = self._vm_page_rem_queue(m)
            if oqueue == PQ_CACHE:
                self.cnt.v_reactivated += 1
            if m.wire_count == 0 and not m.flags & PG_UNMANAGED:
                if m.act_count < ACT_INIT:
                    m.act_count = ACT_INIT
                self._vm_page_add_queue(m, PQ_ACTIVE, False)
            if oqueue == PQ_CACHE or oqueue == PQ_FREE:
                self.pagedaemon_wakeup()
        elif m.act_count < ACT_INIT:
            m.act_count = ACT_INIT

    def _vm_page_deactivate_locked(self, m: vm_page, athead: bool) -> None:
        """Move ``m`` to INACTIVE (head if ``athead``) unless it is already there (facts §4)."""
        if m.queue - m.pc == PQ_INACTIVE:
            return
        self._vm_page_rem_queue(m)
        if m.wire_count == 0 and not m.flags & PG_UNMANAGED:
            m.flags &= ~PG_WINATCFLS
            self._vm_page_add_queue(m, PQ_INACTIVE, athead)
            self.vm_swapcache_inactive_heuristic += 1

    def vm_page_deactivate(self, m: vm_page) -> None:
        """Put ``m`` at the tail of INACTIVE, clearing PG_WINATCFLS; never touches act_count (facts §4)."""
        self._vm_page_deactivate_locked(m, False)

    def vm_page_deactivate_locked(self, m: vm_page) -> None:
        """The exported, page-locked form of :meth:`vm_page_deactivate` used by the cache scan (tail)."""
        self._vm_page_deactivate_locked(m, False)

    def vm_page_unqueue_nowakeup(self, m: vm_page) -> None:
        """Take ``m`` off its queue (PQ_NONE) without waking anyone (facts §4)."""
        self._vm_page_rem_queue(m)

    def vm_page_unqueue(self, m: vm_page) -> None:
        """Take ``m`` off its queue; wake the page daemon if it came from FREE or CACHE (facts §4)."""
        base = self._vm_page_rem_queue(m)
        if base == PQ_FREE or base == PQ_CACHE:
            self.pagedaemon_wakeup()

    # -- caching and freeing (facts §4) ------------------------------------------------------------
    def vm_page_cache(self, m: vm_page) -> None:
        """Move a clean, busied page to the tail of CACHE; always unbusies it (facts §4, six steps)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_cache: page not busy: {m!r}")
        # 1. Pages that cannot be cached.
        if m.flags & (PG_UNMANAGED | PG_NEED_COMMIT) or m.busy or m.wire_count or m.hold_count:
            self.vm_page_wakeup(m)
            return
        # 2. Already cached.
        if m.queue - m.pc == PQ_CACHE:
            self.vm_page_wakeup(m)
            return
        # 3. The caller must have checked the dirty state.
        if m.dirty:
            self.panic(f"vm_page_cache: caching a dirty page: {m!r}")
        # 4. Remove every mapping; the PTE M bits may dirty the page now.
        self.vm_page_protect(m, VM_PROT_NONE)
        # 5. Re-check after the pmap work.
        if m.flags & (PG_UNMANAGED | PG_MAPPED) or m.busy or m.wire_count or m.hold_count:
            self.vm_page_wakeup(m)
            return
        if m.dirty or m.flags & PG_NEED_COMMIT:
            self.vm_page_deactivate(m)
            self.vm_page_wakeup(m)
            return
        # 6. Onto the cache queue.
        self._vm_page_rem_queue(m)
        self._vm_page_add_queue(m, PQ_CACHE, False)
        self.vm_page_wakeup(m)
        self.vm_page_free_wakeup()

    def vm_page_try_to_cache(self, m: vm_page) -> int:
        """Cache a busied page if it is clean; return 1 if ``vm_page_cache`` was called (facts §4)."""
        if m.dirty or m.hold_count or m.wire_count or m.flags & (PG_UNMANAGED | PG_NEED_COMMIT):
            self.vm_page_wakeup(m)
            return 0
        self.vm_page_test_dirty(m)
        if m.dirty or m.flags & PG_NEED_COMMIT:
            self.vm_page_wakeup(m)
            return 0
        self.vm_page_cache(m)
        return 1

    def vm_page_free(self, m: vm_page) -> None:
        """Free a busied, unmapped page: the inline that calls :meth:`vm_page_free_toq` (facts §4)."""
        self.vm_page_free_toq(m)

    def vm_page_free_toq(self, m: vm_page) -> None:
        """Return ``m`` to the head of FREE (or the tail of HOLD if held) and unbusy it (facts §4)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_free: freeing a page that is not busy: {m!r}")
        if m.flags & PG_MAPPED:
            self.panic(f"vm_page_free: freeing a mapped page: {m!r}")
        if m.busy:
            self.panic(f"vm_page_free: freeing a soft-busied page: {m!r}")
        if m.queue - m.pc == PQ_FREE:
            self.panic(f"vm_page_free: freeing a free page: {m!r}")
        self.cnt.v_tfree += 1
        if m.object is not None:
            self.vm_page_remove(m)
        self._vm_page_rem_queue(m)
        if m.flags & PG_FICTITIOUS:
            self.vm_page_wakeup(m)
            return
        m.valid = 0
        m.dirty = 0
        if m.wire_count:
            self.panic(f"vm_page_free: freeing a wired page: {m!r}")
        m.flags &= ~(PG_UNMANAGED | PG_NEED_COMMIT)
        if m.hold_count:
            self._vm_page_add_queue(m, PQ_HOLD, False)
        else:
            self._vm_page_add_queue(m, PQ_FREE, True)
        self.vm_page_wakeup(m)
        self.vm_page_free_wakeup()

    def vm_page_free_wakeup(self) -> None:
        """After a free or cache: wake the daemon's own waiters, then hysteresis waiters (facts §4, §3)."""
        vs = self.vmstats
        if self.vm_pageout_pages_needed and vs.v_free_count + vs.v_cache_count >= vs.v_pageout_free_min:
            self.vm_pageout_pages_needed = 0
            self.wakeup(VM_PAGEOUT_PAGES_NEEDED)
        if self.vm_pages_waiting and (
            not self.vm_page_count_min(self.vm_page_free_hysteresis) or not self.vm_page_count_target()
        ):
            self.vm_pages_waiting = 0
            self.wakeup(V_FREE_COUNT)

    # -- dirty state (facts §4) --------------------------------------------------------------------
    def vm_page_test_dirty(self, m: vm_page) -> None:
        """Fold the pmap's M bits into ``m.dirty``."""
        if m.dirty != VM_PAGE_BITS_ALL and self.pmap_is_modified(m):
            self.vm_page_dirty(m)

    def vm_page_dirty(self, m: vm_page) -> None:
        """Mark ``m`` fully dirty and its object writeable and might-be-dirty."""
        m.dirty = VM_PAGE_BITS_ALL
        if m.object is not None:
            self.vm_object_set_writeable_dirty(m.object)

    @staticmethod
    def vm_page_undirty(m: vm_page) -> None:
        """Clear ``m.dirty``; the pmap's M bits are untouched."""
        m.dirty = 0

    def vm_page_protect(self, m: vm_page, prot: int) -> None:
        """Lower the access of every mapping of a busied page to ``prot`` (NONE or READ) (facts §4)."""
        if not m.flags & PG_BUSY:
            self.panic(f"vm_page_protect: page not busy: {m!r}")
        if prot == VM_PROT_NONE:
            if m.flags & (PG_WRITEABLE | PG_MAPPED):
                self.pmap_page_protect(m, VM_PROT_NONE)
        elif not prot & 0x2:  # READ (or READ|EXECUTE) without WRITE
            if m.flags & PG_WRITEABLE:
                self.pmap_page_protect(m, VM_PROT_READ)

    # -- lookups and allocation (facts §4) ---------------------------------------------------------
    def vm_page_list_find(self, basequeue: int, index: int) -> vm_page | None:
        """Take the head page of ``basequeue + index``, searching neighbouring colours if empty (facts §4).

        The page comes back off its queue (PQ_NONE) and not busied, or None.
        """
        queues = self.vm_page_queues
        m = queues[basequeue + index].pl_first
        while m is not None and m.flags & PG_MARKER:
            m = m.pq_next
        if m is None:
            L2 = self.PQ_L2_SIZE
            ring = min(PQ_SET_ASSOC, L2)
            while m is None and ring <= L2:
                M = ring - 1
                for i in range(ring):
                    c = (index & ~M) | ((index + i) & M)
                    m = queues[basequeue + c].pl_first
                    while m is not None and m.flags & PG_MARKER:
                        m = m.pq_next
                    if m is not None:
                        break
                ring <<= 1
            if m is None:
                return None
        self._vm_page_rem_queue(m)
        return m

    def vm_get_pg_color(self, object: vm_object | None, pindex: int) -> int:
        """The colour an allocation for ``(object, pindex)`` prefers: ``pindex + object.pg_color``."""
        if object is None:
            return pindex & self.PQ_L2_MASK
        return (pindex + object.pg_color) & self.PQ_L2_MASK

    def vm_page_select_cache(self, pg_color: int) -> vm_page | None:
        """Take a clean cache page for reuse, busied; deactivate unsuitable ones on the way (facts §4)."""
        while True:
            m = self.vm_page_list_find(PQ_CACHE, pg_color)
            if m is None:
                return None
            if self.vm_page_busy_try(m, True):
                self.vm_page_deactivate_locked(m)
                continue
            if m.dirty or m.wire_count or m.hold_count or m.flags & (PG_UNMANAGED | PG_NEED_COMMIT):
                self.vm_page_deactivate(m)
                self.vm_page_wakeup(m)
                continue
            self.pagedaemon_wakeup()
            return m

    def vm_page_select_free(self, pg_color: int) -> vm_page | None:
        """Take a free page, busied (facts §4)."""
        m = self.vm_page_list_find(PQ_FREE, pg_color)
        if m is None:
            return None
        if self.vm_page_busy_try(m, True):
            self.panic(f"vm_page_select_free: busy page on the free queue: {m!r}")
        self.pagedaemon_wakeup()
        return m

    def vm_page_alloc(self, object: vm_object | None, pindex: int, page_req: int) -> vm_page | None:
        """Allocate a page for ``(object, pindex)``; return it busied, or None (facts §4).

        A free page is taken if ``F >= v_free_reserved``, or for INTERRUPT if
        any is free, or for SYSTEM if the cache is empty and
        ``F > v_interrupt_free_min``.  Otherwise a NORMAL request frees clean
        cache pages and tries again.  Failure counts ``vm_pageout_deficit``
        and wakes the page daemon.
        """
        td = self.curthread
        if td is not None and td.td_flags & TDF_SYSTHREAD:
            page_req |= VM_ALLOC_SYSTEM
        pg_color = self.vm_get_pg_color(object, pindex)
        vs = self.vmstats
        while True:
            F = vs.v_free_count
            if (
                F >= vs.v_free_reserved
                or (page_req & VM_ALLOC_INTERRUPT and F > 0)
                or (page_req & VM_ALLOC_SYSTEM and vs.v_cache_count == 0 and F > vs.v_interrupt_free_min)
            ):
                m = self.vm_page_select_free(pg_color)
            elif page_req & VM_ALLOC_NORMAL:
                m = self.vm_page_select_cache(pg_color)
                if m is not None:
                    # Free the cache page and try again, which keeps the free
                    # queue above its reserve before anyone takes from it.
                    self.vm_page_protect(m, VM_PROT_NONE)
                    self.vm_page_free(m)
                    continue
            else:
                m = None
            break
        if m is None:
            self.vm_pageout_deficit += 1
            self.pagedaemon_wakeup()
            return None
        m.flags = (m.flags & PG_ALLOC_KEEP) | PG_BUSY
        m.act_count = 0
        m.valid = 0
        m.dirty = 0
        m.busy = 0
        if object is not None:
            self.vm_page_insert(m, object, pindex)
        self.pagedaemon_wakeup()
        return m

    # -- waiting for memory (facts §4) -------------------------------------------------------------
    def vm_wait(self, timo: int) -> Generator:
        """Wait for free memory (``yield from vm.vm_wait(0)``); 0 means one second (facts §4)."""
        if timo == 0:
            timo = self.hz
        td = self.curthread
        if td is not None and (td is self.pagethread or td is self.emergpager):
            if self.vm_page_count_min(0):
                self.vm_pageout_pages_needed = 1
                yield self.tsleep(VM_PAGEOUT_PAGES_NEEDED, 0, "VMWait", timo)
        elif self.vm_page_count_target():
            if self.vm_pages_needed == 0:
                self.vm_pages_needed = 1
                self.wakeup(VM_PAGES_NEEDED)
            self.vm_pages_waiting += 1
            yield self.tsleep(V_FREE_COUNT, 0, "vmwait", timo)

    def vm_wait_pfault(self) -> Generator:
        """Wait in the fault path while memory is severe (``yield from``), one second at a time (facts §4).

        Leaves the loop early when the process has been chosen by the OOM
        killer (P_LOWMEMKILL).  Where the kernel would spin (severe but not
        below target, possible only with hand-set thresholds) vmkit returns
        instead, since no other CPU could free memory meanwhile.
        """
        if not self.vm_page_count_min(0):
            return
        while self.vm_page_count_severe():
            if not self.vm_page_count_target():
                return
            if self.vm_pages_needed == 0:
                self.vm_pages_needed = 1
                self.wakeup(VM_PAGES_NEEDED)
            self.vm_pages_waiting += 1
            yield self.tsleep(V_FREE_COUNT, 0, "pfault", self.hz)
            td = self.curthread
            if td is not None and td.td_proc is not None and td.td_proc.p_flags & P_LOWMEMKILL:
                break

    # -- vmstats predicates (vm_page2.h, facts §3) -------------------------------------------------
    def vmstats_rollup(self) -> None:
        """Fold per-CPU adjustments into vmstats.  vmkit's counts are always exact, so nothing to do."""

    def vm_page_count_severe(self) -> bool:
        """``severe > F+C`` or ``reserved > F``."""
        vs = self.vmstats
        return vs.v_free_severe > vs.v_free_count + vs.v_cache_count or vs.v_free_reserved > vs.v_free_count

    def vm_page_count_min(self, donotcount: int) -> bool:
        """``free_min + donotcount > F+C`` or ``reserved > F``."""
        vs = self.vmstats
        return (
            vs.v_free_min + donotcount > vs.v_free_count + vs.v_cache_count
            or vs.v_free_reserved > vs.v_free_count
        )

    def vm_page_count_target(self) -> bool:
        """``free_target > F+C`` or ``reserved > F``."""
        vs = self.vmstats
        return vs.v_free_target > vs.v_free_count + vs.v_cache_count or vs.v_free_reserved > vs.v_free_count

    def vm_paging_target(self) -> int:
        """Pages short of the paging target: ``(free_target + cache_min) - (F+C)`` (may be negative)."""
        vs = self.vmstats
        return (vs.v_free_target + vs.v_cache_min) - (vs.v_free_count + vs.v_cache_count)

    def vm_paging_needed(self) -> bool:
        """``free_min + cache_min > F+C`` or ``free_min > F``."""
        vs = self.vmstats
        return (
            vs.v_free_min + vs.v_cache_min > vs.v_free_count + vs.v_cache_count
            or vs.v_free_min > vs.v_free_count
        )

    # -- helpers for notebooks and tests -----------------------------------------------------------
    def queue_pages(self, base: int, colour: int | None = None) -> list[vm_page]:
        """The pages (markers excluded) on queue ``base`` (all colours, or one), head first."""
        colours = range(self.PQ_L2_SIZE) if colour is None else [colour]
        out = []
        for c in colours:
            out.extend(m for m in self.vm_page_queues[base + c] if not m.flags & PG_MARKER)
        return out

    def queue_count(self, base: int) -> int:
        """Sum of ``lcnt`` over the colour sub-queues of ``base``."""
        q = self.vm_page_queues
        return sum(q[base + c].lcnt for c in range(self.PQ_L2_SIZE))


__all__ = [
    "vm_page", "vm_page_marker", "vpgqueue", "vmstats_t", "vmmeter_t", "VmPageMixin",
    "TAILQ_FIRST", "TAILQ_NEXT", "TAILQ_INSERT_HEAD", "TAILQ_INSERT_TAIL", "TAILQ_INSERT_AFTER", "TAILQ_REMOVE",
    "PG_REFERENCED",
]
