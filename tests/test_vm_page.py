"""The vm_page operations behave as facts §4 states (busy, hold, queue moves, cache, free, alloc, wait)."""

from __future__ import annotations

import pytest
from helpers import small_machine

from vmkit import KernelPanic, Sequential
from vmkit.constants import (
    ACT_INIT,
    OBJT_DEFAULT,
    PG_BUSY,
    PG_MAPPED,
    PG_NEED_COMMIT,
    PG_REFERENCED,
    PG_SBUSY,
    PG_UNMANAGED,
    PG_WANTED,
    PG_WINATCFLS,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    PQ_NONE,
    VM_ALLOC_INTERRUPT,
    VM_ALLOC_NORMAL,
    VM_ALLOC_SYSTEM,
    VM_PAGE_BITS_ALL,
)
from vmkit.kern import V_FREE_COUNT, VM_PAGES_NEEDED


def base(m):
    return m.queue - m.pc if m.queue else PQ_NONE


def new_page(vm, obj=None, pindex=0):
    """A valid page of an anonymous object, busied, on no queue."""
    if obj is None:
        obj = vm.vm_object_allocate(OBJT_DEFAULT, 64)
    m = vm.vm_page_alloc(obj, pindex, VM_ALLOC_NORMAL)
    assert m is not None
    vm.pmap_zero_page(m)
    m.valid = VM_PAGE_BITS_ALL
    return m


def on_queue(vm, qbase):
    """A valid, unbusied page of an object on queue ``qbase``."""
    m = new_page(vm)
    if qbase == PQ_ACTIVE:
        vm.vm_page_activate(m)
    elif qbase == PQ_INACTIVE:
        vm.vm_page_deactivate(m)
    elif qbase == PQ_CACHE:
        vm.vm_page_cache(m)
        return m
    vm.vm_page_wakeup(m)
    return m


def queue_list(vm, m):
    return list(vm.vm_page_queues[m.queue])


# -- busy, soft-busy, hold ----------------------------------------------------------------------

def test_busy_try_returns_true_on_failure():
    vm = small_machine()
    m = vm.vm_page_array[0]
    assert vm.vm_page_busy_try(m, False) is False
    assert m.flags & PG_BUSY
    assert vm.vm_page_busy_try(m, False) is True


def test_busy_try_also_fails_on_soft_busy_only_when_asked():
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_io_start(m)
    vm.vm_page_wakeup(m)
    assert m.flags & PG_SBUSY and m.busy == 1
    assert vm.vm_page_busy_try(m, True) is True
    assert vm.vm_page_busy_try(m, False) is False


def test_wakeup_clears_busy_and_wanted_and_wakes_sleepers():
    vm = small_machine()
    m = new_page(vm)
    woke = []

    def sleeper():
        yield from vm.vm_page_busy_wait(m, False, "test")
        woke.append(vm.ticks)
        vm.vm_page_wakeup(m)

    vm.kthread_create(sleeper, "sleeper")
    vm.run(until=vm.ticks + 3)
    assert woke == [] and m.flags & PG_WANTED and m.flags & PG_REFERENCED
    vm.vm_page_wakeup(m)
    assert not m.flags & (PG_BUSY | PG_WANTED)
    vm.run(until=vm.ticks + 1)
    assert len(woke) == 1


def test_wakeup_of_unbusied_page_panics():
    vm = small_machine()
    with pytest.raises(KernelPanic, match="not busy"):
        vm.vm_page_wakeup(vm.vm_page_array[0])


def test_io_start_finish_keep_sbusy_equal_to_busy_count():
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_io_start(m)
    vm.vm_page_io_start(m)
    assert m.busy == 2 and m.flags & PG_SBUSY
    vm.vm_page_io_finish(m)
    assert m.busy == 1 and m.flags & PG_SBUSY
    vm.vm_page_io_finish(m)
    assert m.busy == 0 and not m.flags & PG_SBUSY
    with pytest.raises(KernelPanic):
        vm.vm_page_io_finish(m)


def test_hold_moves_free_page_to_hold_and_unhold_returns_it_to_free_head():
    vm = small_machine()
    m = vm.vm_page_array[5]
    free0 = vm.vmstats.v_free_count
    active0 = vm.vmstats.v_active_count
    vm.vm_page_hold(m)
    assert base(m) == PQ_HOLD and m.hold_count == 1
    assert vm.vmstats.v_free_count == free0 - 1
    assert vm.vmstats.v_active_count == active0 + 1     # HOLD feeds v_active_count (facts §1)
    vm.vm_page_hold(m)
    vm.vm_page_unhold(m)
    assert base(m) == PQ_HOLD
    vm.vm_page_unhold(m)
    assert base(m) == PQ_FREE
    assert vm.vm_page_queues[m.queue].pl_first is m
    assert vm.vmstats.v_free_count == free0 and vm.vmstats.v_active_count == active0
    vm.check()


# -- activate / deactivate --------------------------------------------------------------------------

def test_activate_from_inactive_goes_to_tail_with_act_init():
    vm = small_machine()
    other = on_queue(vm, PQ_ACTIVE)
    m = on_queue(vm, PQ_INACTIVE)
    m.act_count = 2
    vm.vm_page_activate(m)
    assert base(m) == PQ_ACTIVE and m.act_count == ACT_INIT
    if m.pc == other.pc:
        assert queue_list(vm, m)[-1] is m
    vm.check()


def test_activate_keeps_higher_act_count():
    vm = small_machine()
    m = on_queue(vm, PQ_INACTIVE)
    m.act_count = 40
    vm.vm_page_activate(m)
    assert m.act_count == 40


def test_activate_when_already_active_only_raises_act_count():
    vm = small_machine()
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 64)
    pages = []
    for i in range(3):
        m = new_page(vm, obj, i * vm.PQ_L2_SIZE)      # same colour: one sub-queue
        vm.vm_page_activate(m)
        vm.vm_page_wakeup(m)
        pages.append(m)
    first = pages[0]
    first.act_count = 1
    order = queue_list(vm, first)
    vm.vm_page_activate(first)
    assert first.act_count == ACT_INIT
    assert queue_list(vm, first) == order          # not moved to the tail


def test_activate_from_cache_counts_reactivation_and_wakes_daemon():
    vm = small_machine()
    m = on_queue(vm, PQ_CACHE)
    assert base(m) == PQ_CACHE
    vm.vmstats.v_free_min = vm.vmstats.v_page_count      # paging is needed
    r0 = vm.cnt.v_reactivated
    vm.vm_page_activate(m)
    assert vm.cnt.v_reactivated == r0 + 1
    assert vm.vm_pages_needed == 1
    assert base(m) == PQ_ACTIVE


def test_activate_wired_page_leaves_it_off_the_queues():
    vm = small_machine()
    m = on_queue(vm, PQ_INACTIVE)
    assert vm.vm_page_busy_try(m, False) is False
    vm.vm_page_wire(m)
    vm.vm_page_activate(m)
    assert m.queue == PQ_NONE
    assert vm.vmstats.v_wire_count == 1


def test_deactivate_is_a_noop_on_an_inactive_page():
    vm = small_machine()
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 64)
    pages = []
    for i in range(3):
        m = new_page(vm, obj, i * vm.PQ_L2_SIZE)
        vm.vm_page_deactivate(m)
        vm.vm_page_wakeup(m)
        pages.append(m)
    order = queue_list(vm, pages[0])
    pages[0].flags |= PG_WINATCFLS
    h0 = vm.vm_swapcache_inactive_heuristic
    vm.vm_page_deactivate(pages[0])
    assert queue_list(vm, pages[0]) == order
    assert pages[0].flags & PG_WINATCFLS          # not even the flag is touched
    assert vm.vm_swapcache_inactive_heuristic == h0


def test_deactivate_clears_winatcfls_goes_to_tail_and_keeps_act_count():
    vm = small_machine()
    m = on_queue(vm, PQ_ACTIVE)
    m.flags |= PG_WINATCFLS
    m.act_count = 17
    h0 = vm.vm_swapcache_inactive_heuristic
    vm.vm_page_deactivate(m)
    assert base(m) == PQ_INACTIVE
    assert not m.flags & PG_WINATCFLS
    assert m.act_count == 17
    assert queue_list(vm, m)[-1] is m
    assert vm.vm_swapcache_inactive_heuristic == h0 + 1
    vm.check()


def test_unqueue_nowakeup_does_not_wake_the_daemon():
    vm = small_machine()
    m = vm.vm_page_array[3]
    vm.vmstats.v_free_min = vm.vmstats.v_page_count
    vm.vm_page_unqueue_nowakeup(m)
    assert m.queue == PQ_NONE and vm.vm_pages_needed == 0
    m2 = vm.vm_page_array[4]
    vm.vm_page_unqueue(m2)
    assert vm.vm_pages_needed == 1


# -- cache and free ---------------------------------------------------------------------------------

def test_cache_moves_clean_page_to_cache_tail_and_unbusies():
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_deactivate(m)
    vm.vm_page_cache(m)
    assert base(m) == PQ_CACHE
    assert queue_list(vm, m)[-1] is m
    assert not m.flags & PG_BUSY
    vm.check()


def test_cache_panics_on_a_dirty_page():
    vm = small_machine()
    m = new_page(vm)
    m.dirty = VM_PAGE_BITS_ALL
    with pytest.raises(KernelPanic, match="dirty"):
        vm.vm_page_cache(m)


@pytest.mark.parametrize("how", ["held", "wired", "softbusy", "unmanaged", "need_commit"])
def test_cache_declines_pages_that_cannot_be_cached(how):
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_deactivate(m)
    if how == "held":
        vm.vm_page_hold(m)
    elif how == "wired":
        vm.vm_page_wire(m)
    elif how == "softbusy":
        vm.vm_page_io_start(m)
    elif how == "unmanaged":
        m.flags |= PG_UNMANAGED
    else:
        m.flags |= PG_NEED_COMMIT
    q = m.queue
    vm.vm_page_cache(m)
    assert m.queue == q and base(m) != PQ_CACHE
    assert not m.flags & PG_BUSY


def test_cache_of_a_page_dirtied_through_the_pmap_deactivates_it():
    vm = small_machine(ram=256)
    p = vm.spawn("w", Sequential(pages=4, writes=1.0))
    vm.run()
    # The process exited; map a page by hand instead: a fresh process that stays.
    p = vm.spawn("w2", Sequential(pages=4, writes=1.0, passes=0), refs_per_tick=4)
    vm.run(until=vm.ticks + 1)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    assert m is not None and m.flags & PG_MAPPED
    vm.vm_page_undirty(m)              # the VM layer believes it clean; the PTE has M set
    assert vm.pmap_is_modified(m)
    assert vm.vm_page_busy_try(m, False) is False
    vm.vm_page_cache(m)
    assert m.dirty == VM_PAGE_BITS_ALL
    assert base(m) == PQ_INACTIVE
    assert not m.flags & PG_MAPPED
    vm.check()


def test_try_to_cache_returns_one_even_when_cache_declines():
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_deactivate(m)
    vm.vm_page_io_start(m)          # soft-busy: vm_page_cache declines at its first step
    assert vm.vm_page_try_to_cache(m) == 1
    assert base(m) == PQ_INACTIVE and not m.flags & PG_BUSY


def test_try_to_cache_returns_zero_for_dirty_page():
    vm = small_machine()
    m = new_page(vm)
    m.dirty = VM_PAGE_BITS_ALL
    assert vm.vm_page_try_to_cache(m) == 0
    assert not m.flags & PG_BUSY


def test_free_puts_page_at_head_of_free_and_counts_tfree():
    vm = small_machine()
    m = new_page(vm)
    obj = m.object
    t0 = vm.cnt.v_tfree
    vm.vm_page_free(m)
    assert base(m) == PQ_FREE
    assert vm.vm_page_queues[m.queue].pl_first is m
    assert m.object is None and obj.resident_page_count == 0
    assert m.valid == 0 and m.dirty == 0
    assert vm.cnt.v_tfree == t0 + 1
    vm.check()


def test_free_of_held_page_goes_to_hold_tail():
    vm = small_machine()
    m = new_page(vm)
    vm.vm_page_hold(m)
    vm.vm_page_free(m)
    assert base(m) == PQ_HOLD
    vm.vm_page_unhold(m)
    assert base(m) == PQ_FREE
    vm.check()


@pytest.mark.parametrize("how", ["unbusied", "mapped", "softbusy", "already_free", "wired"])
def test_free_panics_on_forbidden_pages(how):
    vm = small_machine()
    m = new_page(vm)
    if how == "unbusied":
        vm.vm_page_wakeup(m)
    elif how == "mapped":
        m.flags |= PG_MAPPED
    elif how == "softbusy":
        vm.vm_page_io_start(m)
    elif how == "already_free":
        vm.vm_page_free(m)
        vm.vm_page_busy_try(m, False)
    else:
        m.wire_count = 1
    with pytest.raises(KernelPanic):
        vm.vm_page_free(m)


def test_free_wakeup_applies_hysteresis():
    vm = small_machine(ram=256)
    vs = vm.vmstats
    vs.v_free_min = 100
    vs.v_free_target = 120
    vs.v_free_reserved = 10
    woke = []

    def waiter():
        yield vm.tsleep(V_FREE_COUNT, 0, "vmwait", 0)
        woke.append(vm.ticks)

    vm.kthread_create(waiter, "waiter")
    vm.run(until=1)
    # Take pages until F+C is just below free_min + hysteresis (116) but >= free_target? no:
    # !count_min(16) needs F+C >= 116; !count_target needs F+C >= 120.
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 1024)
    pages = []
    while vs.v_free_count > 110:
        pages.append(new_page(vm, obj, len(pages)))
    vm.vm_pages_waiting = 1
    for m in pages[:4]:                 # F = 114: both predicates still true
        vm.vm_page_free(m)
    vm.run(until=vm.ticks + 1)
    assert woke == [] and vm.vm_pages_waiting == 1
    for m in pages[4:6]:                # F = 116: free_min + hysteresis reached
        vm.vm_page_free(m)
    assert vm.vm_pages_waiting == 0
    vm.run(until=vm.ticks + 1)
    assert len(woke) == 1


# -- list_find and alloc ---------------------------------------------------------------------------

def test_list_find_takes_head_and_returns_it_off_queue():
    vm = small_machine()
    head = vm.vm_page_queues[PQ_FREE + 3].pl_first
    m = vm.vm_page_list_find(PQ_FREE, 3)
    assert m is head and m.queue == PQ_NONE and not m.flags & PG_BUSY
    assert vm.vmstats.v_free_count == vm.vmstats.v_page_count - 1


def test_list_find_searches_neighbouring_colours_when_empty():
    vm = small_machine(pq_l2_size=16)
    while vm.vm_page_queues[PQ_FREE + 5].pl_first is not None:
        vm.vm_page_list_find(PQ_FREE, 5)
    m = vm.vm_page_list_find(PQ_FREE, 5)
    assert m is not None and m.pc == 6     # ring of 16: colours 5+i for i = 0.. (facts §4)


def test_list_find_returns_none_on_empty_queue():
    vm = small_machine()
    assert vm.vm_page_list_find(PQ_CACHE, 0) is None


def test_alloc_returns_busied_page_inserted_with_act_count_zero():
    vm = small_machine()
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 64)
    m = vm.vm_page_alloc(obj, 7, VM_ALLOC_NORMAL)
    assert m.flags & PG_BUSY and m.act_count == 0 and m.valid == 0
    assert obj.rb_memq[7] is m and m.pindex == 7 and m.object is obj
    assert m.queue == PQ_NONE
    assert m.pc == (7 + obj.pg_color) & vm.PQ_L2_MASK


def _drain_free_to(vm, target):
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 4096)
    pages = []
    while vm.vmstats.v_free_count > target:
        m = vm.vm_page_alloc(obj, len(pages), VM_ALLOC_INTERRUPT)
        pages.append(m)
    return obj, pages


def test_alloc_below_reserved_normal_fails_and_counts_deficit():
    vm = small_machine()
    vm.vmstats.v_free_reserved = 20
    _drain_free_to(vm, 19)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    d0 = vm.vm_pageout_deficit
    assert vm.vm_page_alloc(obj, 0, VM_ALLOC_NORMAL) is None
    assert vm.vm_pageout_deficit == d0 + 1


def test_alloc_interrupt_takes_last_free_pages():
    vm = small_machine()
    vm.vmstats.v_free_reserved = 20
    _drain_free_to(vm, 1)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    assert vm.vm_page_alloc(obj, 0, VM_ALLOC_INTERRUPT) is not None
    assert vm.vm_page_alloc(obj, 1, VM_ALLOC_INTERRUPT) is None


def test_alloc_system_needs_empty_cache_and_more_than_interrupt_min():
    vm = small_machine()
    vs = vm.vmstats
    vs.v_free_reserved = 20
    vs.v_interrupt_free_min = 10
    _drain_free_to(vm, 12)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    assert vm.vm_page_alloc(obj, 0, VM_ALLOC_SYSTEM) is not None     # F=12 > 10
    assert vm.vm_page_alloc(obj, 1, VM_ALLOC_SYSTEM) is not None     # F=11 > 10
    assert vm.vm_page_alloc(obj, 2, VM_ALLOC_SYSTEM) is None         # F=10


def test_alloc_normal_below_reserved_recycles_clean_cache_pages():
    vm = small_machine()
    vm.vmstats.v_free_reserved = 20
    cached = [on_queue(vm, PQ_CACHE) for _ in range(5)]
    owners = [c.object for c in cached]
    assert vm.vmstats.v_cache_count == 5
    _drain_free_to(vm, 17)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    m = vm.vm_page_alloc(obj, 0, VM_ALLOC_NORMAL)
    assert m is not None
    # Cache pages were freed until F reached the reserve, then one was taken.
    assert vm.vmstats.v_cache_count == 2
    assert vm.vmstats.v_free_count == 19
    assert sum(c.object is not o for c, o in zip(cached, owners, strict=True)) == 3
    vm.check()


def test_alloc_deactivates_unsuitable_cache_pages():
    vm = small_machine()
    vm.vmstats.v_free_reserved = 20
    c = on_queue(vm, PQ_CACHE)
    c.flags |= PG_NEED_COMMIT
    _drain_free_to(vm, 15)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    assert vm.vm_page_alloc(obj, 0, VM_ALLOC_NORMAL) is None
    assert base(c) == PQ_INACTIVE


def test_alloc_wakes_the_daemon_when_paging_is_needed():
    vm = small_machine()
    vm.vmstats.v_free_min = vm.vmstats.v_page_count
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 8)
    sleepers = []

    def daemon():
        yield vm.tsleep(VM_PAGES_NEEDED, 0, "psleep", 0)
        sleepers.append(vm.ticks)

    vm.kthread_create(daemon, "fake-daemon")
    vm.run(until=1)
    vm.vm_page_alloc(obj, 0, VM_ALLOC_NORMAL)
    assert vm.vm_pages_needed >= 1
    vm.run(until=2)
    assert sleepers == [2] or sleepers == [1]


# -- predicates ---------------------------------------------------------------------------------------

def test_predicates_follow_facts_formulas():
    vm = small_machine(ram=1024)
    vs = vm.vmstats
    vs.v_free_min, vs.v_free_reserved, vs.v_free_severe = 100, 57, 50
    vs.v_free_target, vs.v_cache_min = 200, 200
    vs_f = vs.v_free_count          # 1024 free, 0 cache
    assert vm.vm_paging_target() == 400 - vs_f
    assert not vm.vm_paging_needed()
    assert not vm.vm_page_count_min(0)
    assert vm.vm_page_count_min(1000)
    vs.v_free_count, vs.v_cache_count = 40, 30     # tamper (predicates only read numbers)
    assert vm.vm_page_count_severe()               # reserved 57 > F 40
    vs.v_free_count, vs.v_cache_count = 60, 0
    assert vm.vm_page_count_severe() is False      # severe 50 < 60, reserved 57 < 60
    assert vm.vm_page_count_min(0) and vm.vm_page_count_target()
    assert vm.vm_paging_needed()
    vs.v_free_count, vs.v_cache_count = 150, 200
    assert not vm.vm_paging_needed() and not vm.vm_page_count_target()
    assert vm.vm_paging_target() == 50
