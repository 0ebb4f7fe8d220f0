"""The page-out daemon: a port of DragonFly BSD ``sys/vm/vm_pageout.c`` (DragonFly 5.0, 2017).

Line numbers ("vm_pageout.c:2318-2328") are the seed file's.  This module
holds the daemon's global state (the seed's file-scope variables, lines
126-130) and the functions the rest of the kernel calls into it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .constants import (
    VM_PAGE_BITS_ALL,
    VM_PAGER_AGAIN,
    VM_PAGER_BAD,
    VM_PAGER_NAMES,
    VM_PAGER_OK,
    VM_PAGER_PEND,
    VM_PAGER_TRY_TO_CACHE,
    VM_PROT_NONE,
    VM_PROT_READ,
)
from .kern import VM_PAGES_NEEDED, thread

if TYPE_CHECKING:  # pragma: no cover
    from .vm_page import vm_page


class PageoutMixin:
    """The page-out daemon's globals and entry points of a :class:`~vmkit.machine.Machine`."""

    def _init_pageout(self) -> None:
        """The seed's file-scope variables (vm_pageout.c:126-130)."""
        self.vm_pages_needed = 0          # event on which the pageout daemon sleeps
        self.vm_pageout_deficit = 0       # estimated number of pages deficit
        self.vm_pageout_pages_needed = 0  # the pageout daemon needs pages
        self.vm_page_free_hysteresis = 16
        self.vm_pagedaemon_time = 0
        self.pagethread: thread | None = None
        self.emergpager: thread | None = None

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

    def vm_pageout_flush(self, mc: list, count: int, vmflush_flags: int) -> Generator:
        """Launder ``mc[0:count]`` through their pager; return how many were paged out (``yield from``).

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
            # inactive and dirty and is tried again on a later pass.
            self.pageout_event("vm_pageout_flush", mt, f"pager:{VM_PAGER_NAMES.get(status, status)}")
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
        return numpagedout

    def pageout_event(self, func: str, m: vm_page, action: str) -> None:
        """Hook for the daemon's event log (recording arrives with the daemon)."""
