"""Exercises of notebook 00: a tour of the emulated machine and the life of a page.

Every expected answer is computed by running a small vmkit machine, so the
answers follow vmkit if it changes.
"""

from __future__ import annotations

from . import exercise

#: PTE bit names as a student may spell them -> the normalised name check() compares.
PTE_SYNONYMS = {
    "v": "pg v", "valid": "pg v", "present": "pg v",
    "rw": "pg rw", "writeable": "pg rw", "writable": "pg rw", "read write": "pg rw", "read/write": "pg rw",
    "a": "pg a", "accessed": "pg a",
    "m": "pg m", "modified": "pg m",
}


def pte_bit_names(bits: int) -> set[str]:
    """The names of the x86 PTE bits set in ``bits`` (PG_V, PG_RW, PG_A, PG_M)."""
    from vmkit.constants import PG_A, PG_M, PG_RW, PG_V

    return {name for name, bit in (("PG_V", PG_V), ("PG_RW", PG_RW), ("PG_A", PG_A), ("PG_M", PG_M))
            if bits & bit}


@exercise("nb00.pte_bits_after_read",
          hint="Run the experiment: spawn a Script that only reads page 5 of its heap, run a few ticks, then "
               "read vm.pte_bits(p.p_vmspace.vm_pmap, 5). Which protection does vm_fault give pmap_enter for "
               "a heap mapped read-write, and which bits does pmap_enter set for a read?",
          kind="set", synonyms=PTE_SYNONYMS)
def pte_bits_after_read() -> set[str]:
    from vmkit import Machine, Script

    vm = Machine(ram="8M", swap="16M", seed=1, pq_l2_size=4, boot_userland=False)
    p = vm.spawn("reader", Script([[(5, False)]], linger=True))
    vm.run(until=5)
    return pte_bit_names(vm.pte_bits(p.p_vmspace.vm_pmap, 5))


@exercise("nb00.faults_two_sweeps",
          hint="Count p.p_minflt + p.p_majflt after the run. Does a write to a page that a read already "
               "mapped need a second fault? Look at the bits pmap_enter set on the read.",
          kind="number")
def faults_two_sweeps() -> int:
    from vmkit import Machine, Sequential

    vm = Machine(ram="16M", swap="16M", seed=1, pq_l2_size=4)
    p = vm.spawn("sweep", Sequential(pages=300, passes=2, writes=0.5))
    vm.run()
    return p.p_minflt + p.p_majflt


@exercise("nb00.inactive_queue_index",
          hint="A queue index is the base (PQ_INACTIVE = 513) plus the page's colour m.pc; the colour is "
               "computed from the frame number in VmPageMixin._init_vm_page. Or just try it: "
               "vm.vm_page_array[100].pc.",
          kind="number")
def inactive_queue_index() -> int:
    from vmkit import Machine
    from vmkit.constants import PQ_INACTIVE

    vm = Machine(ram="8M", swap="16M", seed=1, pq_l2_size=4, boot_userland=False)
    return PQ_INACTIVE + vm.vm_page_array[100].pc


#: Spellings of the reactivation counter.
COUNTER_SYNONYMS = {
    "reactivated": "v reactivated", "cnt.v reactivated": "v reactivated", "vm.cnt.v reactivated": "v reactivated",
    "v reactivated": "v reactivated",
}


@exercise("nb00.reactivation_counter",
          hint="Cache a page by hand, let the program touch it again, and compare vm.counters() before and "
               "after: which counter besides v_vm_faults moved? vm_page_activate() counts it.",
          kind="text", synonyms=COUNTER_SYNONYMS)
def reactivation_counter() -> str:
    from vmkit import Machine, Script

    vm = Machine(ram="8M", swap="16M", seed=1, pq_l2_size=4, boot_userland=False)
    p = vm.spawn("prog", Script([[(0, False), (1, True)], 100, [(0, False)]], linger=True))
    vm.run(until=5)
    m = vm.pte_page(p.p_vmspace.vm_pmap, 0)
    vm.vm_page_deactivate(m)
    if vm.vm_page_busy_try(m, True):
        raise RuntimeError("nb00.reactivation_counter: the page should not be busy")
    vm.vm_page_cache(m)
    before = vm.counters()
    vm.run(until=200)
    after = vm.counters()
    moved = sorted(k for k in before if after[k] != before[k] and k != "v_vm_faults")
    if len(moved) != 1:
        raise RuntimeError(f"nb00.reactivation_counter: expected one counter to move, got {moved}")
    return moved[0]
