"""The page daemon's scans against the seed, one test per decision branch.

Each test is named ``test_<seed function>_<first line>_<last line>_<what>``
after the lines of ``vm_pageout.c`` (DragonFly 5.0) whose decision it
exercises, and its docstring says what the seed does there.  The scans are
called directly, as kernel threads (:func:`run_as`), on small machines whose
pages, mappings and thresholds are set up by hand to reach each branch.
"""

from __future__ import annotations

import pytest
from helpers import small_machine

from vmkit import Anon, Machine, MapFile, Script
from vmkit.cli import main as vmkit_main
from vmkit.constants import (
    ACT_MAX,
    OBJT_DEFAULT,
    OBJT_SWAP,
    P_LOWMEMKILL,
    PG_A,
    PG_BUSY,
    PG_FICTITIOUS,
    PG_M,
    PG_MAPPED,
    PG_MARKER,
    PG_NEED_COMMIT,
    PG_REFERENCED,
    PG_UNMANAGED,
    PG_WINATCFLS,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_FREE,
    PQ_INACTIVE,
    PQ_NONE,
    PQ_PRIME2,
    PRIO_MIN,
    SACTIVE,
    SCORE,
    SIDL,
    SSTOP,
    SZOMB,
    VM_ALLOC_NORMAL,
    VM_MAX_USER_ADDRESS,
    VM_PAGE_BITS_ALL,
    VM_PAGER_ALLOW_ACTIVE,
    VM_PAGER_PUT_SYNC,
    VM_PAGER_TRY_TO_CACHE,
    VM_SWAP_IDLE,
    VM_SWAP_NORMAL,
)
from vmkit.kern import V_FREE_COUNT
from vmkit.pmap import pmap_pgscan_info
from vmkit.vm_page import TAILQ_INSERT_HEAD, TAILQ_REMOVE, vm_page_marker
from vmkit.vm_pageout import Ref, vm_pageout_scan_info

# -- helpers ----------------------------------------------------------------------------------------


def machine(**kw) -> Machine:
    """A small machine (256 pages, no daemon threads) with the thresholds the daemon computes at start-up."""
    vm = small_machine(**kw)
    vm.vm_pageout_thread_setup()
    return vm


def run_as(vm: Machine, genfunc, *args, role: str | None = None, name: str | None = None):
    """Run generator function ``genfunc(*args)`` as a kernel thread; return its result.

    ``role="emergpager"`` makes the thread the machine's emergency pager
    (``curthread == emergpager`` in the seed), ``role="pagethread"`` its
    primary page daemon.
    """
    box: dict = {}
    name = name or role or "test-thread"

    def body():
        box["result"] = yield from genfunc(*args)
        box["done"] = True

    td = vm.kthread_create(body, name)
    if role is not None:
        setattr(vm, role, td)
    start = vm.ticks
    while "done" not in box:
        assert vm.ticks - start < 5000, f"{name} did not finish"
        vm.run(until=vm.ticks + 1)
    return box["result"]


def base(m) -> int:
    return m.queue - m.pc if m.queue else PQ_NONE


def strided(vm: Machine, n: int, *, write: bool = False, file: str | None = None, linger: bool = True,
            name: str = "p"):
    """A process that touches ``n`` pages ``PQ_L2_SIZE`` apart, so that all land on one page colour.

    Returns ``(proc, object, pages, colour)``; the pages are ACTIVE in this
    order, with act_count ACT_INIT and the PTE A bit set (and M for writes).
    With ``file``, the pages belong to that file's vnode object.  Without
    ``linger`` the process exits afterwards (its pages stay resident).
    """
    L2 = vm.PQ_L2_SIZE
    if file is not None:
        vm.vfs_create_file(file, L2 * n)
        regions = [MapFile(file)]
    else:
        regions = [Anon(L2 * n)]
    p = vm.spawn(name, Script([[(L2 * i, write) for i in range(n)]], linger=linger), regions=regions)
    obj = p.p_vmspace.vm_map.entries[0].object
    for _ in range(10 * n + 10):
        vm.run(until=vm.ticks + 1)
        td = p.p_thread
        if (linger and td.td_wmesg == "nanslp") or (not linger and p.p_pid not in vm.allproc):
            break
    pages = [obj.rb_memq[L2 * i] for i in range(n)]
    q = pages[0].pc
    assert all(m.pc == q for m in pages)
    assert vm.queue_pages(PQ_ACTIVE, q) == pages
    return p, obj, pages, q


def unreference(vm: Machine, pages, act_count: int | None = None) -> None:
    """Clear the A bits and PG_REFERENCED of ``pages`` (and set their act_count)."""
    for m in pages:
        vm.pmap_clear_reference(m)
        m.flags &= ~PG_REFERENCED
        if act_count is not None:
            m.act_count = act_count


def a_bit(vm: Machine, p, vpn: int) -> bool:
    return bool(vm.pte_bits(p.p_vmspace.vm_pmap, vpn) & PG_A)


def scan_active(vm: Machine, pass_: int, q: int, avail: int, inactive: int, role: str | None = None):
    recycle = Ref(0)
    delta = run_as(vm, vm.vm_pageout_scan_active, pass_, q, avail, inactive, recycle, role=role)
    return delta, recycle.v


def rows(vm: Machine, function: str, start: int = 0) -> list[tuple]:
    """The event log of ``function`` from row ``start``: (page, queue before, queue after, action, act_count)."""
    ev = vm.events().iloc[start:]
    ev = ev[ev.function == function]
    return [(int(r.page), r.queue_before, r.queue_after, r.action, int(r.act_count)) for r in ev.itertuples()]


# =====================================================================================================
# vm_pageout_scan_active (vm_pageout.c:1232-1467)
# =====================================================================================================

def test_vm_pageout_scan_active_1283_1285_no_shortage_scans_nothing():
    """The loop runs only while avail_shortage - delta > 0 or inactive_shortage > 0: with neither, no page is seen."""
    vm = machine()
    p, obj, pages, q = strided(vm, 4)
    unreference(vm, pages, act_count=0)
    pd0 = vm.cnt.v_pdpages
    ev0 = vm.event_count()
    assert scan_active(vm, 0, q, 0, 0) == (0, 0)
    assert vm.cnt.v_pdpages == pd0
    assert vm.event_count() == ev0
    assert vm.queue_pages(PQ_ACTIVE, q) == pages
    assert all(base(m) == PQ_ACTIVE for m in pages)


def test_vm_pageout_scan_active_1283_1285_inactive_shortage_bounds_deactivations():
    """Each deactivation decrements inactive_shortage; with no avail shortage the loop stops when it reaches 0."""
    vm = machine()
    p, obj, pages, q = strided(vm, 5)
    unreference(vm, pages, act_count=0)
    delta, recycle = scan_active(vm, 0, q, 0, 2)
    assert (delta, recycle) == (2, 0)
    assert [base(m) for m in pages] == [PQ_INACTIVE, PQ_INACTIVE, PQ_ACTIVE, PQ_ACTIVE, PQ_ACTIVE]
    assert vm.queue_pages(PQ_ACTIVE, q) == pages[2:]
    assert [r[3] for r in rows(vm, "vm_pageout_scan_active")] == ["deactivate", "deactivate"]
    vm.check()


def test_vm_pageout_scan_active_1283_1285_avail_shortage_minus_delta_bounds_caching():
    """With inactive_shortage <= 0 the loop runs while avail_shortage - delta > 0: avail 3 caches exactly 3 pages."""
    vm = machine()
    p, obj, pages, q = strided(vm, 5)
    unreference(vm, pages, act_count=0)
    delta, recycle = scan_active(vm, 0, q, 3, 0)
    assert (delta, recycle) == (3, 3)
    assert [base(m) for m in pages] == [PQ_CACHE, PQ_CACHE, PQ_CACHE, PQ_ACTIVE, PQ_ACTIVE]
    vm.check()


def test_vm_pageout_scan_active_1283_1285_maxscan_visits_each_page_once():
    """maxscan is the queue length at the start: pages requeued behind the marker are not visited again."""
    vm = machine()
    p, obj, pages, q = strided(vm, 4)
    pd0 = vm.cnt.v_pdpages
    delta, _ = scan_active(vm, 0, q, 100, 100)
    assert delta == 0
    # Each page was referenced once (A bit): 5 + ACT_ADVANCE + 1, exactly once.
    assert [m.act_count for m in pages] == [9, 9, 9, 9]
    assert vm.cnt.v_pdpages == pd0 + 4
    assert vm.queue_pages(PQ_ACTIVE, q) == pages
    assert not any(m.flags & PG_MARKER for m in vm.vm_page_queues[PQ_ACTIVE + q])     # its marker is gone


def test_vm_pageout_scan_active_1297_1298_foreign_marker_skipped_but_counted():
    """Another scan's marker is skipped without being touched, but it uses up one of the maxscan iterations."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    other = vm_page_marker(PQ_ACTIVE + q, q)
    pq = vm.vm_page_queues[PQ_ACTIVE + q]
    TAILQ_INSERT_HEAD(pq, other)             # markers do not count in lcnt (facts §1)
    assert pq.lcnt == 3
    pd0 = vm.cnt.v_pdpages
    delta, _ = scan_active(vm, 0, q, 100, 100)
    assert delta == 0
    # maxscan = 3: the marker, then pages 0 and 1; page 2 is not reached.
    assert [m.act_count for m in pages] == [9, 9, 5]
    assert a_bit(vm, p, 32)
    assert vm.cnt.v_pdpages == pd0 + 2
    assert other.flags == PG_BUSY | PG_FICTITIOUS | PG_MARKER and other.wire_count == 1
    TAILQ_REMOVE(pq, other)
    vm.check()


def test_vm_pageout_scan_active_1304_1305_busy_page_left_in_place():
    """A page that cannot be busied (hard- or soft-busy) is skipped: not moved, not aged, not counted."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    unreference(vm, pages, act_count=0)
    hard, soft = pages[0], pages[1]
    assert vm.vm_page_busy_try(hard, False) is False
    assert vm.vm_page_busy_try(soft, False) is False
    vm.vm_page_io_start(soft)
    vm.vm_page_wakeup(soft)                   # soft-busy only: busy_try(m, TRUE) still fails
    pd0 = vm.cnt.v_pdpages
    delta, _ = scan_active(vm, 0, q, 0, 100)
    assert delta == 1
    assert vm.queue_pages(PQ_ACTIVE, q) == [hard, soft]
    assert base(pages[2]) == PQ_INACTIVE
    assert vm.cnt.v_pdpages == pd0 + 1
    assert hard.flags & PG_BUSY and soft.busy == 1
    assert [r[0] for r in rows(vm, "vm_pageout_scan_active")] == [pages[2].pfn]


def test_vm_pageout_scan_active_1318_1331_held_page_requeued_at_tail():
    """A held page is moved to the tail of its active queue and unbusied, without being aged or counted."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    held = pages[0]
    vm.vm_page_hold(held)
    unreference(vm, pages[1:], act_count=0)
    act = held.act_count
    pd0 = vm.cnt.v_pdpages
    delta, _ = scan_active(vm, 0, q, 0, 100)
    assert delta == 2
    assert vm.queue_pages(PQ_ACTIVE, q) == [held]
    assert held.act_count == act and a_bit(vm, p, 0)          # pmap_ts_referenced not called
    assert not held.flags & PG_BUSY
    assert vm.cnt.v_pdpages == pd0 + 2
    assert rows(vm, "vm_pageout_scan_active")[0] == (held.pfn, "ACTIVE", "ACTIVE", "requeue", act)
    # The requeue is to the tail: with a third page behind it, it goes behind that one.
    vm2 = machine()
    p2, _, pg2, q2 = strided(vm2, 2)
    vm2.vm_page_hold(pg2[0])
    vm2.vm_page_busy_try(pg2[1], False)
    scan_active(vm2, 0, q2, 0, 100)
    assert vm2.queue_pages(PQ_ACTIVE, q2) == [pg2[1], pg2[0]]


def test_vm_pageout_scan_active_1337_1350_emergency_pager_requeues_vnode_pages():
    """The emergency pager moves vnode-backed pages to the tail untouched; the primary would age them."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3, file="data")
    unreference(vm, pages, act_count=0)
    pd0 = vm.cnt.v_pdpages
    delta, recycle = scan_active(vm, 0, q, 10, 10, role="emergpager")
    assert (delta, recycle) == (0, 0)
    assert vm.queue_pages(PQ_ACTIVE, q) == pages
    assert vm.cnt.v_pdpages == pd0
    assert all(m.flags & PG_MAPPED and not m.flags & PG_BUSY for m in pages)
    ev = vm.events()
    assert list(ev.thread) == ["emergpager"] * 3
    assert list(ev.action) == ["requeue"] * 3 and list(ev.object) == ["VNODE"] * 3
    # The same pages scanned by another thread are handled (and counted).
    delta, _ = scan_active(vm, 0, q, 0, 10)
    assert delta == 3 and vm.cnt.v_pdpages == pd0 + 3


def test_vm_pageout_scan_active_1337_1350_emergency_pager_handles_anonymous_pages():
    """Only OBJT_VNODE pages are skipped by the emergency pager: anonymous pages are aged and deactivated."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    unreference(vm, pages, act_count=0)
    pd0 = vm.cnt.v_pdpages
    delta, _ = scan_active(vm, 0, q, 0, 10, role="emergpager")
    assert delta == 3
    assert all(base(m) == PQ_INACTIVE for m in pages)
    assert vm.cnt.v_pdpages == pd0 + 3


def test_vm_pageout_scan_active_1356_1356_v_pdpages_counts_eligible_pages_only():
    """v_pdpages is counted after the marker, busy and held checks: only pages actually examined count."""
    vm = machine()
    p, obj, pages, q = strided(vm, 5)
    vm.vm_page_busy_try(pages[1], False)
    vm.vm_page_hold(pages[3])
    pd0 = vm.cnt.v_pdpages
    scan_active(vm, 0, q, 0, 100)
    assert vm.cnt.v_pdpages == pd0 + 3


def test_vm_pageout_scan_active_1363_1374_actcount_from_pg_referenced_and_a_bits():
    """With a referenced object, actcount = PG_REFERENCED + pmap_ts_referenced; act_count += ACT_ADVANCE + actcount."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    pages[0].flags |= PG_REFERENCED                  # + A bit: actcount 2
    vm.pmap_clear_reference(pages[1])
    pages[1].flags |= PG_REFERENCED                  # actcount 1
    # pages[2]: A bit only, actcount 1
    scan_active(vm, 0, q, 0, 100)
    assert [m.act_count for m in pages] == [5 + 3 + 2, 5 + 3 + 1, 5 + 3 + 1]
    assert not any(m.flags & PG_REFERENCED for m in pages)
    assert not any(a_bit(vm, p, v) for v in (0, 16, 32))


def test_vm_pageout_scan_active_1363_1374_no_reference_check_when_object_unreferenced():
    """With object ref_count 0 actcount stays 0: A bits are not read (nor cleared), PG_REFERENCED is just cleared."""
    vm = machine()
    p, obj, pages, q = strided(vm, 2)
    pages[0].flags |= PG_REFERENCED
    obj.ref_count = 0                                # set by hand: nobody references the object
    delta, recycle = scan_active(vm, 5, q, 0, 100)
    assert (delta, recycle) == (2, 0)
    # Not aged up; declined by vm.anonmem_decline (1) and deactivated because ref_count == 0.
    assert [m.act_count for m in pages] == [4, 4]
    assert all(base(m) == PQ_INACTIVE for m in pages)
    # The A bits were still set when vm_page_protect(NONE) removed the mappings: they became PG_REFERENCED.
    assert all(m.flags & PG_REFERENCED for m in pages)
    assert not any(m.flags & PG_MAPPED for m in pages)


def test_vm_pageout_scan_active_1368_1372_act_count_clamped_to_act_max():
    """act_count += ACT_ADVANCE + actcount is clamped to ACT_MAX (64)."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    pages[0].act_count = 59          # 59 + 3 + 1 = 63
    pages[1].act_count = 60          # 64
    pages[2].act_count = 62          # 66 -> 64
    scan_active(vm, 0, q, 0, 100)
    assert [m.act_count for m in pages] == [63, ACT_MAX, ACT_MAX]


def test_vm_pageout_scan_active_1380_1391_referenced_page_requeued_not_counted():
    """A referenced page goes to the tail of the active queue and does not count towards delta, even with a shortage."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    unreference(vm, pages[1:], act_count=10)
    delta, recycle = scan_active(vm, 0, q, 0, 1)
    # pages[0] referenced -> tail; pages[1], [2] decline to 9 and are requeued too (9 >= pass + 1).
    assert (delta, recycle) == (0, 0)
    assert vm.queue_pages(PQ_ACTIVE, q) == pages
    assert rows(vm, "vm_pageout_scan_active") == [
        (pages[0].pfn, "ACTIVE", "ACTIVE", "requeue", 9),
        (pages[1].pfn, "ACTIVE", "ACTIVE", "decline", 9),
        (pages[2].pfn, "ACTIVE", "ACTIVE", "decline", 9),
    ]
    # At the tail: with the middle page busy (left in place), page 0 goes behind it, then page 2 behind page 0.
    vm.vm_page_busy_try(pages[1], False)
    pages[0].flags |= PG_REFERENCED
    scan_active(vm, 0, q, 0, 1)
    assert vm.queue_pages(PQ_ACTIVE, q) == [pages[1], pages[0], pages[2]]
    assert pages[0].act_count == 9 + 3 + 1


@pytest.mark.parametrize("objtype, decline_sysctl, value, expected", [
    ("default", None, None, 9),                       # anonmem_decline 1
    ("swap", None, None, 9),                          # OBJT_SWAP is anonymous too
    ("vnode", None, None, 8),                         # filemem_decline 2
    ("default", "vm.anonmem_decline", 4, 6),
    ("vnode", "vm.filemem_decline", 5, 5),
    ("default", "vm.filemem_decline", 5, 9),          # the other sysctl does not apply
    ("vnode", "vm.anonmem_decline", 4, 8),
])
def test_vm_pageout_scan_active_1393_1403_decline_by_object_type(objtype, decline_sysctl, value, expected):
    """Unreferenced: act_count -= min(act_count, decline): anonmem_decline for DEFAULT/SWAP, else filemem_decline."""
    vm = machine()
    p, obj, pages, q = strided(vm, 1, file="f" if objtype == "vnode" else None)
    if objtype == "swap":
        obj.type = OBJT_SWAP
    if decline_sysctl:
        vm.sysctl(decline_sysctl, value)
    unreference(vm, pages, act_count=10)
    scan_active(vm, 0, q, 0, 100)
    assert pages[0].act_count == expected
    assert base(pages[0]) == PQ_ACTIVE


def test_vm_pageout_scan_active_1393_1403_decline_never_goes_below_zero():
    """The decline is min(act_count, decline): act_count 1 with filemem_decline 2 becomes 0, not negative."""
    vm = machine()
    p, obj, pages, q = strided(vm, 1, file="f")
    unreference(vm, pages, act_count=1)
    scan_active(vm, 0, q, 0, 100)
    assert pages[0].act_count == 0


def test_vm_pageout_scan_active_1396_1401_decline_sysctl_read_for_each_page():
    """The seed reads vm_anonmem_decline for each page: a change while a scan is under way applies to the next page."""
    vm = machine(kthread_yields_per_tick=1)       # one page per tick: the scan spans ticks
    p, obj, pages, q = strided(vm, 3)
    unreference(vm, pages, act_count=10)
    box: dict = {}

    def body():
        box["delta"] = yield from vm.vm_pageout_scan_active(0, q, 0, 100, Ref(0))

    vm.kthread_create(body, "scanner")
    vm.run(until=vm.ticks + 1)
    assert [m.act_count for m in pages] == [9, 10, 10]
    vm.sysctl("vm.anonmem_decline", 4)
    vm.run(until=vm.ticks + 3)
    assert box == {"delta": 0}
    assert [m.act_count for m in pages] == [9, 6, 6]


@pytest.mark.parametrize("act, pass_, deactivated", [
    (5, 3, False),   # 5 - 1 = 4, not < 4
    (4, 3, True),    # 3 < 4
    (1, 0, True),    # 0 < 1
    (2, 0, False),   # 1, not < 1
])
def test_vm_pageout_scan_active_1404_1408_deactivate_when_act_count_below_pass_plus_one(act, pass_, deactivated):
    """After the decline, a page is deactivated when act_count < pass + 1; otherwise it is requeued."""
    vm = machine()
    p, obj, pages, q = strided(vm, 1)
    unreference(vm, pages, act_count=act)
    delta, _ = scan_active(vm, pass_, q, 0, 100)
    assert delta == int(deactivated)
    assert base(pages[0]) == (PQ_INACTIVE if deactivated else PQ_ACTIVE)
    assert pages[0].act_count == act - 1


def test_vm_pageout_scan_active_1404_1408_deactivate_unreferenced_object_or_algorithm():
    """An object with ref_count 0, or vm_pageout_algorithm set, deactivates whatever the act_count."""
    vm = machine()
    p, obj, pages, q = strided(vm, 1)
    unreference(vm, pages, act_count=64)
    vm.vm_pageout_algorithm = 1
    assert scan_active(vm, 0, q, 0, 100)[0] == 1
    assert base(pages[0]) == PQ_INACTIVE and pages[0].act_count == 63
    # A file nobody maps any more (vnode object ref_count 0), pages still active with act_count 64.
    vm = machine()
    p, obj, pages, q = strided(vm, 2, file="f", linger=False)
    assert obj.ref_count == 0
    for m in pages:
        m.act_count = 64
    assert scan_active(vm, 0, q, 0, 100)[0] == 2
    assert all(base(m) == PQ_INACTIVE and m.act_count == 62 for m in pages)


def test_vm_pageout_scan_active_1420_1433_shortage_caches_clean_deactivates_dirty():
    """avail_shortage - delta > 0: recycle_count++, unmap; clean -> vm_page_cache, dirty/NEED_COMMIT -> deactivate."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3, write=True)
    clean, dirty, commit = pages
    for m in (clean, commit):
        m.dirty = 0
        vm.pmap_clear_modify(m)
    commit.flags |= PG_NEED_COMMIT
    unreference(vm, pages, act_count=0)
    dirty.dirty = 0                           # dirty only through the PTE M bit: protect(NONE) dirties it
    assert vm.pte_bits(p.p_vmspace.vm_pmap, 16) & PG_M
    cache0, inact0 = vm.vmstats.v_cache_count, vm.vmstats.v_inactive_count
    delta, recycle = scan_active(vm, 0, q, 10, 0)
    assert (delta, recycle) == (3, 3)
    assert [base(m) for m in pages] == [PQ_CACHE, PQ_INACTIVE, PQ_INACTIVE]
    assert dirty.dirty == VM_PAGE_BITS_ALL
    assert not any(m.flags & (PG_MAPPED | PG_BUSY) for m in pages)
    assert p.p_vmspace.vm_pmap.pm_resident_count == 0
    assert (vm.vmstats.v_cache_count, vm.vmstats.v_inactive_count) == (cache0 + 1, inact0 + 2)
    assert [r[3] for r in rows(vm, "vm_pageout_scan_active")] == ["cache", "deactivate", "deactivate"]
    vm.check()


def test_vm_pageout_scan_active_1420_1433_unreferenced_object_unmapped_without_shortage():
    """Without avail shortage, an object with ref_count 0 still has its page unmapped, then deactivated (not cached)."""
    vm = machine()
    p, obj, pages, q = strided(vm, 2)
    unreference(vm, pages, act_count=0)
    obj.ref_count = 0
    delta, recycle = scan_active(vm, 0, q, 0, 100)
    assert (delta, recycle) == (2, 0)
    assert all(base(m) == PQ_INACTIVE for m in pages)
    assert not any(m.flags & PG_MAPPED for m in pages)
    assert p.p_vmspace.vm_pmap.pm_resident_count == 0


def test_vm_pageout_scan_active_1434_1437_no_shortage_deactivates_mapped():
    """Without avail shortage a declining page is only deactivated: it stays mapped and is not counted as recycled."""
    vm = machine()
    p, obj, pages, q = strided(vm, 2)
    unreference(vm, pages, act_count=0)
    delta, recycle = scan_active(vm, 0, q, 0, 100)
    assert (delta, recycle) == (2, 0)
    assert all(base(m) == PQ_INACTIVE for m in pages)
    assert all(m.flags & PG_MAPPED for m in pages)
    assert p.p_vmspace.vm_pmap.pm_resident_count == 2
    assert vm.vmstats.v_cache_count == 0
    vm.check()


def test_vm_pageout_scan_active_1439_1451_keep_requeues_at_tail():
    """A page that declines but stays above pass is requeued at the tail of its active queue."""
    vm = machine()
    p, obj, pages, q = strided(vm, 3)
    unreference(vm, pages, act_count=10)
    vm.vm_page_busy_try(pages[2], False)      # stays where it is
    scan_active(vm, 0, q, 0, 100)
    assert vm.queue_pages(PQ_ACTIVE, q) == [pages[2], pages[0], pages[1]]
    assert [m.act_count for m in pages[:2]] == [9, 9]


def test_vm_pageout_scan_active_1466_1466_returns_delta():
    """The return value is the number of pages deactivated or cached (delta), not the number examined."""
    vm = machine()
    p, obj, pages, q = strided(vm, 6)
    unreference(vm, pages[:4], act_count=0)   # pages 4, 5 stay referenced
    delta, recycle = scan_active(vm, 0, q, 2, 100)
    assert (delta, recycle) == (4, 2)
    assert [base(m) for m in pages] == [PQ_CACHE, PQ_CACHE, PQ_INACTIVE, PQ_INACTIVE, PQ_ACTIVE, PQ_ACTIVE]


# =====================================================================================================
# vm_pageout_scan_cache (vm_pageout.c:1500-1636)
# =====================================================================================================

def cache_pages(vm: Machine, colours) -> list:
    """Clean, valid pages of one anonymous object on the CACHE queue, one per entry of ``colours``."""
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 256)
    L2 = vm.PQ_L2_SIZE
    seen: dict[int, int] = {}
    out = []
    for c in colours:
        k = seen.get(c, 0)
        seen[c] = k + 1
        m = vm.vm_page_alloc(obj, ((c - obj.pg_color) % L2) + k * L2, VM_ALLOC_NORMAL)
        assert m is not None and m.pc == c
        vm.pmap_zero_page(m)
        m.valid = VM_PAGE_BITS_ALL
        vm.vm_page_cache(m)
        assert base(m) == PQ_CACHE
        out.append(m)
    return out


def free_threshold(vm: Machine, extra: int) -> None:
    """Set v_free_target so that (v_free_min + v_free_target) / 2 == v_free_count + extra."""
    vs = vm.vmstats
    vs.v_free_target = 2 * (vs.v_free_count + extra) - vs.v_free_min


def record(vm: Machine, name: str, log: list, generator: bool = False) -> None:
    """Wrap machine method ``name`` so that each call's arguments are appended to ``log``."""
    orig = getattr(vm, name)
    if generator:
        def wrapper(*args):
            log.append(args)
            return (yield from orig(*args))
    else:
        def wrapper(*args):
            log.append(args)
            return orig(*args)
    setattr(vm, name, wrapper)


def scan_cache(vm: Machine, avail: int, pass_: int, vnodes_skipped: int = 0, recycle: int = 0,
               role: str | None = None) -> None:
    run_as(vm, vm.vm_pageout_scan_cache, avail, pass_, vnodes_skipped, recycle, role=role)


def test_vm_pageout_scan_cache_1511_1547_frees_cache_pages_to_half_min_plus_target():
    """Cache pages are freed while v_free_count < (v_free_min + v_free_target) / 2; the rover moves PQ_PRIME2 each."""
    vm = machine()
    pages = cache_pages(vm, range(16))
    F = vm.vmstats.v_free_count
    C = vm.vmstats.v_cache_count
    free_threshold(vm, 6)
    dfree0, tfree0 = vm.cnt.v_dfree, vm.cnt.v_tfree
    scan_cache(vm, 0, 0)
    assert vm.vmstats.v_free_count == F + 6
    assert vm.vmstats.v_cache_count == C - 6
    assert vm.cnt.v_dfree == dfree0 + 6 and vm.cnt.v_tfree == tfree0 + 6
    assert vm.vm_pageout_scan_cache_cache_rover == 6 * PQ_PRIME2
    # The rover visits colours 0, 23, 46, ... (mod 16): 0, 7, 14, 5, 12, 3.
    order = [(i * PQ_PRIME2) % 16 for i in range(6)]
    assert order == [0, 7, 14, 5, 12, 3]
    assert [r[0] for r in rows(vm, "vm_pageout_scan_cache")] == [pages[c].pfn for c in order]
    assert {(r[1], r[3]) for r in rows(vm, "vm_pageout_scan_cache")} == {("CACHE", "free")}
    assert all((base(m) == PQ_FREE) == (m.pc in order) for m in pages)
    assert all(m.object is None for m in pages if base(m) == PQ_FREE)
    vm.check()


def test_vm_pageout_scan_cache_1518_1520_stops_when_cache_queue_empty():
    """vm_page_list_find returning NULL (no cache page in any colour) ends the loop, whatever the free count."""
    vm = machine()
    F = vm.vmstats.v_free_count
    free_threshold(vm, 50)
    scan_cache(vm, 0, 0)
    assert vm.vmstats.v_free_count == F
    assert vm.vm_pageout_scan_cache_cache_rover == 0
    assert rows(vm, "vm_pageout_scan_cache") == []


def test_vm_pageout_scan_cache_1522_1526_busy_cache_page_deactivated():
    """A cache page that cannot be busied is put on the inactive queue (still busy); the rover does not move."""
    vm = machine()
    busy, other = cache_pages(vm, [0, 1])
    assert vm.vm_page_busy_try(busy, False) is False
    F = vm.vmstats.v_free_count
    free_threshold(vm, 1)
    scan_cache(vm, 0, 0)
    assert base(busy) == PQ_INACTIVE and busy.flags & PG_BUSY
    assert vm.queue_pages(PQ_INACTIVE, busy.pc)[-1] is busy
    assert base(other) == PQ_FREE and vm.vmstats.v_free_count == F + 1
    assert vm.vm_pageout_scan_cache_cache_rover == PQ_PRIME2
    assert [r[3] for r in rows(vm, "vm_pageout_scan_cache")] == ["deactivate", "free"]


def test_vm_pageout_scan_cache_1535_1541_held_wired_unmanaged_need_commit_deactivated():
    """Held, wired, unmanaged or NEED_COMMIT cache pages are deactivated and unbusied instead of freed."""
    vm = machine()
    held, wired, unmanaged, commit, normal = cache_pages(vm, [0, 1, 2, 3, 4])
    vm.vm_page_hold(held)
    wired.wire_count = 1
    unmanaged.flags |= PG_UNMANAGED
    commit.flags |= PG_NEED_COMMIT
    F = vm.vmstats.v_free_count
    free_threshold(vm, 1)
    scan_cache(vm, 0, 0)
    assert base(held) == PQ_INACTIVE and base(commit) == PQ_INACTIVE
    assert wired.queue == PQ_NONE and unmanaged.queue == PQ_NONE     # deactivate leaves them off the queues
    assert base(normal) == PQ_FREE and vm.vmstats.v_free_count == F + 1
    assert not any(m.flags & PG_BUSY for m in (held, wired, unmanaged, commit, normal))
    assert vm.vm_pageout_scan_cache_cache_rover == PQ_PRIME2
    assert [r[3] for r in rows(vm, "vm_pageout_scan_cache")] == ["deactivate"] * 4 + ["free"]


def test_vm_pageout_scan_cache_1553_1560_idle_swapout_requested_once_per_second():
    """With vm.swap_idle_enabled, VM_SWAP_IDLE is requested (and vm_daemon asked) once per second of uptime."""
    vm = machine()
    calls: list = []
    record(vm, "vm_req_vmdaemon", calls)
    vm.run(until=149)
    scan_cache(vm, 0, 0)                                  # tick 150, time_uptime 1: disabled
    assert (vm.vm_pageout_req_swapout, calls) == (0, [])
    vm.sysctl("vm.swap_idle_enabled", 1)
    vm.run(until=159)
    scan_cache(vm, 0, 0)                                  # tick 160, uptime 1 != lsec 0
    assert vm.vm_pageout_req_swapout == VM_SWAP_IDLE and len(calls) == 1
    assert vm.vm_pageout_scan_cache_lsec == 1
    vm.vm_pageout_req_swapout = 0
    scan_cache(vm, 0, 0)                                  # tick 161: same second
    assert (vm.vm_pageout_req_swapout, len(calls)) == (0, 1)
    vm.run(until=199)
    scan_cache(vm, 0, 0)                                  # tick 200, uptime 2
    assert vm.vm_pageout_req_swapout == VM_SWAP_IDLE and len(calls) == 2


@pytest.mark.parametrize("skipped, count_min, target_positive, expected", [
    (1, True, True, [(None,)]),
    (0, True, True, []),
    (1, False, True, []),
    (1, True, False, []),
])
def test_vm_pageout_scan_cache_1568_1570_speedup_syncer_when_vnodes_skipped(skipped, count_min, target_positive,
                                                                           expected):
    """speedup_syncer(NULL) runs only if vm_paging_target() > 0, vnodes were skipped and vm_page_count_min(0)."""
    vm = machine()
    vs = vm.vmstats
    F = vs.v_free_count
    if count_min:
        vs.v_free_min = F + 1
    vs.v_free_target = F + 1 if target_positive else 0
    calls: list = []
    record(vm, "speedup_syncer", calls)
    scan_cache(vm, 0, 0, vnodes_skipped=skipped)
    assert (vm.vm_paging_target() > 0) == target_positive and vm.vm_page_count_min(0) == count_min
    assert calls == expected


@pytest.mark.parametrize("case, expected", [
    ("target", VM_SWAP_NORMAL),
    ("swap disabled", 0),
    ("count_target false", 0),
    ("no paging target", 0),
])
def test_vm_pageout_scan_cache_1572_1575_swapout_request(case, expected):
    """VM_SWAP_NORMAL is requested from vm_daemon if vm_paging_target() > 0, vm.swap_enabled and count_target()."""
    vm = machine()
    vs = vm.vmstats
    F = vs.v_free_count
    if case in ("target", "swap disabled"):
        vs.v_free_target = F + 1
    elif case == "count_target false":
        vs.v_free_target = F                  # free_target > F+C is false, reserved <= F
        vs.v_cache_min = 5                    # but free_target + cache_min - (F+C) = 5 > 0
    if case == "swap disabled":
        vm.sysctl("vm.swap_enabled", 0)
    calls: list = []
    record(vm, "vm_req_vmdaemon", calls)
    scan_cache(vm, 0, 0)
    assert vm.vm_pageout_req_swapout == expected
    assert len(calls) == (1 if expected else 0)


WARNING = "Warning: system low on memory+swap shortage {} for {} ticks!"


@pytest.mark.parametrize("almost_full, pass_, role, recycle, avail, warned", [
    (1, 1, None, 0, 5, True),
    (1, 1, None, 300, -3, True),              # count_min(recycle_count) alone is enough
    (1, 1, None, 0, 0, False),                # neither count_min(0) nor a shortage
    (0, 1, None, 0, 5, False),
    (1, 0, None, 0, 5, False),
    (1, 1, "emergpager", 0, 5, False),
])
def test_vm_pageout_scan_cache_1594_1609_low_memory_swap_warning(almost_full, pass_, role, recycle, avail, warned):
    """The warning is printed when swap_pager_almost_full && pass > 0 && !isep && (count_min(recycle) || shortage)."""
    vm = machine()
    vm.run(until=50)
    vm.swap_fail_ticks = 10
    vm.swap_pager_almost_full = almost_full
    before = len(vm.dmesg_lines)
    scan_cache(vm, avail, pass_, recycle=recycle, role=role)
    assert vm.ticks == 51
    expected = [WARNING.format(avail, 41)] if warned else []
    assert vm.dmesg_lines[before:] == expected


def test_vm_pageout_scan_cache_1597_1597_recycle_count_threshold():
    """The warning's count_min(recycle_count) is free_min + recycle_count > free + cache, exactly."""
    vm = machine()
    vs = vm.vmstats
    vm.swap_pager_almost_full = 1
    edge = vs.v_free_count + vs.v_cache_count - vs.v_free_min
    scan_cache(vm, 0, 1, recycle=edge)
    assert not any(line.startswith("Warning") for line in vm.dmesg())
    scan_cache(vm, 0, 1, recycle=edge + 1)
    assert sum(line.startswith("Warning: system low on memory+swap shortage 0 for") for line in vm.dmesg()) == 1


def test_vm_pageout_scan_cache_1601_1608_bootverbose_metrics_line():
    """With bootverbose the warning is followed by the Metrics line."""
    vm = machine()
    vm.run(until=150)
    vm.swap_pager_almost_full = 1
    vm.swap_fail_ticks = 140
    vm.vm_pageout_scan_cache_lastkillticks = 100
    vm.bootverbose = 1
    scan_cache(vm, 7, 3)
    assert vm.dmesg()[-2:] == [
        WARNING.format(7, 11),
        f"Metrics: spaf=1 spf=0 pass=3 avail=7 target={vm.vm_paging_target()} last=51",
    ]


def oom_machine():
    """Two lingering processes (6 and 3 dirty anonymous pages), swap full, free+cache short of its target."""
    vm = machine()
    big = vm.spawn("big", Script([[(v, True) for v in range(6)]], linger=True))
    small = vm.spawn("small", Script([[(v, True) for v in range(3)]], linger=True))
    vm.run(until=150)
    assert big.rss_pages == 6 and small.rss_pages == 3
    vm.swap_pager_full = 2
    vs = vm.vmstats
    vs.v_free_target = vs.v_free_count + vs.v_cache_count + 10     # vm_paging_target() == 10
    return vm, big, small


def test_vm_pageout_scan_cache_1610_1635_kills_largest_process():
    """Swap full, pass > 1, a shortage: kill the largest process (message, PRIO_MIN, P_LOWMEMKILL, killproc, wakeup)."""
    vm, big, small = oom_machine()
    woke: list = []

    def waiter():
        yield vm.tsleep(V_FREE_COUNT, 0, "vmwait", 0)
        woke.append(vm.ticks)

    vm.kthread_create(waiter, "waiter")
    vm.run(until=vm.ticks + 1)
    before = len(vm.dmesg_lines)
    scan_cache(vm, 5, 2)
    t = vm.ticks
    assert vm.dmesg_lines[before:] == [
        f"Try to kill process {big.p_pid} big",
        f"pid {big.p_pid} (big), uid 1001, was killed: out of swap space",
    ]
    assert big.p_flags & P_LOWMEMKILL and big.p_nice == PRIO_MIN
    assert not small.p_flags & P_LOWMEMKILL and small.p_nice == 0
    assert vm.vm_pageout_scan_cache_lastkillticks == t
    assert woke == [t]
    assert vm.oom_kills == [{"pid": big.p_pid, "name": "big", "size_pages": 6, "tick": t}]
    assert rows(vm, "vm_pageout_scan_cache")[-1][3] == "kill"
    vm.run(until=t + 2)
    assert big.p_pid not in vm.allproc and small.p_pid in vm.allproc


def test_vm_pageout_scan_cache_1615_1615_kill_at_most_once_per_hz_ticks():
    """(unsigned)(ticks - lastkillticks) >= hz: hz - 1 ticks after a kill nothing happens, hz ticks after it does."""
    vm, big, small = oom_machine()
    vm.vm_pageout_scan_cache_lastkillticks = (vm.ticks + 1) - (vm.hz - 1)
    last = vm.vm_pageout_scan_cache_lastkillticks
    scan_cache(vm, 5, 2)
    assert vm.oom_kills == [] and vm.vm_pageout_scan_cache_lastkillticks == last
    vm.vm_pageout_scan_cache_lastkillticks = (vm.ticks + 1) - vm.hz
    scan_cache(vm, 5, 2)
    assert [k["pid"] for k in vm.oom_kills] == [big.p_pid]


@pytest.mark.parametrize("case", ["swap not full", "pass 1", "emergency pager", "no shortage", "no paging target"])
def test_vm_pageout_scan_cache_1610_1615_no_kill_unless_all_conditions(case):
    """No kill (lastkillticks untouched) unless swap_pager_full, pass > 1, !isep, avail_shortage > 0 and target > 0."""
    vm, big, small = oom_machine()
    avail, pass_, role = 5, 2, None
    if case == "swap not full":
        vm.swap_pager_full = 0
    elif case == "pass 1":
        pass_ = 1
    elif case == "emergency pager":
        role = "emergpager"
    elif case == "no shortage":
        avail = 0
    else:
        vm.vmstats.v_free_target = 0
    scan_cache(vm, avail, pass_, role=role)
    assert vm.oom_kills == []
    assert vm.vm_pageout_scan_cache_lastkillticks == 0
    assert not any("kill" in line for line in vm.dmesg())
    assert not (big.p_flags | small.p_flags) & P_LOWMEMKILL


def test_vm_pageout_scan_cache_1620_1624_no_candidate_still_resets_lastkillticks():
    """lastkillticks is set before the process scan: no candidate, nothing printed, but the rate limit restarts."""
    vm = machine()
    vm.run(until=150)
    vm.swap_pager_full = 2
    vs = vm.vmstats
    vs.v_free_target = vs.v_free_count + 10
    scan_cache(vm, 5, 2)
    assert vm.vm_pageout_scan_cache_lastkillticks == vm.ticks
    assert vm.oom_kills == [] and vm.dmesg() == []


def test_vm_pageout_scan_cache_1615_1615_kill_interval_is_unsigned():
    """(unsigned int)(ticks - lastkillticks) >= hz: a lastkillticks in the future wraps to a huge value: kill."""
    vm, big, small = oom_machine()
    vm.vm_pageout_scan_cache_lastkillticks = vm.ticks + 50
    scan_cache(vm, 5, 2)
    assert [k["pid"] for k in vm.oom_kills] == [big.p_pid]


# =====================================================================================================
# vm_pageout_scan_callback (vm_pageout.c:1638-1688)
# =====================================================================================================

def scan_callback(vm: Machine, *procs) -> vm_pageout_scan_info:
    info = vm_pageout_scan_info()
    for p in procs:
        run_as(vm, vm.vm_pageout_scan_callback, p, info)
    return info


def settled(vm: Machine, ticks: int = 5) -> Machine:
    vm.run(until=vm.ticks + ticks)
    return vm


def test_vm_pageout_scan_callback_1648_1651_never_system_or_init():
    """P_SYSTEM processes and pid 1 are never chosen, even without swap."""
    vm = settled(small_machine(boot_userland=True, swap=0))
    init = vm.allproc[1]
    assert init.p_comm == "init" and vm.vmspace_anonymous_count(init.p_vmspace) == 8
    assert vm.vm_swap_size == 0
    info = scan_callback(vm, vm.allproc[0], init)
    assert (info.bigproc, info.bigsize) == (None, 0)
    # Without swap, another low pid is a candidate.
    info = scan_callback(vm, vm.allproc[2])
    assert info.bigproc is vm.allproc[2] and info.bigsize == 8


def test_vm_pageout_scan_callback_1648_1651_low_pids_spared_while_swap_free():
    """Pids below 48 are skipped while vm_swap_size (free swap) != 0, and considered once it is 0."""
    vm = settled(small_machine(boot_userland=True, swap=1024))
    syslogd = vm.allproc[3]
    assert syslogd.p_comm == "syslogd"
    assert scan_callback(vm, syslogd).bigproc is None
    vm.vm_swap_size = 0                         # swap exhausted
    assert scan_callback(vm, syslogd).bigproc is syslogd
    # The boundary: pid 47 is spared, pid 48 is not.
    vm = small_machine(first_user_pid=47)
    p47 = vm.spawn("p47", Script([[(0, True)]], linger=True))
    p48 = vm.spawn("p48", Script([[(0, True)]], linger=True))
    settled(vm)
    assert (p47.p_pid, p48.p_pid) == (47, 48)
    assert scan_callback(vm, p47).bigproc is None
    assert scan_callback(vm, p48).bigproc is p48


@pytest.mark.parametrize("stat, considered", [(SACTIVE, True), (SSTOP, True), (SCORE, True),
                                               (SIDL, False), (SZOMB, False)])
def test_vm_pageout_scan_callback_1659_1662_only_active_stopped_or_core(stat, considered):
    """Only processes in SACTIVE, SSTOP or SCORE are considered."""
    vm = small_machine()
    p = vm.spawn("p", Script([[(0, True), (1, True)]], linger=True))
    settled(vm)
    p.p_stat = stat
    info = scan_callback(vm, p)
    assert (info.bigproc is p) == considered
    assert info.bigsize == (2 if considered else 0)


def test_vm_pageout_scan_callback_1670_1671_size_is_anonymous_plus_swap_estimate():
    """size = vmspace_anonymous_count + vmspace_swap_count (swblock_count * 32 * entry pages / object size + 1)."""
    vm = small_machine()
    vm.vfs_create_file("lib", 8)
    p = vm.spawn("p", Script([[(v, False) for v in range(10)] + [(40 + v, False) for v in range(8)]], linger=True),
                 regions=[Anon(40), MapFile("lib")])
    for _ in range(40):
        vm.run(until=vm.ticks + 1)
        if p.p_thread.td_wmesg == "nanslp":
            break
    anon = p.p_vmspace.vm_map.entries[0].object
    assert vm.vmspace_anonymous_count(p.p_vmspace) == 10           # the file's 8 pages do not count
    for pindex in range(34):                                       # two swblocks: pindex 0-31 and 32-33
        vm.swp_pager_meta_build(anon, pindex, vm.swp_pager_getswapspace(1))
    assert anon.swblock_count == 2
    assert vm.vmspace_swap_count(p.p_vmspace) == 2 * 32 * 40 // 40 + 1
    info = scan_callback(vm, p)
    assert info.bigproc is p and info.bigsize == 10 + 65


def test_vm_pageout_scan_callback_1677_1683_largest_wins_first_on_ties():
    """A process replaces the candidate only if strictly larger: the largest wins, the first (lowest pid) on ties."""
    vm = small_machine()
    procs = [vm.spawn(f"p{n}", Script([[(v, True) for v in range(n)]], linger=True)) for n in (5, 9, 9, 7)]
    settled(vm)
    info = vm_pageout_scan_info()
    run_as(vm, vm.allproc_scan, vm.vm_pageout_scan_callback, info)
    assert info.bigproc is procs[1] and info.bigsize == 9
    info = scan_callback(vm, procs[0], procs[3], procs[1])
    assert info.bigproc is procs[1] and info.bigsize == 9
    info = scan_callback(vm, procs[2], procs[1])
    assert info.bigproc is procs[2]


# =====================================================================================================
# vm_pageout_page_stats (vm_pageout.c:1696-1849)
# =====================================================================================================

def stats_machine(n: int, **kw):
    """A machine with a page shortage for the stats scan and ``n`` active pages on one colour."""
    vm = machine()
    p, obj, pages, q = strided(vm, n, **kw)
    vm.vmstats.v_inactive_target = 1000
    return vm, p, pages, q


def test_vm_pageout_page_stats_1705_1711_no_shortage_does_nothing():
    """page_shortage = (inactive_target + cache_max + free_min) - (free + inactive + cache) <= 0: return at once."""
    vm, p, pages, q = stats_machine(3)
    vs = vm.vmstats
    vs.v_inactive_target = (vs.v_free_count + vs.v_inactive_count + vs.v_cache_count) - vs.v_cache_max - vs.v_free_min
    vm.vm_pageout_page_stats(q)
    assert [m.act_count for m in pages] == [5, 5, 5]
    assert a_bit(vm, p, 0)
    assert vm.vm_pageout_page_stats_fullintervalcount == 0       # returned before counting
    vs.v_inactive_target += 1                                    # shortage 1: a partial scan of
    vm.vm_pageout_page_stats(q)                                  # 37 * 3 / 256 + 1 = 1 page
    assert [m.act_count for m in pages] == [9, 5, 5]
    assert vm.vm_pageout_page_stats_fullintervalcount == 5


def test_vm_pageout_page_stats_1713_1722_partial_scans_then_full_scan():
    """Until fullintervalcount reaches full_stats_interval only stats_max * lcnt / page_count + 1 pages are scanned."""
    vm, p, pages, q = stats_machine(10)
    unreference(vm, pages, act_count=20)
    assert (vm.vm_pageout_stats_interval, vm.vm_pageout_full_stats_interval) == (5, 20)
    vm.vm_pageout_stats_max = 128                 # 128 * 10 / 256 + 1 = 6 pages
    total = sum(m.act_count for m in pages)
    counts = []
    for _ in range(5):
        vm.vm_pageout_page_stats(q)
        new = sum(m.act_count for m in pages)
        counts.append((total - new, vm.vm_pageout_page_stats_fullintervalcount))
        total = new
    assert counts == [(6, 5), (6, 10), (6, 15), (10, 0), (6, 5)]


def test_vm_pageout_page_stats_1714_1721_interval_counter_shared_by_all_colours():
    """fullintervalcount is one static counter: scans of other colours bring the full scan of this one closer."""
    vm, p, pages, q = stats_machine(10)
    unreference(vm, pages, act_count=20)
    other = (q + 1) % vm.PQ_L2_SIZE
    for _ in range(3):
        vm.vm_pageout_page_stats(other)           # an empty colour: still counts
    assert vm.vm_pageout_page_stats_fullintervalcount == 15
    vm.vm_pageout_page_stats(q)
    assert [m.act_count for m in pages] == [19] * 10     # the whole colour
    assert vm.vm_pageout_page_stats_fullintervalcount == 0


def test_vm_pageout_page_stats_1736_1751_marker_skipped_and_counted():
    """Another scan's marker is skipped but counts against pcount."""
    vm, p, pages, q = stats_machine(3)
    unreference(vm, pages, act_count=20)
    vm.vm_pageout_full_stats_interval = 0         # every call is a full scan: pcount = lcnt = 3
    other = vm_page_marker(PQ_ACTIVE + q, q)
    pq = vm.vm_page_queues[PQ_ACTIVE + q]
    TAILQ_INSERT_HEAD(pq, other)
    vm.vm_pageout_page_stats(q)
    assert [m.act_count for m in pages] == [19, 19, 20]
    TAILQ_REMOVE(pq, other)


def test_vm_pageout_page_stats_1756_1757_busy_page_ignored():
    """A page that cannot be busied is left alone."""
    vm, p, pages, q = stats_machine(3)
    vm.vm_pageout_full_stats_interval = 0
    vm.vm_page_busy_try(pages[0], False)
    vm.vm_pageout_page_stats(q)
    assert pages[0].act_count == 5 and a_bit(vm, p, 0)
    assert vm.queue_pages(PQ_ACTIVE, q) == [pages[0], pages[1], pages[2]]
    assert [m.act_count for m in pages[1:]] == [9, 9]


def test_vm_pageout_page_stats_1772_1775_held_page_ignored():
    """A held page is unbusied and skipped: not aged, not requeued, its reference bits untouched."""
    vm, p, pages, q = stats_machine(2)
    vm.vm_pageout_full_stats_interval = 0
    held = pages[0]
    vm.vm_page_hold(held)
    held.flags |= PG_REFERENCED
    vm.vm_pageout_page_stats(q)
    assert held.act_count == 5 and held.flags & PG_REFERENCED and a_bit(vm, p, 0)
    assert not held.flags & PG_BUSY
    assert vm.queue_pages(PQ_ACTIVE, q) == [held, pages[1]]
    assert pages[1].act_count == 9


def test_vm_pageout_page_stats_1780_1806_referenced_page_advanced_and_requeued():
    """actcount = PG_REFERENCED + pmap_ts_referenced; act_count += ACT_ADVANCE + actcount (max 64); requeued at tail."""
    vm, p, pages, q = stats_machine(3)
    vm.vm_pageout_full_stats_interval = 0
    pages[0].flags |= PG_REFERENCED               # and its A bit: actcount 2
    pages[1].act_count = 62                       # A bit: 62 + 4 -> 64
    vm.vm_page_busy_try(pages[2], False)          # stays put, so the requeues are visible
    vm.vm_pageout_page_stats(q)
    assert [m.act_count for m in pages] == [10, 64, 5]
    assert not pages[0].flags & PG_REFERENCED and not a_bit(vm, p, 0)
    assert vm.queue_pages(PQ_ACTIVE, q) == [pages[2], pages[0], pages[1]]
    assert [r[3] for r in rows(vm, "vm_pageout_page_stats")] == ["requeue", "requeue"]


def test_vm_pageout_page_stats_1808_1823_idle_page_unmapped_and_deactivated():
    """An unreferenced page with act_count 0 loses all its mappings and is deactivated."""
    vm, p, pages, q = stats_machine(2, write=True)
    vm.vm_pageout_full_stats_interval = 0
    unreference(vm, pages, act_count=0)
    pages[0].dirty = 0
    vm.vm_pageout_page_stats(q)
    assert all(base(m) == PQ_INACTIVE and m.act_count == 0 for m in pages)
    assert not any(m.flags & (PG_MAPPED | PG_BUSY) for m in pages)
    assert pages[0].dirty == VM_PAGE_BITS_ALL                 # the PTE M bit went into m->dirty
    assert p.p_vmspace.vm_pmap.pm_resident_count == 0
    assert [r[1:4] for r in rows(vm, "vm_pageout_page_stats")] == [("ACTIVE", "INACTIVE", "deactivate")] * 2
    vm.check()


def test_vm_pageout_page_stats_1824_1836_decline_by_act_decline_and_requeue():
    """Otherwise act_count declines by ACT_DECLINE (1, not vm.anonmem_decline) and the page goes to the tail."""
    vm, p, pages, q = stats_machine(3)
    vm.vm_pageout_full_stats_interval = 0
    vm.sysctl("vm.anonmem_decline", 5)
    unreference(vm, pages, act_count=10)
    vm.vm_page_busy_try(pages[1], False)
    vm.vm_pageout_page_stats(q)
    assert [m.act_count for m in pages] == [9, 10, 9]
    assert vm.queue_pages(PQ_ACTIVE, q) == [pages[1], pages[0], pages[2]]
    assert all(m.flags & PG_MAPPED for m in pages)


# =====================================================================================================
# vm_pageout_free_page_calc (vm_pageout.c:1851-1889)
# =====================================================================================================

def free_min_for(page_count: int, ncpus: int) -> int:
    vm = small_machine(ncpus=ncpus)
    vm.vmstats.v_page_count = page_count         # the formula only reads v_page_count and ncpus
    assert vm.vm_pageout_free_page_calc(page_count) == 1
    return vm.vmstats.v_free_min


def test_vm_pageout_free_page_calc_1854_1855_returns_0_below_page_count():
    """If count < v_page_count nothing is computed and 0 is returned."""
    vm = small_machine()
    vs = vm.vmstats
    assert vm.vm_pageout_free_page_calc(vs.v_page_count - 1) == 0
    assert (vs.v_free_min, vs.v_free_reserved, vs.v_free_severe) == (0, 0, 0)
    assert vm.vm_pageout_free_page_calc(vs.v_page_count) == 1
    assert vs.v_free_min == 12


@pytest.mark.parametrize("pages, expected", [(300000, 1558), (1000000, 5058), (500000, 2558)])
def test_vm_pageout_free_page_calc_1865_1868_free_min_formula(pages, expected):
    """v_free_min = 64 + (v_page_count - 1024) / 200 above 1024 pages (when neither the floor nor the cap applies)."""
    assert free_min_for(pages, 1) == expected == 64 + (pages - 1024) // 200


@pytest.mark.parametrize("pages, ncpus, expected", [(40000, 1, 1280), (100000, 2, 2560), (1000000, 4, 5120)])
def test_vm_pageout_free_page_calc_1878_1879_ncpus_floor(pages, ncpus, expected):
    """v_free_min is at least VMMETER_SLOP_COUNT * ncpus * 10."""
    assert free_min_for(pages, ncpus) == expected == 128 * ncpus * 10


@pytest.mark.parametrize("pages, ncpus, expected", [(40000, 2, 2000), (25000, 1, 1250), (256, 1, 12), (1024, 1, 51),
                                                     (1000, 1, 50)])
def test_vm_pageout_free_page_calc_1880_1881_one_twentieth_cap(pages, ncpus, expected):
    """v_free_min is at most v_page_count / 20 (after the floor)."""
    assert free_min_for(pages, ncpus) == expected == pages // 20


@pytest.mark.parametrize("free_min, reserved, severe, pageout, interrupt", [
    (5120, 2567, 2560, 1287, 647), (12, 13, 6, 10, 8), (51, 32, 25, 19, 13)])
def test_vm_pageout_free_page_calc_1883_1886_reserves_from_free_min(free_min, reserved, severe, pageout, interrupt):
    """reserved = min*4/8 + 7, severe = min*4/8, pageout_free_min = min*2/8 + 7, interrupt_free_min = min/8 + 7."""
    pages = {5120: 1000000, 12: 256, 51: 1024}[free_min]
    vm = small_machine(ncpus=4 if free_min == 5120 else 1)
    vm.vmstats.v_page_count = pages
    vm.vm_pageout_free_page_calc(pages)
    vs = vm.vmstats
    assert (vs.v_free_min, vs.v_free_reserved, vs.v_free_severe, vs.v_pageout_free_min,
            vs.v_interrupt_free_min) == (free_min, reserved, severe, pageout, interrupt)


def test_vm_pageout_free_page_calc_1851_1889_worked_example_one_million_pages():
    """Facts §3: 1,000,000 pages and 4 CPUs give 5120/2567/2560/1287/647, free_target 23047, cache_max 46094."""
    vm = Machine(ram=1000000, ncpus=4, swap=0, boot_userland=False)
    vm.run(until=1)
    vs = vm.vmstats
    assert (vs.v_free_min, vs.v_free_reserved, vs.v_free_severe, vs.v_pageout_free_min,
            vs.v_interrupt_free_min) == (5120, 2567, 2560, 1287, 647)
    assert (vs.v_free_target, vs.v_cache_min, vs.v_cache_max) == (23047, 23047, 46094)


def test_vm_pageout_free_page_calc_1880_1881_cli_sysctl_16m(capsys):
    """`vmkit sysctl --memory 16M` (4096 pages, 1 CPU): the floor 1280 is capped to 4096 / 20 = 204."""
    assert vmkit_main(["sysctl", "--memory", "16M"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "vm.v_free_min: 204" in out
    assert "vm.v_free_reserved: 109" in out


# =====================================================================================================
# vm_pageout_mdp_callback (vm_pageout.c:525-653) and vm_pageout_map_deactivate_pages (662-703)
# =====================================================================================================

def resident(vm: Machine, n: int, write: bool = False, name: str = "p", regions=None):
    """A lingering process that has touched pages 0..n-1 (ACTIVE, A bit set)."""
    p = vm.spawn(name, Script([[(v, write) for v in range(n)]], linger=True), regions=regions)
    for _ in range(3 * n + 10):
        vm.run(until=vm.ticks + 1)
        if p.p_thread.td_wmesg == "nanslp":
            break
    assert p.rss_pages == n
    return p


def mdp(vm: Machine, p, vpn: int, limit: int):
    """Call vm_pageout_mdp_callback for page ``vpn`` of ``p`` (busied as pmap_pgscan would)."""
    pm = p.p_vmspace.vm_pmap
    info = pmap_pgscan_info()
    info.pmap = pm
    info.limit = limit
    info.offset = -1
    m = vm.pte_page(pm, vpn)
    assert vm.vm_page_busy_try(m, True) is False
    r = run_as(vm, vm.vm_pageout_mdp_callback, info, vpn << vm.PAGE_SHIFT, m)
    assert not m.flags & PG_BUSY
    return r, info, m


def test_vm_pageout_mdp_callback_538_541_stops_once_rss_at_limit():
    """If resident - wired <= limit the page is unbusied and -1 stops the scan; nothing is counted or changed."""
    vm = machine()
    p = resident(vm, 4)
    pd0 = vm.cnt.v_pdpages
    r, info, m = mdp(vm, p, 0, 4)
    assert r == -1 and info.actioncount == 0 and vm.cnt.v_pdpages == pd0
    assert a_bit(vm, p, 0) and m.act_count == 5
    r, info, m = mdp(vm, p, 0, 3)
    assert r == 0 and vm.cnt.v_pdpages == pd0 + 1


@pytest.mark.parametrize("kind", ["wired", "held", "unmanaged"])
def test_vm_pageout_mdp_callback_543_548_wired_held_unmanaged_skipped(kind):
    """v_pdpages is counted, then a wired, held or unmanaged page is just unbusied (no action counted)."""
    vm = machine()
    p = resident(vm, 2)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    if kind == "wired":
        m.wire_count = 1
    elif kind == "held":
        vm.vm_page_hold(m)
    else:
        m.flags |= PG_UNMANAGED
    pd0 = vm.cnt.v_pdpages
    r, info, m = mdp(vm, p, 0, 0)
    assert r == 0 and info.actioncount == 0 and vm.cnt.v_pdpages == pd0 + 1
    assert a_bit(vm, p, 0) and m.flags & PG_MAPPED and m.act_count == 5 and p.rss_pages == 2


def test_vm_pageout_mdp_callback_556_580_referenced_active_page_bumped():
    """A referenced active page stays: act_count += actcount (clamped to ACT_MAX), PG_REFERENCED cleared."""
    vm = machine()
    p = resident(vm, 3)
    pm = p.p_vmspace.vm_pmap
    vm.pte_page(pm, 1).act_count = 63
    vm.pte_page(pm, 2).act_count = 64
    vm.pmap_clear_reference(vm.pte_page(pm, 2))
    vm.pte_page(pm, 2).flags |= PG_REFERENCED         # PG_REFERENCED alone counts as 1
    results = [mdp(vm, p, v, 0) for v in range(3)]
    assert [r for r, _, _ in results] == [0, 0, 0]
    assert [info.actioncount for _, info, _ in results] == [1, 1, 1]
    assert [m.act_count for _, _, m in results] == [6, 64, 64]
    assert not any(m.flags & PG_REFERENCED for _, _, m in results)
    assert not any(a_bit(vm, p, v) for v in range(3))
    assert p.rss_pages == 3 and all(base(m) == PQ_ACTIVE for _, _, m in results)
    assert [r[3] for r in rows(vm, "vm_pageout_mdp_callback")] == ["activate"] * 3


def test_vm_pageout_mdp_callback_564_571_referenced_inactive_page_activated():
    """A referenced page that is not active is activated (act_count raised to ACT_INIT, not bumped)."""
    vm = machine()
    p = resident(vm, 2)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    vm.vm_page_busy_try(m, False)
    vm.vm_page_deactivate(m)
    vm.vm_page_wakeup(m)
    vm.pmap_clear_reference(m)
    m.flags |= PG_REFERENCED
    m.act_count = 2
    r, info, m = mdp(vm, p, 0, 0)
    assert base(m) == PQ_ACTIVE and m.act_count == 5
    assert not m.flags & PG_REFERENCED and m.flags & PG_MAPPED


def test_vm_pageout_mdp_callback_587_609_unreferenced_page_removed_and_deactivated():
    """An unreferenced page is removed from this pmap; no longer mapped, it is deactivated and (mode 1) counted."""
    vm = machine()
    p = resident(vm, 3, write=True)
    m0 = vm.pte_page(p.p_vmspace.vm_pmap, 1)
    unreference(vm, [m0])
    out0 = vm.cnt.v_swappgsout
    r, info, m = mdp(vm, p, 1, 0)
    assert r == 0 and m is m0
    assert vm.pte_page(p.p_vmspace.vm_pmap, 1) is None and p.rss_pages == 2
    assert not m.flags & PG_MAPPED and base(m) == PQ_INACTIVE
    assert (info.cleancount, info.actioncount, info.offset) == (1, 1, 1 << vm.PAGE_SHIFT)
    assert m.dirty == VM_PAGE_BITS_ALL and vm.cnt.v_swappgsout == out0   # mode 1: not laundered
    assert rows(vm, "vm_pageout_mdp_callback")[-1][1:4] == ("ACTIVE", "INACTIVE", "remove")
    vm.check()


def test_vm_pageout_mdp_callback_602_609_page_mapped_elsewhere_stays_active():
    """If another process still maps the page it stays active and is not staged for cleaning."""
    vm = machine()
    vm.vfs_create_file("lib", 2)
    a = resident(vm, 2, name="a", regions=[MapFile("lib")])
    b = resident(vm, 2, name="b", regions=[MapFile("lib")])
    m = vm.pte_page(a.p_vmspace.vm_pmap, 0)
    assert vm.pte_page(b.p_vmspace.vm_pmap, 0) is m
    unreference(vm, [m])
    r, info, m = mdp(vm, a, 0, 0)
    assert a.rss_pages == 1 and b.rss_pages == 2
    assert m.flags & PG_MAPPED and base(m) == PQ_ACTIVE
    assert (info.cleancount, info.offset) == (0, -1)
    vm.check()


def test_vm_pageout_mdp_callback_606_608_inactive_unmapped_page_staged():
    """A page already inactive is not moved but, once unmapped, is staged for cleaning (cleancount)."""
    vm = machine()
    p = resident(vm, 2)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    vm.vm_page_busy_try(m, False)
    vm.vm_page_deactivate(m)
    vm.vm_page_wakeup(m)
    unreference(vm, [m])
    tail_before = vm.queue_pages(PQ_INACTIVE, m.pc)
    r, info, m = mdp(vm, p, 0, 0)
    assert base(m) == PQ_INACTIVE and vm.queue_pages(PQ_INACTIVE, m.pc) == tail_before
    assert info.cleancount == 1 and not m.flags & PG_MAPPED


def test_vm_pageout_mdp_callback_602_608_unmapped_page_on_no_queue_not_staged():
    """cleanit only if the page is inactive afterwards: an unmapped page on no queue is left alone, not staged."""
    vm = machine()
    p = resident(vm, 2)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    vm.vm_page_unqueue_nowakeup(m)                # taken off the queues (PQ_NONE), still mapped
    unreference(vm, [m])
    r, info, m = mdp(vm, p, 0, 0)
    assert r == 0 and m.queue == PQ_NONE and not m.flags & PG_MAPPED and p.rss_pages == 1
    assert (info.cleancount, info.actioncount, info.offset) == (0, 1, -1)


@pytest.mark.parametrize("user_async, flags", [
    (0, VM_PAGER_TRY_TO_CACHE | VM_PAGER_ALLOW_ACTIVE | VM_PAGER_PUT_SYNC),
    (1, VM_PAGER_TRY_TO_CACHE | VM_PAGER_ALLOW_ACTIVE),
])
def test_vm_pageout_mdp_callback_629_638_memuse_mode_2_launders_at_once(user_async, flags):
    """Mode 2: PG_WINATCFLS is set and the page laundered with TRY_TO_CACHE|ALLOW_ACTIVE (|PUT_SYNC unless async)."""
    vm = machine()
    vm.sysctl("vm.pageout_memuse_mode", 2)
    vm.sysctl("vm.swap_user_async", user_async)
    p = resident(vm, 4, write=True)
    pages = [vm.pte_page(p.p_vmspace.vm_pmap, v) for v in range(4)]
    unreference(vm, pages[:1])
    flushes: list = []
    orig = vm.vm_pageout_flush

    def flush(mc, count, vmflush_flags):
        flushes.append(([m.pfn for m in mc[:count]], vmflush_flags, bool(mc[0].flags & PG_WINATCFLS)))
        return (yield from orig(mc, count, vmflush_flags))

    vm.vm_pageout_flush = flush
    r, info, m = mdp(vm, p, 0, 0)
    # ALLOW_ACTIVE: the three active dirty neighbours join the cluster.
    assert flushes == [([m.pfn for m in pages], flags, True)]
    assert info.cleancount == 4
    if not user_async:
        # Synchronous write, then vm_page_try_to_cache: all four on the cache queue, unmapped.
        assert [base(x) for x in pages] == [PQ_CACHE] * 4
        assert p.rss_pages == 0 and vm.cnt.v_swappgsout == 4
    vm.run(until=vm.ticks + 5)
    vm.check()


def test_vm_pageout_mdp_callback_639_642_memuse_mode_1_counts_without_laundering():
    """Mode 1 only counts the page in cleancount; nothing is written."""
    vm = machine()
    assert vm.vm_pageout_memuse_mode == 1
    p = resident(vm, 2, write=True)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    unreference(vm, [m])
    flushes: list = []
    record(vm, "vm_pageout_flush", flushes, generator=True)
    r, info, m = mdp(vm, p, 0, 0)
    assert flushes == [] and info.cleancount == 1 and base(m) == PQ_INACTIVE and m.dirty


def pgscans(vm: Machine) -> list:
    begs: list = []
    orig = vm.pmap_pgscan

    def wrapper(info):
        begs.append(info.beg_addr >> vm.PAGE_SHIFT if info.beg_addr != VM_MAX_USER_ADDRESS else "MAX")
        return (yield from orig(info))

    vm.pmap_pgscan = wrapper
    return begs


def test_vm_pageout_map_deactivate_pages_694_701_retries_three_times_from_start():
    """While still over the limit after a full scan, rescan from address 0 at most three more times."""
    vm = machine()
    p = resident(vm, 4)
    for v in range(4):
        vm.vm_page_hold(vm.pte_page(p.p_vmspace.vm_pmap, v))     # held: the callback never trims them
    vmap = p.p_vmspace.vm_map
    vmap.pgout_offset = 2 << vm.PAGE_SHIFT
    begs = pgscans(vm)
    run_as(vm, vm.vm_pageout_map_deactivate_pages, vmap, 1)
    assert begs == [2, 0, 0, 0]
    assert vmap.pgout_offset == VM_MAX_USER_ADDRESS and p.rss_pages == 4


def test_vm_pageout_map_deactivate_pages_676_677_wraps_at_end_of_address_space():
    """A saved pgout_offset at (or past) VM_MAX_USER_ADDRESS restarts the scan at 0."""
    vm = machine()
    p = resident(vm, 4)
    unreference(vm, [vm.pte_page(p.p_vmspace.vm_pmap, v) for v in range(4)])
    vmap = p.p_vmspace.vm_map
    vmap.pgout_offset = VM_MAX_USER_ADDRESS
    begs = pgscans(vm)
    run_as(vm, vm.vm_pageout_map_deactivate_pages, vmap, 3)
    assert begs == [0]
    assert p.rss_pages == 3 and vmap.pgout_offset == 0


def test_vm_pageout_map_deactivate_pages_687_702_resumes_where_it_stopped():
    """The scan stops at the limit and saves the address of the last page staged; the next call starts there."""
    vm = machine()
    p = resident(vm, 8)
    pm = p.p_vmspace.vm_pmap
    unreference(vm, [vm.pte_page(pm, v) for v in range(8)])
    vmap = p.p_vmspace.vm_map
    begs = pgscans(vm)
    run_as(vm, vm.vm_pageout_map_deactivate_pages, vmap, 5)
    assert p.rss_pages == 5 and vmap.pgout_offset == 2 << vm.PAGE_SHIFT
    run_as(vm, vm.vm_pageout_map_deactivate_pages, vmap, 3)
    assert begs == [0, 2]
    assert p.rss_pages == 3 and vmap.pgout_offset == 4 << vm.PAGE_SHIFT
    assert [vm.pte_page(pm, v) is None for v in range(8)] == [True] * 5 + [False] * 3


def test_vm_pageout_map_deactivate_pages_697_700_referenced_pages_survive_first_scan():
    """Referenced pages are only aged by the first scan; the retry from 0 then removes them down to the limit."""
    vm = machine()
    p = resident(vm, 4)
    vmap = p.p_vmspace.vm_map
    begs = pgscans(vm)
    run_as(vm, vm.vm_pageout_map_deactivate_pages, vmap, 2)
    assert begs == [0, 0]
    assert p.rss_pages == 2 and vmap.pgout_offset == 1 << vm.PAGE_SHIFT
    pm = p.p_vmspace.vm_pmap
    assert [vm.pte_page(pm, v) is None for v in range(4)] == [True, True, False, False]
    assert [vm.pte_page(pm, v).act_count for v in (2, 3)] == [6, 6]
