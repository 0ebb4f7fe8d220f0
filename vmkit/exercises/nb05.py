"""Exercises of notebook 05: the cache scan and the daemon's main loop.

Expected answers come from vmkit's port of the seed: a machine is booted (its
page daemon sets the thresholds in its first tick), or a daemonless machine is
given cache pages in every colour and vm_pageout_scan_cache() is run on it.
"""

from __future__ import annotations

from . import exercise


def booted(ram: str) -> object:
    """A machine of ``ram`` after one tick: the page daemon has set its thresholds."""
    from vmkit import Machine

    vm = Machine(ram=ram, swap="32M", seed=1)
    vm.run(until=1)
    return vm


def rover_lab(colours: int = 16, per_colour: int = 2, rover: int = 0) -> list[int]:
    """The colours of the cache pages vm_pageout_scan_cache() frees, in order, when every colour holds
    ``per_colour`` cache pages and the cache rover starts at ``rover``."""
    from vmkit import Machine
    from vmkit.constants import OBJT_DEFAULT, VM_ALLOC_NORMAL, VM_PAGE_BITS_ALL

    vm = Machine(ram="1M", swap=0, seed=0, pq_l2_size=colours, pagedaemon=False, boot_userland=False)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, colours * per_colour)
    for i in range(colours * per_colour):
        m = vm.vm_page_alloc(obj, i, VM_ALLOC_NORMAL)
        vm.pmap_zero_page(m)
        m.valid, m.dirty = VM_PAGE_BITS_ALL, 0
        vm.vm_page_cache(m)
    vs = vm.vmstats
    vs.v_free_min = vs.v_free_target = vs.v_page_count     # the loop runs until the cache is empty
    vm.vm_pageout_scan_cache_cache_rover = rover
    done: list[int] = []

    def main():
        yield from vm.vm_pageout_scan_cache(0, 0, 0, 0)
        done.append(1)

    vm.kthread_create(main, "lab")
    while not done:
        vm.run(until=vm.ticks + 1)
    ev = vm.events()
    freed = ev[(ev.function == "vm_pageout_scan_cache") & (ev.action == "free")]
    return [vm.vm_page_array[p].pc for p in freed.page]


@exercise("nb05.cache_goal_16M",
          hint="The cache scan frees cache pages while v_free_count < (v_free_min + v_free_target) / 2 "
               "(vm_pageout.c:1511-1512), in C integer division. Read both thresholds of a booted 16M machine: "
               "vm.sysctl('vm.v_free_min'), vm.sysctl('vm.v_free_target').",
          kind="number")
def cache_goal_16M() -> int:
    vs = booted("16M").vmstats
    return (vs.v_free_min + vs.v_free_target) // 2


@exercise("nb05.rover_fifth_colour",
          hint="The rover starts at 0, the scan takes from colour cache_rover & PQ_L2_MASK, and the rover grows by "
               "PQ_PRIME2 (23) after each page freed (vm_pageout.c:1518, 1544). With 16 colours the mask is 15. "
               "The 5th page is taken after 4 steps. Check with rover_lab().",
          kind="number")
def rover_fifth_colour() -> int:
    return rover_lab(colours=16)[4]


@exercise("nb05.inactive_shortage_16M",
          hint="inactive_shortage = v_inactive_target - v_inactive_count (vm_pageout.c:2151-2152), plus, while "
               "avail_shortage > 0, 2 * avail_shortage but at most v_inactive_target / 10 (2165-2170). "
               "Read v_inactive_target of a booted 16M machine.",
          kind="number")
def inactive_shortage_16M() -> int:
    vs = booted("16M").vmstats
    target, inactive, avail = vs.v_inactive_target, 1000, 80
    return (target - inactive) + min(2 * avail, target // 10)


@exercise("nb05.pdelay_ticks",
          hint="Which branch of vm_pageout.c:2231-2267 applies for a low pass and vm_pages_needed of 1 (nobody else "
               "asked)? The sleep is a fraction of hz; vmkit's machines run at vm.hz ticks a second.",
          kind="number")
def pdelay_ticks() -> int:
    return booted("8M").hz // 10
