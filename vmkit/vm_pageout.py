"""The page-out daemon: a port of DragonFly BSD ``sys/vm/vm_pageout.c`` (DragonFly 5.0, 2017).

Every function of the seed is here under its own name, with the same
decisions in the same order; each docstring names the C function and its
line range in the seed ("vm_pageout.c:901-1225").  Where the seed calls code
outside it (``vm_page_cache``, ``pmap_ts_referenced``, ``vget``, ...) vmkit's
machine provides it as ../shared/reference/dragonfly-vm-facts.md states.

How the C maps to Python:

* ``static`` file-scope variables are attributes of the machine (one machine,
  one kernel); function-local ``static`` variables (``cache_rover``,
  ``lastkillticks``, ...) too, named ``<function>_<variable>``.
* Out-parameters (``int *max_launderp``) are :class:`Ref` cells:
  ``*max_launderp -= count`` reads ``max_launderp.v -= count``.
* A function that can sleep is a generator, called with ``yield from``;
  ``tsleep`` is ``yield vm.tsleep(...)``.  Two kernel threads, ``pagedaemon``
  and ``emergpager``, run :meth:`PageoutMixin.vm_pageout_thread`; a third,
  ``vmdaemon``, runs :meth:`PageoutMixin.vm_daemon`.
* Spinlocks and tokens disappear (one thread runs at a time); the comments
  say what they protected.  ``TAILQ_REMOVE`` + ``TAILQ_INSERT_TAIL`` of a
  page back onto its own queue, repeated a dozen times in the seed, is
  :meth:`~vmkit.vm_page.VmPageMixin.vm_page_requeue_tail`.

Every decision about a page is recorded in the event log (``machine.events()``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .constants import (
    ACT_ADVANCE,
    ACT_DECLINE,
    ACT_MAX,
    BLIST_MAX_ALLOC,
    LK_EXCLUSIVE,
    LK_NOWAIT,
    LK_TIMELOCK,
    OBJ_DEAD,
    OBJ_MIGHTBEDIRTY,
    OBJT_DEFAULT,
    OBJT_SWAP,
    OBJT_VNODE,
    P_LOWMEMKILL,
    P_SWAPPEDOUT,
    P_SYSTEM,
    P_WEXIT,
    PG_A,
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
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_INACTIVE,
    PQ_PRIME2,
    PRIO_MIN,
    RLIMIT_RSS,
    SACTIVE,
    SCORE,
    SSTOP,
    TDF_SYSTHREAD,
    VM_MAX_USER_ADDRESS,
    VM_MIN_USER_ADDRESS,
    VM_PAGE_BITS_ALL,
    VM_PAGER_AGAIN,
    VM_PAGER_ALLOW_ACTIVE,
    VM_PAGER_BAD,
    VM_PAGER_NAMES,
    VM_PAGER_OK,
    VM_PAGER_PEND,
    VM_PAGER_PUT_SYNC,
    VM_PAGER_TRY_TO_CACHE,
    VM_PROT_NONE,
    VM_PROT_READ,
    VM_SWAP_IDLE,
    VM_SWAP_NORMAL,
    VMMETER_SLOP_COUNT,
)
from .kern import (
    SEQUENCE_EMERG_PAGER,
    V_FREE_COUNT,
    VM_DAEMON_NEEDED,
    VM_PAGEDAEMON_TIME,
    VM_PAGES_NEEDED,
    thread,
)
from .pmap import pmap_pgscan_info
from .vm_page import TAILQ_INSERT_AFTER, TAILQ_INSERT_HEAD, TAILQ_REMOVE, vm_page_marker

if TYPE_CHECKING:  # pragma: no cover
    from .proc import proc
    from .vm_map import vm_map
    from .vm_page import vm_page


# The reasons the stats scan gives for a referenced page, built once (formatting one per page cost more
# than the decision); the last entry covers any larger count.
_STATS_REFERENCED = tuple(f"referenced ({n}): act_count advanced" for n in range(8))


class Ref:
    """A C out-parameter: ``int *p`` becomes ``Ref``, ``*p`` becomes ``p.v``."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"Ref({self.v!r})"


class vm_pageout_scan_info:
    """``struct vm_pageout_scan_info``: the OOM killer's running choice (vm_pageout.c:726-729)."""

    __slots__ = ("bigproc", "bigsize")

    def __init__(self) -> None:
        self.bigproc: proc | None = None
        self.bigsize = 0


class PageoutMixin:
    """The page-out daemon (``vm_pageout.c``) of a :class:`~vmkit.machine.Machine`."""

    def _init_pageout(self) -> None:
        """The seed's file-scope variables and their defaults (vm_pageout.c:103-206)."""
        self.vm_pages_needed = 0          # event on which the pageout daemon sleeps
        self.vm_pageout_deficit = 0       # estimated number of pages deficit
        self.vm_pageout_pages_needed = 0  # the pageout daemon needs pages
        self.vm_page_free_hysteresis = 16
        self.vm_pagedaemon_time = 0
        self.vm_pageout_req_swapout = 0
        self.vm_daemon_needed = 0
        self.vm_max_launder = 4096
        self.vm_emerg_launder = 100
        self.vm_pageout_stats_max = 0
        self.vm_pageout_stats_interval = 0
        self.vm_pageout_full_stats_interval = 0
        self.vm_pageout_stats_free_max = 0
        self.vm_pageout_algorithm = 0     # not exported as a sysctl (facts §8)
        self.defer_swap_pageouts = 0
        self.disable_swap_pageouts = 0
        self.vm_anonmem_decline = ACT_DECLINE
        self.vm_filemem_decline = ACT_DECLINE * 2
        self.vm_swap_enabled = 1
        self.vm_swap_idle_enabled = 0
        self.vm_pageout_memuse_mode = 1   # 0 disable, 1 passive, 2 active swap
        self.pageout_lock_miss = 0
        self.vm_page_max_wired = 0
        self.sequence_emerg_pager = 0
        self.bootverbose = 0
        self.pagethread: thread | None = None
        self.emergpager: thread | None = None
        self.vmthread: thread | None = None
        # Function-local statics of the seed.
        self.vm_pageout_scan_cache_cache_rover = 0
        self.vm_pageout_scan_cache_lastkillticks = 0
        self.vm_pageout_scan_cache_lsec = 0
        self.vm_pageout_page_stats_fullintervalcount = 0
        self.vm_req_vmdaemon_lastrun = 0
        # vmkit's own records, and callbacks run after every daemon pass
        # (``hook(machine, isep)``): tests check invariants there, notebooks pause.
        self.pass_hooks: list[Any] = []
        self.oom_kills: list[dict[str, Any]] = []
        self.pageout_passes = 0
        self.laundered = 0

    def _start_pageout_daemons(self) -> None:
        """Start the seed's kernel threads vmdaemon, pagedaemon, emergpager (vm_pageout.c:118-123, 2287-2299)."""
        self.vmthread = self.kthread_create(self.vm_daemon, "vmdaemon")
        self.pagethread = self.kthread_create(self.vm_pageout_thread, "pagedaemon")
        self.emergpager = self.kthread_create(self.vm_pageout_thread, "emergpager")

    # ------------------------------------------------------------------------------------------
    def PQAVERAGE(self, n: int) -> int:
        """Per-colour share of a shortage, generous so that half the colours can meet it.

        Mirrors PQAVERAGE(), vm_pageout.c:230-241.  C division truncates
        toward zero, which matters for negative ``n``.
        """
        half = self.PQ_L2_SIZE // 2
        if n >= 0:
            return (n + (self.PQ_L2_SIZE - 1)) // half + 1
        return -((-(n - (self.PQ_L2_SIZE - 1))) // half) - 1

    # ------------------------------------------------------------------------------------------
    def vm_pageout_clean_helper(self, m: vm_page, vmflush_flags: int) -> Generator:
        """Launder busied page ``m`` with the dirty neighbours it can cluster with; return pages flushed.

        Mirrors vm_pageout_clean_helper(), vm_pageout.c:249-394.  The cluster
        lies inside the BLIST_MAX_ALLOC (64) page window aligned on the
        object index: first backwards from ``m`` (to align the cluster and not
        fragment the file), then forwards.  A neighbour joins only if it is
        not cached, not unmanaged, dirty (or needs a commit), not wired, not
        held, and inactive (or active with VM_PAGER_ALLOW_ACTIVE).
        """
        obj = m.object
        pindex = m.pindex
        qbefore = m.queue and m.queue - m.pc
        # A held or special page is left alone.
        if m.hold_count != 0 or m.flags & PG_UNMANAGED:
            self.vm_page_wakeup(m)
            self._ev("vm_pageout_clean_helper", m, qbefore, "skip", "held or unmanaged")
            return 0
        page_base = pindex % BLIST_MAX_ALLOC
        mc: list[vm_page | None] = [None] * BLIST_MAX_ALLOC
        mc[page_base] = m
        ib = page_base - 1
        is_ = page_base + 1
        self.vm_object_hold(obj)
        # Reverse scan first, to align the cluster.
        while ib >= 0:
            p = self._clean_helper_candidate(m, obj, pindex - page_base + ib, vmflush_flags)
            if p is None:
                break
            mc[ib] = p
            ib -= 1
        ib += 1  # fixup
        while is_ < BLIST_MAX_ALLOC and pindex - page_base + is_ < obj.size:
            p = self._clean_helper_candidate(m, obj, pindex - page_base + is_, vmflush_flags)
            if p is None:
                break
            mc[is_] = p
            is_ += 1
        self.vm_object_drop(obj)
        n = is_ - ib
        self._ev("vm_pageout_clean_helper", m, qbefore, "cluster",
                 f"{n} pages, pindex {pindex - page_base + ib}-{pindex - page_base + is_ - 1}")
        if self.record_events:
            self._cluster_rows.append((self.ticks, n, obj.type))
        # Reads are allowed during page-outs.
        return (yield from self.vm_pageout_flush(mc[ib:is_], n, vmflush_flags))

    def _clean_helper_candidate(self, m: vm_page, obj: Any, pindex: int, vmflush_flags: int) -> vm_page | None:
        """One step of either scan in vm_pageout_clean_helper (vm_pageout.c:314-351 / 357-386): the busied
        neighbour at ``pindex`` if it may join ``m``'s cluster, else None (the scan stops there)."""
        p, error = self.vm_page_lookup_busy_try(obj, pindex, True)
        if error or p is None:
            return None
        if (p.queue - p.pc) == PQ_CACHE or p.flags & PG_UNMANAGED:
            self.vm_page_wakeup(p)
            return None
        self.vm_page_test_dirty(p)
        if ((p.dirty & p.valid) == 0 and not p.flags & PG_NEED_COMMIT) or \
                p.wire_count != 0 or p.hold_count != 0:      # may be held by the buffer cache / in I/O
            self.vm_page_wakeup(p)
            return None
        if p.queue - p.pc != PQ_INACTIVE:
            if p.queue - p.pc != PQ_ACTIVE or not vmflush_flags & VM_PAGER_ALLOW_ACTIVE:
                self.vm_page_wakeup(p)
                return None
        # Keep the cluster's pages together: they inherit m's trip flag and activity.
        if m.flags & PG_WINATCFLS:
            p.flags |= PG_WINATCFLS
        else:
            p.flags &= ~PG_WINATCFLS
        p.act_count = m.act_count
        return p

    # ------------------------------------------------------------------------------------------
    def vm_pageout_flush(self, mc: list, count: int, vmflush_flags: int) -> Generator:
        """Launder ``mc[0:count]`` through their pager; return how many were paged out.

        Mirrors vm_pageout_flush(), vm_pageout.c:408-517.  The pages arrive
        hard-busied and leave unbusied.  They are soft-busied for the I/O and
        made read-only (or unmapped, with TRY_TO_CACHE) before the pager sees
        them, so a write during the I/O faults and waits instead of changing
        the page under the disk.  PEND pages are finished by the I/O
        completion; the others are finished here.
        """
        for i in range(count):
            if mc[i].valid != VM_PAGE_BITS_ALL:
                self.panic(f"vm_pageout_flush page {mc[i]!r} index {i}/{count}: partially invalid page")
            self.vm_page_io_start(mc[i])
        # Read-only (or unmapped) clears the M bits; the pager cannot, its
        # completion runs at interrupt time.  The soft-busy keeps our claim.
        for i in range(count):
            if vmflush_flags & VM_PAGER_TRY_TO_CACHE:
                self.vm_page_protect(mc[i], VM_PROT_NONE)
            else:
                self.vm_page_protect(mc[i], VM_PROT_READ)
            self.vm_page_wakeup(mc[i])
        obj = mc[0].object
        # The pages may be freed and reused before this function looks at
        # them again (a synchronous write finishes them): note what they are now.
        before = [(mt.pfn, mt.queue and mt.queue - mt.pc) for mt in mc[:count]]
        self.vm_object_pip_add(obj, count)
        # vmkit has no kernel_object, so the forced PUT_SYNC for it never applies.
        pageout_status = [VM_PAGER_AGAIN] * count
        yield from self.vm_pager_put_pages(obj, mc, count, vmflush_flags, pageout_status)
        numpagedout = 0
        for i in range(count):
            mt = mc[i]
            status = pageout_status[i]
            if status == VM_PAGER_OK or status == VM_PAGER_PEND:
                numpagedout += 1
            elif status == VM_PAGER_BAD:
                # Outside the object: the changes are dropped, as if written.
                yield from self.vm_page_busy_wait(mt, False, "pgbad")
                self.pmap_clear_modify(mt)
                self.vm_page_undirty(mt)
                self.vm_page_wakeup(mt)
            # ERROR, FAIL (typically out of swap) and AGAIN: the page stays
            # inactive and dirty and is tried again on a later pass; running
            # out of active pages is how the system notices it is starved.
            if status != VM_PAGER_PEND:
                # Synchronous result: clean up here; PEND is cleaned up by the I/O completion.
                yield from self.vm_page_busy_wait(mt, False, "pgouw")
                self.vm_page_io_finish(mt)
                if vmflush_flags & VM_PAGER_TRY_TO_CACHE:
                    self.vm_page_try_to_cache(mt)
                elif self.vm_page_count_severe():
                    self.vm_page_deactivate(mt)
                    self.vm_page_wakeup(mt)
                else:
                    self.vm_page_wakeup(mt)
                self.vm_object_pip_wakeup(obj)
            pfn, qbefore = before[i]
            # A page that has already left the object (cached and freed by a
            # synchronous completion) is on no queue as far as this flush is concerned.
            qafter = (mt.queue and mt.queue - mt.pc) if mt.object is obj else 0
            self._ev_raw("vm_pageout_flush", pfn, obj.type, qbefore, qafter, "pageout",
                         VM_PAGER_NAMES.get(status, str(status)), mt.act_count)
        self.laundered += numpagedout
        return numpagedout

    # ------------------------------------------------------------------------------------------
    def vm_pageout_mdp_callback(self, info: pmap_pgscan_info, va: int, p: vm_page) -> Generator:
        """RSS trimming of one busied page of a process over its limit; return -1 to stop the scan.

        Mirrors vm_pageout_mdp_callback(), vm_pageout.c:525-653.  A page
        referenced since the last look is (re)activated; otherwise it is
        removed from this process's page table, and once no process maps it
        it is deactivated, and in memuse mode 2 laundered at once.
        """
        if p.flags & PG_MARKER:
            self.panic("vm_pageout_mdp_callback: marker page")
        qbefore = p.queue and p.queue - p.pc
        # Stop once the RSS is below the limit.
        if self.pmap_resident_tlnw_count(info.pmap) <= info.limit:
            self.vm_page_wakeup(p)
            return -1
        self.cnt.v_pdpages += 1
        if p.wire_count or p.hold_count or p.flags & PG_UNMANAGED:
            self.vm_page_wakeup(p)
        else:
            info.actioncount += 1
            # Referenced recently: activate and skip.
            actcount = self.pmap_ts_referenced(p)
            if actcount:
                p.flags |= PG_REFERENCED
            elif p.flags & PG_REFERENCED:
                actcount = 1
            if actcount:
                if p.queue - p.pc != PQ_ACTIVE:
                    self.vm_page_activate(p)
                else:
                    p.act_count += actcount
                    if p.act_count > ACT_MAX:
                        p.act_count = ACT_MAX
                p.flags &= ~PG_REFERENCED
                self.vm_page_wakeup(p)
                self._ev("vm_pageout_mdp_callback", p, qbefore, "activate", "referenced: kept in the RSS")
            else:
                # Out of this pmap: the RSS scan will not see it again, so stage it for cleaning.
                self.pmap_remove_specific(info.pmap, p)
                cleanit = 0
                if not p.flags & PG_MAPPED:
                    if p.queue - p.pc == PQ_ACTIVE:
                        self.vm_page_deactivate(p)
                    if p.queue - p.pc == PQ_INACTIVE:
                        cleanit = 1
                self._ev("vm_pageout_mdp_callback", p, qbefore, "remove",
                         "unreferenced: removed from the pmap" + ("" if cleanit else ", still mapped elsewhere"))
                if cleanit:
                    max_launder = Ref(0x7FFF)
                    vnodes_skipped = Ref(0)
                    vpfailed = Ref(None)
                    info.offset = va
                    if self.vm_pageout_memuse_mode >= 2:
                        # Launder now, synchronously, so a runaway process cannot exhaust memory.
                        vmflush_flags = VM_PAGER_TRY_TO_CACHE | VM_PAGER_ALLOW_ACTIVE
                        if self.swap_user_async == 0:
                            vmflush_flags |= VM_PAGER_PUT_SYNC
                        p.flags |= PG_WINATCFLS
                        info.cleancount += yield from self.vm_pageout_page(
                            p, max_launder, vnodes_skipped, vpfailed, 1, vmflush_flags)
                    else:
                        self.vm_page_wakeup(p)
                        info.cleancount += 1
                else:
                    self.vm_page_wakeup(p)
        # done: lwkt_user_yield()
        yield self.lwkt_yield()
        return 0

    def vm_pageout_map_deactivate_pages(self, map: vm_map, limit: int) -> Generator:
        """Trim a process's resident pages toward ``limit``, resuming where the last scan stopped.

        Mirrors vm_pageout_map_deactivate_pages(), vm_pageout.c:662-703.
        Rescans while the RSS is still over the limit: to the end of the
        address space, then at most three more times from the start.
        """
        retries = 3
        pgout_offset = map.pgout_offset
        while True:  # again:
            if pgout_offset < VM_MIN_USER_ADDRESS:
                pgout_offset = VM_MIN_USER_ADDRESS
            if pgout_offset >= VM_MAX_USER_ADDRESS:
                pgout_offset = 0
            info = pmap_pgscan_info()
            info.pmap = self.vm_map_pmap(map)
            info.limit = limit
            info.beg_addr = pgout_offset
            info.end_addr = VM_MAX_USER_ADDRESS
            info.callback = self.vm_pageout_mdp_callback
            info.cleancount = 0
            info.actioncount = 0
            info.busycount = 0
            yield from self.pmap_pgscan(info)
            pgout_offset = info.offset
            if pgout_offset != VM_MAX_USER_ADDRESS and self.pmap_resident_tlnw_count(self.vm_map_pmap(map)) > limit:
                continue
            elif retries and self.pmap_resident_tlnw_count(self.vm_map_pmap(map)) > limit:
                retries -= 1
                continue
            break
        map.pgout_offset = pgout_offset

    # ------------------------------------------------------------------------------------------
    def vm_pageout_page_free(self, m: vm_page) -> None:
        """Unmap and free a busied page.  Mirrors vm_pageout_page_free(), vm_pageout.c:716-721."""
        self.vm_page_protect(m, VM_PROT_NONE)
        self.vm_page_free(m)

    # ------------------------------------------------------------------------------------------
    def vm_pageout_scan_inactive(self, pass_: int, q: int, avail_shortage: int, vnodes_skipped: Ref) -> Generator:
        """Scan colour ``q`` of the inactive queue, freeing, caching or laundering; return pages recovered.

        Mirrors vm_pageout_scan_inactive(), vm_pageout.c:738-892.  A marker
        keeps the scan's place while pages move; the scan stops after the
        queue's length, when ``avail_shortage`` is met, or early when free
        plus cache pages exceed the target by ``vm_max_launder`` (returning
        full completion so the caller sees no shortage).  The emergency pager
        skips vnode-backed pages.
        """
        isep = self.curthread is not None and self.curthread is self.emergpager
        # Few flushes on the first pass; all out after that.
        max_launder = Ref(self.vm_max_launder)
        if max_launder.v <= 1:
            max_launder.v = 1
        if pass_:
            max_launder.v = 10000
        marker = vm_page_marker(PQ_INACTIVE + q, q)
        vpfailed = Ref(None)
        pq = self.vm_page_queues[PQ_INACTIVE + q]
        TAILQ_INSERT_HEAD(pq, marker)
        maxscan = pq.lcnt
        delta = 0
        while True:
            m = marker.pq_next
            if m is None:
                break
            maxscan -= 1
            if not maxscan + 1 > 0 or not avail_shortage - delta > 0:
                break
            if m.queue != PQ_INACTIVE + q:
                self.panic(f"vm_pageout_scan_inactive: page on queue {m.queue}, expected {PQ_INACTIVE + q}")
            TAILQ_REMOVE(pq, marker)
            TAILQ_INSERT_AFTER(pq, m, marker)
            self.cnt.v_pdpages += 1
            # Skip other scans' markers.
            if m.flags & PG_MARKER:
                continue
            # Leave busy pages where they are.
            if self.vm_page_busy_try(m, True):
                continue
            # The emergency pager runs because the primary is stuck, most
            # likely on a vnode: it must not touch vnode-backed pages.
            if isep and m.object is not None and m.object.type == OBJT_VNODE:
                self.vm_page_wakeup(m)
                self._ev("vm_pageout_scan_inactive", m, PQ_INACTIVE, "skip", "vnode page: emergency pager skips it")
                yield self.lwkt_yield()
                continue
            count = yield from self.vm_pageout_page(m, max_launder, vnodes_skipped, vpfailed, pass_, 0)
            delta += count
            yield self.lwkt_yield()
            # Stop early once free+cache are well past the target: enough
            # other memory was freed meanwhile.  Report full completion.
            if self.vm_paging_target() < -self.vm_max_launder:
                if delta < avail_shortage:
                    delta = avail_shortage
                break
        TAILQ_REMOVE(pq, marker)
        return delta

    # ------------------------------------------------------------------------------------------
    def vm_pageout_page(self, m: vm_page, max_launderp: Ref, vnodes_skippedp: Ref, vpfailedp: Ref,
                        pass_: int, vmflush_flags: int) -> Generator:
        """Decide the fate of one busied inactive page; return the pages freed, cached or laundered.

        Mirrors vm_pageout_page(), vm_pageout.c:901-1225.  In order: a wired
        page is unqueued; a held page is requeued; a referenced page is
        reactivated with a raised act_count; an invalid page is freed; a clean
        page is cached; a dirty page on pass 0 without PG_WINATCFLS gets a
        second trip round the queue; otherwise a dirty page is laundered
        while ``*max_launderp`` lasts (vnode pages only under the vnode lock).
        """
        count = 0
        qbefore = m.queue and m.queue - m.pc
        fn = "vm_pageout_page"
        # A wired page can end up here through vm_page_alloc racing pmap work: just unqueue it.
        if m.wire_count:
            self.vm_page_unqueue_nowakeup(m)
            self.vm_page_wakeup(m)
            self.kprintf(f"WARNING: pagedaemon: wired page on inactive queue {m.pfn:#x}")
            self._ev(fn, m, qbefore, "unqueue", "wired page on the inactive queue")
            return 0
        # A held page may be undergoing I/O.
        if m.hold_count:
            self.vm_page_requeue_tail(m, PQ_INACTIVE)
            self.vm_page_wakeup(m)
            self._ev(fn, m, qbefore, "requeue", "held (I/O in progress)")
            return 0
        if m.object is None or m.object.ref_count == 0:
            # Nobody uses the object: forget earlier references.
            m.flags &= ~PG_REFERENCED
            self.pmap_clear_reference(m)
        elif not m.flags & PG_REFERENCED:
            actcount = self.pmap_ts_referenced(m)
            if actcount:
                # Referenced while inactive: back to active, with a boost so
                # it does not come straight back here.
                self.vm_page_activate(m)
                m.act_count = (m.act_count + actcount + ACT_ADVANCE) & 0xFF   # u_char
                self.vm_page_wakeup(m)
                self._ev(fn, m, qbefore, "activate", f"referenced in the page tables ({actcount})")
                return 0
        # The VM layer knows of a reference: activate with a bigger boost.
        if m.flags & PG_REFERENCED:
            m.flags &= ~PG_REFERENCED
            actcount = self.pmap_ts_referenced(m)
            self.vm_page_activate(m)
            m.act_count = (m.act_count + actcount + ACT_ADVANCE + 1) & 0xFF   # u_char
            self.vm_page_wakeup(m)
            self._ev(fn, m, qbefore, "activate", "PG_REFERENCED")
            return 0
        # Re-check the dirty state; a partly dirty page counts as dirty.
        if m.dirty == 0:
            self.vm_page_test_dirty(m)
        else:
            self.vm_page_dirty(m)
        if m.valid == 0 and not m.flags & PG_NEED_COMMIT:
            # Invalid pages can simply be freed.
            otype = m.object.type if m.object is not None else -1
            self.vm_pageout_page_free(m)
            self.cnt.v_dfree += 1
            count += 1
            self._ev(fn, m, qbefore, "free", "invalid page", otype)
        elif m.dirty == 0 and not m.flags & PG_NEED_COMMIT:
            # Clean pages go to the cache queue, which effectively frees them.
            self.vm_page_cache(m)
            count += 1
            self._ev(fn, m, qbefore, "cache", "clean")
        elif not m.flags & PG_WINATCFLS and pass_ == 0:
            # Flushing is expensive compared with freeing a clean page, so a
            # dirty page goes round the inactive queue twice before it is
            # written (and once more, clean, before it is freed).  This moves
            # the thrash point of a loaded machine a long way out.
            m.flags |= PG_WINATCFLS
            self.vm_page_requeue_tail(m, PQ_INACTIVE)
            self.vm_page_wakeup(m)
            self._ev(fn, m, qbefore, "requeue", "dirty, first trip: PG_WINATCFLS set")
        elif max_launderp.v > 0:
            count = yield from self._vm_pageout_page_launder(m, max_launderp, vnodes_skippedp, vpfailedp,
                                                            vmflush_flags, qbefore)
        else:
            self.vm_page_wakeup(m)
            self._ev(fn, m, qbefore, "skip", "dirty, max_launder used up")
        return count

    def _vm_pageout_page_launder(self, m: vm_page, max_launderp: Ref, vnodes_skippedp: Ref, vpfailedp: Ref,
                                 vmflush_flags: int, qbefore: int) -> Generator:
        """The laundering branch of vm_pageout_page() (vm_pageout.c:1061-1221), split out only for length."""
        fn = "vm_pageout_page"
        vp = None
        obj = m.object
        # Flush some dirty pages whenever we meet them, to keep the system
        # stable; under extreme pressure, all of them.
        if obj is not None and obj.type != OBJT_SWAP and obj.type != OBJT_DEFAULT:
            swap_pageouts_ok = 1
        else:
            swap_pageouts_ok = int(not (self.defer_swap_pageouts or self.disable_swap_pageouts))
            swap_pageouts_ok |= int(not self.disable_swap_pageouts and bool(self.defer_swap_pageouts)
                                    and self.vm_page_count_min(0))
        # Objects being destroyed are not worth paging.
        if not swap_pageouts_ok or obj is None or obj.flags & OBJ_DEAD:
            self.vm_page_requeue_tail(m, PQ_INACTIVE)
            self.vm_page_wakeup(m)
            why = "swap pageouts deferred or disabled" if not swap_pageouts_ok else "object is dead"
            self._ev(fn, m, qbefore, "requeue", why)
            return 0
        if obj.type == OBJT_VNODE:
            # We may not wait forever for the vnode lock (a reader might be
            # stuck in vm_wait holding it).  vpfailed remembers the last
            # vnode that timed out so its other pages do not stall us again.
            vp = obj.handle
            flags = LK_EXCLUSIVE
            if vp is vpfailedp.v:
                flags |= LK_NOWAIT
            else:
                flags |= LK_TIMELOCK
            # Unbusy while we may block; the hold keeps the page from being freed.
            self.vm_page_hold(m)
            self.vm_page_wakeup(m)
            if (yield from self.vget(vp, flags)) != 0:
                vpfailedp.v = vp
                self.pageout_lock_miss += 1
                if obj.flags & OBJ_MIGHTBEDIRTY:
                    vnodes_skippedp.v += 1
                self.vm_page_unhold(m)
                self._ev(fn, m, qbefore, "skip",
                         "vnode lock busy (LK_NOWAIT)" if flags & LK_NOWAIT else "vnode lock timed out")
                return 0
            # While we slept the page may have moved, or been freed and reused.
            if m.queue - m.pc != PQ_INACTIVE or m.object is not obj or obj.handle is not vp:
                if obj.flags & OBJ_MIGHTBEDIRTY:
                    vnodes_skippedp.v += 1
                self.vput(vp)
                self.vm_page_unhold(m)
                self._ev(fn, m, qbefore, "skip", "page changed while waiting for the vnode")
                return 0
            # Busied by someone else meanwhile: leave it where it is.
            if self.vm_page_busy_try(m, True):
                self.vput(vp)
                self.vm_page_unhold(m)
                self._ev(fn, m, qbefore, "skip", "page busied while waiting for the vnode")
                return 0
            self.vm_page_unhold(m)
            # Still held by someone else: it may be under I/O.
            if m.hold_count:
                self.vm_page_requeue_tail(m, PQ_INACTIVE)
                if obj.flags & OBJ_MIGHTBEDIRTY:
                    vnodes_skippedp.v += 1
                self.vm_page_wakeup(m)
                self.vput(vp)
                self._ev(fn, m, qbefore, "requeue", "held after the vnode lock")
                return 0
        # Busy and not held: start cleaning.  max_launder counts the pages
        # written, so a later page does not over-launder.
        self._ev(fn, m, qbefore, "launder", "dirty, second trip" if m.flags & PG_WINATCFLS else "dirty")
        count = yield from self.vm_pageout_clean_helper(m, vmflush_flags)
        max_launderp.v -= count
        if vp is not None:
            self.vput(vp)
        return count

    # ------------------------------------------------------------------------------------------
    def vm_pageout_scan_active(self, pass_: int, q: int, avail_shortage: int, inactive_shortage: int,
                               recycle_countp: Ref) -> Generator:
        """Scan colour ``q`` of the active queue, aging act_count and deactivating; return pages moved.

        Mirrors vm_pageout_scan_active(), vm_pageout.c:1232-1467.  A
        referenced page gains ``ACT_ADVANCE + references`` (at most
        ACT_MAX) and goes to the tail; an unreferenced one declines by
        ``vm.anonmem_decline`` or ``vm.filemem_decline`` and is deactivated
        once ``act_count < pass + 1`` - or, while the inactive scan left a
        shortage, cached at once if clean (counted in ``recycle_count``).

        Most visits only requeue or decline a page, and this loop runs for
        every active page many times over, so those steps are written out
        here the way the C macros expand, each marked with the function it
        stands for: the marker hop (``TAILQ_REMOVE`` + ``TAILQ_INSERT_AFTER``,
        needed only when the page stays where it is, see below),
        ``vm_page_busy_try``/``vm_page_wakeup``, ``vm_page_requeue_tail`` and
        the event record.  Everything rarer calls the functions by name.
        """
        isep = self.curthread is not None and self.curthread is self.emergpager
        fn = "vm_pageout_scan_active"
        aging = self._overrides.get("vm_pageout_aging")
        pmap_ts_referenced = self.pmap_ts_referenced
        YIELD = self.lwkt_yield()
        rows = self._ev_rows
        record = self.record_events
        tdn = self._td_name()
        cnt = self.cnt
        queue = PQ_ACTIVE + q
        marker = vm_page_marker(queue, q)
        pq = self.vm_page_queues[queue]
        TAILQ_INSERT_HEAD(pq, marker)
        maxscan = pq.lcnt
        delta = 0
        while True:
            m = marker.pq_next
            if m is None:
                break
            maxscan -= 1
            if not maxscan + 1 > 0 or not (avail_shortage - delta > 0 or inactive_shortage > 0):
                break
            if m.queue != queue:
                self.panic(f"vm_pageout_scan_active: page on queue {m.queue}, expected {queue}")
            # The seed moves the marker past m here (TAILQ_REMOVE + TAILQ_INSERT_AFTER).
            # Every outcome but a skip then moves m to the tail or off the queue,
            # which leaves the marker exactly where it was, so the hop is done
            # only for a page that stays put: nothing can look at the queue
            # before the next lwkt_yield(), and by then the two agree.
            flags = m.flags
            if flags & (PG_MARKER | PG_BUSY | PG_SBUSY):
                # Skip other scans' markers (PG_MARKER); leave busy pages where
                # they are (vm_page_busy_try(m, TRUE) failed).  Marker and m swap places.
                prev, nxt = marker.pq_prev, m.pq_next
                if prev is None:
                    pq.pl_first = m
                else:
                    prev.pq_next = m
                m.pq_prev = prev
                m.pq_next = marker
                marker.pq_prev = m
                marker.pq_next = nxt
                if nxt is None:
                    pq.pl_last = marker
                else:
                    nxt.pq_prev = marker
                continue
            m.flags = flags | PG_BUSY
            obj = m.object
            # Held pages are not deactivated.  The emergency pager leaves
            # vnode pages alone: they probably stuck the primary.
            if m.hold_count != 0 or (isep and obj is not None and obj.type == OBJT_VNODE):
                self.vm_page_requeue_tail(m, PQ_ACTIVE)
                self.vm_page_wakeup(m)
                self._ev(fn, m, PQ_ACTIVE, "requeue",
                         "held" if m.hold_count else "vnode page: emergency pager skips it")
                yield YIELD
                continue
            cnt.v_pdpages += 1
            # How much was the page used?  Not worth asking if nobody references the object.
            actcount = 0
            if obj is not None and obj.ref_count != 0:
                if m.flags & PG_REFERENCED:
                    actcount += 1
                pv = m.md_pv
                if len(pv) == 1 and not m.flags & PG_FICTITIOUS:
                    # pmap_ts_referenced(m) for a page with one mapping: test and clear its A bit.
                    pm, vpn = pv[0]
                    mv = pm.pm_mv
                    pte = mv[vpn]
                    if pte & PG_A:
                        mv[vpn] = pte & ~PG_A
                        actcount += 1
                elif pv:
                    actcount += pmap_ts_referenced(m)
                if actcount and aging is None:
                    m.act_count += ACT_ADVANCE + actcount
                    if m.act_count > ACT_MAX:
                        m.act_count = ACT_MAX
            m.flags &= ~PG_REFERENCED
            if aging is not None:
                # An assignment's aging rule (vmkit.override): it sets act_count and says whether to deactivate.
                deactivate = self._override_aging(aging, m, actcount, pass_)
                if not deactivate:
                    action, reason = ("requeue", "referenced: act_count advanced") if actcount else \
                        ("decline", "not referenced: act_count declined")
            elif actcount and obj.ref_count != 0:
                deactivate = False
                action, reason = "requeue", "referenced: act_count advanced"
            else:
                if obj.type == OBJT_DEFAULT or obj.type == OBJT_SWAP:
                    m.act_count -= min(m.act_count, self.vm_anonmem_decline)
                else:
                    m.act_count -= min(m.act_count, self.vm_filemem_decline)
                deactivate = bool(self.vm_pageout_algorithm or obj is None or obj.ref_count == 0
                                  or m.act_count < pass_ + 1)
                if not deactivate:
                    action, reason = "decline", "not referenced: act_count declined"
            if deactivate:
                # Deactivate.  With a shortage left by the inactive scan,
                # free (cache) a clean page instead - but not otherwise,
                # or gigabytes could move.
                inactive_shortage -= 1
                if avail_shortage - delta > 0 or (obj is not None and obj.ref_count == 0):
                    if avail_shortage - delta > 0:
                        recycle_countp.v += 1
                    self.vm_page_protect(m, VM_PROT_NONE)
                    if m.dirty == 0 and not m.flags & PG_NEED_COMMIT and avail_shortage - delta > 0:
                        self.vm_page_cache(m)
                        self._ev(fn, m, PQ_ACTIVE, "cache", "act_count < pass + 1; clean, and a shortage remains")
                    else:
                        self.vm_page_deactivate(m)
                        self.vm_page_wakeup(m)
                        self._ev(fn, m, PQ_ACTIVE, "deactivate", "act_count < pass + 1; unmapped")
                else:
                    self.vm_page_deactivate(m)
                    self.vm_page_wakeup(m)
                    self._ev(fn, m, PQ_ACTIVE, "deactivate", "act_count < pass + 1")
                delta += 1
                yield YIELD
                continue
            # vm_page_requeue_tail(m, PQ_ACTIVE): the page is still on this queue.
            last = pq.pl_last
            if last is not m:
                prev, nxt = m.pq_prev, m.pq_next
                if prev is None:
                    pq.pl_first = nxt
                else:
                    prev.pq_next = nxt
                nxt.pq_prev = prev
                last.pq_next = m
                m.pq_prev = last
                m.pq_next = None
                pq.pl_last = m
            # vm_page_wakeup(m)
            flags = m.flags
            m.flags = flags & ~(PG_BUSY | PG_WANTED)
            if flags & PG_WANTED:
                self.wakeup(m)
            if record:      # _ev(fn, m, PQ_ACTIVE, action, reason)
                rows.append((self.ticks, tdn, fn, m.pfn, obj.type, PQ_ACTIVE, PQ_ACTIVE, action, reason, m.act_count))
            yield YIELD
        TAILQ_REMOVE(pq, marker)
        return delta

    # ------------------------------------------------------------------------------------------
    def vm_pageout_scan_cache(self, avail_shortage: int, pass_: int, vnodes_skipped: int,
                              recycle_count: int) -> Generator:
        """Free cache pages up to ``(v_free_min + v_free_target) / 2``, then act on a remaining shortage.

        Mirrors vm_pageout_scan_cache(), vm_pageout.c:1500-1636: frees cache
        pages with a rover over the colours; requests idle swapout once a
        second if enabled; if still short, speeds up the syncer (when vnodes
        were skipped) and asks vm_daemon for swapout; warns when swap is
        almost full; and at most once a second kills the largest process
        when swap is full.  The emergency pager does not warn or kill.
        """
        isep = self.curthread is not None and self.curthread is self.emergpager
        fn = "vm_pageout_scan_cache"
        vs = self.vmstats
        # Keep about half as many free pages as cached ones: good pipelining.
        while vs.v_free_count < (vs.v_free_min + vs.v_free_target) // 2:
            m = self.vm_page_list_find(PQ_CACHE, self.vm_pageout_scan_cache_cache_rover & self.PQ_L2_MASK)
            if m is None:
                break
            # list_find returns the page off its queue.
            if self.vm_page_busy_try(m, True):
                self.vm_page_deactivate_locked(m)
                self._ev(fn, m, PQ_CACHE, "deactivate", "busy")
                continue
            self.pagedaemon_wakeup()
            yield self.lwkt_yield()
            if m.flags & (PG_UNMANAGED | PG_NEED_COMMIT) or m.hold_count or m.wire_count:
                self.vm_page_deactivate(m)
                self.vm_page_wakeup(m)
                self._ev(fn, m, PQ_CACHE, "deactivate", "held, wired, unmanaged or needs commit")
                continue
            if m.flags & PG_MAPPED or m.dirty:
                self.panic(f"vm_pageout_scan_cache: mapped or dirty page on the cache queue: {m!r}")
            self.vm_pageout_scan_cache_cache_rover += PQ_PRIME2
            otype = m.object.type
            self.vm_pageout_page_free(m)
            self.cnt.v_dfree += 1
            self._ev(fn, m, PQ_CACHE, "free", "cache -> free", otype)
        # Idle process swapout, once per second.
        if self.vm_swap_idle_enabled:
            if self.time_uptime != self.vm_pageout_scan_cache_lsec:
                self.vm_pageout_req_swapout |= VM_SWAP_IDLE
                self.vm_req_vmdaemon()
                self.vm_pageout_scan_cache_lsec = self.time_uptime
        # Still short: kick the syncer if writeable vnodes were skipped, and ask for swapout.
        if self.vm_paging_target() > 0:
            if vnodes_skipped and self.vm_page_count_min(0):
                self.speedup_syncer(None)
            if self.vm_swap_enabled and self.vm_page_count_target():
                self.vm_pageout_req_swapout |= VM_SWAP_NORMAL
                self.vm_req_vmdaemon()
        # Catastrophe: out of memory only if swap is (almost) full and the
        # shortage persists.  The emergency pager does not handle this.
        if (self.swap_pager_almost_full and pass_ > 0 and isep == 0
                and (self.vm_page_count_min(recycle_count) or avail_shortage > 0)):
            self.kprintf(f"Warning: system low on memory+swap shortage {avail_shortage} "
                         f"for {self.ticks - self.swap_fail_ticks} ticks!")
            if self.bootverbose:
                self.kprintf(f"Metrics: spaf={self.swap_pager_almost_full} spf={self.swap_pager_full} "
                             f"pass={pass_} avail={avail_shortage} target={self.vm_paging_target()} "
                             f"last={(self.ticks - self.vm_pageout_scan_cache_lastkillticks) & 0xFFFFFFFF}")
        if (self.swap_pager_full and pass_ > 1 and isep == 0 and avail_shortage > 0
                and self.vm_paging_target() > 0
                and ((self.ticks - self.vm_pageout_scan_cache_lastkillticks) & 0xFFFFFFFF) >= self.hz):   # unsigned
            # Kill something, at most once a second, to give it time to free memory.
            self.vm_pageout_scan_cache_lastkillticks = self.ticks
            info = vm_pageout_scan_info()
            yield from self.allproc_scan(self.vm_pageout_scan_callback, info)
            if info.bigproc is not None:
                bp = info.bigproc
                self.kprintf(f"Try to kill process {bp.p_pid} {bp.p_comm}")
                bp.p_nice = PRIO_MIN
                bp.p_flags |= P_LOWMEMKILL
                self.oom_kills.append({"pid": bp.p_pid, "name": bp.p_comm, "size_pages": info.bigsize,
                                       "tick": self.ticks})
                self._ev(fn, None, 0, "kill", f"pid {bp.p_pid} ({bp.p_comm}), {info.bigsize} pages")
                self.killproc(bp, "out of swap space")
                self.wakeup(V_FREE_COUNT)

    def vm_pageout_scan_callback(self, p: proc, info: vm_pageout_scan_info) -> Generator:
        """Remember ``p`` if it is the largest killable process so far (anonymous + swap pages).

        Mirrors vm_pageout_scan_callback(), vm_pageout.c:1638-1688.  Never
        system processes or init; with swap configured (``vm_swap_size`` is
        the *free* swap, so this protection ends when swap is full), not
        pids below 48 either.
        """
        if p.p_flags & P_SYSTEM or p.p_pid == 1 or (p.p_pid < 48 and self.vm_swap_size != 0):
            return 0
        if p.p_stat != SACTIVE and p.p_stat != SSTOP and p.p_stat != SCORE:
            return 0
        # Anonymous pages with swap backing count twice; few do under this much pressure.
        size = self.vmspace_anonymous_count(p.p_vmspace) + self.vmspace_swap_count(p.p_vmspace)
        if info.bigsize < size:
            info.bigproc = p
            info.bigsize = size
        yield self.lwkt_yield()
        return 0

    # ------------------------------------------------------------------------------------------
    def vm_pageout_page_stats(self, q: int) -> None:
        """Age the active queue while there is no paging, so that act_count means something later.

        Mirrors vm_pageout_page_stats(), vm_pageout.c:1696-1849.  Runs only
        if inactive+cache+free pages are short of their targets; scans a
        slice of colour ``q`` (``stats_max * lcnt / page_count + 1``), the
        whole of it every ``full_stats_interval`` (counted across colours, as
        the seed's static counter is).
        """
        vs = self.vmstats
        fn = "vm_pageout_page_stats"
        page_shortage = ((vs.v_inactive_target + vs.v_cache_max + vs.v_free_min)
                         - (vs.v_free_count + vs.v_inactive_count + vs.v_cache_count))
        if page_shortage <= 0:
            return
        pq = self.vm_page_queues[PQ_ACTIVE + q]
        pcount = pq.lcnt
        self.vm_pageout_page_stats_fullintervalcount += self.vm_pageout_stats_interval
        if self.vm_pageout_page_stats_fullintervalcount < self.vm_pageout_full_stats_interval:
            tpcount = (self.vm_pageout_stats_max * pcount) // vs.v_page_count + 1
            if pcount > tpcount:
                pcount = tpcount
        else:
            self.vm_pageout_page_stats_fullintervalcount = 0
        marker = vm_page_marker(PQ_ACTIVE + q, q)
        TAILQ_INSERT_HEAD(pq, marker)
        # Bound once for this loop (CPython finds locals fastest).
        tailq_remove, tailq_insert_after = TAILQ_REMOVE, TAILQ_INSERT_AFTER
        vm_page_busy_try = self.vm_page_busy_try
        vm_page_wakeup = self.vm_page_wakeup
        vm_page_requeue_tail = self.vm_page_requeue_tail
        pmap_ts_referenced = self.pmap_ts_referenced
        _ev = self._ev
        while True:
            m = marker.pq_next
            if m is None:
                break
            pcount -= 1
            if not pcount + 1 > 0:
                break
            if m.queue != PQ_ACTIVE + q:
                self.panic(f"vm_pageout_page_stats: page on queue {m.queue}, expected {PQ_ACTIVE + q}")
            # The marker moves past m (TAILQ_REMOVE + TAILQ_INSERT_AFTER) only when
            # m stays where it is; a page sent to the tail or off the queue leaves
            # the marker where it was anyway (as in vm_pageout_scan_active).
            if m.flags & PG_MARKER or vm_page_busy_try(m, True):
                tailq_remove(pq, marker)
                tailq_insert_after(pq, m, marker)
                continue
            qbefore = m.queue and m.queue - m.pc
            if m.hold_count:
                vm_page_wakeup(m)
                tailq_remove(pq, marker)
                tailq_insert_after(pq, m, marker)
                continue
            actcount = 0
            if m.flags & PG_REFERENCED:
                m.flags &= ~PG_REFERENCED
                actcount += 1
            actcount += pmap_ts_referenced(m)
            if actcount:
                m.act_count += ACT_ADVANCE + actcount
                if m.act_count > ACT_MAX:
                    m.act_count = ACT_MAX
                vm_page_requeue_tail(m, PQ_ACTIVE)
                vm_page_wakeup(m)
                _ev(fn, m, qbefore, "requeue", _STATS_REFERENCED[min(actcount, len(_STATS_REFERENCED) - 1)])
                continue
            if m.act_count == 0:
                # Unmap it too, for more accurate RSS figures; too costly
                # during real paging, affordable here.
                self.vm_page_protect(m, VM_PROT_NONE)
                self.vm_page_deactivate(m)
                _ev(fn, m, qbefore, "deactivate", "act_count 0")
            else:
                m.act_count -= min(m.act_count, ACT_DECLINE)
                vm_page_requeue_tail(m, PQ_ACTIVE)
                _ev(fn, m, qbefore, "decline", "not referenced: act_count declined")
            vm_page_wakeup(m)
        TAILQ_REMOVE(pq, marker)

    # ------------------------------------------------------------------------------------------
    def vm_pageout_free_page_calc(self, count: int) -> int:
        """Set v_free_min and the reserves derived from it; return 1 (0 if ``count`` is too small).

        Mirrors vm_pageout_free_page_calc(), vm_pageout.c:1851-1889:
        ``free_min = 64 + (pages - 1024) / 200``, at least
        ``VMMETER_SLOP_COUNT * ncpus * 10`` but at most 1/20 of memory;
        reserved = free_min/2 + 7, severe = free_min/2, pageout_free_min =
        free_min/4 + 7, interrupt_free_min = free_min/8 + 7.
        """
        vs = self.vmstats
        if count < vs.v_page_count:
            return 0
        # v_free_min: normal allocations; v_free_reserved: system allocations;
        # v_pageout_free_min: the daemon's; v_interrupt_free_min: low-level ones.
        if vs.v_page_count > 1024:
            vs.v_free_min = 64 + (vs.v_page_count - 1024) // 200
        else:
            vs.v_free_min = 64
        # The per-CPU slop must not blow the minimums; but in tiny memories
        # (vkernels) stay under 1/20 of RAM or the daemon goes wild.
        if vs.v_free_min < VMMETER_SLOP_COUNT * self.config.ncpus * 10:
            vs.v_free_min = VMMETER_SLOP_COUNT * self.config.ncpus * 10
        if vs.v_free_min > vs.v_page_count // 20:
            vs.v_free_min = vs.v_page_count // 20
        vs.v_free_reserved = vs.v_free_min * 4 // 8 + 7
        vs.v_free_severe = vs.v_free_min * 4 // 8 + 0
        vs.v_pageout_free_min = vs.v_free_min * 2 // 8 + 7
        vs.v_interrupt_free_min = vs.v_free_min * 1 // 8 + 7
        return 1

    def vm_pageout_thread_setup(self) -> None:
        """The primary daemon's one-time set-up of thresholds and intervals (vm_pageout.c:1925-2022)."""
        vs = self.vmstats
        self.vm_pageout_free_page_calc(vs.v_page_count)
        # v_free_target (free+cache high water) and v_cache_min control the
        # hysteresis; v_cache_min must cover demand while the daemon wakes.
        if vs.v_free_count > 6144:
            vs.v_free_target = 4 * vs.v_free_min + vs.v_free_reserved
        else:
            vs.v_free_target = 2 * vs.v_free_min + vs.v_free_reserved
        # The inactive target: enough one-time-use pages for streaming files
        # while the rest of memory is busy.
        if vs.v_free_count > 2048:
            vs.v_cache_min = vs.v_free_target
            vs.v_cache_max = 2 * vs.v_cache_min
        else:
            vs.v_cache_min = 0
            vs.v_cache_max = 0
        vs.v_inactive_target = vs.v_free_count // 4
        if self.vm_page_max_wired == 0:
            self.vm_page_max_wired = vs.v_free_count // 3
        if self.vm_pageout_stats_max == 0:
            self.vm_pageout_stats_max = vs.v_free_target
        if self.vm_pageout_stats_interval == 0:
            self.vm_pageout_stats_interval = 5
        if self.vm_pageout_full_stats_interval == 0:
            self.vm_pageout_full_stats_interval = self.vm_pageout_stats_interval * 4
        if self.vm_pageout_stats_free_max == 0:
            self.vm_pageout_stats_free_max = 5
        self.swap_pager_swap_init()

    def vm_pageout_thread(self) -> Generator:
        """The daemon's main loop, run by two threads: the primary ``pagedaemon`` and the ``emergpager``.

        Mirrors vm_pageout_thread(), vm_pageout.c:1901-2285.  Each pass:
        compute ``avail_shortage = vm_paging_target() + deficit`` and scan
        the inactive colours for it; then the active colours for the inactive
        shortage (plus up to 1/10 of the inactive target if still short);
        then the cache.  Then sleep: not at all (another request came in,
        pass < 10), hz/10, hz/5 or hz (swap full), or until woken when
        memory is fine.  The emergency pager only runs when paging is needed
        and the primary has not advanced ``vm_pagedaemon_time`` for 2 s.
        """
        td = self.curthread
        td.td_flags |= TDF_SYSTHREAD
        isep = 0
        emrunning = 0
        pass_ = 0
        q1iterator = 0
        q2iterator = 0
        if td is self.emergpager:
            isep = 1
        else:
            self.vm_pageout_thread_setup()
            pass_ = 0
            self.sequence_emerg_pager = 1
            self.wakeup(SEQUENCE_EMERG_PAGER)
        if isep:
            while self.sequence_emerg_pager == 0:
                yield self.tsleep(SEQUENCE_EMERG_PAGER, 0, "pstartup", self.hz)
        vs = self.vmstats
        L2 = self.PQ_L2_SIZE
        mask = self.PQ_L2_MASK
        while True:
            vnodes_skipped = Ref(0)
            recycle_count = Ref(0)
            # Wait for work; after a timeout, look anyway in case a wake-up raced us.
            if isep:
                # The emergency pager watches the primary while paging is needed.
                if self.vm_pages_needed:
                    yield self.tsleep(VM_PAGEDAEMON_TIME, 0, "psleep", self.hz)
                else:
                    yield self.tsleep(VM_PAGEDAEMON_TIME, 0, "psleep", self.hz * 10)
                if self.vm_pages_needed == 0:
                    pass_ = 0
                    continue
                if self.ticks - self.vm_pagedaemon_time < self.hz * 2:
                    if emrunning:
                        emrunning = 0
                        self.kprintf("Emergency pager finished")
                    pass_ = 0
                    continue
                if emrunning == 0:
                    emrunning = 1
                    self.kprintf("Emergency pager running")
            else:
                if self.vm_pages_needed == 0:
                    error = yield self.tsleep(VM_PAGES_NEEDED, 0, "psleep", self.vm_pageout_stats_interval * self.hz)
                    if error and self.vm_paging_needed() == 0 and self.vm_pages_needed == 0:
                        for q in range(L2):
                            self.vm_pageout_page_stats(q)
                        continue
                    self.vm_pagedaemon_time = self.ticks
                    self.vm_pages_needed = 1
                    # Wake the emergency pager so it can watch us.
                    self.wakeup(VM_PAGEDAEMON_TIME)
            self.cnt.v_pdwakeups += 1
            self.pageout_passes += 1
            pass_start = (self.laundered, self.cnt.v_swappgsout, self.cnt.v_dfree, self.cnt.v_pdpages)
            # INACTIVE -> CACHE/FREE/laundry.  The target is above the
            # severe level, for hysteresis; the deficit (RSS enforcement,
            # blocked allocations) forces work even when the queues look
            # fine.  avail_shortage stays fixed in the loop or PQAVERAGE breaks.
            self.vmstats_rollup()
            if isep == 0:
                self.vm_pagedaemon_time = self.ticks
            avail_shortage = self.vm_paging_target() + self.vm_pageout_deficit
            self.vm_pageout_deficit = 0
            first_shortage = avail_shortage
            if avail_shortage > 0:
                delta = 0
                q = 0
                while q < L2:
                    delta += yield from self.vm_pageout_scan_inactive(
                        pass_, (q + q1iterator) & mask, self.PQAVERAGE(avail_shortage), vnodes_skipped)
                    if avail_shortage - delta <= 0:
                        break
                    q += 1
                avail_shortage -= delta
                q1iterator = q + 1
            # How many active pages to deactivate: the inactive target, and
            # if the inactive scan fell short, up to 1/10 of it more.
            self.vmstats_rollup()
            if isep == 0:
                self.vm_pagedaemon_time = self.ticks
            inactive_shortage = vs.v_inactive_target - vs.v_inactive_count
            if avail_shortage > 0:
                tmp = avail_shortage * 2
                if tmp > vs.v_inactive_target // 10:
                    tmp = vs.v_inactive_target // 10
                inactive_shortage += tmp
            if isep == 0 and inactive_shortage > 0:
                self.pmap_collect()
            # ACTIVE -> INACTIVE, only on inactive shortage.  The emergency
            # pager always moves a few: there may be inactive pages, but not
            # anonymous ones it can use.
            if isep and inactive_shortage < self.vm_emerg_launder:
                inactive_shortage = self.vm_emerg_launder
            if inactive_shortage > 0:
                delta = 0
                q = 0
                while q < L2:
                    delta += yield from self.vm_pageout_scan_active(
                        pass_, (q + q2iterator) & mask, self.PQAVERAGE(avail_shortage),
                        self.PQAVERAGE(inactive_shortage), recycle_count)
                    if inactive_shortage - delta <= 0 and avail_shortage - delta <= 0:
                        break
                    q += 1
                inactive_shortage -= delta
                avail_shortage -= delta
                q2iterator = q + 1
            # CACHE -> FREE, and the drastic measures.
            self.vmstats_rollup()
            if isep == 0:
                self.vm_pagedaemon_time = self.ticks
            yield from self.vm_pageout_scan_cache(avail_shortage, pass_, vnodes_skipped.v, recycle_count.v)
            if self.record_stats:
                self._pass_rows.append((
                    self.ticks, td.td_name, pass_, first_shortage, inactive_shortage, avail_shortage,
                    self.laundered - pass_start[0], self.cnt.v_swappgsout - pass_start[1],
                    self.cnt.v_dfree - pass_start[2], self.cnt.v_pdpages - pass_start[3]))
            for hook in self.pass_hooks:
                hook(self, isep)
            # Wait for more work.
            if avail_shortage > 0:
                pass_ += 1
                if pass_ < 10 and self.vm_pages_needed > 1:
                    # Others have already asked again: retry at once, unless swap is full.
                    if self.swap_pager_full:
                        yield self.tsleep(VM_PAGES_NEEDED, 0, "pdelay", self.hz // 5)
                elif pass_ < 10:
                    # Fewer requests: a short pause that wake-ups can cut.
                    if isep == 0:
                        self.vm_pages_needed = 0
                    yield self.tsleep(VM_PAGES_NEEDED, 0, "pdelay", self.hz // 10)
                    if isep == 0:
                        self.vm_pages_needed = 1
                elif self.swap_pager_full == 0:
                    # Too many passes: forced delay.
                    yield self.tsleep(VM_PAGES_NEEDED, 0, "pdelay", self.hz // 10)
                else:
                    # Out of memory: back off to one-second intervals.
                    yield self.tsleep(VM_PAGES_NEEDED, 0, "pdelay", self.hz)
            elif self.vm_pages_needed:
                # Wake the waiters (as vm_page_free_wakeup() would).
                pass_ = 0
                if not self.vm_page_count_min(self.vm_page_free_hysteresis) or not self.vm_page_count_target():
                    self.vm_pages_needed = 0
                    self.wakeup(V_FREE_COUNT)
            else:
                pass_ = 0

    # ------------------------------------------------------------------------------------------
    def pagedaemon_wakeup(self) -> None:
        """Wake the page daemon if paging is needed, or hint that more requests wait.

        Mirrors pagedaemon_wakeup(), vm_pageout.c:2317-2328.  Called after
        allocating from the free or cache queue: wake the daemon when
        free+cache drops below ``free_min + cache_min``; if it is already
        awake, count one more request when memory is at its minimum.
        """
        td = self.curthread
        if self.vm_paging_needed() and (td is None or td is not self.pagethread):
            if self.vm_pages_needed == 0:
                self.vm_pages_needed = 1
                self.wakeup(VM_PAGES_NEEDED)
            elif self.vm_page_count_min(0):
                self.vm_pages_needed += 1

    def vm_req_vmdaemon(self) -> None:
        """Wake vm_daemon, at most once per second.  Mirrors vm_req_vmdaemon(), vm_pageout.c:2336-2345."""
        lastrun = self.vm_req_vmdaemon_lastrun
        if self.ticks > lastrun + self.hz or self.ticks < lastrun:
            self.wakeup(VM_DAEMON_NEEDED)
            self.vm_req_vmdaemon_lastrun = self.ticks

    def vm_daemon(self) -> Generator:
        """The ``vmdaemon`` thread: on request, swap processes out and trim RSS over RLIMIT_RSS.

        Mirrors vm_daemon(), vm_pageout.c:2352-2373.  Faithful quirk (facts
        §6): it zeroes ``vm_pageout_req_swapout`` and then passes that
        variable - now 0 - to ``swapout_procs``, so no process is swapped
        out from here.
        """
        while True:
            yield self.tsleep(VM_DAEMON_NEEDED, 0, "psleep", 0)
            req_swapout, self.vm_pageout_req_swapout = self.vm_pageout_req_swapout, 0
            # Forced swapouts.
            if req_swapout:
                yield from self.swapout_procs(self.vm_pageout_req_swapout)
            # Deactivate pages of processes over their limit, or swapped out.
            yield from self.allproc_scan(self.vm_daemon_callback, None)

    def vm_daemon_callback(self, p: proc, data: Any) -> Generator:
        """Trim ``p``'s resident set if it exceeds RLIMIT_RSS by more than 4096 pages.

        Mirrors vm_daemon_callback(), vm_pageout.c:2375-2427.  A swapped-out
        process gets a limit of 0.  Only with ``vm.pageout_memuse_mode >= 1``.
        """
        if p.p_flags & (P_SYSTEM | P_WEXIT):
            return 0
        if p.p_stat != SACTIVE and p.p_stat != SSTOP and p.p_stat != SCORE:
            return 0
        rlim = p.p_rlimit[RLIMIT_RSS]
        limit = min(rlim[0], rlim[1]) >> self.PAGE_SHIFT     # OFF_TO_IDX
        # A swapped-out process should really be out: no resident pages.
        if p.p_flags & P_SWAPPEDOUT:
            limit = 0
        vm = p.p_vmspace
        size = self.pmap_resident_tlnw_count(vm.vm_pmap)
        if limit >= 0 and size > 4096 and size - 4096 >= limit and self.vm_pageout_memuse_mode >= 1:
            yield from self.vm_pageout_map_deactivate_pages(vm.vm_map, limit)
        return 0
