"""Exercises of notebook 01: the daemon's thresholds and how it is woken.

Expected answers come from vmkit's own port of the seed: a machine is booted
(its page daemon computes the thresholds in its first tick), or a throw-away
machine's vmstats are set by hand and vmkit's predicates are asked.
"""

from __future__ import annotations

from . import exercise


def booted(ram: str, **kwargs) -> object:
    """A machine of ``ram`` after one tick: the page daemon has set its thresholds."""
    from vmkit import Machine

    vm = Machine(ram=ram, swap="16M", seed=1, pq_l2_size=4, **kwargs)
    vm.run(until=1)
    return vm


def free_min_for(pages: int, ncpus: int = 1) -> int:
    """v_free_min that vm_pageout_free_page_calc() gives a machine of ``pages`` pages and ``ncpus`` CPUs.

    The function only reads ``v_page_count`` and ``ncpus``, so a small machine
    with its page count set by hand answers for a big one.
    """
    from vmkit import Machine

    vm = Machine(ram="1M", swap=0, seed=1, ncpus=ncpus, pagedaemon=False, boot_userland=False)
    vm.vmstats.v_page_count = pages
    vm.vm_pageout_free_page_calc(pages)
    return vm.vmstats.v_free_min


@exercise("nb01.free_min_12M",
          hint="Follow vm_pageout_free_page_calc() line by line for 3072 pages and one CPU: the formula, "
               "then the per-CPU floor, then the 1/20 cap. Check with booted machine: vm.vmstats.v_free_min.",
          kind="number")
def free_min_12M() -> int:
    return booted("12M").vmstats.v_free_min


@exercise("nb01.cache_min_first_mb",
          hint="v_cache_min stays 0 unless v_free_count > 2048 when the daemon starts (vm_pageout.c:1973). "
               "How many pages does a machine of N MB have, and is the comparison > or >=? Try a few sizes.",
          kind="number")
def cache_min_first_mb() -> int:
    for mb in range(1, 64):
        if booted(f"{mb}M").vmstats.v_cache_min > 0:
            return mb
    raise RuntimeError("nb01.cache_min_first_mb: no size up to 64M has v_cache_min > 0")


@exercise("nb01.paging_needed_16M",
          hint="vm_paging_needed() is true while free_min + cache_min > free + cache (or free_min > free). "
               "Read both thresholds of a booted 16M machine; with no cache pages, free + cache = free.",
          kind="number")
def paging_needed_16M() -> int:
    vm = booted("16M")
    vs = vm.vmstats
    vs.v_cache_count = 0
    last = -1
    for fc in range(vs.v_page_count + 1):
        vs.v_free_count = fc
        if vm.vm_paging_needed():
            last = fc
    return last


@exercise("nb01.waiters_woken_at_8M",
          hint="At the end of a pass with no shortage the daemon wakes the waiters if "
               "!vm_page_count_min(vm_page_free_hysteresis) || !vm_page_count_target() (vm_pageout.c:2276-2277). "
               "Which of the two becomes true first as free + cache rises? Use the 8M thresholds.",
          kind="number")
def waiters_woken_at_8M() -> int:
    vm = booted("8M")
    vs = vm.vmstats
    vs.v_cache_count = 0
    for fc in range(vs.v_page_count + 1):
        vs.v_free_count = fc
        if vs.v_free_count >= vs.v_free_reserved and (
                not vm.vm_page_count_min(vm.vm_page_free_hysteresis) or not vm.vm_page_count_target()):
            return fc
    raise RuntimeError("nb01.waiters_woken_at_8M: the waiters are never woken")


@exercise("nb01.pages_needed_after_wakeup",
          hint="Read pagedaemon_wakeup() (vm_pageout.c:2317-2328): vm_pages_needed is already 1, so the first "
               "branch is not taken. Is vm_page_count_min(0) true when free + cache is below v_free_min?",
          kind="number")
def pages_needed_after_wakeup() -> int:
    vm = booted("8M")
    vs = vm.vmstats
    vs.v_cache_count = 0
    vs.v_free_count = vs.v_free_min - 10
    vm.vm_pages_needed = 1
    vm.pagedaemon_wakeup()
    return vm.vm_pages_needed


@exercise("nb01.cpus_for_floor_4G",
          hint="On a 4G machine (1048576 pages) the formula gives 64 + (1048576 - 1024) / 200. The floor is "
               "VMMETER_SLOP_COUNT * ncpus * 10 with VMMETER_SLOP_COUNT = 128. From how many CPUs is the "
               "floor larger?",
          kind="number")
def cpus_for_floor_4G() -> int:
    pages = 1 << 20
    one = free_min_for(pages, 1)
    for ncpus in range(2, 257):
        if free_min_for(pages, ncpus) != one:
            return ncpus
    raise RuntimeError("nb01.cpus_for_floor_4G: the floor never decides")
