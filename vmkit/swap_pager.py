"""The swap disk and the swap pager (``swap_pager.c``, ``vm_swap.c``; facts §6).

* The swap disk has ``swap`` blocks of one page each; ``swap_stamp`` holds
  their contents.  Blocks are allocated in runs of at most
  ``nsw_cluster_max`` (16) pages that never cross a ``SWB_DMMAX`` (64-block)
  stripe, first fit from a rover.
* ``vm_swap_size`` counts free blocks; ``swp_sizecheck()`` keeps
  ``swap_pager_almost_full`` with the 4 % / 6 % watermarks;
  ``swap_pager_full`` becomes 2 when an allocation fails (facts §6).
* :meth:`SwapPagerMixin.swap_pager_putpages` writes a cluster: every page
  comes back ``VM_PAGER_PEND`` (written) or ``VM_PAGER_FAIL`` (no swap space);
  completion (:meth:`SwapPagerMixin.swp_pager_async_iodone`) undirties the
  pages, or on a write error drops the block and re-dirties and activates
  them, so no write is lost.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from .config import check_int
from .constants import (
    MAXPHYS,
    OBJT_DEFAULT,
    OBJT_SWAP,
    PG_SWAPINPROG,
    PG_SWAPPED,
    SWAP_META_PAGES,
    SWAPBLK_NONE,
    SWB_DMMAX,
    SWB_NPAGES,
    VM_PAGE_BITS_ALL,
    VM_PAGER_ERROR,
    VM_PAGER_FAIL,
    VM_PAGER_OK,
    VM_PAGER_PEND,
    VM_PAGER_PUT_SYNC,
    VM_PAGER_TRY_TO_CACHE,
)
from .vfs_bio import B_ASYNC, B_ERROR, BIO_READ, BIO_WRITE, buf

NSW_WCOUNT_ASYNC = "nsw_wcount_async"

if TYPE_CHECKING:  # pragma: no cover
    from .vm_object import vm_object
    from .vm_page import vm_page


class SwapPagerMixin:
    """Swap space and the swap pager of a :class:`~vmkit.machine.Machine`."""

    def _init_swap(self) -> None:
        cfg = self.config
        nblocks = cfg.swap_pages
        self.swapdev = self.disk_create("swap", cfg.swap_read_latency, cfg.swap_write_latency, cfg.swap_bandwidth)
        self.swap_stamp = np.zeros(max(nblocks, 1), dtype=np.int64)
        self.swap_mv = memoryview(self.swap_stamp)
        self.swap_nblocks = nblocks
        self._swap_free = np.zeros(max(nblocks, 1), dtype=bool)   # True = free; nothing free before swapon
        nstripes = (nblocks + SWB_DMMAX - 1) // SWB_DMMAX
        self._stripe_free = [0] * max(nstripes, 1)                # free blocks per 64-block stripe
        self._stripe_bits = [0] * max(nstripes, 1)                # bit i set: block stripe*64+i is free
        self._swap_rover = 0
        self.vm_swap_size = 0          # free swap pages
        self.vm_swap_max = 0
        self.nswap_lowat = 128
        self.nswap_hiwat = 512
        self.swap_pager_full = 0
        self.swap_pager_almost_full = 0
        self.swap_fail_ticks = 0
        self.nsw_cluster_max = min(MAXPHYS // cfg.page_size, SWB_NPAGES)
        self.swap_user_async = 0       # vm.swap_user_async (facts §6)
        self.swap_async_max = 4        # vm.swap_async_max (facts §6)
        self.nsw_wcount_async = 4      # free async write buffers (getpbuf_kva(&nsw_wcount_async))
        self.swap_alloc_fail_rate = 0.0
        self.swap_fail_next_allocs = 0
        if nblocks:
            self.swapon(nblocks)

    # -- swap space --------------------------------------------------------------------------------
    def swapon(self, nblocks: int) -> None:
        """Add the swap disk's blocks to the free pool (``swapon``)."""
        self._swap_free[:nblocks] = True
        for s in range(len(self._stripe_free)):
            n = min(SWB_DMMAX, nblocks - s * SWB_DMMAX)
            self._stripe_free[s] = n
            self._stripe_bits[s] = (1 << n) - 1
        self.vm_swap_max += nblocks
        self.vm_swap_size += nblocks
        self._swap_watermarks()
        self.swp_sizecheck()

    def _sysctl_set_swap_async_max(self, value: int) -> None:
        """vm.swap_async_max: change the number of async write buffers, waking writers if it grew."""
        self.nsw_wcount_async += value - self.swap_async_max
        self.swap_async_max = value
        self.wakeup(NSW_WCOUNT_ASYNC)

    def _swap_watermarks(self) -> None:
        if self.vm_swap_max:
            self.nswap_lowat = self.vm_swap_max * 4 // 100
            self.nswap_hiwat = self.vm_swap_max * 6 // 100
        else:
            self.nswap_lowat, self.nswap_hiwat = 128, 512

    def swap_pager_swap_init(self) -> None:
        """Called by the daemon at start-up: cluster size and watermarks (facts §1, §6)."""
        self.nsw_cluster_max = min(MAXPHYS // self.config.page_size, SWB_NPAGES)
        self._swap_watermarks()

    def swp_sizecheck(self) -> None:
        """Update ``swap_pager_almost_full`` / ``swap_pager_full`` from the free count (facts §6)."""
        if self.vm_swap_size < self.nswap_lowat:
            if self.swap_pager_almost_full == 0:
                self.swap_pager_almost_full = 1
                self.swap_fail_ticks = self.ticks
        else:
            self.swap_pager_full = 0
            if self.vm_swap_size > self.nswap_hiwat:
                self.swap_pager_almost_full = 0

    def inject_swap_alloc_failures(self, *, rate: float | None = None, next_allocs: int | None = None) -> None:
        """Make swap-block allocation fail: a fraction of attempts, or the next N attempts.  All or nothing."""
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or not 0.0 <= rate <= 1.0):
            raise ValueError(f"rate must be a number between 0.0 and 1.0, got {rate!r}")
        if next_allocs is not None:
            check_int(next_allocs, "next_allocs", 0, 1 << 30)
        if rate is not None:
            self.swap_alloc_fail_rate = float(rate)
        if next_allocs is not None:
            self.swap_fail_next_allocs = int(next_allocs)

    def _swap_find_run(self, npages: int) -> int:
        """First run of ``npages`` free blocks inside one stripe, from the rover; SWAPBLK_NONE if none."""
        nstripes = len(self._stripe_free)
        free, bits = self._stripe_free, self._stripe_bits
        for k in range(nstripes):
            s = (self._swap_rover + k) % nstripes
            if free[s] < npages:
                continue
            y = bits[s]
            for _ in range(npages - 1):     # y keeps the bits that start a run of npages free blocks
                y &= y >> 1
            if y:
                self._swap_rover = s
                return s * SWB_DMMAX + (y & -y).bit_length() - 1
        return SWAPBLK_NONE

    def swp_pager_getswapspace(self, npages: int) -> int:
        """Allocate ``npages`` contiguous blocks; SWAPBLK_NONE (and ``swap_pager_full = 2``) on failure."""
        blk = SWAPBLK_NONE
        injected = False
        if self.swap_fail_next_allocs:
            self.swap_fail_next_allocs -= 1
            injected = True
        elif self.swap_alloc_fail_rate and self.fault_rng.random() < self.swap_alloc_fail_rate:
            injected = True
        if not injected and self.vm_swap_size >= npages:
            blk = self._swap_find_run(npages)
        if blk == SWAPBLK_NONE:
            if self.swap_pager_full != 2:
                self.kprintf(f"swap_pager_getswapspace: failed alloc={npages}")
            self.swap_pager_full = 2
            if self.swap_pager_almost_full == 0:
                self.swap_fail_ticks = self.ticks
            self.swap_pager_almost_full = 1
            return SWAPBLK_NONE
        self._swap_free[blk:blk + npages] = False
        s = blk // SWB_DMMAX
        self._stripe_free[s] -= npages
        self._stripe_bits[s] &= ~(((1 << npages) - 1) << (blk - s * SWB_DMMAX))
        self.vm_swap_size -= npages
        self.swp_sizecheck()
        return blk

    def swp_pager_freeswapspace(self, blk: int, npages: int) -> None:
        """Return ``npages`` blocks from ``blk`` to the free pool."""
        # (Most frees are of one block; a scalar test is 20 times cheaper than ndarray.any().)
        if (self._swap_free[blk] if npages == 1 else np.count_nonzero(self._swap_free[blk:blk + npages])):
            self.panic(f"swp_pager_freeswapspace: freeing free swap block(s) at {blk}")
        self._swap_free[blk:blk + npages] = True
        for b in range(blk, blk + npages):
            s = b // SWB_DMMAX
            self._stripe_free[s] += 1
            self._stripe_bits[s] |= 1 << (b - s * SWB_DMMAX)
        self.vm_swap_size += npages
        self.swp_sizecheck()

    # -- swap metadata of objects ------------------------------------------------------------------
    def swp_pager_meta_build(self, obj: vm_object, pindex: int, blk: int) -> None:
        """Record that page ``pindex`` of ``obj`` lives in swap block ``blk`` (freeing an older block)."""
        old = obj.swblock.get(pindex)
        if old is not None:
            self.swp_pager_freeswapspace(old, 1)
        else:
            g = pindex // SWAP_META_PAGES
            obj.swb_groups[g] = obj.swb_groups.get(g, 0) + 1
        obj.swblock[pindex] = blk

    def swp_pager_meta_free(self, obj: vm_object, pindex: int) -> None:
        """Forget (and free) the swap block of page ``pindex`` of ``obj``, if any."""
        blk = obj.swblock.pop(pindex, None)
        if blk is None:
            return
        g = pindex // SWAP_META_PAGES
        n = obj.swb_groups[g] - 1
        if n:
            obj.swb_groups[g] = n
        else:
            del obj.swb_groups[g]
        self.swp_pager_freeswapspace(blk, 1)

    def swap_pager_freespace_all(self, obj: vm_object) -> None:
        """Free every swap block of ``obj`` (object destruction)."""
        for pindex in sorted(obj.swblock):
            self.swp_pager_meta_free(obj, pindex)

    def swap_pager_unswapped(self, m: vm_page) -> None:
        """A page about to be written: its swap copy is going stale, so free it and clear PG_SWAPPED."""
        self.swp_pager_meta_free(m.object, m.pindex)
        m.flags &= ~PG_SWAPPED

    @staticmethod
    def swap_pager_haspage(obj: vm_object, pindex: int) -> bool:
        return pindex in obj.swblock

    # -- page-out ----------------------------------------------------------------------------------
    def swap_pager_putpages(self, obj: vm_object, m: list, count: int, flags: int, rtvals: list) -> Generator:
        """Write ``m[0:count]`` to swap; fill ``rtvals`` with PEND or FAIL (facts §6). ``yield from``.

        OBJT_DEFAULT objects become OBJT_SWAP.  Writes are synchronous unless
        the caller is a pageout thread or ``vm.swap_user_async`` is set; even
        a synchronous write reports PEND (the caller has already waited and
        run the completion).
        """
        if obj.type == OBJT_DEFAULT:
            obj.type = OBJT_SWAP
        sync = bool(flags & VM_PAGER_PUT_SYNC)
        td = self.curthread
        if not (td is not None and (td is self.pagethread or td is self.emergpager)) and not self.swap_user_async:
            sync = True
        i = 0
        while i < count:
            n = min(count - i, self.nsw_cluster_max)
            while True:
                blk = self.swp_pager_getswapspace(n)
                if blk != SWAPBLK_NONE or n <= 4:
                    break
                n //= 2
            if blk == SWAPBLK_NONE:
                for j in range(i, i + n):
                    rtvals[j] = VM_PAGER_FAIL
                i += n
                continue
            pages = m[i:i + n]
            for j, mreq in enumerate(pages):
                self.swp_pager_meta_build(mreq.object, mreq.pindex, blk + j)
                if obj.type == OBJT_SWAP:
                    self.vm_page_dirty(mreq)
                rtvals[i + j] = VM_PAGER_PEND
                mreq.flags |= PG_SWAPINPROG
            if not sync:
                # An asynchronous write needs one of vm.swap_async_max write
                # buffers; the pageout daemon sleeps here while the disk is
                # behind, which paces laundering to the disk's speed.
                while self.nsw_wcount_async <= 0:
                    yield self.tsleep(NSW_WCOUNT_ASYNC, 0, "swbufa", 0)
                self.nsw_wcount_async -= 1
            bp = buf(BIO_WRITE, list(pages), blk, self.swapdev)
            bp.b_object = obj
            bp.b_pager_flags = flags | (VM_PAGER_PUT_SYNC if sync else 0)
            # The disk copies the frames now: later changes must not reach this block.
            phys = self.phys_mv
            bp.b_data = [phys[p.pfn] for p in pages]
            bp.b_iodone = self.swp_pager_async_iodone
            self.cnt.v_swapout += 1
            self.cnt.v_swappgsout += n
            if not sync:
                bp.b_flags |= B_ASYNC
            self.vn_strategy(bp)
            if sync:
                yield from self.biowait(bp, "swwrt")
                yield from self.swp_pager_async_iodone(bp)
            i += n

    def swp_pager_async_iodone(self, bp: buf) -> Generator:
        """Completion of a swap write (facts §6). ``yield from``: it may wait for a busy page."""
        obj = bp.b_object
        error = bp.b_flags & B_ERROR
        if not error:
            swap = self.swap_mv
            for i, stamp in enumerate(bp.b_data):
                swap[bp.b_blkno + i] = stamp
        for m in bp.b_pages:
            yield from self.vm_page_busy_wait(m, False, "swadpg")
            if error:
                # No other copy exists for anonymous memory: keep the page dirty and active.
                self.swp_pager_meta_free(m.object, m.pindex)
                m.flags &= ~PG_SWAPPED
                if m.object.type == OBJT_SWAP:
                    self.vm_page_dirty(m)
                    self.vm_page_activate(m)
                m.flags &= ~PG_SWAPINPROG
                self.vm_page_io_finish(m)
                self.vm_page_wakeup(m)
                continue
            if m.object.type == OBJT_SWAP:
                self.vm_page_undirty(m)
            m.flags |= PG_SWAPPED
            m.flags &= ~PG_SWAPINPROG
            if self.vm_page_count_severe():
                self.vm_page_deactivate(m)
            self.vm_page_io_finish(m)
            if bp.b_pager_flags & VM_PAGER_PUT_SYNC and bp.b_pager_flags & VM_PAGER_TRY_TO_CACHE:
                self.vm_page_try_to_cache(m)
            else:
                self.vm_page_wakeup(m)
        self.vm_object_pip_wakeupn(obj, bp.b_npages)
        if bp.b_flags & B_ASYNC:
            self.nsw_wcount_async += 1
            self.wakeup(NSW_WCOUNT_ASYNC)

    # -- page-in -----------------------------------------------------------------------------------
    def swap_pager_getpage(self, obj: vm_object, m: vm_page) -> Generator:
        """Read busied page ``m`` from swap (``yield from``); return OK, ERROR or FAIL (no block)."""
        blk = obj.swblock.get(m.pindex)
        if blk is None:
            return VM_PAGER_FAIL
        m.flags |= PG_SWAPINPROG
        bp = buf(BIO_READ, [m], blk, self.swapdev)
        bp.b_object = obj
        self.cnt.v_swapin += 1
        self.cnt.v_swappgsin += 1
        self.vn_strategy(bp)
        error = yield from self.biowait(bp, "swread")
        m.flags &= ~PG_SWAPINPROG
        if error:
            return VM_PAGER_ERROR
        self.phys_mv[m.pfn] = self.swap_mv[blk]
        m.valid = VM_PAGE_BITS_ALL
        m.dirty = 0
        m.flags |= PG_SWAPPED
        return VM_PAGER_OK

    def swap_in_use(self) -> int:
        """Swap pages allocated (``vm_swap_max - vm_swap_size``)."""
        return self.vm_swap_max - self.vm_swap_size
