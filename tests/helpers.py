"""Test helpers: small machines, a random page evictor, run-and-check loops.

The page-out daemon arrives in its own module; these helpers drive page-out
through the machine's real paths (``vm_pageout_flush``, the pagers,
``vm_page_cache``/``vm_page_free``) so the machine can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from vmkit import Machine, MachineStalled
from vmkit.constants import PG_MARKER, PQ_ACTIVE, PQ_CACHE, PQ_INACTIVE, VM_PROT_NONE


def small_machine(**kw) -> Machine:
    """A small machine without boot daemons and, unless asked, without the page daemon.

    The machine's own tests drive page-out with :func:`start_evictor`; the
    daemon's tests pass ``pagedaemon=True``.
    """
    kw.setdefault("pagedaemon", False)
    kw.setdefault("ram", 256)
    kw.setdefault("swap", 1024)
    kw.setdefault("boot_userland", False)
    kw.setdefault("refs_per_tick", 200)
    return Machine(**kw)


def resident_pages(vm: Machine) -> list:
    """Pages on the active and inactive queues, in queue order (deterministic)."""
    out = []
    for base in (PQ_INACTIVE, PQ_ACTIVE):
        for c in range(vm.PQ_L2_SIZE):
            out.extend(m for m in vm.vm_page_queues[base + c] if not m.flags & PG_MARKER)
    return out


def start_evictor(vm: Machine, *, per_tick: int = 8, cluster: int = 8, seed: int = 0,
                  free_clean: bool = True) -> None:
    """Start a kernel thread that pages out random resident pages every tick.

    Dirty pages go out through ``vm_pageout_flush`` in clusters of up to
    ``cluster`` consecutive pages of one object; clean pages are cached, and
    with ``free_clean`` then freed, so memory keeps being recycled.
    """
    rng = np.random.default_rng(seed)

    def main() -> Generator:
        while True:
            yield vm.tsleep("test-evictor", 0, "evict", 1)
            pages = resident_pages(vm)
            if not pages:
                continue
            picks = rng.choice(len(pages), size=min(per_tick, len(pages)), replace=False)
            for i in sorted(picks.tolist()):
                m = pages[i]
                obj = m.object
                if obj is None or m.hold_count or m.wire_count or vm.vm_page_busy_try(m, True):
                    continue
                vm.vm_page_test_dirty(m)
                if not m.dirty:
                    vm.vm_page_cache(m)          # unbusies; may deactivate if the pmap dirtied it
                    if free_clean and m.queue and m.object is obj and not vm.vm_page_busy_try(m, True):
                        if m.queue - m.pc == PQ_CACHE and not m.dirty and not m.md_pv:
                            vm.vm_page_protect(m, VM_PROT_NONE)
                            vm.vm_page_free(m)
                        else:
                            vm.vm_page_wakeup(m)
                    continue
                run = [m]
                nxt = m.pindex + 1
                while len(run) < cluster:
                    p = obj.rb_memq.get(nxt)
                    if p is None or p.hold_count or p.wire_count or p.queue - p.pc not in (PQ_INACTIVE, PQ_ACTIVE):
                        break
                    if vm.vm_page_busy_try(p, True):
                        break
                    vm.vm_page_test_dirty(p)
                    if not p.dirty:
                        vm.vm_page_wakeup(p)
                        break
                    run.append(p)
                    nxt += 1
                yield from vm.vm_pageout_flush(run, len(run), 0)

    vm.kthread_create(main, "test-evictor")


def run_checked(vm: Machine, max_ticks: int = 100000, every: int = 1) -> int:
    """Run tick by tick until every spawned process exits, calling ``check()`` every ``every`` ticks."""
    start = vm.ticks
    while vm.user_procs():
        if vm.ticks - start > max_ticks:
            raise AssertionError(f"processes still running after {max_ticks} ticks: {vm.user_procs()}")
        vm.run(until=vm.ticks + every)
        vm.check()
    return vm.ticks - start


def run_in_thread(vm: Machine, genfunc, *args, max_ticks: int = 100000, name: str = "test-thread"):
    """Run ``genfunc(*args)`` (a generator function that may sleep) as a kernel thread; return its result."""
    try:
        return vm.run_in_thread(genfunc, *args, max_ticks=max_ticks, name=name)
    except MachineStalled as exc:
        raise AssertionError(str(exc)) from None
