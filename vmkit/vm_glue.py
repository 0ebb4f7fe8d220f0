"""Process swapout (``vm_glue.c``, facts §6).

In DragonFly 5.0 "swapping a process out" only sets ``P_SWAPPEDOUT``; the
next ``vm_daemon`` pass then trims the process's resident set to nothing
(``vm_daemon_callback`` uses an RSS limit of 0), and the process is
"swapped back in" - the flag cleared - when it next runs.

``swapout_procs(action)`` picks processes that have slept at least
``vm.swap_idle_threshold1`` (15 s): with ``VM_SWAP_NORMAL`` all of those,
with ``VM_SWAP_IDLE`` only those asleep more than ``vm.swap_idle_threshold2``
(60 s).  Note the seed's quirk: ``vm_daemon`` passes an already-zeroed
request to it, so the page daemon's requests never swap anything out (see
:meth:`~vmkit.vm_pageout.PageoutMixin.vm_daemon`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .constants import P_SWAPPEDOUT, P_SYSTEM, P_WEXIT, SACTIVE, SSTOP, VM_SWAP_IDLE, VM_SWAP_NORMAL

if TYPE_CHECKING:  # pragma: no cover
    from .proc import proc


class VmGlueMixin:
    """``swapout_procs`` and friends of a :class:`~vmkit.machine.Machine`."""

    def _init_vm_glue(self) -> None:
        self.swap_idle_threshold1 = 15      # vm.swap_idle_threshold1, seconds
        self.swap_idle_threshold2 = 60      # vm.swap_idle_threshold2, seconds
        self.swapouts = 0

    @staticmethod
    def swappable(p: proc) -> bool:
        """Not a system process, not already swapped out, not exiting."""
        return not p.p_flags & (P_SYSTEM | P_SWAPPEDOUT | P_WEXIT)

    def swapout_procs(self, action: int) -> Generator:
        """Swap out the processes ``action`` (VM_SWAP_NORMAL and/or VM_SWAP_IDLE) selects (``yield from``)."""
        yield from self.allproc_scan(self.swapout_procs_callback, action)

    def swapout_procs_callback(self, p: proc, action: int) -> int:
        """Swap ``p`` out if it qualifies (facts §6)."""
        if not self.swappable(p):
            return 0
        if p.p_stat != SACTIVE and p.p_stat != SSTOP:
            return 0
        slptime = self.lwp_slptime(p)
        # Guarantee swap_idle_threshold1 seconds in memory.
        if slptime < self.swap_idle_threshold1:
            return 0
        # Under memory stress (NORMAL), or idle long enough (IDLE).
        if not action & VM_SWAP_NORMAL and (not action & VM_SWAP_IDLE or slptime < self.swap_idle_threshold2):
            return 0
        if action & VM_SWAP_NORMAL or (action & VM_SWAP_IDLE and slptime > self.swap_idle_threshold2):
            self.swapout(p)
        return 0

    def swapout(self, p: proc) -> None:
        """Mark ``p`` swapped out; vm_daemon will take its resident pages."""
        p.p_flags |= P_SWAPPEDOUT
        self.swapouts += 1
