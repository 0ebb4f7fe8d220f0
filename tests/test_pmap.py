"""The pmap functions behave as facts §5 states."""

from __future__ import annotations

from helpers import small_machine

from vmkit import MapFile, Script
from vmkit.constants import (
    PG_A,
    PG_M,
    PG_MAPPED,
    PG_REFERENCED,
    PG_RW,
    PG_WRITEABLE,
    VM_PAGE_BITS_ALL,
    VM_PROT_NONE,
    VM_PROT_READ,
)
from vmkit.pmap import pmap_pgscan_info


def shared_file_machine(nproc: int, write: bool = False, pages: int = 4):
    """``nproc`` lingering processes that each touch every page of one shared file."""
    vm = small_machine(ram=256)
    vm.vfs_create_file("lib", pages)
    procs = [
        vm.spawn(f"p{i}", Script([[(v, write) for v in range(pages)]], linger=True), regions=[MapFile("lib")])
        for i in range(nproc)
    ]
    vm.run(until=vm.ticks + 3 * pages + 3)      # file pages are read in, one tick each
    page0 = vm.vfs_lookup("lib").v_object.rb_memq[0]
    return vm, procs, page0


def test_mappings_and_reverse_map_agree():
    vm, procs, m = shared_file_machine(3)
    assert len(m.md_pv) == 3
    assert m.flags & PG_MAPPED and m.flags & PG_WRITEABLE
    for p in procs:
        assert vm.pte_page(p.p_vmspace.vm_pmap, 0) is m
        assert p.p_vmspace.vm_pmap.pm_resident_count == 4
    vm.check()


def test_ts_referenced_counts_and_clears_a_bits_capped_at_five():
    vm, procs, m = shared_file_machine(7)
    assert all(vm.pte_bits(p.p_vmspace.vm_pmap, 0) & PG_A for p in procs)
    assert vm.pmap_ts_referenced(m) == 5
    left = [p for p in procs if vm.pte_bits(p.p_vmspace.vm_pmap, 0) & PG_A]
    assert len(left) == 2                      # it stopped at five
    assert vm.pmap_ts_referenced(m) == 2
    assert vm.pmap_ts_referenced(m) == 0


def test_ts_referenced_ignores_pg_referenced():
    vm, procs, m = shared_file_machine(1)
    vm.pmap_ts_referenced(m)
    m.flags |= PG_REFERENCED
    assert vm.pmap_ts_referenced(m) == 0


def test_clear_reference_and_clear_modify():
    vm, procs, m = shared_file_machine(2, write=True)
    assert vm.pmap_is_modified(m)
    vm.pmap_clear_reference(m)
    assert not any(vm.pte_bits(p.p_vmspace.vm_pmap, 0) & PG_A for p in procs)
    m.dirty = 0
    vm.pmap_clear_modify(m)
    assert not vm.pmap_is_modified(m)
    assert m.dirty == 0                        # clear_modify leaves m->dirty alone


def test_page_protect_read_clears_rw_and_m_and_dirties_page():
    vm, procs, m = shared_file_machine(2, write=True)
    m.dirty = 0
    vm.pmap_page_protect(m, VM_PROT_READ)
    for p in procs:
        bits = vm.pte_bits(p.p_vmspace.vm_pmap, 0)
        assert not bits & (PG_RW | PG_M)
    assert m.dirty == VM_PAGE_BITS_ALL
    assert not m.flags & PG_WRITEABLE
    assert m.flags & PG_MAPPED


def test_page_protect_none_removes_mappings_moving_a_and_m():
    vm, procs, m = shared_file_machine(2, write=True)
    m.dirty = 0
    m.flags &= ~PG_REFERENCED
    vm.pmap_page_protect(m, VM_PROT_NONE)
    assert m.md_pv == []
    assert not m.flags & (PG_MAPPED | PG_WRITEABLE)
    assert m.dirty == VM_PAGE_BITS_ALL and m.flags & PG_REFERENCED
    for p in procs:
        assert vm.pte_page(p.p_vmspace.vm_pmap, 0) is None
        assert p.p_vmspace.vm_pmap.pm_resident_count == 3
    vm.check()


def test_remove_specific_only_touches_one_pmap():
    vm, procs, m = shared_file_machine(3)
    pm = procs[1].p_vmspace.vm_pmap
    vm.pmap_remove_specific(pm, m)
    assert len(m.md_pv) == 2 and m.flags & PG_MAPPED
    assert vm.pte_page(pm, 0) is None
    assert vm.pmap_resident_tlnw_count(pm) == 3
    vm.check()


def test_resident_tlnw_count_subtracts_wired():
    vm, procs, m = shared_file_machine(1)
    pm = procs[0].p_vmspace.vm_pmap
    pm.pm_wired_count = 1
    assert vm.pmap_resident_tlnw_count(pm) == pm.pm_resident_count - 1


def _scan(vm, pm, callback, beg=0, end=None):
    info = pmap_pgscan_info()
    info.pmap = pm
    info.beg_addr = beg
    info.end_addr = end if end is not None else pm.pm_npages << vm.PAGE_SHIFT
    info.callback = callback
    gen = vm.pmap_pgscan(info)
    try:
        while True:
            next(gen)
    except StopIteration:
        pass
    return info


def test_pgscan_walks_ascending_va_with_busied_pages():
    vm, procs, _ = shared_file_machine(1, pages=8)
    pm = procs[0].p_vmspace.vm_pmap
    seen = []

    def cb(info, va, m):
        assert m.flags & 1                   # hard-busied for the callback
        seen.append(va >> vm.PAGE_SHIFT)
        vm.vm_page_wakeup(m)
        return 0

    info = _scan(vm, pm, cb)
    assert seen == list(range(8))
    assert info.offset == info.end_addr


def test_pgscan_skips_busy_pages_and_stops_on_negative():
    vm, procs, _ = shared_file_machine(1, pages=8)
    pm = procs[0].p_vmspace.vm_pmap
    busy = vm.pte_page(pm, 2)
    assert vm.vm_page_busy_try(busy, False) is False
    seen = []

    def cb(info, va, m):
        seen.append(va >> vm.PAGE_SHIFT)
        vm.vm_page_wakeup(m)
        if len(seen) == 4:
            info.offset = va
            return -1
        return 0

    info = _scan(vm, pm, cb)
    assert seen == [0, 1, 3, 4]
    assert info.busycount == 1
    assert info.offset == 4 << vm.PAGE_SHIFT


def test_pgscan_starts_at_beg_addr():
    vm, procs, _ = shared_file_machine(1, pages=8)
    pm = procs[0].p_vmspace.vm_pmap
    seen = []

    def cb(info, va, m):
        seen.append(va >> vm.PAGE_SHIFT)
        vm.vm_page_wakeup(m)
        return 0

    _scan(vm, pm, cb, beg=5 << vm.PAGE_SHIFT)
    assert seen == [5, 6, 7]


def test_pmap_collect_is_a_noop():
    vm, procs, m = shared_file_machine(1)
    before = vm.state_digest()
    vm.pmap_collect()
    assert vm.state_digest() == before
