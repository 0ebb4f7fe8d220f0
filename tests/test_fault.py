"""Behaviour tests of the page-fault path (vmkit/vm_fault.py) and waiting for memory (facts §4, §5, §6).

* first touch zero-fills; a write maps the page writeable with PTE M and
  marks the page dirty; after pmap_page_protect(READ) a write faults again
  and re-dirties the page;
* a write to a read-only mapping is SIGSEGV; a busy page makes the fault
  sleep until vm_page_wakeup;
* with memory exhausted the fault waits in vm_wait_pfault ("pfault") after
  waking the page daemon, and leaves the loop only when memory returns or the
  process has P_LOWMEMKILL (facts §4); killproc logs its line (facts §6).
"""

from __future__ import annotations

import pytest
from helpers import run_checked, small_machine, start_evictor

from vmkit import MapFile, Refs, Script, UniformRandom, VMConfig
from vmkit.constants import (
    P_LOWMEMKILL,
    PG_A,
    PG_BUSY,
    PG_M,
    PG_MAPPED,
    PG_RW,
    PG_V,
    PG_WANTED,
    PG_WRITEABLE,
    PQ_ACTIVE,
    SIGKILL,
    SIGSEGV,
    SZOMB,
    VM_PAGE_BITS_ALL,
    VM_PROT_NONE,
    VM_PROT_READ,
)
from vmkit.kern import TDS_SLEEP, V_FREE_COUNT, VM_PAGES_NEEDED


def machine(**kw):
    """``small_machine`` without the page-out daemon (where the config has one): these tests drive
    the subsystems by hand, and the daemon's thresholds and scans would change what they look at."""
    if "pagedaemon" in VMConfig.field_names():
        kw.setdefault("pagedaemon", False)
    return small_machine(**kw)


def script(steps: list) -> Script:
    """vmkit's Script from compact steps: ("w", pages) writes them, ("r", pages) reads them, an int sleeps."""
    return Script([s if isinstance(s, int) else [(int(v), s[0] == "w") for v in s[1]] for s in steps])


def at_tick(vm, tick, func, name="test-action"):
    """Run ``func()`` in a kernel thread at ``tick`` (kernel threads run before user processes)."""
    done = []

    def main():
        if vm.ticks < tick:
            yield vm.tsleep(("at", name), 0, "at", tick - vm.ticks)
        r = func()
        if r is not None and hasattr(r, "send"):
            yield from r
        done.append(vm.ticks)

    vm.kthread_create(main, name)
    return done


def heap(p):
    return p.p_vmspace.vm_map.entries[0].object


def pm(p):
    return p.p_vmspace.vm_pmap


# -- zero fill and dirtying ----------------------------------------------------------------------------

def test_first_read_zero_fills():
    vm = machine()
    p = vm.spawn("z", script([("r", [2]), ("r", [2]), 1000]))
    vm.run(until=2)
    assert vm.cnt.v_zfod == 1
    assert vm.cnt.v_vm_faults == 1          # the second read hits the PTE
    assert p.p_minflt == 1 and p.p_majflt == 0
    m = heap(p).rb_memq[2]
    assert m.valid == VM_PAGE_BITS_ALL
    assert m.dirty == 0
    assert int(vm.phys_stamp[m.pfn]) == 0
    assert m.queue - m.pc == PQ_ACTIVE and m.act_count == 5
    assert m.flags & PG_MAPPED and not m.flags & PG_BUSY
    bits = vm.pte_bits(pm(p), 2)
    assert bits & PG_V and bits & PG_A and not bits & PG_M
    assert vm.refs_checked == 2
    assert vm.lost_writes == []
    assert list(heap(p).rb_memq) == [2]
    vm.check()


def test_write_fault_maps_writeable_with_m_and_dirties_page():
    vm = machine()
    p = vm.spawn("w", script([("w", [1]), 1000]))
    vm.run(until=2)
    m = heap(p).rb_memq[1]
    assert vm.cnt.v_zfod == 1
    assert m.dirty == VM_PAGE_BITS_ALL
    assert m.flags & PG_WRITEABLE and m.flags & PG_MAPPED
    assert vm.pte_bits(pm(p), 1) == PG_V | PG_RW | PG_A | PG_M
    assert vm.pte_page(pm(p), 1) is m
    slot = heap(p).slot_base + 1
    assert int(vm.phys_stamp[m.pfn]) == int(vm.oracle_expected[slot]) == vm.write_seq == 1
    vm.check()


def test_write_after_protect_read_faults_again_and_redirties():
    vm = machine()
    p = vm.spawn("w", script([("w", [0]), 20, ("r", [0]), ("w", [0]), ("r", [0]), 1000]))
    vm.run(until=2)
    m = heap(p).rb_memq[0]

    def protect():
        assert not vm.vm_page_busy_try(m, True)
        vm.pmap_page_protect(m, VM_PROT_READ)      # clears RW and M; M had been set: page stays dirty
        assert m.dirty == VM_PAGE_BITS_ALL
        assert not m.flags & PG_WRITEABLE
        vm.vm_page_undirty(m)                       # as if it had been laundered
        vm.vm_page_wakeup(m)

    at_tick(vm, 5, protect)
    vm.run(until=6)
    assert vm.pte_bits(pm(p), 0) == PG_V | PG_A
    assert m.dirty == 0
    faults, refs = vm.cnt.v_vm_faults, p.p_refs
    vm.run(until=40)
    assert p.p_refs == refs + 3
    assert vm.cnt.v_vm_faults == faults + 1          # only the write faulted
    assert vm.cnt.v_zfod == 1                        # the page was found, not zero-filled again
    assert heap(p).rb_memq[0] is m
    assert m.dirty == VM_PAGE_BITS_ALL
    assert m.flags & PG_WRITEABLE
    assert vm.pte_bits(pm(p), 0) == PG_V | PG_RW | PG_A | PG_M
    assert vm.lost_writes == []
    vm.check()


def test_write_to_read_only_file_mapping_is_sigsegv():
    vm = machine()
    vp = vm.vfs_create_file("ro", 4)
    p = vm.spawn("scribbler", script([("r", [0]), ("w", [3]), ("r", [1])]),
                 regions=[MapFile("ro", writable=False)])
    vm.run(until=100)
    assert p.p_stat == SZOMB
    assert p.p_xsig == SIGSEGV
    assert p.p_refs == 1                             # the read; the write never happened
    assert f"pid {p.p_pid} (scribbler): write of read-only page 3: SIGSEGV" in vm.dmesg()
    assert list(vp.v_data) == [-1, -2, -3, -4]
    assert vm.lost_writes == []
    vm.check()


def test_read_of_read_only_file_mapping_is_fine():
    vm = machine()
    vm.vfs_create_file("ro", 4)
    p = vm.spawn("reader", script([("r", range(4))]), regions=[MapFile("ro", writable=False)])
    vm.run(until=100)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert p.p_refs == 4 and p.p_majflt == 4
    assert vm.lost_writes == []


# -- busy pages ------------------------------------------------------------------------------------------

def test_fault_on_busy_page_sleeps_until_vm_page_wakeup():
    vm = machine()
    p = vm.spawn("w", script([("w", [0]), 20, ("r", [0]), 1000]))
    vm.run(until=2)
    m = heap(p).rb_memq[0]

    def grab():
        assert not vm.vm_page_busy_try(m, True)
        vm.vm_page_protect(m, VM_PROT_NONE)          # unmap it so the next access faults

    def release():
        vm.vm_page_wakeup(m)

    at_tick(vm, 5, grab, "grab")
    at_tick(vm, 40, release, "release")
    vm.run(until=30)
    td = p.p_thread
    assert td.td_state == TDS_SLEEP
    assert td.td_wmesg == "vmpfw" and td.td_wchan is m
    assert m.flags & PG_WANTED
    assert vm.cnt.v_intrans == 1
    assert p.p_refs == 1
    vm.run(until=39)
    assert p.p_refs == 1
    vm.run(until=40)                                 # woken by vm_page_wakeup, in the same tick
    assert p.p_refs == 2
    assert td.td_wmesg == "nanslp"
    assert vm.pte_page(pm(p), 0) is m
    assert not m.flags & (PG_BUSY | PG_WANTED)
    assert vm.cnt.v_zfod == 1
    assert vm.lost_writes == []
    vm.check()


# -- running out of memory ---------------------------------------------------------------------------

def exhaust(vm, hog_pages=180):
    """Fill memory with a sleeping hog, then set every threshold above the free count."""
    hog = vm.spawn("hog", script([("w", range(hog_pages)), 1_000_000]))
    vm.run(until=vm.ticks + 2)
    assert hog.rss_pages == hog_pages
    vs = vm.vmstats
    limit = vs.v_free_count + 10
    vs.v_free_min = vs.v_free_reserved = vs.v_free_severe = vs.v_free_target = limit
    return hog


def test_pagedaemon_wakeup_sets_vm_pages_needed():
    vm = machine()
    log = []

    def daemon():
        err = yield vm.tsleep(VM_PAGES_NEEDED, 0, "psleep", 0)
        log.append((vm.ticks, err))

    vm.kthread_create(daemon, "fake-pagedaemon")
    vm.run(until=5)
    vm.pagedaemon_wakeup()                            # plenty of memory: nothing to do
    assert vm.vm_pages_needed == 0
    vs = vm.vmstats
    vs.v_free_min = vs.v_free_count + 1               # vm_paging_needed() and vm_page_count_min(0)
    vm.pagedaemon_wakeup()
    assert vm.vm_pages_needed == 1
    vm.run(until=6)
    assert log == [(6, 0)]
    vm.pagedaemon_wakeup()                            # already awake: count one more request
    assert vm.vm_pages_needed == 2


def test_fault_with_memory_exhausted_sleeps_in_pfault_then_resumes_when_pages_are_freed():
    vm = machine()
    hog = exhaust(vm)
    assert vm.vm_pages_needed == 0
    victim = vm.spawn("victim", script([("w", range(8)), 1_000_000]))
    vm.run(until=vm.ticks + 1)
    td = victim.p_thread
    assert td.td_state == TDS_SLEEP
    assert td.td_wmesg == "pfault" and td.td_wchan == V_FREE_COUNT
    assert vm.vm_pages_needed == 1                    # the daemon was asked for pages
    assert vm.vm_pageout_deficit == 1
    assert vm.vm_pages_waiting >= 1
    assert victim.p_refs == 0 and victim.rss_pages == 0
    # It keeps waiting, one second at a time, while memory stays short.
    vm.run(until=vm.ticks + 350)
    assert td.td_wmesg == "pfault" and victim.p_refs == 0
    # Free memory at a tick away from the victim's one-second timeouts.
    kill_tick = vm.ticks + 37
    at_tick(vm, kill_tick, lambda: vm.killproc(hog, "make room"))
    vm.run(until=kill_tick)
    assert hog.p_stat == SZOMB
    assert victim.p_refs == 8                         # woken by the frees, in the same tick
    assert td.td_wmesg == "nanslp"
    assert vm.lost_writes == []
    vm.check()


def test_killproc_of_process_stuck_in_pfault_with_lowmemkill_exits():
    vm = machine()
    exhaust(vm)
    victim = vm.spawn("victim", script([("w", range(8)), 1_000_000]))
    vm.run(until=vm.ticks + 5)
    assert victim.p_thread.td_wmesg == "pfault"
    # What the OOM killer does: mark the process, then killproc().
    t = vm.ticks
    victim.p_flags |= P_LOWMEMKILL
    vm.killproc(victim, "test")
    assert vm.dmesg()[-1] == f"pid {victim.p_pid} (victim), uid 1001, was killed: test"
    assert vm.dmesg_ticks[-1] == t
    assert victim.p_killed_why == "test"
    vm.run(until=t + vm.hz)                            # at most one pfault timeout later
    assert victim.p_stat == SZOMB
    assert victim.p_xsig == SIGKILL
    assert t < victim.p_exit_tick <= t + vm.hz
    assert victim.p_refs == 0
    assert vm.pfind(victim.p_pid) is None
    vm.check()


def test_killproc_without_lowmemkill_waits_for_memory_then_exits():
    """Facts §4: only P_LOWMEMKILL breaks the pfault loop; a plain SIGKILL is seen when memory returns."""
    vm = machine()
    hog = exhaust(vm)
    victim = vm.spawn("victim", script([("w", range(8)), 1_000_000]))
    vm.run(until=vm.ticks + 5)
    vm.killproc(victim, "test")
    assert vm.dmesg()[-1] == f"pid {victim.p_pid} (victim), uid 1001, was killed: test"
    vm.run(until=vm.ticks + 5 * vm.hz)
    assert victim.p_stat != SZOMB and victim.p_thread.td_wmesg == "pfault"
    vs = vm.vmstats
    vs.v_free_min = vs.v_free_reserved = vs.v_free_severe = vs.v_free_target = 0
    vm.run(until=vm.ticks + vm.hz)
    assert victim.p_stat == SZOMB and victim.p_xsig == SIGKILL
    assert victim.p_refs == 0
    assert hog.p_stat != SZOMB
    vm.check()


def test_killproc_of_sleeping_process_ends_it_at_once():
    vm = machine()
    p = vm.spawn("sleepy", script([("w", range(4)), 1_000_000]), uid=42)
    vm.run(until=10)
    vm.killproc(p, "because")
    assert vm.dmesg()[-1] == f"pid {p.p_pid} (sleepy), uid 42, was killed: because"
    vm.run(until=11)
    assert p.p_stat == SZOMB and p.p_xsig == SIGKILL and p.p_exit_tick == 11
    assert vm.vmstats.v_free_count == vm.vmstats.v_page_count


# -- whole workloads -----------------------------------------------------------------------------------

def test_random_workload_with_plenty_of_memory_keeps_every_write():
    vm = machine(ram=256)
    p = vm.spawn("rand", UniformRandom(pages=120, count=30_000, writes=0.3))
    run_checked(vm, every=5)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert p.p_refs == 30_000
    assert vm.lost_writes == []
    assert vm.refs_checked > 20_000
    assert vm.cnt.v_zfod <= 120
    assert vm.vmstats.v_free_count == vm.vmstats.v_page_count
    vm.check()


def test_random_workload_under_eviction_keeps_every_write():
    vm = machine(ram=256, swap=1024)
    p = vm.spawn("rand", UniformRandom(pages=150, count=20_000, writes=0.4), refs_per_tick=100)
    start_evictor(vm, per_tick=6, cluster=8, seed=3)
    run_checked(vm, every=10)
    assert p.p_stat == SZOMB and p.p_xsig == 0
    assert vm.swapdev.writes > 0 and vm.swapdev.reads > 0   # data really went through swap
    assert p.p_majflt > 0
    assert vm.lost_writes == []
    assert vm.vm_swap_size == vm.vm_swap_max
    vm.check()


def test_explicit_refs_reads_see_the_last_write():
    vm = machine()
    refs = [(0, True), (1, True), (0, False), (0, True), (1, False), (0, False), (2, False)]
    p = vm.spawn("refs", Refs(refs))
    vm.run()
    assert p.p_refs == len(refs)
    assert vm.lost_writes == []
    assert vm.write_seq == 3


def test_oracle_reports_a_read_of_corrupted_data():
    """Negative control for every ``lost_writes == []`` above: a frame changed behind the program's back is seen."""
    vm = machine()
    p = vm.spawn("victim", script([("w", [0]), 10, ("r", [0]), 10]))
    vm.run(until=3)
    m = heap(p).rb_memq[0]
    good = int(vm.phys_stamp[m.pfn])
    vm.phys_stamp[m.pfn] = 12345
    vm.run(until=30)
    assert len(vm.lost_writes) == 1
    lw = vm.lost_writes[0]
    assert (lw["where"], lw["pid"], lw["vpn"], lw["expected"], lw["found"]) == ("read", p.p_pid, 0, good, 12345)


@pytest.mark.parametrize("writable", [True, False])
def test_file_mapping_reads_are_major_faults(writable):
    vm = machine(file_read_latency=4)
    vm.vfs_create_file("f", 3)
    p = vm.spawn("r", script([("r", [0])]), regions=[MapFile("f", writable=writable)])
    vm.run(until=1)
    assert p.p_thread.td_wmesg == "vnread"
    vm.run(until=4)
    assert p.p_refs == 0
    vm.run(until=5)
    assert p.p_refs == 1 and p.p_majflt == 1
    assert vm.lost_writes == []


def test_file_read_error_is_sigbus_and_leaves_the_file_alone():
    from vmkit.constants import SIGBUS

    vm = machine()
    vp = vm.vfs_create_file("f", 4)
    vm.filedev.inject(fail_next_reads=1)
    p = vm.spawn("r", script([("r", [2]), ("r", [3])]), regions=[MapFile("f")])
    vm.run(until=50)
    assert p.p_stat == SZOMB and p.p_xsig == SIGBUS
    assert p.p_refs == 0
    assert any(line == f"pid {p.p_pid} (r): page-in of f:2 failed: SIGBUS" for line in vm.dmesg())
    assert 2 not in vp.v_object.rb_memq
    assert list(vp.v_data) == [-1, -2, -3, -4]
    assert vm.vmstats.v_free_count == vm.vmstats.v_page_count
    vm.check()
