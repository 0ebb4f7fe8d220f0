"""Physical memory and the MMU: page contents, per-process page tables, the reverse map.

Mirrors the x86_64 ``pmap`` functions the daemon calls (facts §5).

* Physical memory is ``phys_stamp``: one 64-bit value per frame, the stamp of
  the last write that reached the frame.  Every write a program makes stores
  a fresh stamp, so a write lost by paging shows up as a wrong stamp on a
  later read (see :mod:`vmkit.oracle`).
* A :class:`pmap` is a process's page table: one ``int64`` PTE per virtual
  page, ``-1`` when invalid, otherwise ``pfn << 8 | bits`` with the x86 bits
  ``PG_V``, ``PG_RW``, ``PG_A`` (accessed) and ``PG_M`` (modified).  Keeping
  the PTEs in one numpy array lets the user-mode reference path check and
  update thousands of references per numpy call (:mod:`vmkit.proc`).
* The reverse map (the kernel's pv entries) is ``m.md_pv``: the
  ``(pmap, vpn)`` of every mapping of a page.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from .constants import (
    PG_A,
    PG_FICTITIOUS,
    PG_M,
    PG_MAPPED,
    PG_REFERENCED,
    PG_RW,
    PG_UNMANAGED,
    PG_V,
    PG_WRITEABLE,
    VM_PROT_NONE,
    VM_PROT_WRITE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .vm_page import vm_page

PTE_SHIFT = 8          # a PTE is pfn << PTE_SHIFT | bits
PTE_BITS = (1 << PTE_SHIFT) - 1
PTE_INVALID = -1
PMAP_TS_REFERENCED_MAX = 5   # pmap_ts_referenced() stops counting here (facts §5)
PGSCAN_CHUNK = 512


class pmap:
    """A process's page table and its statistics (``struct pmap``)."""

    __slots__ = ("pm_pte", "pm_mv", "pm_npages", "pm_resident_count", "pm_wired_count", "pm_proc", "pm_id")

    def __init__(self, pm_id: int, npages: int, proc: Any = None) -> None:
        self.pm_id = pm_id
        self.pm_npages = npages
        self.pm_pte = np.full(npages, PTE_INVALID, dtype=np.int64)
        # The same PTEs seen as Python ints: one PTE at a time, this is
        # several times faster than indexing the numpy array.
        self.pm_mv = memoryview(self.pm_pte)
        self.pm_resident_count = 0
        self.pm_wired_count = 0
        self.pm_proc = proc

    def __repr__(self) -> str:
        return f"<pmap {self.pm_id} resident={self.pm_resident_count}>"


class pmap_pgscan_info:
    """Arguments and results of :meth:`PmapMixin.pmap_pgscan` (``struct pmap_pgscan_info``, facts §5)."""

    __slots__ = ("pmap", "beg_addr", "end_addr", "offset", "limit", "busycount",
                 "cleancount", "actioncount", "callback")

    def __init__(self) -> None:
        self.pmap: pmap | None = None
        self.beg_addr = 0
        self.end_addr = 0
        self.offset = 0
        self.limit = 0
        self.busycount = 0
        self.cleancount = 0
        self.actioncount = 0
        self.callback: Callable | None = None


class PmapMixin:
    """Physical memory contents and the pmap functions of a :class:`~vmkit.machine.Machine`."""

    def _init_pmap(self) -> None:
        self.phys_stamp = np.zeros(self.config.ram_pages, dtype=np.int64)
        self.phys_mv = memoryview(self.phys_stamp)
        self.PAGE_SHIFT = self.config.page_shift
        self.PAGE_SIZE = self.config.page_size
        self._next_pmap_id = 1

    def pmap_create(self, npages: int, proc: Any = None) -> pmap:
        """A new, empty page table covering ``npages`` virtual pages."""
        pm = pmap(self._next_pmap_id, npages, proc)
        self._next_pmap_id += 1
        return pm

    # -- physical memory ---------------------------------------------------------------------------
    def pmap_zero_page(self, m: vm_page) -> None:
        """Fill frame ``m`` with zeros (its stamp becomes 0)."""
        self.phys_mv[m.pfn] = 0

    # -- entering and removing mappings ------------------------------------------------------------
    def pmap_enter(self, pm: pmap, vpn: int, m: vm_page, prot: int, write_access: bool) -> None:
        """Map ``m`` at ``vpn`` with ``prot``; the access that caused it sets A (and M for a write).

        Re-entering the page already mapped at ``vpn`` only changes the bits
        (a write to a read-only mapping upgrades it).
        """
        mv = pm.pm_mv
        old = mv[vpn]
        bits = PG_V | PG_A
        if prot & VM_PROT_WRITE:
            bits |= PG_RW
            if write_access:
                bits |= PG_M
        if old >= 0:
            if old >> PTE_SHIFT != m.pfn:
                self.panic(f"pmap_enter: vpn {vpn} already maps frame {old >> PTE_SHIFT}, not {m.pfn}")
            bits |= old & (PG_M | PG_A)
        else:
            m.md_pv.append((pm, vpn))
            pm.pm_resident_count += 1
            m.flags |= PG_MAPPED
        if bits & PG_RW:
            m.flags |= PG_WRITEABLE
        mv[vpn] = (m.pfn << PTE_SHIFT) | bits

    def _pmap_remove_pte(self, pm: pmap, vpn: int, m: vm_page) -> None:
        """Remove one mapping: M goes to ``m.dirty``, A to PG_REFERENCED (facts §5)."""
        mv = pm.pm_mv
        pte = mv[vpn]
        mv[vpn] = PTE_INVALID
        pm.pm_resident_count -= 1
        m.md_pv.remove((pm, vpn))
        if pte & PG_M:
            self.vm_page_dirty(m)
        if pte & PG_A:
            m.flags |= PG_REFERENCED
        if not m.md_pv:
            m.flags &= ~(PG_MAPPED | PG_WRITEABLE)

    def pmap_remove(self, pm: pmap, svpn: int, evpn: int) -> None:
        """Remove every mapping in ``[svpn, evpn)`` of ``pm``."""
        ptes = pm.pm_pte[svpn:evpn]
        arr = self.vm_page_array
        for i in np.flatnonzero(ptes >= 0).tolist():
            vpn = svpn + i
            self._pmap_remove_pte(pm, vpn, arr[pm.pm_mv[vpn] >> PTE_SHIFT])

    def pmap_remove_specific(self, pm: pmap, m: vm_page) -> None:
        """Remove the mappings of ``m`` in ``pm`` only (facts §5)."""
        for pv in [pv for pv in m.md_pv if pv[0] is pm]:
            self._pmap_remove_pte(pm, pv[1], m)

    # -- reference and modify bits (facts §5) ------------------------------------------------------
    def pmap_ts_referenced(self, m: vm_page) -> int:
        """Count and clear the A bits of ``m``'s mappings, stopping at 5 (facts §5). Ignores PG_REFERENCED."""
        if m.flags & PG_FICTITIOUS:
            return 0
        pv = m.md_pv
        if len(pv) == 1:            # the common case, without the loop
            pm, vpn = pv[0]
            mv = pm.pm_mv
            v = mv[vpn]
            if v & PG_A:
                mv[vpn] = v & ~PG_A
                return 1
            return 0
        count = 0
        for pm, vpn in pv:
            mv = pm.pm_mv
            v = mv[vpn]
            if v & PG_A:
                mv[vpn] = v & ~PG_A
                count += 1
                if count >= PMAP_TS_REFERENCED_MAX:
                    break
        return count

    def pmap_clear_reference(self, m: vm_page) -> None:
        """Clear the A bit in every mapping of ``m``."""
        if m.flags & PG_FICTITIOUS:
            return
        for pm, vpn in m.md_pv:
            mv = pm.pm_mv
            mv[vpn] = mv[vpn] & ~PG_A

    def pmap_clear_modify(self, m: vm_page) -> None:
        """Clear the M bit in every mapping of ``m``; ``m.dirty`` is left alone (facts §5)."""
        if m.flags & PG_FICTITIOUS:
            return
        for pm, vpn in m.md_pv:
            mv = pm.pm_mv
            mv[vpn] = mv[vpn] & ~PG_M

    def pmap_is_modified(self, m: vm_page) -> bool:
        """True if any mapping of ``m`` has its M bit set."""
        if m.flags & PG_FICTITIOUS:
            return False
        for pm, vpn in m.md_pv:
            if pm.pm_mv[vpn] & PG_M:
                return True
        return False

    def pmap_page_protect(self, m: vm_page, prot: int) -> None:
        """Lower every mapping of ``m`` to READ (clear RW and M) or NONE (remove them) (facts §5)."""
        if m.flags & PG_FICTITIOUS:
            return
        if prot == VM_PROT_NONE:
            for pm, vpn in list(m.md_pv):
                self._pmap_remove_pte(pm, vpn, m)
            m.flags &= ~(PG_MAPPED | PG_WRITEABLE)
        elif not prot & VM_PROT_WRITE:
            modified = False
            for pm, vpn in m.md_pv:
                mv = pm.pm_mv
                v = mv[vpn]
                if v & PG_RW:
                    if v & PG_M:
                        modified = True
                    mv[vpn] = v & ~(PG_RW | PG_M)
            if modified:
                self.vm_page_dirty(m)
            m.flags &= ~PG_WRITEABLE

    @staticmethod
    def pmap_resident_tlnw_count(pm: pmap) -> int:
        """Resident pages that are not wired: ``resident_count - wired_count`` (facts §5)."""
        return pm.pm_resident_count - pm.pm_wired_count

    @staticmethod
    def pmap_resident_count(pm: pmap) -> int:
        return pm.pm_resident_count

    def pmap_collect(self) -> None:
        """Effectively a no-op at REF: ``pmap_pagedaemon_waken`` is never set (facts §5)."""

    def pmap_pgscan(self, info: pmap_pgscan_info) -> Generator[Any, Any, None]:
        """Walk ``info.pmap``'s managed PTEs in ascending VA, busying each page for ``info.callback`` (facts §5).

        Use with ``yield from``: the callback may sleep.  A page that cannot
        be busied counts in ``busycount``; a negative callback result stops
        the walk; otherwise ``offset`` ends at ``end_addr``.
        """
        info.offset = info.beg_addr
        pm = info.pmap
        shift = self.PAGE_SHIFT
        arr = self.vm_page_array
        vpn = info.beg_addr >> shift
        evpn = min(info.end_addr >> shift, pm.pm_npages)
        while vpn < evpn:
            end = min(vpn + PGSCAN_CHUNK, evpn)
            for i in np.flatnonzero(pm.pm_pte[vpn:end] >= 0).tolist():
                v = vpn + i
                pte = pm.pm_mv[v]           # the walk is live: re-read the PTE
                if pte < 0:
                    continue
                m = arr[pte >> PTE_SHIFT]
                if m.flags & (PG_UNMANAGED | PG_FICTITIOUS):
                    continue
                if self.vm_page_busy_try(m, True):
                    info.busycount += 1
                    continue
                r = info.callback(info, v << shift, m)
                if inspect.isgenerator(r):
                    r = yield from r
                if r < 0:
                    return
            vpn = end
        info.offset = info.end_addr

    # -- reading PTEs (for notebooks, tests and the checker) ---------------------------------------
    @staticmethod
    def pte_bits(pm: pmap, vpn: int) -> int:
        """The PG_V/PG_RW/PG_A/PG_M bits of ``vpn`` in ``pm`` (0 if unmapped)."""
        v = pm.pm_mv[vpn]
        return 0 if v < 0 else v & PTE_BITS

    def pte_page(self, pm: pmap, vpn: int) -> vm_page | None:
        """The page ``vpn`` maps in ``pm``, or None."""
        v = pm.pm_mv[vpn]
        return None if v < 0 else self.vm_page_array[v >> PTE_SHIFT]
