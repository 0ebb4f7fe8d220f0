"""The page-fault path (``vm_fault.c``): bring a page in, map it, complete the access.

A reference faults when its page is not mapped, or when it writes through a
read-only mapping.  :meth:`VmFaultMixin.vm_fault` then

1. finds the page in the object, sleeping while another thread has it busy
   (for example while the daemon writes it out: the write must not change
   the page under the disk);
2. or allocates a page (``vm_page_alloc``), and when memory is short wakes the
   page daemon and waits in ``vm_wait_pfault`` before trying again;
3. fills a new page by zero-fill, swap-in or file read, and checks a page
   read from swap or a file against the data-integrity oracle;
4. maps it (``pmap_enter``), activates it, and on a write marks it dirty and
   frees its now-stale swap copy (``swap_pager_unswapped``) - the "write to a
   read-only mapping re-dirties" case;
5. completes the reference: a read is checked against the oracle, a write
   stores a fresh stamp.

Errors the program sees: a write to a read-only region is SIGSEGV, a failed
page-in is SIGBUS (the kernel's behaviour); either kills the process.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .constants import (
    OBJT_VNODE,
    PG_REFERENCED,
    PG_SWAPPED,
    PG_WANTED,
    SIGBUS,
    SIGKILL,
    SIGSEGV,
    VM_ALLOC_NORMAL,
    VM_PAGE_BITS_ALL,
    VM_PAGER_OK,
    VM_PROT_WRITE,
)
from .kern import QUANTUM

if TYPE_CHECKING:  # pragma: no cover
    from .proc import proc

KERN_SUCCESS = 0
KERN_PROTECTION_FAILURE = 2
KERN_FAILURE = 5


class VmFaultMixin:
    """The fault handler of a :class:`~vmkit.machine.Machine`."""

    def vm_fault(self, p: proc, vpn: int, write: bool) -> Generator:
        """Handle a fault of ``p`` at virtual page ``vpn`` and complete the access (``yield from``).

        Returns KERN_SUCCESS, or KERN_PROTECTION_FAILURE / KERN_FAILURE after
        sending the process SIGSEGV / SIGBUS.  Returns early, access not done,
        if the process was killed while it waited for memory.
        """
        self.cnt.v_vm_faults += 1
        vm = p.p_vmspace
        entry = self.vm_map_lookup_entry(vm.vm_map, vpn)
        if entry is None or (write and not entry.protection & VM_PROT_WRITE):
            what = "unmapped page" if entry is None else "read-only page"
            self.kprintf(f"pid {p.p_pid} ({p.p_comm}): {'write' if write else 'read'} of {what} {vpn}: SIGSEGV")
            self.ksignal(p, SIGSEGV)
            return KERN_PROTECTION_FAILURE
        obj = entry.object
        pindex = entry.offset + (vpn - entry.start)
        while True:
            m = obj.rb_memq.get(pindex)
            if m is not None:
                if self.vm_page_busy_try(m, True):
                    # Busy (being paged in or out): wait for its owner, then look again.
                    self.cnt.v_intrans += 1
                    m.flags |= PG_WANTED | PG_REFERENCED
                    yield self.tsleep(m, 0, "vmpfw", 0)
                    continue
                p.p_minflt += 1
                break
            m = self.vm_page_alloc(obj, pindex, VM_ALLOC_NORMAL)
            if m is None:
                before = self.ticks
                yield from self.vm_wait_pfault()
                if SIGKILL in p.p_siglist:
                    return KERN_FAILURE
                if self.ticks == before:
                    # Nothing slept: retrying at once could spin forever in
                    # one tick; give up the CPU until the next tick instead.
                    yield QUANTUM
                continue
            if obj.type == OBJT_VNODE or pindex in obj.swblock:
                rv = yield from self.vm_pager_get_page(obj, m)
                if rv != VM_PAGER_OK:
                    self.vm_page_free(m)
                    self.kprintf(f"pid {p.p_pid} ({p.p_comm}): page-in of {obj.name}:{pindex} failed: SIGBUS")
                    self.ksignal(p, SIGBUS)
                    return KERN_FAILURE
                self.oracle_check_pagein(m, "pagein:vnode" if obj.type == OBJT_VNODE else "pagein:swap")
                p.p_majflt += 1
            else:
                self.pmap_zero_page(m)
                m.valid = VM_PAGE_BITS_ALL
                self.cnt.v_zfod += 1
                p.p_zfod += 1
                p.p_minflt += 1
            break
        # m is busied and valid.  A writeable mapping lets the program dirty
        # the page behind the VM's back: mark the object as maybe dirty now.
        if entry.protection & VM_PROT_WRITE:
            self.vm_object_set_writeable_dirty(obj)
        if write:
            self.vm_page_dirty(m)
            if m.flags & PG_SWAPPED:
                self.swap_pager_unswapped(m)
        self.pmap_enter(vm.vm_pmap, vpn, m, entry.protection, write)
        if m.wire_count == 0:
            self.vm_page_activate(m)
        self.vm_page_wakeup(m)
        self._complete_access(p, vpn, m.pfn, write)
        return KERN_SUCCESS

    def _complete_access(self, p: proc, vpn: int, pfn: int, write: bool) -> None:
        """Do the faulting access itself: check the page against the oracle, then store a write's stamp.

        As on the resident path, every reference first checks that the page
        holds the last value written to it.
        """
        slot = p.p_vmspace.vm_slot_mv[vpn]
        if self.config.check_reads:
            exp = self.oracle_mv[slot]
            got = self.phys_mv[pfn]
            self.refs_checked += 1
            if exp != got:
                m = self.vm_page_array[pfn]
                self.oracle_report("read", m.object, m.pindex, exp, got, p.p_pid, vpn)
        if write:
            self.write_seq += 1
            self.phys_mv[pfn] = self.write_seq
            self.oracle_mv[slot] = self.write_seq
        p.p_refs += 1
