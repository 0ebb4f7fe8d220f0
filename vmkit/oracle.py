"""The data-integrity oracle: what every program wrote, kept apart from the machine.

Every page of every VM object has a *slot* in ``oracle_expected``: the stamp
of the last write any program made to it (0 for untouched anonymous memory,
the file's original contents for a file).  The machine's own copies of the
data - frames (``phys_stamp``), swap blocks and file blocks - are what paging
moves around; the oracle is never moved, so comparing the two finds a lost
write wherever it happened:

* every read a program makes is checked against the oracle (vectorised on the
  resident path, see :mod:`vmkit.proc`);
* every page brought in from swap or a file is checked when it arrives;
* :meth:`OracleMixin.verify_integrity` sweeps all resident pages, swap blocks
  and file blocks that hold the only copy of some data.

A mismatch is recorded in ``machine.lost_writes`` (never raised), so a run
reports how many writes it lost; the tests require zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .constants import PG_SWAPINPROG, VM_PAGE_BITS_ALL

if TYPE_CHECKING:  # pragma: no cover
    from .vm_object import vm_object


class OracleMixin:
    """Oracle storage and checks of a :class:`~vmkit.machine.Machine`."""

    def _init_oracle(self) -> None:
        self.oracle_expected = np.zeros(1024, dtype=np.int64)
        self.oracle_mv = memoryview(self.oracle_expected)
        self._oracle_used = 0
        self.write_seq = 0          # stamps of program writes are 1, 2, 3, ...
        self._file_stamp = 0        # initial file contents are -1, -2, -3, ...
        self.lost_writes: list[dict[str, Any]] = []
        self.refs_checked = 0

    def oracle_alloc(self, size: int, initial: np.ndarray | None = None) -> int:
        """Reserve ``size`` slots (one per object page); return the first slot index."""
        base = self._oracle_used
        need = base + size
        cap = len(self.oracle_expected)
        if need > cap:
            while cap < need:
                cap *= 2
            grown = np.zeros(cap, dtype=np.int64)
            grown[:base] = self.oracle_expected[:base]
            self.oracle_expected = grown
            self.oracle_mv = memoryview(grown)
        if initial is not None:
            self.oracle_expected[base:need] = initial
        self._oracle_used = need
        return base

    def new_file_contents(self, npages: int) -> np.ndarray:
        """Distinct negative stamps for a new file's pages, so a wrong block is never mistaken for a right one."""
        start = self._file_stamp
        self._file_stamp += npages
        return -np.arange(start + 1, start + npages + 1, dtype=np.int64)

    def oracle_report(self, where: str, obj: vm_object | None, pindex: int, expected: int, found: int,
                      pid: int = -1, vpn: int = -1) -> None:
        """Record one lost write (or a read that returned the wrong data)."""
        self.lost_writes.append({
            "tick": self.ticks, "where": where, "pid": pid, "vpn": vpn,
            "object": -1 if obj is None else obj.id, "pindex": pindex,
            "expected": int(expected), "found": int(found),
        })

    def oracle_check_pagein(self, m: Any, where: str) -> None:
        """Check a page just filled from swap or a file against the oracle."""
        obj = m.object
        exp = self.oracle_mv[obj.slot_base + m.pindex]
        got = self.phys_mv[m.pfn]
        if exp != got:
            self.oracle_report(where, obj, m.pindex, exp, got)

    def verify_integrity(self) -> int:
        """Sweep every copy of data that can be the only copy; return the number of new mismatches.

        A resident page must match the oracle if it is dirty or has no backing
        copy (it then holds the only copy).  A clean page must match, and so
        must its backing copy (swap block, or file block) when the page is not
        resident.  Pages under page-in (PG_SWAPINPROG without valid data) are
        skipped.
        """
        before = len(self.lost_writes)
        exp_all = self.oracle_expected
        for obj in self.vm_objects():
            base = obj.slot_base
            resident = obj.rb_memq
            for pindex, m in resident.items():
                if m.valid != VM_PAGE_BITS_ALL or (m.flags & PG_SWAPINPROG and not m.valid):
                    continue
                exp = int(exp_all[base + pindex])
                got = int(self.phys_stamp[m.pfn])
                if exp != got:
                    self.oracle_report("verify:resident", obj, pindex, exp, got)
            for pindex, blk in obj.swblock.items():
                m = resident.get(pindex)
                if m is not None and (m.dirty or m.flags & PG_SWAPINPROG or self.pmap_is_modified(m)):
                    continue        # the page, not the swap block, holds the data
                exp = int(exp_all[base + pindex])
                got = int(self.swap_stamp[blk])
                if exp != got:
                    self.oracle_report("verify:swap", obj, pindex, exp, got)
            vp = obj.handle
            if vp is not None:
                data = vp.v_data
                exp_obj = exp_all[base:base + obj.size]
                for pindex in np.flatnonzero(exp_obj != data[:obj.size]).tolist():
                    if pindex not in resident:
                        self.oracle_report("verify:file", obj, pindex, int(exp_obj[pindex]), int(data[pindex]))
            else:
                # Anonymous memory: a page ever written must be resident or on swap.
                exp_obj = exp_all[base:base + obj.size]
                for pindex in np.flatnonzero(exp_obj != 0).tolist():
                    if pindex not in resident and pindex not in obj.swblock:
                        self.oracle_report("verify:anon-missing", obj, pindex, int(exp_obj[pindex]), 0)
        return len(self.lost_writes) - before
