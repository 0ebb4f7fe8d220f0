"""Exercises of notebook 04: laundering dirty pages.

Expected answers come from vmkit's port of the seed: a small machine runs a
dirty workload and its event log is read, or a daemonless machine is given a
hand-built object and one seed function is run on it from a kernel thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import exercise


def dirty_run(swap: str = "32M", **sysctls: int) -> object:
    """The notebook's dirty workload: 8M of RAM, a program writing 3000 pages twice, 2 simulated seconds.

    ``sysctls`` are set before the run, with ``_`` for ``.`` after ``vm``
    (``defer_swapspace_pageouts=1`` sets ``vm.defer_swapspace_pageouts``).
    """
    from vmkit import Machine, Sequential

    vm = Machine(ram="8M", swap=swap, seed=1)
    for name, value in sysctls.items():
        vm.sysctl(f"vm.{name}", value)
    vm.spawn("writer", Sequential(pages=3000, passes=2, writes=1.0))
    vm.run(seconds=2, stop_when_done=True)
    return vm


def cluster_lab(dirty: Iterable[int], launder: int, size: int = 256) -> tuple[int, str]:
    """Launder page ``launder`` of an anonymous object of ``size`` pages whose pages ``dirty`` are resident,
    dirty and inactive; return (pages flushed, the cluster's event-log reason "N pages, pindex A-B").

    Mirrors what the daemon does after it decides to launder: vm_pageout_clean_helper() on the busied page.
    """
    from vmkit import Machine
    from vmkit.constants import OBJT_DEFAULT, VM_ALLOC_NORMAL, VM_PAGE_BITS_ALL

    vm = Machine(ram="1M", swap="4M", seed=0, pagedaemon=False, boot_userland=False)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, size)
    pages = {}
    for i in sorted(set(dirty)):
        m = vm.vm_page_alloc(obj, i, VM_ALLOC_NORMAL)
        vm.pmap_zero_page(m)
        m.valid = m.dirty = VM_PAGE_BITS_ALL
        vm.vm_page_deactivate(m)
        vm.vm_page_wakeup(m)
        pages[i] = m
    m = pages[launder]
    if vm.vm_page_busy_try(m, True):
        raise RuntimeError("cluster_lab: the page is busy")
    box: dict = {}

    def main():
        box["n"] = yield from vm.vm_pageout_clean_helper(m, 0)

    vm.kthread_create(main, "lab")
    while "n" not in box:
        vm.run(until=vm.ticks + 1)
    ev = vm.events()
    return box["n"], str(ev[ev.function == "vm_pageout_clean_helper"].iloc[-1]["reason"])


@exercise("nb04.first_trip_action",
          hint="Find a vm_pageout_page event whose reason mentions the first trip (vm.events()), or read "
               "vm_pageout.c:1018-1041: what happens to the page's place on the inactive queue?",
          kind="choice",
          synonyms={"requeue at tail": "requeue", "requeue at the tail": "requeue", "requeued": "requeue",
                    "requeue it": "requeue", "requeue to tail": "requeue", "move to tail": "requeue",
                    "move to the tail": "requeue", "second trip": "requeue", "vm page requeue tail": "requeue"})
def first_trip_action() -> str:
    vm = dirty_run()
    ev = vm.events()
    first = ev[(ev.function == "vm_pageout_page") & ev.reason.str.startswith("dirty, first trip")]
    return str(first.action.iloc[0])


@exercise("nb04.max_launder_one",
          hint="vm_pageout_page checks *max_launderp > 0 before it launders (vm_pageout.c:1042) and subtracts "
               "the pages flushed only afterwards (1214). How big can one flush be?",
          kind="number")
def max_launder_one() -> int:
    # One flush while max_launder is still 1: a full cluster, the whole aligned window.
    from vmkit.constants import BLIST_MAX_ALLOC

    n, _ = cluster_lab(range(BLIST_MAX_ALLOC), BLIST_MAX_ALLOC // 2, size=BLIST_MAX_ALLOC)
    if n != BLIST_MAX_ALLOC:
        raise RuntimeError(f"nb04.max_launder_one: a full window flushed {n} pages")
    return n


@exercise("nb04.cluster_pages",
          hint="page_base = pindex % 64 (vm_pageout.c:278): find the 64-page window that holds pindex 100. "
               "The reverse scan stops at the window's start or the first missing page; the forward scan at the "
               "window's end or the object's size (346-347). Try it with cluster_lab.",
          kind="number")
def cluster_pages() -> int:
    n, _ = cluster_lab(range(60, 110), 100, size=110)
    return n


@exercise("nb04.flush_code_no_swap",
          hint="Run the dirty workload with swap='0M' and count the reasons of the vm_pageout_flush events "
               "(ev[ev.function == 'vm_pageout_flush'].reason.value_counts()). Which case of vm_pageout.c:457-488 "
               "is it?",
          kind="choice",
          synonyms={"vm pager fail": "fail", "vm_pager_fail": "fail"})
def flush_code_no_swap() -> str:
    vm = dirty_run(swap="0M")
    ev = vm.events()
    return str(ev[ev.function == "vm_pageout_flush"].reason.value_counts().index[0])


@exercise("nb04.defer_still_writes",
          hint="With defer, swap_pageouts_ok becomes true again when vm_page_count_min(0) holds "
               "(vm_pageout.c:1062-1064). Run the dirty workload with vm.defer_swapspace_pageouts = 1 and look at "
               "vm.cnt.v_swappgsout. Answer True or False.",
          kind="exact")
def defer_still_writes() -> bool:
    return dirty_run(defer_swapspace_pageouts=1).cnt.v_swappgsout > 0
