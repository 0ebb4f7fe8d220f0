"""The syncer: writes dirty file pages back in the background (``vfs_sync.c``, ``vm_object.c``).

A file page written through a shared mapping stays dirty in memory until
someone writes it back: the page daemon (when it needs the page), an
``msync``, or the syncer.  The syncer thread wakes once a second and cleans
every file whose pages have been dirty for ``syncdelay`` (30) seconds.
``speedup_syncer()`` - which the page daemon calls when it had to skip
locked vnodes - adds to ``rushjob``, and the syncer then works through that
many extra seconds of its queue at once, one tick apart (facts §7).

:meth:`SyncerMixin.vm_object_page_clean` is ``vm_object_page_clean``: it
gathers runs of consecutive dirty pages (at most ``BLIST_MAX_ALLOC`` long,
never crossing an aligned 64-page window) and writes each run with
``vm_pageout_flush``.  After an error-free pass over the whole object it
clears ``OBJ_MIGHTBEDIRTY`` (facts §7).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .constants import (
    BLIST_MAX_ALLOC,
    OBJ_MIGHTBEDIRTY,
    OBJ_WRITEABLE,
    OBJT_VNODE,
    VM_PAGE_BITS_ALL,
    VM_PAGER_CLUSTER_OK,
    VM_PAGER_PUT_SYNC,
)

if TYPE_CHECKING:  # pragma: no cover
    from .vm_object import vm_object

SYNCER = "syncer"


class SyncerMixin:
    """The syncer thread, ``speedup_syncer`` and ``vm_object_page_clean`` of a :class:`~vmkit.machine.Machine`."""

    def _init_syncer(self) -> None:
        self.syncdelay = 30        # kern.syncdelay, seconds
        self.rushjob = 0
        self.syncer_thread = self.kthread_create(self._syncer_main, "syncer")

    def speedup_syncer(self, mp: Any) -> None:
        """Ask the syncer to work through an extra second of its queue; wake it only for a mount (facts §7)."""
        self.rushjob += 1
        if mp is not None:
            self.wakeup(SYNCER)

    def _syncer_main(self) -> Generator:
        while True:
            yield from self._syncer_clean_due(0)
            lookahead = 0
            while self.rushjob > 0:
                self.rushjob -= 1
                lookahead += self.hz
                yield self.tsleep(SYNCER, 0, "syncer", 1)
                yield from self._syncer_clean_due(lookahead)
            yield self.tsleep(SYNCER, 0, "syncer", self.hz)

    def _syncer_clean_due(self, lookahead: int) -> Generator:
        due = self.ticks - self.syncdelay * self.hz + lookahead
        for vp in list(self.vnodes.values()):
            if vp.v_dirty and vp.v_dirty_tick <= due:
                yield from self.vm_object_page_clean(vp.v_object, 0, 0, 0)

    def vm_object_page_clean(self, obj: vm_object, start: int, end: int, flags: int) -> Generator:
        """Write back the dirty pages of a file object in ``[start, end)`` (end 0: to the end) (``yield from``).

        Returns the number of pages written.  ``flags`` may hold
        VM_PAGER_PUT_SYNC to wait for the disk.
        """
        if obj.type != OBJT_VNODE or not obj.flags & OBJ_MIGHTBEDIRTY:
            return 0
        whole = start == 0 and end == 0
        end = end or obj.size
        pagerflags = flags & VM_PAGER_PUT_SYNC
        if not pagerflags:
            pagerflags |= VM_PAGER_CLUSTER_OK
        written = 0
        error_free = True
        pindex = start
        while pindex < end:
            candidates = sorted(p for p in obj.rb_memq if pindex <= p < end)
            if not candidates:
                break
            pindex = candidates[0]
            run: list = []
            window_end = min(end, (pindex // BLIST_MAX_ALLOC + 1) * BLIST_MAX_ALLOC)
            while pindex < window_end:
                m = obj.rb_memq.get(pindex)
                if m is None:
                    break
                if self.vm_page_busy_try(m, True):
                    error_free = False      # could not look at it: the object may still be dirty
                    break
                self.vm_page_test_dirty(m)
                if not m.dirty or m.valid != VM_PAGE_BITS_ALL:
                    self.vm_page_wakeup(m)
                    break
                run.append(m)
                pindex += 1
            if run:
                n = yield from self.vm_pageout_flush(run, len(run), pagerflags)
                written += n
                if n < len(run):
                    error_free = False
            else:
                pindex += 1
        if whole and error_free:
            obj.flags &= ~(OBJ_WRITEABLE | OBJ_MIGHTBEDIRTY)
            obj.handle.v_dirty = False
        return written

    def msync(self, name: str) -> Generator:
        """Write back every dirty page of file ``name`` and wait for the disk (``yield from``)."""
        vp = self.vfs_lookup(name)
        return (yield from self.vm_object_page_clean(vp.v_object, 0, 0, VM_PAGER_PUT_SYNC))
