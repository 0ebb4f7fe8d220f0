"""The invariant checker: a full walk over the machine that finds any inconsistency.

``machine.check()`` raises :class:`InvariantError` listing every violation of:

* **queues** - every page is on exactly one queue or none, its ``queue`` field
  names the list it is on, ``queue - pc`` is a queue base, each list is
  correctly linked, and each ``lcnt`` equals its list's length (markers do
  not count, facts §1);
* **vmstats** - ``v_free_count``, ``v_cache_count``, ``v_inactive_count`` and
  ``v_active_count`` (ACTIVE plus HOLD) equal the queues;
* **FREE and CACHE** - no page there is mapped or dirty (nor has a set PTE M
  bit); free pages belong to no object; cached pages are valid;
* **reverse map** - every valid PTE appears in its page's ``md_pv`` and maps
  the page the address space says it should; every pv entry has its PTE;
  ``PG_MAPPED`` and ``PG_WRITEABLE`` agree with the mappings; each pmap's
  resident count equals its valid PTEs;
* **objects** - pages and objects agree on each other, resident counts match;
* **busy, hold, wire** - counts are non-negative and ``PG_SBUSY`` matches
  ``busy``; held pages off the FREE queue are on HOLD only when held;
* **swap** - every allocated block belongs to exactly one object page, the
  free map, per-stripe counts and ``vm_swap_size`` agree.

The walk is O(pages + PTEs); tests call it after every step of randomised
runs, the machine never calls it itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .constants import (
    PG_BUSY,
    PG_MAPPED,
    PG_MARKER,
    PG_RW,
    PG_SBUSY,
    PG_SWAPINPROG,
    PG_SWAPPED,
    PG_WRITEABLE,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    PQ_NONE,
    SWB_DMMAX,
    VM_PAGE_BITS_ALL,
)
from .pmap import PTE_SHIFT

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

_BASES = (PQ_FREE, PQ_INACTIVE, PQ_ACTIVE, PQ_CACHE, PQ_HOLD)


class InvariantError(AssertionError):
    """The machine is inconsistent; ``violations`` lists what was found."""

    def __init__(self, violations: list[str], tick: int) -> None:
        self.violations = violations
        shown = "\n  ".join(violations[:25])
        more = f"\n  ... and {len(violations) - 25} more" if len(violations) > 25 else ""
        super().__init__(f"{len(violations)} invariant violation(s) at tick {tick}:\n  {shown}{more}")


def check_machine(vm: Machine) -> None:
    """Walk everything; raise :class:`InvariantError` if any invariant is broken."""
    bad: list[str] = []
    _check_queues(vm, bad)
    _check_pages(vm, bad)
    _check_pmaps(vm, bad)
    _check_objects(vm, bad)
    _check_swap(vm, bad)
    if bad:
        raise InvariantError(bad, vm.ticks)


def _check_queues(vm: Machine, bad: list[str]) -> None:
    L2 = vm.PQ_L2_SIZE
    totals = dict.fromkeys(_BASES, 0)
    on_queue: dict[int, int] = {}
    for i, q in enumerate(vm.vm_page_queues):
        if i == PQ_NONE:
            if q.pl_first is not None:
                bad.append("queue PQ_NONE has pages linked on it")
            continue
        base = 1 + ((i - 1) // 512) * 512
        colour = i - base
        n = 0
        prev = None
        m = q.pl_first
        steps = 0
        while m is not None:
            steps += 1
            if steps > len(vm.vm_page_array) + 1024:
                bad.append(f"queue {i}: list does not end (a cycle)")
                break
            if m.pq_prev is not prev:
                bad.append(f"queue {i}: broken back link at {m!r}")
            if not m.flags & PG_MARKER:
                n += 1
                if m.queue != i:
                    bad.append(f"page {m.pfn} is linked on queue {i} but its queue field is {m.queue}")
                if m.pfn in on_queue:
                    bad.append(f"page {m.pfn} is linked on queues {on_queue[m.pfn]} and {i}")
                on_queue[m.pfn] = i
            elif m.queue != i:
                bad.append(f"marker on queue {i} has queue field {m.queue}")
            prev = m
            m = m.pq_next
        if q.pl_last is not prev:
            bad.append(f"queue {i}: tail pointer is not the last page")
        if n != q.lcnt:
            bad.append(f"queue {i}: lcnt={q.lcnt} but {n} pages are linked")
        if n and colour >= L2:
            bad.append(f"queue {i}: colour {colour} is beyond PQ_L2_SIZE={L2}")
        if base in totals:
            totals[base] += q.lcnt
    for m in vm.vm_page_array:
        if m.queue != PQ_NONE and on_queue.get(m.pfn) != m.queue:
            bad.append(f"page {m.pfn} says queue {m.queue} but is not linked there")
        if m.queue != PQ_NONE and (m.queue - m.pc) not in _BASES:
            bad.append(f"page {m.pfn}: queue {m.queue} minus colour {m.pc} is not a queue base")
    vs = vm.vmstats
    for name, value in (("v_free_count", totals[PQ_FREE]), ("v_cache_count", totals[PQ_CACHE]),
                        ("v_inactive_count", totals[PQ_INACTIVE]),
                        ("v_active_count", totals[PQ_ACTIVE] + totals[PQ_HOLD])):
        if getattr(vs, name) != value:
            bad.append(f"vmstats.{name}={getattr(vs, name)} but the queues hold {value}")
    if vs.v_page_count != len(vm.vm_page_array):
        bad.append(f"vmstats.v_page_count={vs.v_page_count} but there are {len(vm.vm_page_array)} pages")


def _check_pages(vm: Machine, bad: list[str]) -> None:
    for m in vm.vm_page_array:
        base = m.queue - m.pc if m.queue else PQ_NONE
        if m.busy < 0 or m.hold_count < 0 or m.wire_count < 0:
            bad.append(f"page {m.pfn}: negative busy/hold/wire count {m!r}")
        if bool(m.flags & PG_SBUSY) != (m.busy > 0):
            bad.append(f"page {m.pfn}: PG_SBUSY does not match busy={m.busy}")
        if not 0 <= m.act_count <= 255:
            bad.append(f"page {m.pfn}: act_count {m.act_count} does not fit a u_char")
        if bool(m.flags & PG_MAPPED) != bool(m.md_pv):
            bad.append(f"page {m.pfn}: PG_MAPPED={bool(m.flags & PG_MAPPED)} but {len(m.md_pv)} mappings")
        if m.flags & PG_WRITEABLE and not m.md_pv:
            bad.append(f"page {m.pfn}: PG_WRITEABLE set but the page has no mappings")
        if base in (PQ_FREE, PQ_CACHE):
            if m.md_pv or m.flags & PG_MAPPED:
                bad.append(f"page {m.pfn} on {'FREE' if base == PQ_FREE else 'CACHE'} is mapped")
            if m.dirty:
                bad.append(f"page {m.pfn} on {'FREE' if base == PQ_FREE else 'CACHE'} is dirty")
            if m.flags & PG_BUSY:
                bad.append(f"page {m.pfn} on {'FREE' if base == PQ_FREE else 'CACHE'} is busy")
        if base == PQ_FREE:
            if m.object is not None:
                bad.append(f"free page {m.pfn} still belongs to object {m.object.id}")
            if m.hold_count:
                bad.append(f"free page {m.pfn} is held (held free pages belong on HOLD)")
            if m.wire_count:
                bad.append(f"free page {m.pfn} is wired")
        if base == PQ_CACHE:
            if m.object is None:
                bad.append(f"cache page {m.pfn} has no object")
            if m.valid != VM_PAGE_BITS_ALL:
                bad.append(f"cache page {m.pfn} is not fully valid")
        if base == PQ_HOLD and m.hold_count == 0:
            bad.append(f"page {m.pfn} is on HOLD with hold_count 0")
        if m.object is not None:
            if m.object.rb_memq.get(m.pindex) is not m:
                bad.append(f"page {m.pfn} says object {m.object.id} index {m.pindex} but the object disagrees")
            if not m.flags & PG_BUSY and m.valid != VM_PAGE_BITS_ALL:
                bad.append(f"page {m.pfn} is in an object, not busy, and not valid")
            if m.flags & PG_SWAPPED and m.pindex not in m.object.swblock:
                bad.append(f"page {m.pfn} has PG_SWAPPED but its object has no swap block at {m.pindex}")
        elif base not in (PQ_FREE, PQ_HOLD, PQ_NONE):
            bad.append(f"page {m.pfn} on queue base {base} has no object")


def _check_pmaps(vm: Machine, bad: list[str]) -> None:
    arr = vm.vm_page_array
    seen_pv: set[tuple[int, int]] = set()
    for p in list(vm.allproc.values()):
        vms = p.p_vmspace
        if vms is None:
            continue
        pm = vms.vm_pmap
        pte = pm.pm_pte
        valid = np.flatnonzero(pte >= 0)
        if len(valid) != pm.pm_resident_count:
            bad.append(f"pid {p.p_pid}: pmap resident_count={pm.pm_resident_count} but {len(valid)} valid PTEs")
        for vpn in valid.tolist():
            e = int(pte[vpn])
            pfn = e >> PTE_SHIFT
            if not 0 <= pfn < len(arr):
                bad.append(f"pid {p.p_pid} vpn {vpn}: PTE points at frame {pfn}, outside memory")
                continue
            m = arr[pfn]
            if (pm, vpn) not in m.md_pv:
                bad.append(f"pid {p.p_pid} vpn {vpn}: PTE maps page {pfn} but the page's pv list lacks it")
            if e & PG_RW and not m.flags & PG_WRITEABLE:
                bad.append(f"pid {p.p_pid} vpn {vpn}: writeable PTE but page {pfn} lacks PG_WRITEABLE")
            entry = vm.vm_map_lookup_entry(vms.vm_map, vpn)
            if entry is None:
                bad.append(f"pid {p.p_pid} vpn {vpn}: valid PTE outside every map entry")
            elif m.object is not entry.object or m.pindex != entry.offset + vpn - entry.start:
                bad.append(f"pid {p.p_pid} vpn {vpn}: maps page {pfn} of the wrong object or index")
            seen_pv.add((pm.pm_id, vpn))
    for m in arr:
        for pm, vpn in m.md_pv:
            e = int(pm.pm_pte[vpn]) if vpn < pm.pm_npages else -1
            if e < 0 or e >> PTE_SHIFT != m.pfn:
                bad.append(f"page {m.pfn}: pv entry (pmap {pm.pm_id}, vpn {vpn}) has no matching PTE")
            elif (pm.pm_id, vpn) not in seen_pv:
                bad.append(f"page {m.pfn}: pv entry for pmap {pm.pm_id} belongs to no live process")


def _check_objects(vm: Machine, bad: list[str]) -> None:
    for obj in vm.vm_objects():
        if obj.resident_page_count != len(obj.rb_memq):
            bad.append(f"object {obj.id}: resident_page_count={obj.resident_page_count} but {len(obj.rb_memq)} pages")
        if obj.ref_count < 0 or obj.paging_in_progress < 0:
            bad.append(f"object {obj.id}: negative ref_count or paging_in_progress")
        for pindex, m in obj.rb_memq.items():
            if m.object is not obj or m.pindex != pindex:
                bad.append(f"object {obj.id} index {pindex}: page {m.pfn} does not point back")
            if m.queue and m.queue - m.pc == PQ_FREE:
                bad.append(f"object {obj.id} index {pindex}: page {m.pfn} is on the FREE queue")
            if not 0 <= pindex < obj.size:
                bad.append(f"object {obj.id}: page at index {pindex} beyond size {obj.size}")


def _check_swap(vm: Machine, bad: list[str]) -> None:
    n = vm.swap_nblocks
    owner: dict[int, tuple[int, int]] = {}
    for obj in vm.vm_objects():
        groups: dict[int, int] = {}
        for pindex, blk in obj.swblock.items():
            if not 0 <= blk < n:
                bad.append(f"object {obj.id} index {pindex}: swap block {blk} outside the swap disk")
                continue
            if blk in owner:
                bad.append(f"swap block {blk} belongs to object/index {owner[blk]} and {(obj.id, pindex)}")
            owner[blk] = (obj.id, pindex)
            if n and vm._swap_free[blk]:
                bad.append(f"swap block {blk} of object {obj.id} index {pindex} is marked free")
            groups[pindex // 32] = groups.get(pindex // 32, 0) + 1
        if groups != obj.swb_groups:
            bad.append(f"object {obj.id}: swap group counts {obj.swb_groups} disagree with its blocks {groups}")
    if n:
        nfree = int(vm._swap_free[:n].sum())
        if nfree != vm.vm_swap_size:
            bad.append(f"vm_swap_size={vm.vm_swap_size} but {nfree} swap blocks are free")
        used = n - nfree
        if used != len(owner):
            bad.append(f"{used} swap blocks are allocated but {len(owner)} belong to object pages")
        for s in range(len(vm._stripe_free)):
            seg = vm._swap_free[s * SWB_DMMAX:min((s + 1) * SWB_DMMAX, n)]
            cnt = int(seg.sum())
            if cnt != vm._stripe_free[s]:
                bad.append(f"swap stripe {s}: free count {vm._stripe_free[s]} but {cnt} free blocks")
            bits = sum(1 << i for i in np.flatnonzero(seg).tolist())
            if bits != vm._stripe_bits[s]:
                bad.append(f"swap stripe {s}: free bitmap disagrees with the free map")
    elif vm.vm_swap_size:
        bad.append(f"no swap disk but vm_swap_size={vm.vm_swap_size}")
    for m in vm.vm_page_array:
        if m.flags & PG_SWAPINPROG and not m.flags & (PG_BUSY | PG_SBUSY):
            bad.append(f"page {m.pfn}: swap I/O in progress but the page is not busy")
