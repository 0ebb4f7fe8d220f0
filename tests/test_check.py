"""The invariant checker (``vmkit.check``): silent on healthy machines, loud on every corruption.

Each corruption test builds its own populated machine, confirms ``check()``
passes, breaks one invariant by hand, and requires an ``InvariantError``
whose message names the problem.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import pytest
from helpers import resident_pages, small_machine, start_evictor

from vmkit import HotCold, InvariantError, Machine, Sequential, UniformRandom
from vmkit.constants import (
    PG_BUSY,
    PG_MAPPED,
    PG_MARKER,
    PG_SBUSY,
    PG_SWAPPED,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    SWAP_META_PAGES,
    VM_PAGE_BITS_ALL,
    VM_PROT_NONE,
)
from vmkit.vm_page import TAILQ_REMOVE

# --- building healthy machines --------------------------------------------------------------------


def start_shaper(vm: Machine, *, seed: int = 0, per_tick: int = 3) -> None:
    """A kernel thread that each tick deactivates a few active pages and caches a few clean ones.

    Together with the evictor this keeps pages on every paging queue while
    the processes run, through the machine's own queue operations.
    """
    rng = np.random.default_rng(seed)

    def main() -> Generator:
        while True:
            yield vm.tsleep("test-shaper", 0, "shape", 1)
            pages = [m for m in resident_pages(vm) if m.queue - m.pc == PQ_ACTIVE]
            if not pages:
                continue
            picks = rng.choice(len(pages), size=min(2 * per_tick, len(pages)), replace=False).tolist()
            for k, i in enumerate(picks):
                m = pages[i]
                if k < per_tick:
                    vm.vm_page_deactivate(m)
                elif not m.hold_count and not m.wire_count and not vm.vm_page_busy_try(m, True):
                    vm.vm_page_test_dirty(m)
                    if m.dirty:
                        vm.vm_page_wakeup(m)
                    else:
                        vm.vm_page_cache(m)      # unbusies

    vm.kthread_create(main, "test-shaper")


def cache_some_clean_pages(vm: Machine, limit: int = 6) -> int:
    """Cache up to ``limit`` clean resident pages (busy, test_dirty, vm_page_cache); return how many."""
    done = 0
    for m in resident_pages(vm):
        if done >= limit:
            break
        if m.hold_count or m.wire_count or m.busy or vm.vm_page_busy_try(m, True):
            continue
        vm.vm_page_test_dirty(m)
        if m.dirty:
            vm.vm_page_wakeup(m)
            continue
        vm.vm_page_cache(m)
        if m.queue - m.pc == PQ_CACHE:
            done += 1
    return done


def populated_machine(seed: int = 1, ticks: int = 80, *, write_error_rate: float = 0.0) -> Machine:
    """A machine where FREE, CACHE, INACTIVE and ACTIVE all hold pages and swap is in use."""
    vm = small_machine(ram=256, swap=1024, seed=seed)
    if write_error_rate:
        vm.swapdev.inject(write_error_rate=write_error_rate)
    start_evictor(vm, seed=seed, free_clean=False)
    start_shaper(vm, seed=seed)
    vm.spawn("long", UniformRandom(pages=100, count=10**6, writes=0.5))
    vm.spawn("hot", HotCold(pages=80, count=10**6, writes=0.3))
    vm.spawn("short", Sequential(pages=40, passes=2, writes=1.0))
    vm.run(until=vm.ticks + ticks)
    cache_some_clean_pages(vm)
    for m in [m for m in resident_pages(vm) if m.queue - m.pc == PQ_ACTIVE][:5]:
        vm.vm_page_deactivate(m)
    counts = vm.queue_counts()
    assert all(counts[q] > 0 for q in ("free", "cache", "inactive", "active")), counts
    assert vm.vm_swap_size < vm.vm_swap_max, "nothing went to swap"
    return vm


def healthy(seed: int = 1) -> Machine:
    vm = populated_machine(seed)
    vm.check()
    return vm


def expect_violation(vm: Machine, fragment: str) -> InvariantError:
    """``check()`` must raise InvariantError with ``fragment`` in its message (and its violations)."""
    with pytest.raises(InvariantError) as info:
        vm.check()
    err = info.value
    assert fragment in str(err), f"{fragment!r} not in:\n{err}"
    assert any(fragment in v for v in err.violations)
    return err


def pages_on(vm: Machine, base: int) -> list:
    return vm.queue_pages(base)


def mapped_page(vm: Machine):
    for m in resident_pages(vm):
        if m.md_pv and not m.flags & (PG_BUSY | PG_SBUSY):
            return m
    raise AssertionError("no mapped page")


def swapped_object(vm: Machine):
    for obj in vm.vm_objects():
        if obj.swblock:
            return obj
    raise AssertionError("no object has swap blocks")


def nonempty_queue(vm: Machine, base: int, at_least: int = 1):
    for c in range(vm.PQ_L2_SIZE):
        q = vm.vm_page_queues[base + c]
        if q.lcnt >= at_least:
            return q
    raise AssertionError(f"no queue of base {base} has {at_least} pages")


# --- healthy machines pass ------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [
    {},
    {"boot_userland": True},
    {"pq_l2_size": 2},
    {"pq_l2_size": 512, "ram": 1024},
    {"swap": 0},
])
def test_fresh_machine_passes(kw):
    vm = small_machine(**kw)
    vm.check()
    assert vm.vmstats.v_free_count == vm.config.ram_pages


def test_populated_machine_passes():
    vm = populated_machine(seed=3)
    counts = vm.queue_counts()
    assert counts["free"] + counts["cache"] + counts["inactive"] + counts["active"] == 256 - vm.vmstats.v_wire_count
    vm.check()


@pytest.mark.parametrize("write_error_rate", [0.0, 0.25])
def test_check_passes_at_every_tick_of_a_paging_run(write_error_rate):
    """Faults, swap-outs (some failing), caching, deactivation and exits never break an invariant."""
    vm = small_machine(ram=256, swap=1024, seed=7)
    vm.swapdev.inject(write_error_rate=write_error_rate)
    start_evictor(vm, seed=7, free_clean=False)
    start_shaper(vm, seed=7)
    vm.spawn("long", UniformRandom(pages=100, count=30_000, writes=0.5))
    vm.spawn("hot", HotCold(pages=80, count=30_000, writes=0.3))
    vm.spawn("short", Sequential(pages=40, passes=2, writes=1.0))
    seen = {"free": 0, "cache": 0, "inactive": 0, "active": 0}
    for _ in range(400):
        if not vm.user_procs():
            break
        vm.run(until=vm.ticks + 1)
        vm.check()
        for k, v in vm.queue_counts().items():
            if k in seen:
                seen[k] = max(seen[k], v)
    assert all(seen.values()), seen
    assert vm.swapdev.writes > 0
    if write_error_rate:
        assert vm.swapdev.write_errors > 0
    assert vm.lost_writes == []


def test_check_passes_after_everything_exits():
    vm = populated_machine(seed=5, ticks=40)
    for p in vm.user_procs():
        vm.killproc(p, "test")
    vm.run(until=vm.ticks + 200)
    vm.check()


def test_hold_pages_count_as_active():
    """facts §1: HOLD feeds v_active_count, so a held free page keeps vmstats consistent."""
    vm = small_machine()
    m = vm.vm_page_array[10]
    active = vm.vmstats.v_active_count
    vm.vm_page_hold(m)
    assert m.queue == PQ_HOLD + m.pc
    assert vm.vmstats.v_active_count == active + 1
    vm.check()
    vm.vm_page_unhold(m)
    assert m.queue == PQ_FREE + m.pc
    vm.check()


# --- queues and vmstats ---------------------------------------------------------------------------


def test_lcnt_off_by_one():
    vm = healthy()
    q = nonempty_queue(vm, PQ_INACTIVE)
    n = q.lcnt
    q.lcnt += 1
    expect_violation(vm, f"queue {q.index}: lcnt={n + 1} but {n} pages are linked")


def test_v_free_count_off_by_one():
    vm = healthy()
    vm.vmstats.v_free_count -= 1
    expect_violation(vm, "vmstats.v_free_count")


def test_v_active_count_must_include_hold_pages():
    vm = small_machine()
    free = pages_on(vm, PQ_FREE)
    m = free[len(free) // 2]
    vm.vm_page_hold(m)
    assert m.queue - m.pc == PQ_HOLD
    vm.check()
    vm.vmstats.v_active_count -= 1         # as if HOLD did not feed v_active_count
    expect_violation(vm, "vmstats.v_active_count")


def test_page_unlinked_but_queue_field_set():
    vm = healthy()
    q = nonempty_queue(vm, PQ_ACTIVE, at_least=3)
    m = q.pl_first.pq_next
    TAILQ_REMOVE(q, m)                     # unlink, keep counts consistent, leave m.queue
    q.lcnt -= 1
    vm.vmstats.v_active_count -= 1
    expect_violation(vm, f"page {m.pfn} says queue {m.queue} but is not linked there")


def test_page_linked_on_two_queues():
    vm = healthy()
    q1 = nonempty_queue(vm, PQ_INACTIVE)
    m = q1.pl_last
    q2 = vm.vm_page_queues[PQ_HOLD + m.pc]
    assert q2.pl_first is None
    q2.pl_first = q2.pl_last = m           # also on HOLD+pc, with counts that agree
    q2.lcnt = 1
    vm.vmstats.v_active_count += 1
    expect_violation(vm, f"page {m.pfn} is linked on queues {q1.index} and {q2.index}")


def test_broken_back_link():
    vm = healthy()
    q = nonempty_queue(vm, PQ_FREE, at_least=3)
    m = q.pl_first.pq_next.pq_next
    m.pq_prev = q.pl_first                 # should be the second page
    expect_violation(vm, f"queue {q.index}: broken back link")


def test_mapped_page_on_cache_queue():
    vm = healthy()
    m = mapped_page(vm)
    vm._vm_page_rem_queue(m)
    vm._vm_page_add_queue(m, PQ_CACHE, False)
    expect_violation(vm, f"page {m.pfn} on CACHE is mapped")


def test_dirty_page_on_free_queue():
    vm = healthy()
    m = pages_on(vm, PQ_FREE)[0]
    m.dirty = VM_PAGE_BITS_ALL
    expect_violation(vm, f"page {m.pfn} on FREE is dirty")


# --- reverse map and pmaps ------------------------------------------------------------------------


def test_pte_missing_from_pv_list():
    vm = healthy()
    m = mapped_page(vm)
    pm, vpn = m.md_pv[0]
    m.md_pv.remove((pm, vpn))              # the PTE stays, its pv entry goes
    if not m.md_pv:
        m.flags &= ~PG_MAPPED
    err = expect_violation(vm, f"vpn {vpn}: PTE maps page {m.pfn} but the page's pv list lacks it")
    assert f"pid {pm.pm_proc.p_pid}" in str(err)


def test_pv_entry_without_pte():
    vm = healthy()
    m = mapped_page(vm)
    pm, vpn = m.md_pv[0]
    pm.pm_pte[vpn] = -1                    # the PTE goes, the pv entry stays
    pm.pm_resident_count -= 1
    expect_violation(vm, f"page {m.pfn}: pv entry (pmap {pm.pm_id}, vpn {vpn}) has no matching PTE")


def test_pmap_resident_count_wrong():
    vm = healthy()
    p = vm.user_procs()[0]
    pm = p.p_vmspace.vm_pmap
    pm.pm_resident_count += 1
    expect_violation(vm, f"pid {p.p_pid}: pmap resident_count={pm.pm_resident_count}")


def test_pg_mapped_on_unmapped_page():
    vm = healthy()
    m = mapped_page(vm)
    assert not vm.vm_page_busy_try(m, True)
    vm.vm_page_protect(m, VM_PROT_NONE)    # unmapped through the pmap, still queued
    vm.vm_page_wakeup(m)
    assert not m.md_pv and m.queue - m.pc in (PQ_ACTIVE, PQ_INACTIVE)
    vm.check()
    m.flags |= PG_MAPPED
    expect_violation(vm, f"page {m.pfn}: PG_MAPPED=True but 0 mappings")


# --- objects ---------------------------------------------------------------------------------------


def test_object_resident_count_wrong():
    vm = healthy()
    obj = next(o for o in vm.vm_objects() if o.rb_memq)
    obj.resident_page_count -= 1
    expect_violation(vm, f"object {obj.id}: resident_page_count={obj.resident_page_count}")


# --- swap ------------------------------------------------------------------------------------------


def test_swap_block_owned_by_two_pages():
    vm = healthy()
    obj = swapped_object(vm)
    pindex, blk = next(iter(obj.swblock.items()))
    other = next(i for i in range(obj.size) if i not in obj.swblock)
    obj.swblock[other] = blk               # a second owner, group counts kept right
    g = other // SWAP_META_PAGES
    obj.swb_groups[g] = obj.swb_groups.get(g, 0) + 1
    expect_violation(vm, f"swap block {blk} belongs to object/index")


def test_vm_swap_size_off_by_one():
    vm = healthy()
    vm.vm_swap_size += 1
    expect_violation(vm, f"vm_swap_size={vm.vm_swap_size} but {vm.vm_swap_size - 1} swap blocks are free")


def test_swap_block_of_object_marked_free():
    vm = healthy()
    obj = swapped_object(vm)
    pindex, blk = next(iter(obj.swblock.items()))
    vm._swap_free[blk] = True              # free map, stripe count and size all agree on "free"
    vm._stripe_free[blk // 64] += 1
    vm.vm_swap_size += 1
    expect_violation(vm, f"swap block {blk} of object {obj.id} index {pindex} is marked free")


def test_pg_swapped_without_swap_block():
    vm = healthy()
    m = next(m for m in resident_pages(vm) if m.pindex not in m.object.swblock)
    m.flags |= PG_SWAPPED
    expect_violation(vm, f"page {m.pfn} has PG_SWAPPED but its object has no swap block")


# --- busy and counters -----------------------------------------------------------------------------


def test_sbusy_without_busy_count():
    vm = healthy()
    m = next(m for m in resident_pages(vm) if not m.busy and not m.flags & PG_SBUSY)
    m.flags |= PG_SBUSY
    expect_violation(vm, f"page {m.pfn}: PG_SBUSY does not match busy=0")


def test_act_count_256():
    vm = healthy()
    m = resident_pages(vm)[0]
    m.act_count = 256
    expect_violation(vm, f"page {m.pfn}: act_count 256 does not fit a u_char")


def test_markers_are_not_counted():
    """facts §1: a marker on a queue changes neither lcnt nor vmstats, and check() accepts it."""
    from vmkit.vm_page import TAILQ_INSERT_AFTER, vm_page_marker

    vm = healthy()
    q = nonempty_queue(vm, PQ_INACTIVE)
    marker = vm_page_marker(q.index, q.index - PQ_INACTIVE)
    TAILQ_INSERT_AFTER(q, q.pl_first, marker)
    assert marker.flags & PG_MARKER
    vm.check()
    q.lcnt += 1                            # counting the marker is wrong
    expect_violation(vm, f"queue {q.index}: lcnt=")
