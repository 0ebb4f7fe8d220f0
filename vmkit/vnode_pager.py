"""The file store: files (vnodes), their locks, and the vnode pager (facts §7).

* A file is a :class:`vnode` with ``v_data``, one stamp per page of the file
  on disk, and a VM object (``OBJT_VNODE``) that caches its pages.  A new
  file's pages hold distinct initial stamps, so reading the wrong block is
  detected.
* Each vnode has an exclusive lock.  :meth:`VnodePagerMixin.vget` takes it the
  way the daemon does: ``LK_TIMELOCK`` sleeps at most ``lk_timo`` ticks per
  attempt and returns ``EWOULDBLOCK`` on timeout; ``LK_NOWAIT`` returns
  ``EBUSY`` at once.  :meth:`VnodePagerMixin.vn_lock_hold` makes a kernel
  thread hold a file's lock for a chosen time, which is how a stalled
  filesystem is staged.
* :meth:`VnodePagerMixin.vnode_pager_putpages` writes pages back: OK on
  success (the pages become clean), BAD for pages past end of file, AGAIN
  after a write error (the pages stay dirty).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from .config import check_int
from .constants import (
    EBUSY,
    ENOENT,
    EWOULDBLOCK,
    LK_NOWAIT,
    LK_TIMELOCK,
    OBJT_VNODE,
    VM_PAGE_BITS_ALL,
    VM_PAGER_AGAIN,
    VM_PAGER_BAD,
    VM_PAGER_ERROR,
    VM_PAGER_OK,
    VM_PAGER_PUT_INVAL,
    VM_PAGER_PUT_SYNC,
)
from .vfs_bio import B_ASYNC, B_DECIDED, BIO_READ, BIO_WRITE, buf

if TYPE_CHECKING:  # pragma: no cover
    from .kern import thread
    from .vm_object import vm_object
    from .vm_page import vm_page

VREG = 1


class vnode:
    """A file: its data on disk, its VM object, its lock (``struct vnode``)."""

    __slots__ = ("v_id", "v_name", "v_type", "v_object", "v_data", "v_size", "lk_holder",
                 "lk_timo", "v_refcnt", "v_reclaimed", "v_dirty", "v_dirty_tick", "v_lockwaits")

    def __init__(self, vid: int, name: str, npages: int, lk_timo: int) -> None:
        self.v_id = vid
        self.v_name = name
        self.v_type = VREG
        self.v_object: vm_object | None = None
        self.v_data = np.zeros(npages, dtype=np.int64)
        self.v_size = npages
        self.lk_holder: thread | str | None = None
        self.lk_timo = lk_timo
        self.v_refcnt = 0
        self.v_reclaimed = False
        self.v_dirty = False        # on the syncer's list
        self.v_dirty_tick = 0       # when it went on the list
        self.v_lockwaits = 0

    def __repr__(self) -> str:
        held = "" if self.lk_holder is None else " locked"
        return f"<vnode {self.v_id} {self.v_name!r} {self.v_size} pages{held}>"


class VnodePagerMixin:
    """Files and the vnode pager of a :class:`~vmkit.machine.Machine`."""

    def _init_vnode(self) -> None:
        cfg = self.config
        self.filedev = self.disk_create("file", cfg.file_read_latency, cfg.file_write_latency, cfg.file_bandwidth)
        self.vnodes: dict[str, vnode] = {}
        self._next_vnode_id = 1
        # lk_timo of 0 means hz/10, what HAMMER, HAMMER2 and NFS pass (facts §7).
        self.vnode_lk_timo = cfg.vnode_lk_timo or max(1, cfg.hz // 10)

    def vfs_create_file(self, name: str, npages: int) -> vnode:
        """Create file ``name`` of ``npages`` pages with distinct initial contents; return its vnode."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"file name must be a non-empty string, got {name!r}")
        if name in self.vnodes:
            raise ValueError(f"file {name!r} already exists")
        check_int(npages, "npages", 1, 1 << 26)
        vp = vnode(self._next_vnode_id, name, npages, self.vnode_lk_timo)
        self._next_vnode_id += 1
        vp.v_data[:] = self.new_file_contents(npages)
        obj = self.vm_object_allocate(OBJT_VNODE, npages, name=name, initial=vp.v_data)
        obj.ref_count = 0          # the vnode holds its object without a reference
        obj.handle = vp
        vp.v_object = obj
        self.vnodes[name] = vp
        return vp

    def vfs_lookup(self, name: str) -> vnode:
        try:
            return self.vnodes[name]
        except KeyError:
            known = ", ".join(sorted(self.vnodes)) or "none"
            raise ValueError(f"no file named {name!r}; files: {known}") from None

    # -- the vnode lock (lockmgr with lk_timo) -----------------------------------------------------
    def vget(self, vp: vnode, flags: int) -> Generator:
        """Reference and exclusively lock ``vp`` (``yield from``); return 0, EWOULDBLOCK, EBUSY or ENOENT (facts §7).

        With LK_TIMELOCK each sleep lasts at most ``lk_timo`` ticks; lockmgr
        retries after every wake-up, so the whole wait can exceed one timeout.
        """
        if vp.v_reclaimed:
            return ENOENT
        vp.v_refcnt += 1
        me = self.curthread
        while vp.lk_holder is not None:
            if flags & LK_NOWAIT:
                vp.v_refcnt -= 1
                return EBUSY
            vp.v_lockwaits += 1
            error = yield self.tsleep(vp, 0, "vnode", vp.lk_timo if flags & LK_TIMELOCK else 0)
            if error == EWOULDBLOCK:
                vp.v_refcnt -= 1
                return EWOULDBLOCK
        vp.lk_holder = me if me is not None else "interrupt"
        return 0

    def vput(self, vp: vnode) -> None:
        """Unlock and release ``vp``."""
        if vp.lk_holder is None:
            self.panic(f"vput: {vp!r} is not locked")
        vp.lk_holder = None
        vp.v_refcnt -= 1
        self.wakeup(vp)

    def vn_lock_hold(self, vp: vnode | str, ticks: int, start: int = 0) -> None:
        """Have a kernel thread take ``vp``'s lock ``start`` ticks from now and hold it for ``ticks`` ticks."""
        if isinstance(vp, str):
            vp = self.vfs_lookup(vp)
        elif not isinstance(vp, vnode) or self.vnodes.get(vp.v_name) is not vp:
            raise ValueError(f"vp must be the name or vnode of a file of this machine, got {vp!r}")
        check_int(ticks, "ticks", 1, 1 << 40)
        check_int(start, "start", 0, 1 << 40)
        target = self.ticks + start

        def holder() -> Generator:
            if target > self.ticks:
                yield self.tsleep(("vnlock-start", vp.v_id), 0, "vnwait", target - self.ticks)
            error = yield from self.vget(vp, 0)
            if error:
                return
            self.kprintf(f"vnode {vp.v_name}: lock held for {ticks} ticks")
            yield self.tsleep(("vnlock-hold", vp.v_id), 0, "vnhold", ticks)
            self.vput(vp)

        self.kthread_create(holder, f"vnlock:{vp.v_name}")

    # -- the vnode pager ---------------------------------------------------------------------------
    def vnode_pager_putpages(self, obj: vm_object, m: list, count: int, flags: int, rtvals: list) -> Generator:
        """Write pages of a file back (``yield from``); ``rtvals`` get OK, BAD (past EOF) or AGAIN (facts §7).

        The write is synchronous (the caller sleeps for the disk) with
        PUT_SYNC or PUT_INVAL, or when free+cache pages are below
        ``v_pageout_free_min``; otherwise the data goes to the buffer cache at
        once and the disk write proceeds in the background.
        """
        vp = obj.handle
        vs = self.vmstats
        sync = bool(flags & (VM_PAGER_PUT_SYNC | VM_PAGER_PUT_INVAL))
        if vs.v_free_count + vs.v_cache_count < vs.v_pageout_free_min:
            sync = True
        for i in range(count):
            rtvals[i] = VM_PAGER_AGAIN
        inrange = [i for i in range(count) if m[i].pindex < vp.v_size]
        for i in range(count):
            if m[i].pindex >= vp.v_size:
                rtvals[i] = VM_PAGER_BAD
        if not inrange:
            return
        pages = [m[i] for i in inrange]
        bp = buf(BIO_WRITE, pages, pages[0].pindex, self.filedev)
        bp.b_object = obj
        phys = self.phys_mv
        bp.b_data = [phys[p.pfn] for p in pages]
        self.cnt.v_vnodeout += 1
        self.cnt.v_vnodepgsout += len(pages)
        if sync:
            self.vn_strategy(bp)
            error = yield from self.biowait(bp, "vnwrt")
        else:
            # Asynchronous: the buffer cache takes the data now and the disk
            # writes it behind.  The disk's verdict is drawn now, so a failed
            # write leaves the pages dirty instead of being discovered later.
            error = self.filedev.decide(BIO_WRITE)
            if error:
                self.filedev.writes += 1          # attempted, and failed
            else:
                bp.b_flags |= B_ASYNC | B_DECIDED
                self.vn_strategy(bp)
        if error:
            return
        for p, stamp in zip(pages, bp.b_data, strict=True):
            vp.v_data[p.pindex] = stamp
        for i in inrange:
            rtvals[i] = VM_PAGER_OK
            self.vm_page_undirty(m[i])

    def vnode_pager_getpage(self, obj: vm_object, m: vm_page) -> Generator:
        """Read busied page ``m`` of a file (``yield from``); return OK, BAD (past EOF) or ERROR."""
        vp = obj.handle
        if m.pindex >= vp.v_size:
            return VM_PAGER_BAD
        bp = buf(BIO_READ, [m], m.pindex, self.filedev)
        bp.b_object = obj
        self.cnt.v_vnodein += 1
        self.cnt.v_vnodepgsin += 1
        self.vn_strategy(bp)
        error = yield from self.biowait(bp, "vnread")
        if error:
            return VM_PAGER_ERROR
        self.phys_mv[m.pfn] = int(vp.v_data[m.pindex])
        m.valid = VM_PAGE_BITS_ALL
        m.dirty = 0
        return VM_PAGER_OK
