"""Behaviour tests of vnodes, the vnode pager and the syncer (vmkit/vnode_pager.py, vmkit/vfs_sync.py; facts §7).

* vget: LK_NOWAIT gives EBUSY at once; LK_TIMELOCK sleeps at most lk_timo
  ticks per attempt (0 means hz/10) and gives EWOULDBLOCK; vput unlocks and
  wakes waiters.
* vnode_pager_putpages: BAD past EOF, OK (and undirtied) on success, AGAIN on
  a write error; synchronous with PUT_SYNC/PUT_INVAL or when free+cache is
  below v_pageout_free_min.
* OBJ_MIGHTBEDIRTY is set when a page is dirtied and cleared only by an
  error-free whole-object vm_object_page_clean; speedup_syncer bumps rushjob.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_machine

from vmkit import KernelPanic, MapFile, Script
from vmkit.constants import (
    EBUSY,
    ENOENT,
    EWOULDBLOCK,
    LK_EXCLUSIVE,
    LK_NOWAIT,
    LK_TIMELOCK,
    OBJ_MIGHTBEDIRTY,
    OBJ_WRITEABLE,
    PG_M,
    PG_RW,
    SZOMB,
    VM_PAGE_BITS_ALL,
    VM_PAGER_AGAIN,
    VM_PAGER_BAD,
    VM_PAGER_OK,
    VM_PAGER_PUT_INVAL,
    VM_PAGER_PUT_SYNC,
)
from vmkit.vfs_sync import SYNCER


def machine(**kw):
    """``small_machine`` without the page-out daemon: these tests drive the subsystems by hand,
    and the daemon's thresholds and scans would change what they look at."""
    kw.setdefault("pagedaemon", False)
    return small_machine(**kw)


def script(steps: list) -> Script:
    """vmkit's Script from compact steps: ("w", pages) writes them, ("r", pages) reads them, an int sleeps."""
    return Script([s if isinstance(s, int) else [(int(v), s[0] == "w") for v in s[1]] for s in steps])


def locker(vm, vp, flags, log, name, hold=0):
    """Kernel thread body: vget(vp, flags), record (name, tick started, tick returned, error); hold, vput."""

    def main():
        start = vm.ticks
        err = yield from vm.vget(vp, flags)
        log.append((name, start, vm.ticks, err))
        if err == 0:
            if hold:
                yield vm.tsleep(("hold", name), 0, "hold", hold)
            vm.vput(vp)
            log.append((name, "released", vm.ticks))

    return main


def start_later(vm, delay, func, name):
    """Start kernel thread ``func`` ``delay`` ticks after the next tick (delay >= 1)."""

    def main():
        yield vm.tsleep(("delay", name), 0, "delay", delay)
        yield from func()

    return vm.kthread_create(main, name)


def in_thread(vm, gen_func, max_ticks=500):
    """Run ``gen_func()`` in a kernel thread; return (value, tick started, tick returned)."""
    res = {}

    def main():
        res["t0"] = vm.ticks
        res["value"] = yield from gen_func()
        res["t1"] = vm.ticks

    vm.kthread_create(main, "test-caller")
    for _ in range(max_ticks):
        vm.run(until=vm.ticks + 1)
        if "t1" in res:
            return res["value"], res["t0"], res["t1"]
    raise AssertionError("the kernel function did not return")


# -- vget / vput -------------------------------------------------------------------------------------

def test_vget_unlocked_succeeds_at_once_and_references():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    err, t0, t1 = in_thread(vm, lambda: vm.vget(vp, LK_EXCLUSIVE | LK_TIMELOCK))
    assert err == 0 and t1 == t0
    assert vp.lk_holder is not None
    assert vp.v_refcnt == 1
    vm.vput(vp)
    assert vp.lk_holder is None and vp.v_refcnt == 0


def test_vget_nowait_on_locked_vnode_returns_ebusy_immediately():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.vn_lock_hold("f", 50)
    vm.run(until=3)
    assert vp.lk_holder is not None and vp.v_refcnt == 1
    err, t0, t1 = in_thread(vm, lambda: vm.vget(vp, LK_EXCLUSIVE | LK_NOWAIT))
    assert err == EBUSY
    assert t1 == t0
    assert vp.v_refcnt == 1            # the failed vget dropped its reference
    assert vp.v_lockwaits == 0


def test_vget_timelock_times_out_after_hz_over_10_ticks():
    vm = machine()
    assert vm.hz == 100
    vp = vm.vfs_create_file("f", 4)
    assert vp.lk_timo == 10
    vm.vn_lock_hold("f", 500)
    vm.run(until=3)
    err, t0, t1 = in_thread(vm, lambda: vm.vget(vp, LK_EXCLUSIVE | LK_TIMELOCK))
    assert err == EWOULDBLOCK
    assert t1 - t0 == 10
    assert vp.v_refcnt == 1
    assert vp.v_lockwaits == 1


@pytest.mark.parametrize("kw, timo", [({"vnode_lk_timo": 7}, 7), ({"vnode_lk_timo": 1}, 1), ({"hz": 50}, 5),
                                      ({"hz": 20}, 2), ({"hz": 1000}, 100)])
def test_lk_timo_comes_from_config(kw, timo):
    vm = machine(**kw)
    vp = vm.vfs_create_file("f", 4)
    assert vp.lk_timo == timo
    vm.vn_lock_hold("f", 5000)
    vm.run(until=2)
    err, t0, t1 = in_thread(vm, lambda: vm.vget(vp, LK_EXCLUSIVE | LK_TIMELOCK))
    assert err == EWOULDBLOCK
    assert t1 - t0 == timo


def test_vget_timelock_succeeds_when_holder_releases_before_timeout():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    log = []
    vm.kthread_create(locker(vm, vp, 0, log, "holder", hold=6), "holder")            # holds 1..7
    start_later(vm, 2, locker(vm, vp, LK_EXCLUSIVE | LK_TIMELOCK, log, "waiter"), "waiter")   # asks at 3
    vm.run(until=50)
    assert log == [
        ("holder", 1, 1, 0),
        ("holder", "released", 7),
        ("waiter", 3, 7, 0),
        ("waiter", "released", 7),
    ]
    assert vp.lk_holder is None and vp.v_refcnt == 0


def test_vput_wakes_every_waiter_and_lockmgr_retries():
    """Two waiters wake on vput; the first takes the lock, the second sleeps again with a fresh timeout."""
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    log = []
    vm.kthread_create(locker(vm, vp, 0, log, "holder", hold=5), "holder")        # 1..6
    start_later(vm, 1, locker(vm, vp, LK_EXCLUSIVE, log, "w1", hold=8), "w1")   # asks at 2, holds 6..14
    start_later(vm, 2, locker(vm, vp, LK_EXCLUSIVE | LK_TIMELOCK, log, "w2"), "w2")   # asks at 3
    vm.run(until=100)
    assert log == [
        ("holder", 1, 1, 0),
        ("holder", "released", 6),
        ("w1", 2, 6, 0),
        ("w1", "released", 14),
        ("w2", 3, 14, 0),            # waited 11 ticks > lk_timo: woken at 6, slept again until 14
        ("w2", "released", 14),
    ]
    assert vp.v_lockwaits == 3       # w1 once, w2 twice


def test_vput_of_unlocked_vnode_panics():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    with pytest.raises(KernelPanic):
        vm.vput(vp)


def test_vget_reclaimed_vnode_gives_enoent():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vp.v_reclaimed = True
    err, t0, t1 = in_thread(vm, lambda: vm.vget(vp, LK_EXCLUSIVE | LK_TIMELOCK))
    assert err == ENOENT and vp.v_refcnt == 0 and vp.lk_holder is None


def lock_history(vm, vp, until):
    """Tick -> locked?, for every tick from now to ``until``."""
    hist = {}
    while vm.ticks < until:
        vm.run(until=vm.ticks + 1)
        hist[vm.ticks] = vp.lk_holder is not None
    return hist


def test_vn_lock_hold_holds_for_exactly_ticks():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.run(until=10)
    vm.vn_lock_hold("f", 5)
    hist = lock_history(vm, vp, 30)
    held = [t for t, locked in hist.items() if locked]
    assert held == [11, 12, 13, 14, 15]       # from the next tick, 5 ticks
    assert vm.dmesg() == ["vnode f: lock held for 5 ticks"]
    assert vm.dmesg_ticks == [11]


def test_vn_lock_hold_window_length_with_start():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.run(until=10)
    vm.vn_lock_hold(vp, 7, start=20)
    hist = lock_history(vm, vp, 60)
    held = [t for t, locked in hist.items() if locked]
    assert len(held) == 7
    assert held == list(range(held[0], held[0] + 7))


def test_vn_lock_hold_starts_start_ticks_from_now():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.run(until=10)
    vm.vn_lock_hold(vp, 7, start=20)
    hist = lock_history(vm, vp, 60)
    held = [t for t, locked in hist.items() if locked]
    assert held == list(range(30, 37))


def test_vn_lock_hold_from_a_thread_starts_start_ticks_from_now():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.run(until=10)

    def main():
        vm.vn_lock_hold(vp, 4, start=5)         # called at tick 11
        yield vm.tsleep("x", 0, "x", 0)

    vm.kthread_create(main, "caller")
    hist = lock_history(vm, vp, 30)
    assert [t for t, locked in hist.items() if locked] == [16, 17, 18, 19]


def test_timelock_waiter_gives_up_on_a_held_lock_while_nowait_is_immediate():
    """A stalled filesystem staged with vn_lock_hold: each vget attempt costs exactly lk_timo."""
    vm = machine(vnode_lk_timo=4)
    vp = vm.vfs_create_file("f", 4)
    vm.vn_lock_hold("f", 30)
    results = []

    def main():
        for flags in (LK_EXCLUSIVE | LK_TIMELOCK, LK_EXCLUSIVE | LK_NOWAIT, LK_EXCLUSIVE | LK_TIMELOCK):
            t = vm.ticks
            err = yield from vm.vget(vp, flags)
            results.append((err, vm.ticks - t))
        yield vm.tsleep("done", 0, "done", 0)

    start_later(vm, 1, main, "asker")
    vm.run(until=40)
    assert results == [(EWOULDBLOCK, 4), (EBUSY, 0), (EWOULDBLOCK, 4)]


# -- the vnode pager -----------------------------------------------------------------------------------

def mapped_writer(vm, npages=8, then=None, writable=True):
    """A file of ``npages`` mapped by a process that writes every page, then sleeps (or runs ``then``)."""
    vp = vm.vfs_create_file("f", npages)
    steps = [("w", range(npages)), 5000] + ([("r", range(npages))] if then is None else then)
    p = vm.spawn("mapper", script(steps), regions=[MapFile("f", writable=writable)])
    while p.p_refs < npages:                    # each write fault first reads the page from the file
        vm.run(until=vm.ticks + 1)
        assert vm.ticks < 100
    assert p.p_thread.td_wmesg == "nanslp"
    obj = vp.v_object
    pages = [obj.rb_memq[i] for i in range(npages)]
    return p, vp, obj, pages


def putpages(vm, obj, pages, flags):
    """Call vnode_pager_putpages directly on busied pages from a kernel thread; return (rtvals, t0, t1)."""

    def call():
        for m in pages:
            assert not vm.vm_page_busy_try(m, True)
        rtvals = [None] * len(pages)
        yield from vm.vnode_pager_putpages(obj, pages, len(pages), flags, rtvals)
        for m in pages:
            vm.vm_page_wakeup(m)
        return rtvals

    return in_thread(vm, call)


def test_putpages_success_gives_ok_undirties_and_updates_file():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    stamps = [int(vm.phys_stamp[m.pfn]) for m in pages[:4]]
    assert all(s > 0 for s in stamps)
    rtvals, t0, t1 = putpages(vm, obj, pages[:4], 0)
    assert rtvals == [VM_PAGER_OK] * 4
    assert t1 == t0                               # asynchronous: write-behind
    assert [m.dirty for m in pages] == [0] * 4 + [VM_PAGE_BITS_ALL] * 4
    assert list(vp.v_data[:4]) == stamps
    assert list(vp.v_data[4:]) == [-5, -6, -7, -8]
    assert vm.filedev.writes == 1 and vm.filedev.pages_written == 4
    assert vm.cnt.v_vnodeout == 1 and vm.cnt.v_vnodepgsout == 4
    vm.run(until=vm.ticks + 5)
    assert vm.filedev.inflight == 0
    vm.check()


def test_putpages_past_eof_gives_bad():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    vp.v_size = 6                                  # the file was truncated under the mapping
    rtvals, t0, t1 = putpages(vm, obj, pages[4:], 0)
    assert rtvals == [VM_PAGER_OK, VM_PAGER_OK, VM_PAGER_BAD, VM_PAGER_BAD]
    assert [m.dirty for m in pages[4:]] == [0, 0, VM_PAGE_BITS_ALL, VM_PAGE_BITS_ALL]
    assert vm.filedev.pages_written == 2
    assert list(vp.v_data[4:6]) == [int(vm.phys_stamp[m.pfn]) for m in pages[4:6]]


def test_putpages_all_past_eof_writes_nothing():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    vp.v_size = 2
    rtvals, t0, t1 = putpages(vm, obj, pages[4:], VM_PAGER_PUT_SYNC)
    assert rtvals == [VM_PAGER_BAD] * 4
    assert t1 == t0
    assert vm.filedev.writes == 0


def test_flush_of_pages_past_eof_drops_their_changes():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    vp.v_size = 6

    def call():
        for m in pages[4:]:
            assert not vm.vm_page_busy_try(m, True)
        return (yield from vm.vm_pageout_flush(pages[4:], 4, 0))

    n, t0, t1 = in_thread(vm, call)
    assert n == 2
    assert all(m.dirty == 0 for m in pages[4:])
    assert not any(vm.pmap_is_modified(m) for m in pages[4:])
    vm.check()


@pytest.mark.parametrize("flags", [0, VM_PAGER_PUT_SYNC])
def test_putpages_write_error_gives_again_and_pages_stay_dirty(flags):
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    vm.filedev.inject(fail_next_writes=1)
    rtvals, t0, t1 = putpages(vm, obj, pages[:4], flags)
    assert rtvals == [VM_PAGER_AGAIN] * 4
    assert all(m.dirty == VM_PAGE_BITS_ALL for m in pages[:4])
    assert list(vp.v_data) == [-1, -2, -3, -4, -5, -6, -7, -8]
    assert vm.filedev.write_errors == 1
    # The next write works.
    rtvals, t0, t1 = putpages(vm, obj, pages[:4], flags)
    assert rtvals == [VM_PAGER_OK] * 4
    assert list(vp.v_data[:4]) == [int(vm.phys_stamp[m.pfn]) for m in pages[:4]]
    vm.run(until=vm.ticks + 10)
    vm.check()


@pytest.mark.parametrize("flags", [VM_PAGER_PUT_SYNC, VM_PAGER_PUT_INVAL])
def test_putpages_sync_flags_make_caller_sleep_the_write_latency(flags):
    vm = machine(file_write_latency=6)
    p, vp, obj, pages = mapped_writer(vm)
    rtvals, t0, t1 = putpages(vm, obj, pages[:3], flags)
    assert rtvals == [VM_PAGER_OK] * 3
    assert t1 - t0 == 6
    assert vm.filedev.inflight == 0


def test_putpages_sync_when_free_plus_cache_below_pageout_free_min():
    vm = machine(file_write_latency=6)
    p, vp, obj, pages = mapped_writer(vm)
    vs = vm.vmstats
    vs.v_pageout_free_min = vs.v_free_count + vs.v_cache_count      # not below: still async
    rtvals, t0, t1 = putpages(vm, obj, pages[:2], 0)
    assert rtvals == [VM_PAGER_OK] * 2 and t1 == t0
    vs.v_pageout_free_min = vs.v_free_count + vs.v_cache_count + 1  # below: forced sync
    rtvals, t0, t1 = putpages(vm, obj, pages[2:4], 0)
    assert rtvals == [VM_PAGER_OK] * 2
    assert t1 - t0 == 6


# -- a mapped file -------------------------------------------------------------------------------------

def test_mapped_file_reads_its_initial_contents():
    vm = machine()
    vp = vm.vfs_create_file("f", 8)
    initial = list(vp.v_data)
    assert len(set(initial)) == 8 and all(v < 0 for v in initial)
    p = vm.spawn("reader", script([("r", range(8)), ("r", range(8))]), regions=[MapFile("f", writable=False)])
    vm.run(until=500)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert p.p_majflt == 8
    assert vm.filedev.reads == 8 and vm.cnt.v_vnodein == 8
    assert vm.refs_checked == 16
    assert vm.lost_writes == []
    assert list(vp.v_data) == initial
    # The file's pages stay cached in its object after the process exits.
    assert vp.v_object.resident_page_count == 8
    for i, m in vp.v_object.rb_memq.items():
        assert int(vm.phys_stamp[m.pfn]) == initial[i]
    vm.check()
    assert vm.verify_integrity() == 0


def test_msync_writes_mapped_writes_to_the_file():
    vm = machine(file_write_latency=3)
    p, vp, obj, pages = mapped_writer(vm)
    assert obj.flags & OBJ_MIGHTBEDIRTY and obj.flags & OBJ_WRITEABLE
    assert vp.v_dirty
    n, t0, t1 = in_thread(vm, lambda: vm.msync("f"))
    assert n == 8
    assert t1 - t0 == 3                       # one synchronous cluster write
    slots = obj.slot_base + np.arange(8)
    assert list(vp.v_data) == list(vm.oracle_expected[slots])
    assert list(vp.v_data) == [int(vm.phys_stamp[m.pfn]) for m in pages]
    assert all(v > 0 for v in vp.v_data)
    pm = p.p_vmspace.vm_pmap
    for i, m in enumerate(pages):
        assert m.dirty == 0
        assert not vm.pte_bits(pm, i) & (PG_RW | PG_M)
    assert not obj.flags & OBJ_MIGHTBEDIRTY
    assert not vp.v_dirty
    vm.check()
    assert vm.verify_integrity() == 0


def test_msync_twice_writes_nothing_the_second_time():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    assert in_thread(vm, lambda: vm.msync("f"))[0] == 8
    writes = vm.filedev.writes
    assert in_thread(vm, lambda: vm.msync("f"))[0] == 0
    assert vm.filedev.writes == writes


def test_write_after_msync_faults_and_redirties():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm, then=[("w", [2]), 5000])
    in_thread(vm, lambda: vm.msync("f"))
    assert not obj.flags & OBJ_MIGHTBEDIRTY
    faults = vm.cnt.v_vm_faults
    vm.run(until=vm.ticks + 5000)
    assert vm.cnt.v_vm_faults == faults + 1
    assert pages[2].dirty == VM_PAGE_BITS_ALL
    assert obj.flags & OBJ_MIGHTBEDIRTY
    assert vp.v_dirty
    assert in_thread(vm, lambda: vm.msync("f"))[0] == 1
    assert vp.v_data[2] == vm.oracle_expected[obj.slot_base + 2]
    assert vm.verify_integrity() == 0


def test_read_fault_on_a_writable_mapping_marks_the_object_writeable_and_mightbedirty():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    obj = vp.v_object
    assert not obj.flags & (OBJ_WRITEABLE | OBJ_MIGHTBEDIRTY)
    p = vm.spawn("r", script([("r", range(4)), 5000]), regions=[MapFile("f")])
    vm.run(until=30)
    assert p.p_refs == 4
    assert obj.flags & OBJ_WRITEABLE and obj.flags & OBJ_MIGHTBEDIRTY
    pages = [obj.rb_memq[i] for i in range(4)]
    assert all(m.dirty == 0 for m in pages)           # read only: nothing dirty yet
    vm.check()


def test_msync_writes_data_written_after_a_read_fault():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    p = vm.spawn("rw", script([("r", range(4)), ("w", range(4)), 5000]), regions=[MapFile("f")])
    vm.run(until=30)
    assert p.p_refs == 8
    in_thread(vm, lambda: vm.msync("f"))
    slots = vp.v_object.slot_base + np.arange(4)
    assert list(vp.v_data) == list(vm.oracle_expected[slots])


def test_syncer_writes_data_written_after_a_read_fault():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.spawn("rw", script([("r", range(4)), ("w", range(4)), 10_000]), regions=[MapFile("f")])
    vm.run(until=(vm.syncdelay + 2) * vm.hz)
    slots = vp.v_object.slot_base + np.arange(4)
    assert list(vp.v_data) == list(vm.oracle_expected[slots])


def test_syncer_writes_back_after_syncdelay_without_msync():
    vm = machine()
    assert vm.syncdelay == 30
    p, vp, obj, pages = mapped_writer(vm, then=[10_000])
    dirtied = vp.v_dirty_tick
    assert vp.v_dirty and 0 < dirtied <= 3
    initial = [-1, -2, -3, -4, -5, -6, -7, -8]
    vm.run(until=dirtied + 30 * vm.hz - 1)
    assert list(vp.v_data) == initial          # not yet 30 s old
    assert vm.filedev.writes == 0
    vm.run(until=dirtied + 31 * vm.hz)           # the syncer runs once a second
    slots = obj.slot_base + np.arange(8)
    assert list(vp.v_data) == list(vm.oracle_expected[slots])
    assert all(m.dirty == 0 for m in pages)
    assert not obj.flags & OBJ_MIGHTBEDIRTY and not vp.v_dirty
    vm.check()
    assert vm.verify_integrity() == 0


def test_mightbedirty_not_cleared_by_a_clean_with_a_write_error():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    vm.filedev.inject(fail_next_writes=1)
    n, _, _ = in_thread(vm, lambda: vm.msync("f"))
    assert n == 0
    assert obj.flags & OBJ_MIGHTBEDIRTY and vp.v_dirty
    assert all(m.dirty == VM_PAGE_BITS_ALL for m in pages)
    assert list(vp.v_data) == [-1, -2, -3, -4, -5, -6, -7, -8]
    n, _, _ = in_thread(vm, lambda: vm.msync("f"))
    assert n == 8
    assert not obj.flags & OBJ_MIGHTBEDIRTY and not vp.v_dirty
    assert vm.verify_integrity() == 0


def test_mightbedirty_not_cleared_by_a_partial_clean():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    n, _, _ = in_thread(vm, lambda: vm.vm_object_page_clean(obj, 0, 4, VM_PAGER_PUT_SYNC))
    assert n == 4
    assert [m.dirty for m in pages] == [0] * 4 + [VM_PAGE_BITS_ALL] * 4
    assert obj.flags & OBJ_MIGHTBEDIRTY
    n, _, _ = in_thread(vm, lambda: vm.vm_object_page_clean(obj, 0, 0, VM_PAGER_PUT_SYNC))
    assert n == 4
    assert not obj.flags & OBJ_MIGHTBEDIRTY


def test_mightbedirty_not_cleared_when_a_page_is_busy():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm)
    assert not vm.vm_page_busy_try(pages[5], True)     # someone else owns page 5
    n, _, _ = in_thread(vm, lambda: vm.msync("f"))
    assert n == 7                              # every page but the busy one
    assert pages[5].dirty == VM_PAGE_BITS_ALL
    assert obj.flags & OBJ_MIGHTBEDIRTY
    vm.vm_page_wakeup(pages[5])


def test_speedup_syncer_null_increments_rushjob_without_waking():
    vm = machine()
    vm.run(until=50)                              # the syncer sleeps until tick 101
    syncer = vm.syncer_thread
    assert vm.rushjob == 0
    vm.speedup_syncer(None)
    vm.speedup_syncer(None)
    assert vm.rushjob == 2
    vm.run(until=60)
    assert vm.rushjob == 2                        # nobody woke the syncer
    assert vm.sleeping_on(SYNCER) == [syncer]
    vm.run(until=120)
    assert vm.rushjob == 0                        # its next regular run worked through it


def test_speedup_syncer_with_mount_wakes_syncer_and_rushes_the_queue():
    vm = machine()
    p, vp, obj, pages = mapped_writer(vm, then=[10_000])
    vm.run(until=200)
    for _ in range(vm.syncdelay):
        vm.speedup_syncer("mnt")
    assert vm.rushjob == 30
    vm.run(until=200 + vm.syncdelay + 5)         # one tick per extra second of queue
    assert vm.rushjob == 0
    slots = obj.slot_base + np.arange(8)
    assert list(vp.v_data) == list(vm.oracle_expected[slots])
    assert not vp.v_dirty


def test_write_to_read_only_file_mapping_does_not_reach_the_file():
    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    p = vm.spawn("ro", script([("r", [0]), ("w", [1])]), regions=[MapFile("f", writable=False)])
    vm.run(until=100)
    assert p.p_stat == SZOMB
    assert list(vp.v_data) == [-1, -2, -3, -4]
    assert not vp.v_object.flags & OBJ_MIGHTBEDIRTY
