"""Exercises of notebook 03: the active scan and act_count aging.

The answers come from vmkit itself: a page is put on the active queue by a
real (sleeping) process, its reference bits are cleared, and
``vm_pageout_scan_active`` is run on its colour, as the daemon would.
"""

from __future__ import annotations

from collections.abc import Generator

from ..constants import PG_REFERENCED, PQ_ACTIVE
from ..machine import Machine
from ..vm_map import Anon, MapFile
from ..vm_pageout import Ref
from ..workload import Script
from . import exercise


def _drive(gen: Generator) -> object:
    """Run a daemon generator that never sleeps to its end; return its value."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def _idle_page(kind: str, seed: int = 0) -> tuple[Machine, object]:
    """A machine without a page daemon and one active page of a sleeping process:
    anonymous (``kind="anon"``) or of a file (``"file"``), its reference bits cleared."""
    vm = Machine(ram="8M", swap="8M", seed=seed, boot_userland=False, pagedaemon=False)
    if kind == "file":
        vm.vfs_create_file("data", 4)
        regions = [MapFile("data", writable=False)]
    else:
        regions = [Anon(4, "heap")]
    vm.spawn("sleeper", Script([[(0, False)], 1 << 20]), regions)
    vm.run(until=3)
    pages = [m for m in vm.queue_pages(PQ_ACTIVE)]
    if len(pages) != 1:
        raise RuntimeError(f"nb03: expected one active page, found {len(pages)}")
    m = pages[0]
    m.flags &= ~PG_REFERENCED
    vm.pmap_clear_reference(m)
    return vm, m


def age(kind: str, scans: int, act_count: int | None = None, pass_: int = 0) -> list[tuple[int, str]]:
    """act_count and queue of one unreferenced page after each of ``scans`` active scans on pass ``pass_``."""
    vm, m = _idle_page(kind)
    if act_count is not None:
        m.act_count = act_count
    out = []
    for _ in range(scans):
        if m.queue - m.pc == PQ_ACTIVE:
            _drive(vm.vm_pageout_scan_active(pass_, m.pc, 0, 1000, Ref(0)))
        out.append((m.act_count, "ACTIVE" if m.queue - m.pc == PQ_ACTIVE else "INACTIVE"))
    return out


@exercise("nb03.file_page_deactivated_on_scan",
          hint="A vnode page declines by vm.filemem_decline (not anonmem_decline) on each scan that finds it "
               "unreferenced; on pass 0 it goes once act_count < 1.  Count the scans, starting at 1.",
          kind="number")
def _file_page_deactivated_on_scan() -> int:
    for i, (_, queue) in enumerate(age("file", 20), start=1):
        if queue != "ACTIVE":
            return i
    raise RuntimeError("nb03: the file page was never deactivated")


@exercise("nb03.decline_after_three_scans",
          hint="Nothing references the page, so each scan subtracts the file decline (vm.filemem_decline) "
               "and never adds ACT_ADVANCE.",
          kind="number")
def _decline_after_three_scans() -> int:
    return age("file", 3, act_count=20)[-1][0]


@exercise("nb03.max_act_count_deactivated_pass2",
          hint="The decline comes first, then the test act_count < pass + 1 (vm_pageout.c:1393-1408).",
          kind="number")
def _max_act_count_deactivated_pass2() -> int:
    best = -1
    for a in range(0, 16):
        if age("anon", 1, act_count=a, pass_=2)[0][1] == "INACTIVE":
            best = a
    return best


@exercise("nb03.stats_partial_scan",
          hint="tpcount = vm_pageout_stats_max * pcount / v_page_count + 1 (C integer division), and "
               "vm_pageout_stats_max defaults to v_free_target (vm_pageout.c:1716-1717, 1986-1987).",
          kind="number")
def _stats_partial_scan() -> int:
    vm = Machine(ram="16M", swap="16M", seed=0, boot_userland=False)
    vm.run(until=2)                  # the daemon has set its thresholds
    pcount = 200
    tpcount = vm.sysctl("vm.pageout_stats_max") * pcount // vm.vmstats.v_page_count + 1
    return min(pcount, tpcount)
