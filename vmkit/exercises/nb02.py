"""Exercises of notebook 02: the inactive scan and vm_pageout_page's decisions.

Answers come from vmkit: its PQAVERAGE, its scan marker, and the event log
of small runs (the same machines the notebook builds).
"""

from __future__ import annotations

from ..constants import PG
from ..machine import Machine
from ..vm_page import vm_page_marker
from ..workload import Sequential
from . import exercise


def dirty_writer(seed: int = 3) -> Machine:
    """The notebook's exercise machine: 8M of RAM, 4 colours, one program writing 2600 pages twice."""
    vm = Machine(ram="8M", swap="32M", pq_l2_size=4, seed=seed, boot_userland=False)
    vm.spawn("writer", Sequential(pages=2600, passes=2, writes=1.0), refs_per_tick=500)
    return vm


@exercise("nb02.pqaverage",
          hint="PQAVERAGE(n) = (n + (PQ_L2_SIZE - 1)) / (PQ_L2_SIZE / 2) + 1 in C integer arithmetic "
               "(vm_pageout.c:236): generous, so that half the colours can meet the shortage.",
          kind="number")
def _pqaverage() -> int:
    vm = Machine(ram="8M", pq_l2_size=8, boot_userland=False, pagedaemon=False)
    return vm.PQAVERAGE(50)


_FLAG_SYNONYMS = {"busy": "pg busy", "fictitious": "pg fictitious", "marker": "pg marker"}


@exercise("nb02.marker_flags",
          hint="Look at vm_pageout.c:780, or at vm_page_marker(...).flags in vmkit.vm_page: three flags.",
          kind="set", synonyms=_FLAG_SYNONYMS)
def _marker_flags() -> set[str]:
    flags = vm_page_marker(0, 0).flags
    return {f"PG_{f.name}" if not f.name.startswith("PG_") else f.name for f in PG if f and flags & f}


@exercise("nb02.dirty_pass0",
          hint="Look at the branch at vm_pageout.c:1018: what happens to the page, and where does it go?",
          kind="choice",
          synonyms={"requeue at tail": "requeue", "requeue at the tail": "requeue", "requeued": "requeue",
                    "second trip": "requeue", "move to the tail": "requeue", "tail": "requeue",
                    "to the tail": "requeue", "requeue to the tail": "requeue"})
def _dirty_pass0() -> str:
    vm = dirty_writer()
    vm.run(until=8)
    ev = vm.events()
    first = ev[ev.function == "vm_pageout_page"]      # the first pass that reaches the inactive queue is pass 0
    return str(first.action.iloc[0])


@exercise("nb02.decisions_before_launder",
          hint="Filter the event log to function == 'vm_pageout_page' and to the page of the first 'launder'; "
               "count its rows up to and including that launder.",
          kind="number")
def _decisions_before_launder() -> int:
    vm = dirty_writer()
    vm.run(seconds=3)
    ev = vm.events()
    pp = ev[ev.function == "vm_pageout_page"].reset_index(drop=True)
    first = pp[pp.action == "launder"].index[0]
    page = pp.page.iloc[first]
    return int((pp.page.iloc[: first + 1] == page).sum())
