"""One test per decision branch of the inactive-queue half of the page-out daemon.

Covers PQAVERAGE (vm_pageout.c:230-241), vm_pageout_clean_helper (249-394),
vm_pageout_flush (408-517), vm_pageout_page_free (716-721),
vm_pageout_scan_inactive (738-892) and vm_pageout_page (901-1225), in the
seed ``/work/shared/seed/vm_pageout.c``.  Each test is named
``test_<function>_<first>_<last>_<what>`` after the seed lines of the branch
it drives, and its docstring quotes what the seed does there.

Pages are put in precise states by hand (flags, dirty/valid bits, hold and
wire counts, object flags), busied, and handed to the daemon's functions from
a kernel thread (:func:`helpers.run_in_thread`), since laundering may sleep.
Page-table references come from bare pmaps (``pmap_create`` +
``pmap_enter``), so the A and M bits of each mapping are exact; tests that use
them do not run ``vm.check()``, which wants every pmap to belong to a process.
The machine never runs the page daemon here (``pagedaemon=False``), and its
thresholds stay 0 unless a branch depends on them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from helpers import run_in_thread, small_machine

from vmkit import KernelPanic, Machine
from vmkit.constants import (
    ACT_ADVANCE,
    ACT_INIT,
    OBJ_DEAD,
    OBJ_MIGHTBEDIRTY,
    OBJ_WRITEABLE,
    OBJT_DEFAULT,
    OBJT_SWAP,
    OBJT_VNODE,
    PG_A,
    PG_BUSY,
    PG_FICTITIOUS,
    PG_M,
    PG_MAPPED,
    PG_MARKER,
    PG_NEED_COMMIT,
    PG_REFERENCED,
    PG_RW,
    PG_SBUSY,
    PG_SWAPINPROG,
    PG_SWAPPED,
    PG_UNMANAGED,
    PG_WINATCFLS,
    PG_WRITEABLE,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    PQ_NONE,
    VM_ALLOC_NORMAL,
    VM_PAGE_BITS_ALL,
    VM_PAGER_AGAIN,
    VM_PAGER_ALLOW_ACTIVE,
    VM_PAGER_BAD,
    VM_PAGER_ERROR,
    VM_PAGER_FAIL,
    VM_PAGER_OK,
    VM_PAGER_TRY_TO_CACHE,
    VM_PROT_READ,
    VM_PROT_WRITE,
)
from vmkit.pmap import PTE_SHIFT
from vmkit.vm_page import TAILQ_INSERT_AFTER, vm_page_marker
from vmkit.vm_pageout import Ref

ALL = VM_PAGE_BITS_ALL
BLIST_MAX_ALLOC = 64
WIRED_WARNING = "WARNING: pagedaemon: wired page on inactive queue"


# -- building pages in precise states ------------------------------------------------------------------

def machine(**kw) -> Machine:
    """A small machine without the page daemon; every threshold is 0 unless a test sets it."""
    kw["pagedaemon"] = False
    return small_machine(**kw)


def base(m) -> int:
    """The base queue of ``m`` (PQ_NONE when on no queue)."""
    return m.queue - m.pc if m.queue else PQ_NONE


def anon(vm, size=256):
    return vm.vm_object_allocate(OBJT_DEFAULT, size)


def page(vm, obj, pindex, *, dirty=ALL, valid=ALL, queue=PQ_INACTIVE, flags=0, act_count=0):
    """A page of ``obj`` at ``pindex`` on ``queue`` (INACTIVE, ACTIVE, CACHE or NONE), not busy."""
    m = vm.vm_page_alloc(obj, pindex, VM_ALLOC_NORMAL)
    assert m is not None
    vm.pmap_zero_page(m)
    m.valid = valid
    m.dirty = dirty
    m.act_count = act_count
    if queue == PQ_INACTIVE:
        vm.vm_page_deactivate(m)
    elif queue == PQ_ACTIVE:
        vm.vm_page_activate(m)
        m.act_count = act_count
    elif queue == PQ_CACHE:
        assert dirty == 0
        vm.vm_page_cache(m)              # unbusies
        assert base(m) == PQ_CACHE
        m.flags |= flags
        return m
    m.flags |= flags
    vm.vm_page_wakeup(m)
    return m


def page_in_colour(vm, obj, q, k=0, **kw):
    """A page of ``obj`` whose colour is ``q`` (the ``k``-th such index), so it sits on INACTIVE + q."""
    L2 = vm.PQ_L2_SIZE
    pindex = ((q - obj.pg_color) & (L2 - 1)) + k * L2
    m = page(vm, obj, pindex, **kw)
    assert m.pc == q
    return m


def map_page(vm, m, n=1, *, write=False, accessed=True):
    """Map ``m`` in ``n`` fresh pmaps (one PTE each); return the pmaps.  ``write`` sets M, ``accessed`` keeps A."""
    pmaps = []
    for _ in range(n):
        pm = vm.pmap_create(4)
        vm.pmap_enter(pm, 0, m, VM_PROT_READ | VM_PROT_WRITE, write)
        if not accessed:
            pm.pm_mv[0] = pm.pm_mv[0] & ~PG_A
        pmaps.append(pm)
    return pmaps


def pte(pm) -> int:
    """The PTE bits of vpn 0 of ``pm`` (0 when unmapped)."""
    v = pm.pm_mv[0]
    return 0 if v < 0 else v & ((1 << PTE_SHIFT) - 1)


def colour_list(vm, m):
    """The pages (markers excluded) on ``m``'s colour queue, head first."""
    return [p for p in vm.vm_page_queues[m.queue] if not p.flags & PG_MARKER]


def busy(vm, *pages):
    for m in pages:
        assert vm.vm_page_busy_try(m, True) is False


def last_event(vm, function):
    """The last event-log row written by ``function``, as a dict."""
    df = vm.events()
    rows = df[df.function == function]
    assert len(rows), f"no event from {function}"
    return rows.iloc[-1].to_dict()


def events_of(vm, function):
    df = vm.events()
    return df[df.function == function]


def pageout(vm, m, *, max_launder=5, pass_=0, flags=0, vnodes_skipped=0, vpfailed=None, busied=False):
    """Busy ``m`` and run vm_pageout_page on it from a kernel thread; return what it returned and left behind."""
    if not busied:
        busy(vm, m)
    ml, vs, vf = Ref(max_launder), Ref(vnodes_skipped), Ref(vpfailed)
    box = {}

    def body():
        box["t0"] = vm.ticks
        r = yield from vm.vm_pageout_page(m, ml, vs, vf, pass_, flags)
        box["t1"] = vm.ticks
        return r

    count = run_in_thread(vm, body)
    return SimpleNamespace(count=count, max_launder=ml.v, vnodes_skipped=vs.v, vpfailed=vf.v,
                           ticks=box["t1"] - box["t0"])


def clean_helper(vm, m, flags=0):
    """Busy ``m`` and run vm_pageout_clean_helper from a kernel thread; return (count, cluster pindexes)."""
    busy(vm, m)
    n_before = len(events_of(vm, "vm_pageout_clean_helper"))
    count = run_in_thread(vm, vm.vm_pageout_clean_helper, m, flags)
    ev = events_of(vm, "vm_pageout_clean_helper")
    assert len(ev) == n_before + 1
    return count, ev.iloc[-1]["reason"]


def flush(vm, pages, flags=0):
    """Busy ``pages`` and run vm_pageout_flush on them from a kernel thread; return its count."""
    busy(vm, *pages)
    return run_in_thread(vm, vm.vm_pageout_flush, list(pages), len(pages), flags)


def scan(vm, q, avail_shortage, *, pass_=0, vnodes_skipped=None, emergpager=False):
    """Run vm_pageout_scan_inactive on colour ``q`` from a kernel thread (the emergency pager if asked)."""
    vs = Ref(0) if vnodes_skipped is None else vnodes_skipped
    box = {}

    def body():
        if emergpager:
            vm.emergpager = vm.curthread
        box["t0"] = vm.ticks
        try:
            return (yield from vm.vm_pageout_scan_inactive(pass_, q, avail_shortage, vs))
        finally:
            box["t1"] = vm.ticks
            vm.emergpager = None

    delta = run_in_thread(vm, body)
    return SimpleNamespace(delta=delta, vnodes_skipped=vs.v, ticks=box["t1"] - box["t0"])


def record_pageout_calls(vm, monkeypatch):
    """Wrap vm.vm_pageout_page to record, per call: the page, *max_launderp, pass, flags and its colour queue."""
    calls = []
    real = vm.vm_pageout_page

    def wrapper(m, max_launderp, vnodes_skippedp, vpfailedp, pass_, vmflush_flags):
        pq = vm.vm_page_queues[m.queue]
        calls.append(SimpleNamespace(m=m, max_launder=max_launderp.v, pass_=pass_, flags=vmflush_flags,
                                     queue=list(pq), lcnt=pq.lcnt))
        return (yield from real(m, max_launderp, vnodes_skippedp, vpfailedp, pass_, vmflush_flags))

    monkeypatch.setattr(vm, "vm_pageout_page", wrapper)
    return calls


def fake_pager(vm, monkeypatch, status, *, set_m_bit=False):
    """Replace the pager: every page gets ``status``; with ``set_m_bit`` the PTE M bits are set again first."""
    seen = []

    def put(obj, mc, count, flags, rtvals):
        seen.append((obj, count, flags, obj.paging_in_progress))
        for i in range(count):
            if set_m_bit:
                for pm, vpn in mc[i].md_pv:
                    pm.pm_mv[vpn] = pm.pm_mv[vpn] | PG_M
            rtvals[i] = status
        yield from ()

    monkeypatch.setattr(vm, "vm_pager_put_pages", put)
    return seen


def c_div(a, b):
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# == PQAVERAGE (230-241) ================================================================================

@pytest.mark.parametrize("L2, n, expected", [
    (512, 0, 2), (512, 1, 3), (512, 256, 3), (512, 257, 4), (512, 10000, 42),
    (16, 0, 2), (16, 1, 3), (16, 9, 4), (16, 100, 15),
    (2, 0, 2), (2, 1, 3), (2, 5, 7),
])
def test_PQAVERAGE_235_236_nonnegative_n(L2, n, expected):
    """'avg = ((n + (PQ_L2_SIZE - 1)) / (PQ_L2_SIZE / 2) + 1);' for n >= 0."""
    vm = machine(pq_l2_size=L2)
    assert vm.PQ_L2_SIZE == L2
    assert vm.PQAVERAGE(n) == expected == c_div(n + (L2 - 1), L2 // 2) + 1


@pytest.mark.parametrize("L2, n, expected", [
    (512, -1, -3), (512, -2, -3), (512, -257, -4), (512, -258, -4), (512, -10000, -42),
    (16, -1, -3), (16, -2, -3), (16, -9, -4), (16, -10, -4), (16, -100, -15),
    (2, -1, -3), (2, -5, -7),
])
def test_PQAVERAGE_237_238_negative_n_truncates_toward_zero(L2, n, expected):
    """'avg = ((n - (PQ_L2_SIZE - 1)) / (PQ_L2_SIZE / 2) - 1);' for n < 0, C division truncating toward zero."""
    vm = machine(pq_l2_size=L2)
    assert vm.PQAVERAGE(n) == expected == c_div(n - (L2 - 1), L2 // 2) - 1
    floored = (n - (L2 - 1)) // (L2 // 2) - 1            # what Python's // would give
    assert vm.PQAVERAGE(n) == (floored + 1 if (n - (L2 - 1)) % (L2 // 2) else floored)


# == vm_pageout_page (901-1225) =========================================================================

def test_vm_pageout_page_917_923_wired_page_is_unqueued_with_warning():
    """'if (m->wire_count) { vm_page_unqueue_nowakeup(m); vm_page_wakeup(m); kprintf("WARNING: ..."); return 0; }'"""
    vm = machine()
    m = page(vm, anon(vm), 0)
    m.wire_count = 1                       # wired behind the queues' back, as the seed's comment describes
    vm.vmstats.v_wire_count += 1
    inactive0 = vm.vmstats.v_inactive_count
    r = pageout(vm, m, pass_=1)
    assert r.count == 0 and r.max_launder == 5
    assert m.queue == PQ_NONE and vm.vmstats.v_inactive_count == inactive0 - 1
    assert not m.flags & PG_BUSY and m.dirty == ALL
    assert any(line.startswith(WIRED_WARNING) for line in vm.dmesg())
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["queue_before"], ev["queue_after"], ev["action"]) == ("INACTIVE", "NONE", "unqueue")
    vm.check()


@pytest.mark.parametrize("where", [PQ_INACTIVE, PQ_ACTIVE])
def test_vm_pageout_page_928_940_held_page_is_requeued_at_tail(where):
    """'if (m->hold_count) { if (m->queue - m->pc == PQ_INACTIVE) { ...INSERT_TAIL; ++vm_swapcache_inactive_heuristic; }
    vm_page_wakeup(m); return 0; }'"""
    vm = machine()
    obj = anon(vm)
    m = page_in_colour(vm, obj, 3, 0, queue=where)
    other = page_in_colour(vm, obj, 3, 1, queue=where)
    m.flags |= PG_REFERENCED
    vm.vm_page_hold(m)
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=1)
    assert r.count == 0
    assert m.hold_count == 1 and not m.flags & PG_BUSY
    assert m.flags & PG_REFERENCED                  # returned before looking at references
    assert base(m) == where
    if where == PQ_INACTIVE:
        assert colour_list(vm, m) == [other, m]
        assert vm.vm_swapcache_inactive_heuristic == heur0 + 1
    else:
        assert colour_list(vm, m) == [m, other]
        assert vm.vm_swapcache_inactive_heuristic == heur0
    ev = last_event(vm, "vm_pageout_page")
    assert ev["action"] == "requeue" and ev["queue_after"] == ev["queue_before"]


@pytest.mark.parametrize("objcase", ["ref_count 0", "no object"])
def test_vm_pageout_page_942_949_unused_object_forgets_references(objcase):
    """'if (m->object == NULL || m->object->ref_count == 0) { vm_page_flag_clear(m, PG_REFERENCED);
    pmap_clear_reference(m); /* fall through to end */ }'"""
    vm = machine()
    obj = anon(vm)
    m = page(vm, obj, 0)
    if objcase == "ref_count 0":
        obj.ref_count = 0
    else:
        vm.vm_page_remove(m)
        assert m.object is None
    pmaps = map_page(vm, m, 3)
    m.flags |= PG_REFERENCED
    r = pageout(vm, m, pass_=0)
    # Not activated: it fell through to the dirty-page code (first trip round the queue).
    assert r.count == 0
    assert base(m) == PQ_INACTIVE and m.flags & PG_WINATCFLS
    assert not m.flags & PG_REFERENCED
    assert all(pte(pm) & PG_A == 0 for pm in pmaps)
    assert m.act_count == 0
    ev = last_event(vm, "vm_pageout_page")
    assert ev["action"] == "requeue" and ev["reason"] == "dirty, first trip: PG_WINATCFLS set"


@pytest.mark.parametrize("nmaps, act0, expected_actcount, expected_act", [
    (1, 0, 1, ACT_INIT + 1 + ACT_ADVANCE),           # activate raises act_count to ACT_INIT first
    (3, 10, 3, 10 + 3 + ACT_ADVANCE),
    (7, 250, 5, (250 + 5 + ACT_ADVANCE) & 0xFF),      # pmap_ts_referenced stops at 5; u_char wraps to 2
    (2, 251, 2, (251 + 2 + ACT_ADVANCE) & 0xFF),      # 256 -> 0
])
def test_vm_pageout_page_950_966_pmap_referenced_page_is_activated(nmaps, act0, expected_actcount, expected_act):
    """'else if ((m->flags & PG_REFERENCED) == 0 && (actcount = pmap_ts_referenced(m))) { vm_page_activate(m);
    m->act_count += (actcount + ACT_ADVANCE); vm_page_wakeup(m); return 0; }'"""
    vm = machine()
    m = page(vm, anon(vm), 0, act_count=act0)
    pmaps = map_page(vm, m, nmaps)
    r = pageout(vm, m, pass_=1)
    assert r.count == 0 and r.max_launder == 5
    assert base(m) == PQ_ACTIVE and not m.flags & PG_BUSY
    assert m.act_count == expected_act
    assert sum(1 for pm in pmaps if pte(pm) & PG_A) == nmaps - expected_actcount
    assert m.dirty == ALL and not m.flags & PG_WINATCFLS       # nothing else happened
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["queue_before"], ev["queue_after"], ev["action"]) == ("INACTIVE", "ACTIVE", "activate")
    assert ev["reason"] == f"referenced in the page tables ({expected_actcount})"
    assert ev["act_count"] == expected_act


@pytest.mark.parametrize("nmaps, act0, expected_act", [
    (0, 0, ACT_INIT + 0 + ACT_ADVANCE + 1),
    (2, 7, 7 + 2 + ACT_ADVANCE + 1),                  # the A bits are counted here, not at line 951
    (0, 252, (252 + ACT_ADVANCE + 1) & 0xFF),         # 256 -> 0
    (6, 255, (255 + 5 + ACT_ADVANCE + 1) & 0xFF),     # 264 -> 8
])
def test_vm_pageout_page_976_983_pg_referenced_page_is_activated(nmaps, act0, expected_act):
    """'if ((m->flags & PG_REFERENCED) != 0) { vm_page_flag_clear(m, PG_REFERENCED); actcount = pmap_ts_referenced(m);
    vm_page_activate(m); m->act_count += (actcount + ACT_ADVANCE + 1); vm_page_wakeup(m); return 0; }'"""
    vm = machine()
    m = page(vm, anon(vm), 0, act_count=act0)
    pmaps = map_page(vm, m, nmaps)
    m.flags |= PG_REFERENCED
    r = pageout(vm, m, pass_=1)
    assert r.count == 0
    assert base(m) == PQ_ACTIVE and not m.flags & (PG_BUSY | PG_REFERENCED)
    assert m.act_count == expected_act
    assert sum(1 for pm in pmaps if pte(pm) & PG_A) == max(0, nmaps - 5)
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["queue_before"], ev["queue_after"], ev["action"], ev["reason"]) == \
        ("INACTIVE", "ACTIVE", "activate", "PG_REFERENCED")
    assert ev["act_count"] == expected_act


@pytest.mark.parametrize("dirty0, m_bit, expected_dirty, expected_action", [
    (0, False, 0, "cache"),             # test_dirty finds nothing: clean
    (0, True, ALL, "requeue"),          # test_dirty folds the PTE M bit in
    (0x01, False, ALL, "requeue"),      # partially dirty counts as fully dirty: vm_page_dirty
])
def test_vm_pageout_page_998_1002_dirty_state_is_refreshed(dirty0, m_bit, expected_dirty, expected_action):
    """'if (m->dirty == 0) { vm_page_test_dirty(m); } else { vm_page_dirty(m); }'"""
    vm = machine()
    obj = anon(vm)
    m = page(vm, obj, 0, dirty=dirty0)
    pmaps = map_page(vm, m, 1, write=m_bit, accessed=False)
    assert obj.flags == 0
    r = pageout(vm, m, pass_=0)
    assert m.dirty == expected_dirty
    # vm_page_dirty marks the object writeable and might-be-dirty.
    assert bool(obj.flags & (OBJ_WRITEABLE | OBJ_MIGHTBEDIRTY)) == (expected_dirty != 0)
    assert last_event(vm, "vm_pageout_page")["action"] == expected_action
    if expected_action == "cache":
        assert r.count == 1 and base(m) == PQ_CACHE and pte(pmaps[0]) == 0
    else:
        assert r.count == 0 and base(m) == PQ_INACTIVE and m.flags & PG_WINATCFLS


@pytest.mark.parametrize("need_commit", [False, True])
def test_vm_pageout_page_1004_1010_invalid_page_is_freed(need_commit):
    """'if (m->valid == 0 && (m->flags & PG_NEED_COMMIT) == 0) { vm_pageout_page_free(m);
    mycpu->gd_cnt.v_dfree++; ++count; }'"""
    vm = machine()
    m = page(vm, anon(vm), 0, dirty=0, valid=0)
    if need_commit:
        m.flags |= PG_NEED_COMMIT
    dfree0, tfree0 = vm.cnt.v_dfree, vm.cnt.v_tfree
    r = pageout(vm, m, pass_=0)
    ev = last_event(vm, "vm_pageout_page")
    if need_commit:
        # Not freed, not cached (needs a commit): the dirty-page branch gives it a first trip.
        assert r.count == 0 and base(m) == PQ_INACTIVE and m.object is not None
        assert vm.cnt.v_dfree == dfree0 and vm.cnt.v_tfree == tfree0
        assert ev["action"] == "requeue"
    else:
        assert r.count == 1
        assert base(m) == PQ_FREE and m.object is None and not m.flags & PG_BUSY
        assert vm.cnt.v_dfree == dfree0 + 1 and vm.cnt.v_tfree == tfree0 + 1
        assert (ev["action"], ev["reason"], ev["queue_before"], ev["queue_after"]) == \
            ("free", "invalid page", "INACTIVE", "FREE")
        vm.check()        # (an invalid page left in its object unbusied is something the checker rejects)


@pytest.mark.parametrize("case", ["clean", "need commit", "soft-busied"])
def test_vm_pageout_page_1011_1017_clean_page_is_cached(case):
    """'else if (m->dirty == 0 && (m->flags & PG_NEED_COMMIT) == 0) { vm_page_cache(m); ++count; }'"""
    vm = machine()
    m = page(vm, anon(vm), 0, dirty=0)
    if case == "need commit":
        m.flags |= PG_NEED_COMMIT
    if case == "soft-busied":
        # vm_page_cache() declines a soft-busied page; the seed counts it all the same.
        assert vm.vm_page_busy_try(m, False) is False
        vm.vm_page_io_start(m)
    r = pageout(vm, m, pass_=0, busied=(case == "soft-busied"))
    ev = last_event(vm, "vm_pageout_page")
    assert not m.flags & PG_BUSY
    if case == "clean":
        assert r.count == 1 and base(m) == PQ_CACHE
        assert (ev["action"], ev["reason"], ev["queue_after"]) == ("cache", "clean", "CACHE")
    elif case == "need commit":
        assert r.count == 0 and base(m) == PQ_INACTIVE and m.flags & PG_WINATCFLS
        assert ev["action"] == "requeue"
    else:
        assert r.count == 1 and base(m) == PQ_INACTIVE
        assert (ev["action"], ev["queue_after"]) == ("cache", "INACTIVE")
        vm.vm_page_busy_try(m, False)
        vm.vm_page_io_finish(m)
        vm.vm_page_wakeup(m)
    vm.check()


def test_vm_pageout_page_1018_1041_dirty_page_gets_a_second_trip_on_pass_0():
    """'else if ((m->flags & PG_WINATCFLS) == 0 && pass == 0) { vm_page_flag_set(m, PG_WINATCFLS); ...INSERT_TAIL;
    ++vm_swapcache_inactive_heuristic; vm_page_wakeup(m); }'"""
    vm = machine()
    obj = anon(vm)
    m = page_in_colour(vm, obj, 5, 0)
    other = page_in_colour(vm, obj, 5, 1, dirty=0)
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=0)
    assert r.count == 0 and r.max_launder == 5
    assert m.flags & PG_WINATCFLS and not m.flags & PG_BUSY and m.dirty == ALL
    assert colour_list(vm, m) == [other, m]
    assert vm.vm_swapcache_inactive_heuristic == heur0 + 1
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("requeue", "dirty, first trip: PG_WINATCFLS set")
    assert vm.swapdev.writes == 0
    # The second trip round the queue launders it.
    r = pageout(vm, m, pass_=0)
    assert r.count == 1 and r.max_launder == 4
    assert m.dirty == 0 and m.flags & PG_SWAPPED
    assert last_event(vm, "vm_pageout_page")["reason"] == "dirty, second trip"
    vm.check()


@pytest.mark.parametrize("pass_, winatcfls, npages, max_launder", [
    (0, True, 1, 5),
    (1, False, 1, 5),
    (1, False, 3, 5),
    (2, True, 3, 1),          # *max_launderp may go negative: the cluster is not cut to fit
])
def test_vm_pageout_page_1042_1214_dirty_page_is_laundered_while_max_launder_lasts(pass_, winatcfls, npages,
                                                                                    max_launder):
    """'} else if (*max_launderp > 0) { ... count = vm_pageout_clean_helper(m, vmflush_flags);
    *max_launderp -= count; ...'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(npages)]
    m = pages[0]
    if winatcfls:
        m.flags |= PG_WINATCFLS
    r = pageout(vm, m, pass_=pass_, max_launder=max_launder)
    assert r.count == npages
    assert r.max_launder == max_launder - npages
    assert obj.type == OBJT_SWAP and sorted(obj.swblock) == list(range(npages))
    for p in pages:
        assert p.dirty == 0 and p.flags & PG_SWAPPED and base(p) == PQ_INACTIVE
        assert not p.flags & (PG_BUSY | PG_SBUSY) and p.busy == 0
    assert bool(m.flags & PG_WINATCFLS) == winatcfls       # pass != 0 does not set it
    ev = last_event(vm, "vm_pageout_page")
    assert ev["action"] == "launder"
    assert ev["reason"] == ("dirty, second trip" if winatcfls else "dirty")
    assert list(events_of(vm, "vm_pageout_flush")["reason"]) == ["PEND"] * npages
    vm.check()


@pytest.mark.parametrize("max_launder", [0, -2])
def test_vm_pageout_page_1221_1223_dirty_page_left_alone_when_max_launder_used_up(max_launder):
    """'} else { vm_page_wakeup(m); }' - *max_launderp <= 0: the dirty page is only unbusied, not moved."""
    vm = machine()
    obj = anon(vm)
    m = page_in_colour(vm, obj, 2, 0, flags=PG_WINATCFLS)
    other = page_in_colour(vm, obj, 2, 1)
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=1, max_launder=max_launder)
    assert r.count == 0 and r.max_launder == max_launder
    assert not m.flags & PG_BUSY and m.dirty == ALL
    assert colour_list(vm, m) == [m, other]
    assert vm.vm_swapcache_inactive_heuristic == heur0
    assert vm.swapdev.writes == 0 and obj.type == OBJT_DEFAULT
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("skip", "dirty, max_launder used up")
    vm.check()


@pytest.mark.parametrize("objtype, defer, disable, count_min, laundered", [
    (OBJT_DEFAULT, 0, 0, False, True),
    (OBJT_DEFAULT, 1, 0, False, False),
    (OBJT_DEFAULT, 1, 0, True, True),      # deferred swap pageouts go ahead at the minimum
    (OBJT_DEFAULT, 0, 1, True, False),     # disabled: never
    (OBJT_DEFAULT, 1, 1, True, False),
    (OBJT_SWAP, 1, 0, False, False),
    (OBJT_SWAP, 1, 0, True, True),
    (OBJT_SWAP, 0, 1, False, False),
    (OBJT_VNODE, 1, 1, False, True),       # not swap: always ok
    (OBJT_VNODE, 0, 1, True, True),
])
def test_vm_pageout_page_1053_1065_swap_pageouts_deferred_or_disabled(objtype, defer, disable, count_min,
                                                                      laundered):
    """'swap_pageouts_ok = !(defer_swap_pageouts || disable_swap_pageouts); swap_pageouts_ok |=
    (!disable_swap_pageouts && defer_swap_pageouts && vm_page_count_min(0));' (vnode objects: 1); not ok -> requeue."""
    vm = machine()
    if objtype == OBJT_VNODE:
        obj = vm.vfs_create_file("f", 64).v_object
    else:
        obj = vm.vm_object_allocate(objtype, 64)
    m = page_in_colour(vm, obj, 1, 0, flags=PG_WINATCFLS)
    other = page_in_colour(vm, obj, 1, 1, dirty=0)
    vm.sysctl("vm.defer_swapspace_pageouts", defer)
    vm.sysctl("vm.disable_swapspace_pageouts", disable)
    if count_min:
        vm.vmstats.v_free_min = vm.vmstats.v_page_count + 1
    assert vm.vm_page_count_min(0) == count_min
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=0)
    ev = last_event(vm, "vm_pageout_page")
    assert not m.flags & PG_BUSY and m.hold_count == 0
    if laundered:
        assert r.count == 1 and r.max_launder == 4 and m.dirty == 0
        assert ev["action"] == "launder"
        assert colour_list(vm, m) == [m, other]
    else:
        assert r.count == 0 and r.max_launder == 5 and m.dirty == ALL
        assert (ev["action"], ev["reason"]) == ("requeue", "swap pageouts deferred or disabled")
        assert colour_list(vm, m) == [other, m]
        assert vm.vm_swapcache_inactive_heuristic == heur0 + 1
        assert vm.swapdev.writes == 0 and vm.filedev.writes == 0


@pytest.mark.parametrize("case", ["OBJ_DEAD", "no object"])
def test_vm_pageout_page_1071_1087_dead_or_missing_object_is_requeued(case):
    """'if (!swap_pageouts_ok || (object == NULL) || (object->flags & OBJ_DEAD)) { ...INSERT_TAIL;
    ++vm_swapcache_inactive_heuristic; vm_page_wakeup(m); return 0; }'"""
    vm = machine()
    obj = anon(vm)
    m = page_in_colour(vm, obj, 4, 0)
    other = page_in_colour(vm, obj, 4, 1, dirty=0)
    if case == "OBJ_DEAD":
        obj.flags |= OBJ_DEAD
    else:
        vm.vm_page_remove(m)
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=1)
    assert r.count == 0 and r.max_launder == 5
    assert colour_list(vm, m) == [other, m]
    assert vm.vm_swapcache_inactive_heuristic == heur0 + 1
    assert not m.flags & PG_BUSY and m.dirty == ALL
    assert vm.swapdev.writes == 0
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("requeue", "object is dead")


# -- vnode-backed pages: the vnode lock ------------------------------------------------------------------

def vnode_page(vm, *, need_commit=False, colour=6, k=0, name="f"):
    """An inactive page of file ``name`` (created on first use) ready to be laundered on pass 0: dirty, or
    clean with PG_NEED_COMMIT.  A dirty page sets OBJ_MIGHTBEDIRTY itself (vm_page_dirty at line 1001);
    for a clean one the test decides with :func:`might_be_dirty`."""
    vp = vm.vnodes.get(name) or vm.vfs_create_file(name, 64)
    obj = vp.v_object
    obj.ref_count = 1
    if need_commit:
        m = page_in_colour(vm, obj, colour, k, dirty=0, flags=PG_NEED_COMMIT | PG_WINATCFLS)
    else:
        m = page_in_colour(vm, obj, colour, k, flags=PG_WINATCFLS)
    return vp, obj, m


def might_be_dirty(obj, yes):
    obj.flags = (obj.flags | OBJ_WRITEABLE | OBJ_MIGHTBEDIRTY) if yes else obj.flags & ~(OBJ_WRITEABLE |
                                                                                          OBJ_MIGHTBEDIRTY)


def lock_vnode(vm, vp, ticks):
    """Have another thread take ``vp``'s lock now and keep it ``ticks`` ticks."""
    vm.vn_lock_hold(vp.v_name, ticks)
    vm.run(until=vm.ticks + 1)
    assert vp.lk_holder is not None


def meddle_while_waiting(vm, vp, m, action):
    """Lock ``vp`` for a few ticks; one tick into vm_pageout_page's wait for it, run ``action()``."""
    lock_vnode(vm, vp, 4)

    def meddler():
        yield vm.tsleep(("meddle", m.pfn), 0, "meddle", 1)
        # vm_pageout_page is asleep in vget, holding the page unbusied.
        assert vp.lk_holder is not None and m.hold_count == 1 and not m.flags & PG_BUSY
        action()

    vm.kthread_create(meddler, "meddler")


@pytest.mark.parametrize("need_commit, mightbedirty, expected_skipped", [
    (False, True, 1),
    (True, True, 1),
    (True, False, 0),        # vnodes_skipped counts only objects that might be dirty
])
def test_vm_pageout_page_1118_1138_vget_timelock_timeout_skips_the_vnode(need_commit, mightbedirty,
                                                                         expected_skipped):
    """'flags |= LK_TIMELOCK; vm_page_hold(m); vm_page_wakeup(m); if (vget(vp, flags) != 0) { *vpfailedp = vp;
    ++pageout_lock_miss; if (object->flags & OBJ_MIGHTBEDIRTY) ++*vnodes_skippedp; vm_page_unhold(m); return 0; }'"""
    vm = machine()
    vp, obj, m = vnode_page(vm, need_commit=need_commit)
    other = vnode_page(vm, colour=6, k=1)[2]
    might_be_dirty(obj, mightbedirty)
    lock_vnode(vm, vp, 100)
    miss0 = vm.pageout_lock_miss
    r = pageout(vm, m, pass_=0, vnodes_skipped=7)
    assert r.count == 0 and r.max_launder == 5
    assert r.ticks == vp.lk_timo == vm.hz // 10             # one LK_TIMELOCK sleep, then EWOULDBLOCK
    assert r.vpfailed is vp
    assert vm.pageout_lock_miss == miss0 + 1
    assert r.vnodes_skipped == 7 + expected_skipped
    assert m.hold_count == 0 and not m.flags & PG_BUSY
    assert colour_list(vm, m) == [m, other]                 # not requeued
    assert vp.v_refcnt == 1 and vp.lk_holder is not None    # only the holder's reference is left
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("skip", "vnode lock timed out")
    assert vm.filedev.writes == 0


@pytest.mark.parametrize("locked", [True, False])
def test_vm_pageout_page_1120_1121_same_vnode_as_vpfailed_uses_lk_nowait(locked):
    """'if (vp == *vpfailedp) flags |= LK_NOWAIT;' - a locked vnode that failed before gives EBUSY at once."""
    vm = machine()
    vp, obj, m = vnode_page(vm)
    if locked:
        lock_vnode(vm, vp, 100)
    miss0 = vm.pageout_lock_miss
    r = pageout(vm, m, pass_=0, vpfailed=vp)
    assert r.ticks == 0 and r.vpfailed is vp
    if locked:
        assert r.count == 0
        assert vm.pageout_lock_miss == miss0 + 1 and r.vnodes_skipped == 1
        assert m.hold_count == 0 and m.dirty == ALL and base(m) == PQ_INACTIVE
        ev = last_event(vm, "vm_pageout_page")
        assert (ev["action"], ev["reason"]) == ("skip", "vnode lock busy (LK_NOWAIT)")
    else:
        # LK_NOWAIT on a free lock succeeds: the page is laundered.
        assert r.count == 1 and m.dirty == 0 and vm.pageout_lock_miss == miss0
        assert vp.lk_holder is None and vp.v_refcnt == 0


@pytest.mark.parametrize("change, mightbedirty", [
    ("activated", True),
    ("activated", False),
    ("freed", True),
    ("moved to another object", True),
    ("vnode reused", True),
])
def test_vm_pageout_page_1148_1156_page_changed_while_waiting_for_the_vnode(change, mightbedirty):
    """'if (m->queue - m->pc != PQ_INACTIVE || m->object != object || object->handle != vp) {
    if (object->flags & OBJ_MIGHTBEDIRTY) ++*vnodes_skippedp; vput(vp); vm_page_unhold(m); return 0; }'"""
    vm = machine()
    vp, obj, m = vnode_page(vm, need_commit=True)
    might_be_dirty(obj, mightbedirty)
    other_vp = vm.vfs_create_file("g", 4)

    def action():
        if change == "activated":
            vm.vm_page_activate(m)
        elif change == "freed":
            busy(vm, m)
            vm.vm_page_free(m)             # held: it goes to PQ_HOLD
            assert base(m) == PQ_HOLD
        elif change == "moved to another object":
            vm.vm_page_remove(m)           # still on the inactive queue
            vm.vm_page_insert(m, other_vp.v_object, 0)
        else:
            obj.handle = other_vp

    meddle_while_waiting(vm, vp, m, action)
    r = pageout(vm, m, pass_=0)
    assert r.count == 0 and r.max_launder == 5 and r.vpfailed is None
    assert r.vnodes_skipped == (1 if mightbedirty else 0)
    assert 0 < r.ticks < vp.lk_timo                  # vget succeeded once the holder let go
    assert m.hold_count == 0 and not m.flags & PG_BUSY
    assert vp.lk_holder is None and vp.v_refcnt == 0  # vput
    assert vm.filedev.writes == 0
    expected_queue = {"activated": PQ_ACTIVE, "freed": PQ_FREE, "moved to another object": PQ_INACTIVE,
                      "vnode reused": PQ_INACTIVE}[change]
    assert base(m) == expected_queue
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("skip", "page changed while waiting for the vnode")


def test_vm_pageout_page_1164_1168_page_busied_while_waiting_for_the_vnode():
    """'if (vm_page_busy_try(m, TRUE)) { vput(vp); vm_page_unhold(m); return 0; }' - not requeued, not counted."""
    vm = machine()
    vp, obj, m = vnode_page(vm)
    other = vnode_page(vm, k=1)[2]
    meddle_while_waiting(vm, vp, m, lambda: busy(vm, m))
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=0)
    assert r.count == 0 and r.vnodes_skipped == 0 and r.max_launder == 5
    assert m.flags & PG_BUSY                          # still the other thread's
    assert m.hold_count == 0
    assert colour_list(vm, m) == [m, other] and vm.vm_swapcache_inactive_heuristic == heur0
    assert vp.lk_holder is None and vp.v_refcnt == 0
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("skip", "page busied while waiting for the vnode")
    vm.vm_page_wakeup(m)
    vm.check()


@pytest.mark.parametrize("need_commit, mightbedirty, expected_skipped", [
    (False, True, 1),
    (True, False, 0),
])
def test_vm_pageout_page_1178_1191_page_still_held_after_the_vnode_lock(need_commit, mightbedirty,
                                                                        expected_skipped):
    """'if (m->hold_count) { ...INSERT_TAIL; ++vm_swapcache_inactive_heuristic; if (object->flags & OBJ_MIGHTBEDIRTY)
    ++*vnodes_skippedp; vm_page_wakeup(m); vput(vp); return 0; }'"""
    vm = machine()
    vp, obj, m = vnode_page(vm, need_commit=need_commit)
    other = vnode_page(vm, k=1)[2]
    might_be_dirty(obj, mightbedirty)
    meddle_while_waiting(vm, vp, m, lambda: vm.vm_page_hold(m))
    heur0 = vm.vm_swapcache_inactive_heuristic
    r = pageout(vm, m, pass_=0)
    assert r.count == 0 and r.max_launder == 5
    assert r.vnodes_skipped == expected_skipped
    assert m.hold_count == 1 and not m.flags & PG_BUSY        # our hold dropped, the other one kept
    assert colour_list(vm, m) == [other, m] and vm.vm_swapcache_inactive_heuristic == heur0 + 1
    assert vp.lk_holder is None and vp.v_refcnt == 0
    assert vm.filedev.writes == 0
    ev = last_event(vm, "vm_pageout_page")
    assert (ev["action"], ev["reason"]) == ("requeue", "held after the vnode lock")
    vm.vm_page_unhold(m)
    vm.check()


@pytest.mark.parametrize("lock_ticks", [0, 3])
def test_vm_pageout_page_1213_1220_vnode_page_laundered_under_the_lock_then_vput(lock_ticks, monkeypatch):
    """'count = vm_pageout_clean_helper(m, vmflush_flags); *max_launderp -= count; if (vp != NULL) vput(vp);'"""
    vm = machine()
    vp, obj, m = vnode_page(vm, colour=0, k=0)
    neighbour = page(vm, obj, m.pindex + 1)          # joins the cluster
    if lock_ticks:
        lock_vnode(vm, vp, lock_ticks)
    locked_during_write = []
    real_put = vm.vnode_pager_putpages

    def put(*args):
        locked_during_write.append(vp.lk_holder is not None and vp.lk_holder.td_name == "test-thread")
        return (yield from real_put(*args))

    monkeypatch.setattr(vm, "vnode_pager_putpages", put)
    r = pageout(vm, m, pass_=0, max_launder=5)
    assert r.count == 2 and r.max_launder == 3 and r.vnodes_skipped == 0 and r.vpfailed is None
    assert locked_during_write == [True]
    assert vp.lk_holder is None and vp.v_refcnt == 0              # vput afterwards
    for p in (m, neighbour):
        assert p.dirty == 0 and p.hold_count == 0 and p.busy == 0 and not p.flags & PG_BUSY
        assert vp.v_data[p.pindex] == vm.phys_stamp[p.pfn]
    assert vm.pageout_lock_miss == 0
    assert last_event(vm, "vm_pageout_page")["action"] == "launder"
    assert list(events_of(vm, "vm_pageout_flush")["reason"]) == ["OK", "OK"]
    vm.check()


# == vm_pageout_page_free (716-721) =====================================================================

def test_vm_pageout_page_free_716_721_unmaps_then_frees():
    """'vm_page_protect(m, VM_PROT_NONE); vm_page_free(m);'"""
    vm = machine()
    obj = anon(vm)
    m = page(vm, obj, 0, dirty=0)
    pmaps = map_page(vm, m, 2, write=True)
    busy(vm, m)
    tfree0 = vm.cnt.v_tfree
    vm.vm_pageout_page_free(m)
    assert all(pm.pm_mv[0] == -1 and pm.pm_resident_count == 0 for pm in pmaps)
    assert m.md_pv == [] and not m.flags & (PG_MAPPED | PG_WRITEABLE | PG_BUSY)
    assert base(m) == PQ_FREE and m.object is None and m.dirty == 0 and m.valid == 0
    assert vm.cnt.v_tfree == tfree0 + 1 and 0 not in obj.rb_memq


# == vm_pageout_clean_helper (249-394) ==================================================================

@pytest.mark.parametrize("case", ["held", "unmanaged"])
def test_vm_pageout_clean_helper_267_270_held_or_unmanaged_page_is_left_alone(case):
    """'if (m->hold_count != 0 || (m->flags & PG_UNMANAGED)) { vm_page_wakeup(m); return 0; }'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(3)]
    m = pages[1]
    if case == "held":
        vm.vm_page_hold(m)
    else:
        m.flags |= PG_UNMANAGED
    count, reason = clean_helper(vm, m)
    assert count == 0 and reason == "held or unmanaged"
    assert all(not p.flags & PG_BUSY and p.busy == 0 and p.dirty == ALL for p in pages)
    assert vm.swapdev.writes == 0 and obj.paging_in_progress == 0
    assert len(events_of(vm, "vm_pageout_flush")) == 0


@pytest.mark.parametrize("present, mindex, expected", [
    (range(60, 71), 66, "7 pages, pindex 64-70"),     # 60-63 are in the window below
    (range(60, 71), 63, "4 pages, pindex 60-63"),     # 64-70 are in the window above
    (range(60, 71), 64, "7 pages, pindex 64-70"),     # page_base 0: no reverse scan at all
    (range(0, 70), 0, "64 pages, pindex 0-63"),       # never more than BLIST_MAX_ALLOC pages
])
def test_vm_pageout_clean_helper_278_281_cluster_stays_in_the_aligned_64_page_window(present, mindex, expected):
    """'page_base = pindex % BLIST_MAX_ALLOC; mc[page_base] = m; ib = page_base - 1; is = page_base + 1;'
    and 'while (is < BLIST_MAX_ALLOC && ...)'."""
    vm = machine()
    obj = anon(vm, 200)
    pages = {i: page(vm, obj, i) for i in present}
    count, reason = clean_helper(vm, pages[mindex])
    assert reason == expected
    lo, hi = (int(x) for x in expected.split("pindex ")[1].split("-"))
    assert count == hi - lo + 1
    assert sorted(obj.swblock) == list(range(lo, hi + 1))
    for i, p in pages.items():
        assert (p.dirty == 0) == (lo <= i <= hi)
        assert not p.flags & PG_BUSY and p.busy == 0
    vm.check()


@pytest.mark.parametrize("size, expected", [
    (5, "5 pages, pindex 0-4"),
    (6, "6 pages, pindex 0-5"),
    (4, "4 pages, pindex 0-3"),
])
def test_vm_pageout_clean_helper_346_347_forward_scan_stops_at_object_size(size, expected):
    """'while (is < BLIST_MAX_ALLOC && pindex - page_base + is < object->size)'"""
    vm = machine()
    obj = anon(vm, size)
    pages = [page(vm, obj, i) for i in range(7)]          # pages 5 and 6 lie past a 5-page object's end
    count, reason = clean_helper(vm, pages[2])
    assert reason == expected
    n = int(expected.split()[0])
    assert count == n
    assert [p.dirty == 0 for p in pages] == [i < n for i in range(7)]
    assert sorted(obj.swblock) == list(range(n))


def _stop_case(vm, obj, p, case):
    """Make neighbour ``p`` (a dirty inactive page) match ``case``; return True if it should still join."""
    joins = False
    if case == "busy":
        busy(vm, p)
    elif case == "soft-busy":
        assert vm.vm_page_busy_try(p, False) is False
        vm.vm_page_io_start(p)
        vm.vm_page_wakeup(p)
    elif case.startswith("cached"):
        p.dirty = 0
        busy(vm, p)
        vm.vm_page_cache(p)
        assert base(p) == PQ_CACHE
        if case == "cached, need commit":
            p.flags |= PG_NEED_COMMIT      # would pass the dirty test
        elif case == "cached, pmap modified":
            # Stopped before vm_page_test_dirty(p) could fold this M bit into p->dirty.
            map_page(vm, p, 1, write=True, accessed=False)
    elif case == "unmanaged":
        p.flags |= PG_UNMANAGED
    elif case == "clean":
        p.dirty = 0
    elif case == "dirty but invalid":
        p.valid = 0
    elif case == "clean, need commit":
        p.dirty = 0
        p.flags |= PG_NEED_COMMIT
        joins = True
    elif case == "clean, pmap modified":
        p.dirty = 0
        map_page(vm, p, 1, write=True, accessed=False)
        joins = True
    elif case == "wired":
        busy(vm, p)
        vm.vm_page_wire(p)                 # which also takes it off the queues
        vm.vm_page_wakeup(p)
    elif case == "wired, still inactive":
        p.wire_count = 1                   # wired behind the queues' back: only the wire test stops it
    elif case == "held":
        vm.vm_page_hold(p)
    elif case == "active":
        vm.vm_page_activate(p)
    elif case == "active, ALLOW_ACTIVE":
        vm.vm_page_activate(p)
        joins = True
    elif case == "on no queue, ALLOW_ACTIVE":
        vm.vm_page_unqueue_nowakeup(p)
    else:  # pragma: no cover
        raise AssertionError(case)
    return joins


def _scan_direction(direction, case):
    """m at pindex 2 with pages 0..4; the neighbour on ``direction``'s side matches ``case``.

    The page beyond the neighbour is eligible, so a stop is told from a skip."""
    vm = machine()
    obj = anon(vm, 64)
    missing = case == "missing"
    nb_index = 1 if direction == "reverse" else 3
    pages = {i: page(vm, obj, i, act_count=9) for i in range(5) if not (missing and i == nb_index)}
    m = pages[2]
    m.flags |= PG_WINATCFLS
    m.act_count = 33
    nb = pages.get(nb_index)
    joins = False if missing else _stop_case(vm, obj, nb, case)
    nb_flags = None if nb is None else nb.flags
    nb_dirty = None if nb is None else nb.dirty
    flags = VM_PAGER_ALLOW_ACTIVE if "ALLOW_ACTIVE" in case else 0
    count, reason = clean_helper(vm, m, flags)
    if joins:
        lo, hi = 0, 4
    elif direction == "reverse":
        lo, hi = 2, 4
    else:
        lo, hi = 0, 2
    assert reason == f"{hi - lo + 1} pages, pindex {lo}-{hi}"
    assert count == hi - lo + 1
    assert sorted(obj.swblock) == list(range(lo, hi + 1))
    if nb is not None and not joins:
        # The page that stopped the scan is unbusied again (unless someone else holds the busy) and untouched.
        assert bool(nb.flags & PG_BUSY) == (case == "busy")
        assert nb.act_count == 9 and not nb.flags & PG_WINATCFLS
        assert nb.flags & ~PG_BUSY == nb_flags & ~PG_BUSY and nb.dirty == nb_dirty
        assert nb.pindex not in obj.swblock
    if joins:
        assert nb.act_count == 33 and nb.flags & PG_WINATCFLS
    return vm, nb


MISSING_OR_BUSY = ["missing", "busy", "soft-busy"]
CACHED_OR_UNMANAGED = ["cached", "cached, need commit", "cached, pmap modified", "unmanaged"]
CLEAN_WIRED_HELD = ["clean", "dirty but invalid", "clean, need commit", "clean, pmap modified", "wired",
                    "wired, still inactive", "held"]
NOT_INACTIVE = ["active", "active, ALLOW_ACTIVE", "on no queue, ALLOW_ACTIVE"]


@pytest.mark.parametrize("case", MISSING_OR_BUSY)
def test_vm_pageout_clean_helper_309_310_reverse_scan_stops_at_missing_or_busy_page(case):
    """'if (error || p == NULL) break;' (reverse scan)"""
    _scan_direction("reverse", case)


@pytest.mark.parametrize("case", CACHED_OR_UNMANAGED)
def test_vm_pageout_clean_helper_311_315_reverse_scan_stops_at_cached_or_unmanaged_page(case):
    """'if ((p->queue - p->pc) == PQ_CACHE || (p->flags & PG_UNMANAGED)) { vm_page_wakeup(p); break; }' (reverse)"""
    _scan_direction("reverse", case)


@pytest.mark.parametrize("case", CLEAN_WIRED_HELD)
def test_vm_pageout_clean_helper_316_323_reverse_scan_stops_at_clean_wired_or_held_page(case):
    """'vm_page_test_dirty(p); if (((p->dirty & p->valid) == 0 && (p->flags & PG_NEED_COMMIT) == 0) ||
    p->wire_count != 0 || p->hold_count != 0) { vm_page_wakeup(p); break; }' (reverse)"""
    _scan_direction("reverse", case)


@pytest.mark.parametrize("case", NOT_INACTIVE)
def test_vm_pageout_clean_helper_324_330_reverse_scan_takes_active_pages_only_with_allow_active(case):
    """'if (p->queue - p->pc != PQ_INACTIVE) { if (p->queue - p->pc != PQ_ACTIVE ||
    (vmflush_flags & VM_PAGER_ALLOW_ACTIVE) == 0) { vm_page_wakeup(p); break; } }' (reverse)"""
    vm, nb = _scan_direction("reverse", case)
    if case == "active, ALLOW_ACTIVE":
        assert base(nb) == PQ_ACTIVE          # laundered where it is


@pytest.mark.parametrize("winatcfls", [True, False])
def test_vm_pageout_clean_helper_335_342_reverse_members_inherit_winatcfls_and_act_count(winatcfls):
    """'if (m->flags & PG_WINATCFLS) vm_page_flag_set(p, PG_WINATCFLS); else vm_page_flag_clear(p, PG_WINATCFLS);
    p->act_count = m->act_count; mc[ib] = p; --ib;'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i, act_count=200, flags=0 if winatcfls else PG_WINATCFLS) for i in range(3)]
    m = pages[2]
    m.flags = (m.flags | PG_WINATCFLS) if winatcfls else (m.flags & ~PG_WINATCFLS)
    m.act_count = 17
    count, reason = clean_helper(vm, m)
    assert (count, reason) == (3, "3 pages, pindex 0-2")
    for p in pages:
        assert bool(p.flags & PG_WINATCFLS) == winatcfls and p.act_count == 17


@pytest.mark.parametrize("case", MISSING_OR_BUSY)
def test_vm_pageout_clean_helper_352_353_forward_scan_stops_at_missing_or_busy_page(case):
    """'if (error || p == NULL) break;' (forward scan)"""
    _scan_direction("forward", case)


@pytest.mark.parametrize("case", CACHED_OR_UNMANAGED)
def test_vm_pageout_clean_helper_354_358_forward_scan_stops_at_cached_or_unmanaged_page(case):
    """'if (((p->queue - p->pc) == PQ_CACHE) || (p->flags & PG_UNMANAGED)) { vm_page_wakeup(p); break; }' (forward)"""
    _scan_direction("forward", case)


@pytest.mark.parametrize("case", CLEAN_WIRED_HELD)
def test_vm_pageout_clean_helper_359_366_forward_scan_stops_at_clean_wired_or_held_page(case):
    """'vm_page_test_dirty(p); if (((p->dirty & p->valid) == 0 && (p->flags & PG_NEED_COMMIT) == 0) ||
    p->wire_count != 0 || p->hold_count != 0) { vm_page_wakeup(p); break; }' (forward)"""
    _scan_direction("forward", case)


@pytest.mark.parametrize("case", NOT_INACTIVE)
def test_vm_pageout_clean_helper_367_373_forward_scan_takes_active_pages_only_with_allow_active(case):
    """'if (p->queue - p->pc != PQ_INACTIVE) { if (p->queue - p->pc != PQ_ACTIVE ||
    (vmflush_flags & VM_PAGER_ALLOW_ACTIVE) == 0) { vm_page_wakeup(p); break; } }' (forward)"""
    vm, nb = _scan_direction("forward", case)
    if case == "active, ALLOW_ACTIVE":
        assert base(nb) == PQ_ACTIVE


@pytest.mark.parametrize("winatcfls", [True, False])
def test_vm_pageout_clean_helper_378_385_forward_members_inherit_winatcfls_and_act_count(winatcfls):
    """'if (m->flags & PG_WINATCFLS) vm_page_flag_set(p, PG_WINATCFLS); else vm_page_flag_clear(p, PG_WINATCFLS);
    p->act_count = m->act_count; mc[is] = p; ++is;'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i, act_count=3, flags=0 if winatcfls else PG_WINATCFLS) for i in range(64, 67)]
    m = pages[0]
    m.flags = (m.flags | PG_WINATCFLS) if winatcfls else (m.flags & ~PG_WINATCFLS)
    m.act_count = 250
    count, reason = clean_helper(vm, m)
    assert (count, reason) == (3, "3 pages, pindex 64-66")
    for p in pages:
        assert bool(p.flags & PG_WINATCFLS) == winatcfls and p.act_count == 250


# == vm_pageout_flush (408-517) =========================================================================

def test_vm_pageout_flush_419_424_partially_invalid_page_panics():
    """'KASSERT(mc[i]->valid == VM_PAGE_BITS_ALL, ("vm_pageout_flush page %p index %d/%d: partially invalid page"))'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, 0), page(vm, obj, 1, valid=0x0F)]
    with pytest.raises(KernelPanic, match=r"index 1/2: partially invalid page"):
        flush(vm, pages)
    assert vm.swapdev.writes == 0


@pytest.mark.parametrize("flags", [0, VM_PAGER_TRY_TO_CACHE])
def test_vm_pageout_flush_436_442_pages_made_read_only_or_unmapped_then_unbusied(flags, monkeypatch):
    """'if (vmflush_flags & VM_PAGER_TRY_TO_CACHE) vm_page_protect(mc[i], VM_PROT_NONE);
    else vm_page_protect(mc[i], VM_PROT_READ); vm_page_wakeup(mc[i]);' (after vm_page_io_start)"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i, dirty=0) for i in range(2)]
    pmaps = [map_page(vm, p, 1, write=True)[0] for p in pages]
    seen = []
    real = Machine.vm_pager_put_pages

    def put(o, mc, count, fl, rtvals):
        for p, pm in zip(mc, pmaps, strict=True):
            seen.append((p.flags, p.busy, pte(pm), len(p.md_pv), p.dirty))
        return (yield from real(vm, o, mc, count, fl, rtvals))

    monkeypatch.setattr(vm, "vm_pager_put_pages", put)
    flush(vm, pages, flags)
    for pflags, sbusy, bits, nmap, dirty in seen:
        assert not pflags & PG_BUSY and pflags & PG_SBUSY and sbusy == 1
        assert dirty == ALL                                   # the M bit was folded in
        assert not pflags & PG_WRITEABLE
        if flags & VM_PAGER_TRY_TO_CACHE:
            assert nmap == 0 and bits == 0 and not pflags & PG_MAPPED
        else:
            assert nmap == 1 and bits & PG_RW == 0 and bits & PG_M == 0 and pflags & PG_MAPPED


def test_vm_pageout_flush_444_451_pip_raised_and_pager_gets_the_callers_flags(monkeypatch):
    """'object = mc[0]->object; vm_object_pip_add(object, count); vm_pager_put_pages(object, mc, count,
    (vmflush_flags | ((object == &kernel_object) ? VM_PAGER_PUT_SYNC : 0)), pageout_status);'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(3)]
    seen = fake_pager(vm, monkeypatch, VM_PAGER_AGAIN)
    flush(vm, pages, VM_PAGER_ALLOW_ACTIVE)
    assert seen == [(obj, 3, VM_PAGER_ALLOW_ACTIVE, 3)]
    assert obj.paging_in_progress == 0


@pytest.mark.parametrize("pager", ["vnode OK", "swap PEND"])
def test_vm_pageout_flush_457_462_ok_and_pend_are_counted(pager):
    """'case VM_PAGER_OK: numpagedout++; break; case VM_PAGER_PEND: numpagedout++; break;'"""
    vm = machine()
    if pager == "vnode OK":
        vp = vm.vfs_create_file("f", 8)
        obj = vp.v_object
    else:
        obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(3)]
    laundered0 = vm.laundered
    n = flush(vm, pages)
    assert n == 3 and vm.laundered == laundered0 + 3
    status = "OK" if pager == "vnode OK" else "PEND"
    assert list(events_of(vm, "vm_pageout_flush")["reason"]) == [status] * 3
    for p in pages:
        assert p.dirty == 0 and p.busy == 0 and not p.flags & (PG_BUSY | PG_SBUSY) and base(p) == PQ_INACTIVE
    if pager == "vnode OK":
        assert [vp.v_data[i] for i in range(3)] == [vm.phys_stamp[p.pfn] for p in pages]
    else:
        assert sorted(obj.swblock) == [0, 1, 2]
    assert obj.paging_in_progress == 0
    vm.check()


@pytest.mark.parametrize("how", ["vnode past EOF", "pager says BAD"])
def test_vm_pageout_flush_463_473_bad_page_loses_its_changes(how, monkeypatch):
    """'case VM_PAGER_BAD: vm_page_busy_wait(mt, FALSE, "pgbad"); pmap_clear_modify(mt); vm_page_undirty(mt);
    vm_page_wakeup(mt); break;' - not counted."""
    vm = machine()
    vp = vm.vfs_create_file("f", 8)
    obj = vp.v_object
    pages = [page(vm, obj, i) for i in (4, 5)]
    pmaps = [map_page(vm, p, 1, write=True, accessed=False)[0] for p in pages]
    data0 = vp.v_data.copy()
    if how == "vnode past EOF":
        vp.v_size = 4
    else:
        fake_pager(vm, monkeypatch, VM_PAGER_BAD, set_m_bit=True)
    n = flush(vm, pages)
    assert n == 0
    for p, pm in zip(pages, pmaps, strict=True):
        assert p.dirty == 0
        assert pte(pm) & PG_M == 0 and not vm.pmap_is_modified(p)
        assert not p.flags & (PG_BUSY | PG_SBUSY) and p.busy == 0 and base(p) == PQ_INACTIVE
    assert (vp.v_data == data0).all()
    assert list(events_of(vm, "vm_pageout_flush")["reason"]) == ["BAD", "BAD"]
    assert obj.paging_in_progress == 0


@pytest.mark.parametrize("status", ["FAIL", "AGAIN", "ERROR"])
def test_vm_pageout_flush_474_488_error_fail_again_leave_the_page_dirty(status, monkeypatch):
    """'case VM_PAGER_ERROR: case VM_PAGER_FAIL: ... break; case VM_PAGER_AGAIN: break;' - the page stays dirty."""
    vm = machine()
    if status == "FAIL":
        obj = anon(vm)                                        # out of swap
        vm.inject_swap_alloc_failures(next_allocs=1)
    elif status == "AGAIN":
        obj = vm.vfs_create_file("f", 8).v_object             # the file write fails
        vm.filedev.inject(fail_next_writes=1)
    else:
        obj = anon(vm)
        fake_pager(vm, monkeypatch, VM_PAGER_ERROR)
    pages = [page(vm, obj, i) for i in range(2)]
    n = flush(vm, pages)
    assert n == 0
    for p in pages:
        assert p.dirty == ALL and base(p) == PQ_INACTIVE
        assert not p.flags & (PG_BUSY | PG_SBUSY | PG_SWAPPED) and p.busy == 0
    assert list(events_of(vm, "vm_pageout_flush")["reason"]) == [status] * 2
    assert obj.paging_in_progress == 0
    if status == "FAIL":
        assert vm.swap_pager_full == 2 and obj.swblock == {}
    vm.check()


def test_vm_pageout_flush_502_502_pend_pages_are_finished_by_the_io_completion():
    """'if (pageout_status[i] != VM_PAGER_PEND) { ... }' - a PEND page stays soft-busied until the write completes."""
    vm = machine(swap_write_latency=5)
    vm.sysctl("vm.swap_user_async", 1)                        # an asynchronous swap write from this thread
    obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(2)]
    n = flush(vm, pages)
    assert n == 2
    for p in pages:
        assert p.busy == 1 and p.flags & PG_SBUSY and p.flags & PG_SWAPINPROG and not p.flags & PG_BUSY
        assert p.dirty == ALL
    assert obj.paging_in_progress == 2
    vm.run(until=vm.ticks + 10)
    for p in pages:
        assert p.busy == 0 and not p.flags & (PG_SBUSY | PG_SWAPINPROG) and p.flags & PG_SWAPPED
        assert p.dirty == 0
    assert obj.paging_in_progress == 0
    vm.check()


@pytest.mark.parametrize("status", [VM_PAGER_OK, VM_PAGER_AGAIN, VM_PAGER_BAD, VM_PAGER_FAIL, VM_PAGER_ERROR])
def test_vm_pageout_flush_502_513_other_results_are_finished_here(status, monkeypatch):
    """'vm_page_busy_wait(mt, FALSE, "pgouw"); vm_page_io_finish(mt); ... vm_object_pip_wakeup(object);'"""
    vm = machine()
    obj = anon(vm)
    pages = [page(vm, obj, i) for i in range(3)]
    fake_pager(vm, monkeypatch, status)
    n = flush(vm, pages)
    assert n == (3 if status == VM_PAGER_OK else 0)
    for p in pages:
        assert p.busy == 0 and not p.flags & (PG_BUSY | PG_SBUSY)
    assert obj.paging_in_progress == 0
    vm.check()


@pytest.mark.parametrize("pager, cached", [("vnode OK", True), ("swap FAIL", False)])
def test_vm_pageout_flush_505_506_try_to_cache(pager, cached):
    """'if (vmflush_flags & VM_PAGER_TRY_TO_CACHE) { vm_page_try_to_cache(mt); }'"""
    vm = machine()
    if pager == "vnode OK":
        obj = vm.vfs_create_file("f", 8).v_object
    else:
        obj = anon(vm)
        vm.inject_swap_alloc_failures(next_allocs=1)
    m = page(vm, obj, 0)
    flush(vm, [m], VM_PAGER_TRY_TO_CACHE)
    assert not m.flags & PG_BUSY and m.busy == 0
    if cached:
        assert base(m) == PQ_CACHE and m.dirty == 0
    else:
        assert base(m) == PQ_INACTIVE and m.dirty == ALL
    vm.check()


@pytest.mark.parametrize("severe", [True, False])
def test_vm_pageout_flush_507_512_severe_shortage_deactivates_else_just_unbusies(severe):
    """'} else if (vm_page_count_severe()) { vm_page_deactivate(mt); vm_page_wakeup(mt); }
    else { vm_page_wakeup(mt); }'"""
    vm = machine()
    obj = vm.vfs_create_file("f", 8).v_object
    m = page(vm, obj, 0, queue=PQ_ACTIVE, flags=PG_WINATCFLS, act_count=20)
    if severe:
        vm.vmstats.v_free_severe = vm.vmstats.v_page_count + 1
    assert vm.vm_page_count_severe() == severe
    n = flush(vm, [m], VM_PAGER_ALLOW_ACTIVE)
    assert n == 1 and m.dirty == 0 and not m.flags & PG_BUSY and m.busy == 0
    assert m.act_count == 20
    if severe:
        assert base(m) == PQ_INACTIVE and not m.flags & PG_WINATCFLS
    else:
        assert base(m) == PQ_ACTIVE and m.flags & PG_WINATCFLS
    vm.check()


# == vm_pageout_scan_inactive (738-892) =================================================================

Q = 7


def test_vm_pageout_scan_inactive_779_888_marker_keeps_the_place_and_is_removed(monkeypatch):
    """'marker.flags = PG_BUSY | PG_FICTITIOUS | PG_MARKER; ... TAILQ_INSERT_HEAD(...); maxscan = lcnt;'
    then 'TAILQ_REMOVE(...); TAILQ_INSERT_AFTER(..., m, &marker, pageq);' per page, 'TAILQ_REMOVE(...)' at the end."""
    vm = machine()
    obj = anon(vm)
    pages = [page_in_colour(vm, obj, Q, k, dirty=0) for k in range(3)]
    pq = vm.vm_page_queues[PQ_INACTIVE + Q]
    calls = record_pageout_calls(vm, monkeypatch)
    r = scan(vm, Q, 100)
    assert r.delta == 3
    assert [c.m for c in calls] == pages
    for i, c in enumerate(calls):
        # The marker sits right after the page being handled, with the seed's flags.
        markers = [p for p in c.queue if p.flags & PG_MARKER]
        assert len(markers) == 1
        mk = markers[0]
        assert c.queue.index(mk) == c.queue.index(pages[i]) + 1
        assert mk.flags == PG_BUSY | PG_FICTITIOUS | PG_MARKER
        assert (mk.queue, mk.pc, mk.wire_count) == (PQ_INACTIVE + Q, Q, 1)
        assert c.lcnt == len(c.queue) - 1 == 3 - i             # the marker is never counted
    assert pq.pl_first is None and pq.lcnt == 0
    assert all(base(p) == PQ_CACHE for p in pages)
    vm.check()


def test_vm_pageout_scan_inactive_796_802_maxscan_is_the_queue_length_at_the_start():
    """'maxscan = vm_page_queues[PQ_INACTIVE + q].lcnt;' and 'maxscan-- > 0' - requeued pages are not seen twice."""
    vm = machine()
    obj = anon(vm)
    pages = [page_in_colour(vm, obj, Q, k) for k in range(4)]
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, 100, pass_=0)
    assert r.delta == 0
    assert vm.cnt.v_pdpages == pd0 + 4
    assert colour_list(vm, pages[0]) == pages                 # each went to the tail once: same order
    assert all(p.flags & PG_WINATCFLS and p.dirty == ALL for p in pages)
    assert len(events_of(vm, "vm_pageout_page")) == 4        # no second visit, so no laundering
    assert vm.swapdev.writes == 0
    vm.check()


@pytest.mark.parametrize("avail_shortage, expected", [(2, 2), (0, 0), (-3, 0), (9, 4)])
def test_vm_pageout_scan_inactive_801_802_stops_when_the_shortage_is_met(avail_shortage, expected):
    """'while ((m = TAILQ_NEXT(&marker, pageq)) != NULL && maxscan-- > 0 && avail_shortage - delta > 0)'"""
    vm = machine()
    obj = anon(vm)
    pages = [page_in_colour(vm, obj, Q, k, dirty=0) for k in range(4)]
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, avail_shortage)
    assert r.delta == expected
    assert vm.cnt.v_pdpages == pd0 + expected
    assert [base(p) for p in pages] == [PQ_CACHE] * expected + [PQ_INACTIVE] * (4 - expected)
    assert vm.vm_page_queues[PQ_INACTIVE + Q].lcnt == 4 - expected
    vm.check()


def test_vm_pageout_scan_inactive_806_806_page_with_a_foreign_queue_field_panics():
    """'KKASSERT(m->queue == PQ_INACTIVE + q);' - checked on every page the marker reaches."""
    vm = machine()
    obj = anon(vm)
    a, b = (page_in_colour(vm, obj, Q, k, dirty=0) for k in range(2))
    b.queue = PQ_INACTIVE + Q + 1                              # linked on colour Q, claims colour Q + 1
    with pytest.raises(KernelPanic, match=r"vm_pageout_scan_inactive: page on queue"):
        scan(vm, Q, 100)
    assert base(a) == PQ_CACHE                                 # the first page was handled before the check


def test_vm_pageout_scan_inactive_811_818_pdpages_count_every_visit_and_markers_are_skipped():
    """'mycpu->gd_cnt.v_pdpages++; if (m->flags & PG_MARKER) continue;' - another scan's marker takes a maxscan slot."""
    vm = machine()
    obj = anon(vm)
    a, b, c = (page_in_colour(vm, obj, Q, k, dirty=0) for k in range(3))
    pq = vm.vm_page_queues[PQ_INACTIVE + Q]
    other = vm_page_marker(PQ_INACTIVE + Q, Q)
    TAILQ_INSERT_AFTER(pq, a, other)                          # [a, other marker, b, c], lcnt 3
    assert pq.lcnt == 3
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, 100)
    assert vm.cnt.v_pdpages == pd0 + 3                        # a, the marker, b
    assert r.delta == 2
    assert (base(a), base(b), base(c)) == (PQ_CACHE, PQ_CACHE, PQ_INACTIVE)
    assert [p for p in pq] == [other, c]                      # our marker is gone, theirs stays
    assert other.flags == PG_BUSY | PG_FICTITIOUS | PG_MARKER


def test_vm_pageout_scan_inactive_824_825_busy_pages_are_skipped_in_place():
    """'if (vm_page_busy_try(m, TRUE)) continue;' - hard- or soft-busy pages are neither handled nor moved."""
    vm = machine()
    obj = anon(vm)
    a, b, c, d = (page_in_colour(vm, obj, Q, k, dirty=0) for k in range(4))
    busy(vm, a)
    assert vm.vm_page_busy_try(c, False) is False
    vm.vm_page_io_start(c)
    vm.vm_page_wakeup(c)
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, 100)
    assert r.delta == 2 and vm.cnt.v_pdpages == pd0 + 4
    assert (base(b), base(d)) == (PQ_CACHE, PQ_CACHE)
    assert colour_list(vm, a) == [a, c]
    assert a.flags & PG_BUSY and c.flags & PG_SBUSY and not c.flags & PG_BUSY
    assert list(events_of(vm, "vm_pageout_page")["page"]) == [b.pfn, d.pfn]
    vm.vm_page_wakeup(a)
    vm.vm_page_busy_try(c, False)
    vm.vm_page_io_finish(c)
    vm.vm_page_wakeup(c)
    vm.check()


def test_vm_pageout_scan_inactive_750_750_not_the_emergency_pager_when_there_is_none():
    """'isep = (curthread == emergpager);' - with no emergency pager thread, no scan is the emergency pager's."""
    vm = machine()
    assert vm.emergpager is None and vm.curthread is None
    v = page_in_colour(vm, vm.vfs_create_file("f", 64).v_object, Q, 0, dirty=0)
    gen = vm.vm_pageout_scan_inactive(0, Q, 10, Ref(0))   # handling a clean page never sleeps: drive it here
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    assert stop.value.value == 1
    assert base(v) == PQ_CACHE                              # handled, not skipped as a vnode page


@pytest.mark.parametrize("emergpager", [True, False])
def test_vm_pageout_scan_inactive_840_847_emergency_pager_skips_vnode_pages(emergpager):
    """'if (isep) { if (m->object && m->object->type == OBJT_VNODE) { vm_page_wakeup(m); ... continue; } }'"""
    vm = machine()
    fobj = vm.vfs_create_file("f", 64).v_object
    aobj = anon(vm)
    v1 = page_in_colour(vm, fobj, Q, 0, dirty=0)
    a1 = page_in_colour(vm, aobj, Q, 0, dirty=0)
    v2 = page_in_colour(vm, fobj, Q, 1, dirty=0)
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, 100, emergpager=emergpager)
    assert vm.cnt.v_pdpages == pd0 + 3
    assert base(a1) == PQ_CACHE
    if emergpager:
        assert r.delta == 1
        assert colour_list(vm, v1) == [v1, v2]               # left where they were, unbusied
        assert not (v1.flags | v2.flags) & PG_BUSY
        skips = events_of(vm, "vm_pageout_scan_inactive")
        assert list(skips["page"]) == [v1.pfn, v2.pfn]
        assert set(skips["action"]) == {"skip"}
        assert set(skips["reason"]) == {"vnode page: emergency pager skips it"}
        assert list(events_of(vm, "vm_pageout_page")["page"]) == [a1.pfn]
    else:
        assert r.delta == 3 and base(v1) == base(v2) == PQ_CACHE
        assert len(events_of(vm, "vm_pageout_scan_inactive")) == 0
    vm.check()


@pytest.mark.parametrize("vm_max_launder, pass_, expected", [
    (4096, 0, 4096),
    (5, 0, 5),
    (1, 0, 1),
    (0, 0, 1),            # at least 1
    (-7, 0, 1),
    (5, 1, 10000),        # all out after the first pass
    (0, 3, 10000),
])
def test_vm_pageout_scan_inactive_771_774_max_launder(vm_max_launder, pass_, expected, monkeypatch):
    """'if ((max_launder = vm_max_launder) <= 1) max_launder = 1; if (pass) max_launder = 10000;'
    - one budget for the whole scan, passed to every vm_pageout_page with vmflush_flags 0."""
    vm = machine()
    vm.vm_max_launder = vm_max_launder
    vm.vmstats.v_free_target = 100000                          # no early stop
    objs = [anon(vm) for _ in range(3)]
    pages = [page_in_colour(vm, o, Q, 0, flags=PG_WINATCFLS) for o in objs]   # dirty, second trip
    calls = record_pageout_calls(vm, monkeypatch)
    r = scan(vm, Q, 100, pass_=pass_)
    laundered = min(3, expected)
    assert [c.max_launder for c in calls] == [expected - i if i < laundered else expected - laundered
                                              for i in range(3)]
    assert all(c.pass_ == pass_ and c.flags == 0 for c in calls)
    assert r.delta == laundered
    assert [p.dirty == 0 for p in pages] == [i < laundered for i in range(3)]


def test_vm_pageout_scan_inactive_792_853_vpfailed_and_vnodes_skipped_shared_by_the_scan():
    """'vpfailed = NULL;' ... 'count = vm_pageout_page(m, &max_launder, vnodes_skipped, &vpfailed, pass, 0);'
    - the first page of a locked vnode waits LK_TIMELOCK, the next one of it fails LK_NOWAIT at once."""
    vm = machine()
    vp, obj, m1 = vnode_page(vm, colour=Q, k=0)
    m2 = vnode_page(vm, colour=Q, k=1)[2]
    lock_vnode(vm, vp, 200)
    vs = Ref(2)
    r = scan(vm, Q, 100, vnodes_skipped=vs)
    assert r.delta == 0 and vs.v == 4
    assert r.ticks == vp.lk_timo                               # only one timed wait
    assert vm.pageout_lock_miss == 2
    assert list(events_of(vm, "vm_pageout_page")["reason"]) == ["vnode lock timed out",
                                                                "vnode lock busy (LK_NOWAIT)"]
    assert m1.hold_count == m2.hold_count == 0 and m1.dirty == m2.dirty == ALL
    # A new scan starts with vpfailed = NULL: it waits again.
    r = scan(vm, Q, 100, vnodes_skipped=vs)
    assert r.ticks == vp.lk_timo and vm.pageout_lock_miss == 4


@pytest.mark.parametrize("slack, avail_shortage, first, expected_delta, expected_visits", [
    (1, 50, "clean", 50, 1),     # stopped early: reports the whole shortage met
    (1, 2, "cluster", 3, 1),     # delta already above the shortage: left as it is
    (0, 50, "dirty", 0, 3),      # paging_target == -vm_max_launder: not below, no early stop
    (1, 50, "dirty", 50, 1),
])
def test_vm_pageout_scan_inactive_877_884_early_stop_reports_full_completion(slack, avail_shortage, first,
                                                                            expected_delta, expected_visits):
    """'if (vm_paging_target() < -vm_max_launder) { if (delta < avail_shortage) delta = avail_shortage; break; }'"""
    vm = machine()
    vm.vm_max_launder = 10
    obj = anon(vm)
    if first == "clean":
        pages = [page_in_colour(vm, obj, Q, k, dirty=0) for k in range(3)]
    elif first == "cluster":
        pages = [page_in_colour(vm, obj, Q, k, flags=PG_WINATCFLS) for k in range(3)]
        for i in (1, 2):                                       # two dirty neighbours of the first page
            page(vm, obj, pages[0].pindex + i)
    else:
        pages = [page_in_colour(vm, obj, Q, k) for k in range(3)]
    vs = vm.vmstats
    # paging_target = (free_target + cache_min) - (F + C) = -vm_max_launder - slack after the first page
    # (caching a page adds one to C; a first trip or a laundering changes neither).
    after_first = 1 if first == "clean" else 0
    vs.v_free_target = vs.v_free_count + vs.v_cache_count + after_first - vm.vm_max_launder - slack
    pd0 = vm.cnt.v_pdpages
    r = scan(vm, Q, avail_shortage)
    assert r.delta == expected_delta
    assert vm.cnt.v_pdpages == pd0 + expected_visits
    assert len(events_of(vm, "vm_pageout_page")) == expected_visits
    assert vm.vm_page_queues[PQ_INACTIVE + Q].lcnt == sum(1 for p in pages if base(p) == PQ_INACTIVE)
    assert not any(p.flags & PG_MARKER for p in vm.vm_page_queues[PQ_INACTIVE + Q])
    vm.check()
