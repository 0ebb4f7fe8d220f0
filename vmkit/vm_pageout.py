"""The page-out daemon: a port of DragonFly BSD ``sys/vm/vm_pageout.c`` (DragonFly 5.0, 2017).

Line numbers ("vm_pageout.c:2318-2328") are the seed file's.  This module
holds the daemon's global state (the seed's file-scope variables, lines
126-130) and the functions the rest of the kernel calls into it.
"""

from __future__ import annotations

from .kern import VM_PAGES_NEEDED, thread


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
        if self.vm_paging_needed() and self.curthread is not self.pagethread:
            if self.vm_pages_needed == 0:
                self.vm_pages_needed = 1
                self.wakeup(VM_PAGES_NEEDED)
            elif self.vm_page_count_min(0):
                self.vm_pages_needed += 1
