"""Behaviour tests of swap space and the swap pager (vmkit/swap_pager.py; facts §1, §6).

Swap space is tested with direct calls to ``swp_pager_getswapspace`` /
``swp_pager_freeswapspace``; page-out goes through ``vm_pageout_flush`` from
a kernel thread, on busied dirty pages of an anonymous process, the way
``tests/helpers.start_evictor`` does it.
"""

from __future__ import annotations

import pytest
from helpers import small_machine

from vmkit import Script, VMConfig
from vmkit.constants import (
    OBJT_DEFAULT,
    OBJT_SWAP,
    PG_A,
    PG_BUSY,
    PG_M,
    PG_RW,
    PG_SBUSY,
    PG_SWAPINPROG,
    PG_SWAPPED,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_INACTIVE,
    SIGBUS,
    SWAPBLK_NONE,
    SWB_DMMAX,
    SZOMB,
    VM_PAGE_BITS_ALL,
    VM_PAGER_FAIL,
    VM_PAGER_PEND,
    VM_PAGER_PUT_SYNC,
    VM_PAGER_TRY_TO_CACHE,
    VM_PROT_NONE,
)

FAILED_ALLOC = "swap_pager_getswapspace: failed alloc="


def machine(**kw):
    """``small_machine`` without the page-out daemon (where the config has one): these tests drive
    the subsystems by hand, and the daemon's thresholds and scans would change what they look at."""
    if "pagedaemon" in VMConfig.field_names():
        kw.setdefault("pagedaemon", False)
    return small_machine(**kw)


def script(steps: list) -> Script:
    """vmkit's Script from compact steps: ("w", pages) writes them, ("r", pages) reads them, an int sleeps."""
    return Script([s if isinstance(s, int) else [(int(v), s[0] == "w") for v in s[1]] for s in steps])


def dirty_process(vm, npages, sleep=2000, then=None):
    """Spawn a process that writes ``npages`` pages, sleeps, then reads them all (or runs ``then``).

    Returns ``(p, obj, pages)`` once the pages are written and the process sleeps.
    """
    steps = [("w", range(npages)), sleep]
    steps += [("r", range(npages))] if then is None else then
    p = vm.spawn("writer", script(steps))
    vm.run(until=vm.ticks + 2)
    assert p.p_thread.td_wmesg == "nanslp"
    obj = p.p_vmspace.vm_map.entries[0].object
    assert obj.type == OBJT_DEFAULT
    pages = [obj.rb_memq[i] for i in range(npages)]
    assert all(m.dirty == VM_PAGE_BITS_ALL for m in pages)
    return p, obj, pages


def flush(vm, pages, flags=0, prep=None):
    """From a kernel thread, busy ``pages`` and call ``vm_pageout_flush``; return {t0, n, t1} once it returns."""
    res = {}

    def main():
        for m in pages:
            assert not vm.vm_page_busy_try(m, True), f"could not busy {m!r}"
            vm.vm_page_test_dirty(m)
            if prep is not None:
                prep(m)
        res["t0"] = vm.ticks
        res["n"] = yield from vm.vm_pageout_flush(pages, len(pages), flags)
        res["t1"] = vm.ticks

    vm.kthread_create(main, "test-flusher")
    for _ in range(200):
        vm.run(until=vm.ticks + 1)
        if "t1" in res:
            return res
    raise AssertionError("vm_pageout_flush did not return")


def spy_rtvals(vm):
    """Record the rtvals swap_pager_putpages leaves, one list per call."""
    seen = []
    orig = vm.swap_pager_putpages

    def spy(obj, m, count, flags, rtvals):
        r = yield from orig(obj, m, count, flags, rtvals)
        seen.append(list(rtvals[:count]))
        return r

    vm.swap_pager_putpages = spy
    return seen


def spy_ios(vm):
    """Record (blkno, npages) of every swap I/O started."""
    ios = []
    orig = vm.vn_strategy

    def spy(bp):
        if bp.b_dev is vm.swapdev:
            ios.append((bp.b_cmd, bp.b_blkno, bp.b_npages))
        orig(bp)

    vm.vn_strategy = spy
    return ios


def base(m):
    return m.queue - m.pc


def failed_alloc_lines(vm):
    return [line for line in vm.dmesg() if line.startswith(FAILED_ALLOC)]


# -- swap space: watermarks and swp_sizecheck ------------------------------------------------------

@pytest.mark.parametrize("swap, lowat, hiwat", [(1000, 40, 60), (2500, 100, 150), (64, 2, 3)])
def test_watermarks_are_4_and_6_percent_of_swap(swap, lowat, hiwat):
    vm = machine(swap=swap)
    assert vm.vm_swap_max == swap
    assert vm.vm_swap_size == swap
    assert (vm.nswap_lowat, vm.nswap_hiwat) == (lowat, hiwat)
    assert vm.swap_pager_full == 0 and vm.swap_pager_almost_full == 0


def test_watermarks_without_swap_are_128_and_512():
    vm = machine(swap=0)
    assert vm.vm_swap_max == 0 and vm.vm_swap_size == 0
    assert (vm.nswap_lowat, vm.nswap_hiwat) == (128, 512)


def test_swp_sizecheck_hysteresis_between_lowat_and_hiwat():
    vm = machine(swap=1000)
    vm.run(until=77)
    blocks = []
    for _ in range(60):                      # 60 * 16 = 960 used, 40 free: not below lowat (40)
        blk = vm.swp_pager_getswapspace(16)
        assert blk != SWAPBLK_NONE
        blocks.extend(range(blk, blk + 16))
    assert vm.vm_swap_size == 40
    assert vm.swap_pager_almost_full == 0 and vm.swap_fail_ticks == 0
    blk = vm.swp_pager_getswapspace(1)       # 39 free < 40
    blocks.append(blk)
    assert vm.vm_swap_size == 39
    assert vm.swap_pager_almost_full == 1
    assert vm.swap_fail_ticks == 77
    assert vm.swap_pager_full == 0

    # A failed allocation makes swap "full"; almost_full was already 1, so the stamp stays.
    vm.run(until=90)
    vm.inject_swap_alloc_failures(next_allocs=1)
    assert vm.swp_pager_getswapspace(1) == SWAPBLK_NONE
    assert vm.swap_pager_full == 2 and vm.swap_pager_almost_full == 1
    assert vm.swap_fail_ticks == 77

    # Still below lowat after another allocation: nothing changes, no re-stamp.
    blocks.append(vm.swp_pager_getswapspace(1))   # 38 free
    assert (vm.swap_pager_full, vm.swap_pager_almost_full, vm.swap_fail_ticks) == (2, 1, 77)

    # Back to lowat: swap_pager_full clears; almost_full stays until above hiwat.
    vm.swp_pager_freeswapspace(blocks.pop(), 1)   # 39
    assert vm.swap_pager_full == 2
    vm.swp_pager_freeswapspace(blocks.pop(), 1)   # 40 == lowat
    assert vm.vm_swap_size == 40
    assert vm.swap_pager_full == 0
    assert vm.swap_pager_almost_full == 1
    while vm.vm_swap_size < 60:
        vm.swp_pager_freeswapspace(blocks.pop(), 1)
    assert vm.vm_swap_size == 60                  # == hiwat: not above it
    assert vm.swap_pager_almost_full == 1
    vm.swp_pager_freeswapspace(blocks.pop(), 1)   # 61 > hiwat
    assert vm.swap_pager_almost_full == 0

    # Dropping below lowat again stamps the new tick.
    vm.run(until=123)
    for _ in range(22):                            # 61 -> 39
        blocks.append(vm.swp_pager_getswapspace(1))
    assert vm.vm_swap_size == 39
    assert vm.swap_pager_almost_full == 1 and vm.swap_fail_ticks == 123


def test_allocation_failure_sets_full_and_almost_full_and_logs_once():
    vm = machine(swap=64)
    vm.run(until=55)
    assert vm.swp_pager_getswapspace(64) == 0
    assert vm.vm_swap_size == 0
    # 0 < lowat (2): almost_full set at tick 55 by the sizecheck.
    assert vm.swap_pager_almost_full == 1 and vm.swap_fail_ticks == 55
    assert vm.swap_pager_full == 0
    vm.run(until=60)
    assert vm.swp_pager_getswapspace(4) == SWAPBLK_NONE
    assert vm.swap_pager_full == 2 and vm.swap_pager_almost_full == 1
    assert vm.swap_fail_ticks == 55
    assert failed_alloc_lines(vm) == [FAILED_ALLOC + "4"]
    assert vm.swp_pager_getswapspace(1) == SWAPBLK_NONE
    assert vm.swp_pager_getswapspace(16) == SWAPBLK_NONE
    assert failed_alloc_lines(vm) == [FAILED_ALLOC + "4"]   # logged once while full
    assert vm.vm_swap_size == 0


def test_first_failure_with_almost_full_clear_stamps_swap_fail_ticks():
    vm = machine(swap=1000)
    vm.run(until=31)
    vm.inject_swap_alloc_failures(next_allocs=1)
    assert vm.swp_pager_getswapspace(8) == SWAPBLK_NONE
    assert vm.swap_pager_full == 2 and vm.swap_pager_almost_full == 1
    assert vm.swap_fail_ticks == 31
    assert failed_alloc_lines(vm) == [FAILED_ALLOC + "8"]
    # The next allocation succeeds and, with plenty free, clears both flags.
    blk = vm.swp_pager_getswapspace(8)
    assert blk != SWAPBLK_NONE
    assert vm.swap_pager_full == 0 and vm.swap_pager_almost_full == 0
    # A new failure after full was cleared is logged again.
    vm.inject_swap_alloc_failures(next_allocs=1)
    assert vm.swp_pager_getswapspace(2) == SWAPBLK_NONE
    assert failed_alloc_lines(vm) == [FAILED_ALLOC + "8", FAILED_ALLOC + "2"]


def test_inject_next_allocs_fails_exactly_n_allocations():
    vm = machine(swap=1000)
    vm.inject_swap_alloc_failures(next_allocs=3)
    results = [vm.swp_pager_getswapspace(1) for _ in range(6)]
    assert results[:3] == [SWAPBLK_NONE] * 3
    assert all(b != SWAPBLK_NONE for b in results[3:])
    assert vm.vm_swap_size == 997


def test_allocations_never_cross_a_64_block_stripe():
    vm = machine(swap=1000)
    runs = []
    while True:
        blk = vm.swp_pager_getswapspace(10)
        if blk == SWAPBLK_NONE:
            break
        runs.append(blk)
    for blk in runs:
        assert blk // SWB_DMMAX == (blk + 9) // SWB_DMMAX, f"run at {blk} crosses a stripe"
    # 15 full stripes hold 6 runs each, the 40-block tail stripe 4: 94 runs, 60 blocks stranded.
    assert len(runs) == 94
    assert len(set(runs)) == 94
    assert vm.vm_swap_size == 60
    assert vm.swap_pager_full == 2


def test_swap_free_returns_blocks_and_refuses_double_free():
    from vmkit import KernelPanic

    vm = machine(swap=128)
    blk = vm.swp_pager_getswapspace(16)
    assert vm.vm_swap_size == 112
    vm.swp_pager_freeswapspace(blk, 16)
    assert vm.vm_swap_size == 128
    with pytest.raises(KernelPanic):
        vm.swp_pager_freeswapspace(blk, 1)


def test_cluster_size_is_16():
    vm = machine()
    assert vm.nsw_cluster_max == 16


# -- page-out through vm_pageout_flush -------------------------------------------------------------

def test_sync_pageout_converts_object_and_cleans_pages():
    """A flush from an ordinary kernel thread is a synchronous swap write (facts §6 step 2)."""
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 8)
    rt = spy_rtvals(vm)
    res = flush(vm, pages)
    assert obj.type == OBJT_SWAP
    assert res["n"] == 8
    assert rt == [[VM_PAGER_PEND] * 8]
    assert res["t1"] - res["t0"] == vm.config.swap_write_latency
    assert vm.swapdev.writes == 1 and vm.swapdev.pages_written == 8
    assert vm.cnt.v_swapout == 1 and vm.cnt.v_swappgsout == 8
    assert vm.vm_swap_size == 1000 - 8
    pm = p.p_vmspace.vm_pmap
    for i, m in enumerate(pages):
        assert m.dirty == 0
        assert m.flags & PG_SWAPPED
        assert not m.flags & (PG_SWAPINPROG | PG_BUSY | PG_SBUSY)
        assert m.busy == 0
        assert base(m) == PQ_ACTIVE
        blk = obj.swblock[m.pindex]
        assert vm.swap_stamp[blk] == vm.phys_stamp[m.pfn] == vm.oracle_expected[obj.slot_base + i]
        bits = vm.pte_bits(pm, i)
        assert bits & PG_A and not bits & (PG_RW | PG_M)      # made read-only for the write
    assert obj.paging_in_progress == 0
    vm.check()
    assert vm.verify_integrity() == 0


def test_async_pageout_completion_after_write_latency():
    vm = machine(ram=256, swap=1000, swap_write_latency=5)
    vm.swap_user_async = 1
    p, obj, pages = dirty_process(vm, 8)
    rt = spy_rtvals(vm)
    res = flush(vm, pages)
    t0 = res["t0"]
    assert res == {"t0": t0, "n": 8, "t1": t0}       # returns at once
    assert rt == [[VM_PAGER_PEND] * 8]
    assert obj.type == OBJT_SWAP
    # The write is in flight until t0 + 5.
    vm.run(until=t0 + 4)
    for m in pages:
        assert m.dirty == VM_PAGE_BITS_ALL            # re-dirtied for the write (OBJT_SWAP)
        assert m.flags & PG_SWAPINPROG and m.flags & PG_SBUSY and m.busy == 1
        assert not m.flags & PG_BUSY
        assert not m.flags & PG_SWAPPED
    assert obj.paging_in_progress == 8
    assert vm.swapdev.inflight == 1
    vm.check()
    vm.run(until=t0 + 5)
    for m in pages:
        assert m.dirty == 0
        assert m.flags & PG_SWAPPED
        assert not m.flags & (PG_SWAPINPROG | PG_SBUSY | PG_BUSY)
        assert m.busy == 0
        assert base(m) == PQ_ACTIVE
    assert obj.paging_in_progress == 0
    assert vm.swapdev.inflight == 0
    vm.check()
    assert vm.verify_integrity() == 0


def test_pagedaemon_thread_writes_async_without_swap_user_async():
    vm = machine(ram=256, swap=1000, swap_write_latency=3)
    p, obj, pages = dirty_process(vm, 4)
    res = {}

    def main():
        vm.pagethread = vm.curthread
        for m in pages:
            assert not vm.vm_page_busy_try(m, True)
        res["t0"] = vm.ticks
        res["n"] = yield from vm.vm_pageout_flush(pages, 4, 0)
        res["t1"] = vm.ticks
        res["dirty_at_return"] = [m.dirty for m in pages]

    vm.kthread_create(main, "pagedaemon")
    vm.run(until=vm.ticks + 1)
    assert res["t1"] == res["t0"] and res["n"] == 4
    assert res["dirty_at_return"] == [VM_PAGE_BITS_ALL] * 4
    vm.run(until=res["t0"] + 3)
    assert all(m.dirty == 0 and m.flags & PG_SWAPPED for m in pages)
    vm.check()


def test_completion_deactivates_when_memory_is_severe():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 4)
    vm.vmstats.v_free_severe = vm.vmstats.v_page_count + 1     # count_severe() is true
    flush(vm, pages)
    assert all(base(m) == PQ_INACTIVE for m in pages)
    assert all(m.dirty == 0 for m in pages)
    vm.check()


def test_sync_try_to_cache_caches_pages_after_the_write():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 4)
    res = flush(vm, pages, VM_PAGER_PUT_SYNC | VM_PAGER_TRY_TO_CACHE)
    assert res["n"] == 4
    for m in pages:
        assert base(m) == PQ_CACHE
        assert m.dirty == 0 and not m.md_pv and m.flags & PG_SWAPPED
    vm.check()
    # The process reads its data back from the cached pages.
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert vm.lost_writes == []


def test_cluster_larger_than_16_is_split_into_ios_of_at_most_16():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 40)
    ios = spy_ios(vm)
    res = flush(vm, pages)
    assert res["n"] == 40
    assert [n for _, _, n in ios] == [16, 16, 8]
    assert vm.swapdev.writes == 3 and vm.cnt.v_swapout == 3 and vm.cnt.v_swappgsout == 40
    # Each I/O's pages got consecutive blocks from that I/O's first block.
    i = 0
    for _, blk, n in ios:
        assert blk // SWB_DMMAX == (blk + n - 1) // SWB_DMMAX
        for j in range(n):
            assert obj.swblock[i + j] == blk + j
        i += n
    # Synchronous: three writes one after the other.
    assert res["t1"] - res["t0"] == 3 * vm.config.swap_write_latency
    vm.check()
    assert vm.verify_integrity() == 0


def test_pageout_io_does_not_cross_a_stripe():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 16)
    filler = vm.swp_pager_getswapspace(56)       # blocks 0..55: only 8 left in stripe 0
    assert filler == 0
    ios = spy_ios(vm)
    flush(vm, pages)
    assert ios == [(2, 64, 16)]
    assert [obj.swblock[i] for i in range(16)] == list(range(64, 80))
    vm.swp_pager_freeswapspace(filler, 56)
    vm.check()


def test_allocation_failure_halves_the_cluster_down_to_4():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 16)
    rt = spy_rtvals(vm)
    ios = spy_ios(vm)
    vm.inject_swap_alloc_failures(next_allocs=3)       # 16, 8 and 4 fail; then 12 succeeds
    res = flush(vm, pages)
    assert rt == [[VM_PAGER_FAIL] * 4 + [VM_PAGER_PEND] * 12]
    assert res["n"] == 12
    assert [n for _, _, n in ios] == [12]
    assert sorted(obj.swblock) == list(range(4, 16))
    for m in pages[:4]:
        assert m.dirty == VM_PAGE_BITS_ALL and not m.flags & PG_SWAPPED
    for m in pages[4:]:
        assert m.dirty == 0 and m.flags & PG_SWAPPED
    vm.check()


def test_one_failed_allocation_gives_two_ios_of_8():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 16)
    rt = spy_rtvals(vm)
    ios = spy_ios(vm)
    vm.inject_swap_alloc_failures(next_allocs=1)
    flush(vm, pages)
    assert rt == [[VM_PAGER_PEND] * 16]
    assert [n for _, _, n in ios] == [8, 8]
    vm.check()


def test_swap_exhausted_gives_fail_and_pages_stay_dirty_on_their_queue():
    vm = machine(ram=256, swap=64)
    p, obj, pages = dirty_process(vm, 8)
    hog = vm.swp_pager_getswapspace(64)
    assert hog == 0 and vm.vm_swap_size == 0
    vm.vm_page_deactivate(pages[0])                 # one page inactive, the rest active
    queues = [m.queue for m in pages]
    rt = spy_rtvals(vm)
    res = flush(vm, pages)
    assert res["n"] == 0
    assert rt == [[VM_PAGER_FAIL] * 8]
    assert res["t1"] == res["t0"]                   # nothing was written
    assert vm.swapdev.writes == 0
    assert [m.queue for m in pages] == queues
    for m in pages:
        assert m.dirty == VM_PAGE_BITS_ALL
        assert not m.flags & (PG_BUSY | PG_SBUSY | PG_SWAPINPROG | PG_SWAPPED)
        assert m.busy == 0
    assert obj.swblock == {}
    assert obj.paging_in_progress == 0
    assert vm.swap_pager_full == 2
    assert len(failed_alloc_lines(vm)) == 1
    vm.swp_pager_freeswapspace(hog, 64)
    vm.check()
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert vm.lost_writes == []


def test_write_error_drops_block_redirties_and_activates_no_data_lost():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 8)
    vm.swapdev.inject(fail_next_writes=1)
    res = flush(vm, pages, prep=vm.vm_page_deactivate)
    assert res["n"] == 8                          # reported paged out (PEND) ...
    assert vm.swapdev.write_errors == 1
    for m in pages:                               # ... but the completion saw the error
        assert m.dirty == VM_PAGE_BITS_ALL
        assert base(m) == PQ_ACTIVE
        assert not m.flags & (PG_SWAPPED | PG_SWAPINPROG | PG_BUSY | PG_SBUSY)
        assert m.busy == 0
    assert obj.swblock == {} and obj.swb_groups == {}
    assert vm.vm_swap_size == vm.vm_swap_max == 1000
    assert obj.paging_in_progress == 0
    vm.check()
    assert vm.verify_integrity() == 0
    # A second flush succeeds; the failure was for the next write only.
    flush(vm, pages)
    assert all(m.dirty == 0 and m.flags & PG_SWAPPED for m in pages)
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert p.p_refs == 16
    assert vm.lost_writes == []
    assert vm.verify_integrity() == 0
    vm.check()


def test_async_write_error_also_keeps_the_data():
    vm = machine(ram=256, swap=1000)
    vm.swap_user_async = 1
    p, obj, pages = dirty_process(vm, 8)
    vm.swapdev.inject(fail_next_writes=1)
    flush(vm, pages, prep=vm.vm_page_deactivate)
    vm.run(until=vm.ticks + vm.config.swap_write_latency + 1)
    for m in pages:
        assert m.dirty == VM_PAGE_BITS_ALL and base(m) == PQ_ACTIVE
        assert not m.flags & (PG_SWAPPED | PG_SWAPINPROG | PG_SBUSY)
    assert vm.vm_swap_size == 1000
    vm.check()
    assert vm.verify_integrity() == 0
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB and vm.lost_writes == []



def test_async_write_error_redirties_pages_cleaned_meanwhile():
    """The error completion itself re-dirties OBJT_SWAP pages (facts §6), whatever happened during the I/O."""
    vm = machine(ram=256, swap=1000, swap_write_latency=4)
    vm.swap_user_async = 1
    p, obj, pages = dirty_process(vm, 4)
    vm.swapdev.inject(fail_next_writes=1)
    res = flush(vm, pages)
    for m in pages:
        vm.vm_page_undirty(m)
    vm.run(until=res["t0"] + 4)
    assert all(m.dirty == VM_PAGE_BITS_ALL for m in pages)
    assert obj.swblock == {}
    vm.check()
    assert vm.verify_integrity() == 0

def evict(vm, pages):
    """From a kernel thread, unmap and free clean pages (their data must be on swap)."""
    done = []

    def main():
        for m in pages:
            assert not vm.vm_page_busy_try(m, True)
            vm.vm_page_protect(m, VM_PROT_NONE)
            assert m.dirty == 0
            vm.vm_page_free(m)
        done.append(vm.ticks)
        yield vm.tsleep("evicted", 0, "done", 0)

    vm.kthread_create(main, "test-evict")
    vm.run(until=vm.ticks + 1)
    assert done


def test_page_only_in_swap_is_read_back_by_a_fault():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 8, then=[("r", range(8)), 500])
    expected = [int(vm.phys_stamp[m.pfn]) for m in pages]
    flush(vm, pages)
    evict(vm, pages)
    assert obj.resident_page_count == 0 and len(obj.swblock) == 8
    vm.check()
    assert vm.verify_integrity() == 0
    majflt, checked = p.p_majflt, vm.refs_checked
    while p.p_refs < 16:
        vm.run(until=vm.ticks + 1)
        assert vm.ticks < 5000
    assert p.p_majflt - majflt == 8
    assert vm.swapdev.reads == 8 and vm.cnt.v_swapin == 8
    assert vm.refs_checked - checked == 8
    assert vm.lost_writes == []
    for i in range(8):
        m = obj.rb_memq[i]
        assert m.valid == VM_PAGE_BITS_ALL and m.dirty == 0
        assert m.flags & PG_SWAPPED
        assert int(vm.phys_stamp[m.pfn]) == expected[i]
    vm.check()
    vm.run(until=vm.ticks + 600)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert vm.vm_swap_size == vm.vm_swap_max


def test_write_to_a_swapped_page_frees_its_stale_block():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 4, then=[("w", [1]), 2000])
    flush(vm, pages)
    assert vm.vm_swap_size == 996
    vm.run(until=vm.ticks + 2000)          # the process rewrites page 1
    m = obj.rb_memq[1]
    assert m.dirty == VM_PAGE_BITS_ALL
    assert not m.flags & PG_SWAPPED
    assert 1 not in obj.swblock
    assert vm.vm_swap_size == 997
    vm.check()
    assert vm.verify_integrity() == 0


def test_swap_read_error_kills_with_sigbus_and_frees_swap():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 8)
    flush(vm, pages)
    evict(vm, pages)
    vm.swapdev.inject(fail_next_reads=1)
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB
    assert p.p_xsig == SIGBUS
    assert p.p_refs == 8                     # the writes; no read completed
    assert vm.swapdev.read_errors == 1
    assert any("page-in of heap:0 failed: SIGBUS" in line for line in vm.dmesg())
    assert vm.vm_swap_size == vm.vm_swap_max == 1000
    assert obj not in list(vm.vm_objects())
    assert vm.lost_writes == []
    vm.check()


def test_process_exit_frees_its_swap_blocks():
    vm = machine(ram=256, swap=1000)
    p, obj, pages = dirty_process(vm, 40)
    flush(vm, pages[:20])
    evict(vm, pages[:10])
    assert vm.vm_swap_size == 980
    vm.run(until=vm.ticks + 3000)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert vm.vm_swap_size == vm.vm_swap_max
    assert vm.swap_in_use() == 0
    assert vm.lost_writes == []
    vm.check()


def test_exit_during_async_swap_write_waits_for_it_then_frees_swap():
    vm = machine(ram=256, swap=1000, swap_write_latency=50)
    vm.swap_user_async = 1
    p, obj, pages = dirty_process(vm, 8, sleep=5, then=[])
    res = flush(vm, pages)
    t0 = res["t0"]
    assert res["t1"] == t0 and obj.paging_in_progress == 8
    vm.run(until=t0 + 20)                   # the process has finished its work and is exiting
    assert p.p_stat != SZOMB
    assert p.p_thread.td_wmesg == "objtrm"
    assert vm.vm_swap_size == 992
    vm.run(until=t0 + 50)                   # the write completes; the exit goes on
    assert p.p_stat == SZOMB and p.p_exit_tick == t0 + 50
    assert vm.vm_swap_size == vm.vm_swap_max
    assert vm.vmstats.v_free_count == vm.vmstats.v_page_count
    vm.check()


def test_write_during_async_pageout_waits_for_the_io_then_drops_the_stale_block():
    vm = machine(ram=256, swap=1000, swap_write_latency=10)
    vm.swap_user_async = 1
    p, obj, pages = dirty_process(vm, 4, sleep=3, then=[("w", [1]), 2000])
    res = flush(vm, pages)
    t0 = res["t0"]
    vm.run(until=t0 + 9)
    assert p.p_thread.td_wmesg == "vmpfw"          # the page is soft-busy under the write
    assert p.p_thread.td_wchan is pages[1]
    assert p.p_refs == 4
    vm.run(until=t0 + 10)                          # the write completes, then the fault
    assert p.p_refs == 5
    m = pages[1]
    assert m.dirty == VM_PAGE_BITS_ALL and not m.flags & PG_SWAPPED
    assert sorted(obj.swblock) == [0, 2, 3]
    assert vm.vm_swap_size == 997
    assert vm.lost_writes == []
    assert vm.verify_integrity() == 0
    vm.check()


@pytest.mark.parametrize("npages", [1, 4])
def test_freeing_a_free_block_panics(npages):
    """Freeing swap that is already free is a kernel bug: panic, and leave the free count alone."""
    from vmkit.kern import KernelPanic

    vm = machine(swap=64)
    blk = vm.swp_pager_getswapspace(npages)
    vm.swp_pager_freeswapspace(blk, npages)
    size = vm.vm_swap_size
    with pytest.raises(KernelPanic, match="freeing free swap"):
        vm.swp_pager_freeswapspace(blk + npages - 1, 1)
    with pytest.raises(KernelPanic, match="freeing free swap"):
        vm.swp_pager_freeswapspace(blk, npages)
    assert vm.vm_swap_size == size
