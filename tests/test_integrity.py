"""Paging never loses a write: random workloads, random page-outs, injected faults.

The data-integrity oracle records the last value written to every page;
every read, every page-in and a final sweep compare the machine's copies
against it.  The invariant checker runs after every tick.  The second half
of this file breaks the machine on purpose and checks that the oracle and
the checker notice: a test of the tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_checked, small_machine, start_evictor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmkit import HotCold, InvariantError, Machine, MapFile, Sequential, UniformRandom
from vmkit.constants import PG_A, PG_REFERENCED
from vmkit.vm_map import Anon

workload_st = st.one_of(
    st.builds(lambda pages, count, w: UniformRandom(pages=pages, count=count, writes=w),
              st.integers(8, 300), st.integers(50, 2500), st.floats(0.0, 1.0)),
    st.builds(lambda pages, count, w: HotCold(pages=pages, count=count, hot=0.2, p=0.8, writes=w),
              st.integers(10, 300), st.integers(50, 2500), st.floats(0.0, 1.0)),
    st.builds(lambda pages, passes, w: Sequential(pages=pages, passes=passes, writes=w),
              st.integers(8, 200), st.integers(1, 4), st.floats(0.0, 1.0)),
)

proc_st = st.fixed_dictionaries({
    "workload": workload_st,
    "file_pages": st.one_of(st.none(), st.integers(4, 48)),
    "refs_per_tick": st.integers(10, 300),
})

machine_st = st.fixed_dictionaries({
    "ram": st.integers(64, 256),
    "swap_latency": st.integers(1, 4),
    "file_latency": st.integers(1, 4),
    "seed": st.integers(0, 2**31),
    "pq_l2_size": st.sampled_from([2, 4, 16]),
    "swap_write_errors": st.sampled_from([0.0, 0.05, 0.3]),
    "swap_read_errors": st.sampled_from([0.0, 0.0, 0.02]),
    "swap_alloc_failures": st.sampled_from([0.0, 0.1, 0.5]),
    "file_write_errors": st.sampled_from([0.0, 0.2]),
    "evict_per_tick": st.integers(1, 16),
    "cluster": st.integers(1, 16),
})


def build(mc: dict, procs: list[dict]) -> Machine:
    total_anon = sum(p["workload"].npages for p in procs)      # an upper bound
    vm = small_machine(ram=mc["ram"], swap=total_anon + 64, seed=mc["seed"], pq_l2_size=mc["pq_l2_size"],
                       swap_read_latency=mc["swap_latency"], swap_write_latency=mc["swap_latency"],
                       file_read_latency=mc["file_latency"], file_write_latency=mc["file_latency"])
    vm.vmstats.v_free_reserved = 4        # the daemon would set this; let allocation use the cache queue
    vm.swapdev.inject(write_error_rate=mc["swap_write_errors"], read_error_rate=mc["swap_read_errors"])
    vm.filedev.inject(write_error_rate=mc["file_write_errors"])
    vm.inject_swap_alloc_failures(rate=mc["swap_alloc_failures"])
    for i, p in enumerate(procs):
        npages = p["workload"].npages
        fp = p["file_pages"]
        if fp and fp < npages:
            # The workload's pages span both regions: the file gets the last fp of them.
            vm.vfs_create_file(f"f{i}", fp)
            regions = [Anon(npages - fp), MapFile(f"f{i}")]
        else:
            regions = [Anon(npages)]
        vm.spawn(f"p{i}", p["workload"], regions, refs_per_tick=p["refs_per_tick"])
    start_evictor(vm, per_tick=mc["evict_per_tick"], cluster=mc["cluster"], seed=mc["seed"])
    return vm


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mc=machine_st, procs=st.lists(proc_st, min_size=1, max_size=3))
def test_no_write_is_lost_under_random_paging_and_faults(mc, procs):
    vm = build(mc, procs)
    run_checked(vm, max_ticks=200_000)
    assert vm.lost_writes == []
    assert vm.verify_integrity() == 0
    assert vm.refs_checked > 0 or all(p.p_refs == 0 for p in vm.zombproc)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mc=machine_st, procs=st.lists(proc_st, min_size=1, max_size=2))
def test_integrity_sweep_holds_mid_run(mc, procs):
    """The full sweep (resident pages, swap, files) agrees with the oracle at arbitrary points."""
    vm = build(mc, procs)
    while vm.user_procs() and vm.ticks < 200_000:
        vm.run(until=vm.ticks + 7)
        assert vm.verify_integrity() == 0
    assert vm.lost_writes == []


def test_mapped_file_writes_survive_paging_and_reach_the_file():
    vm = small_machine(ram=64, swap=256, seed=5)
    vm.vmstats.v_free_reserved = 4
    vm.vfs_create_file("db", 128)
    p = vm.spawn("db", UniformRandom(pages=128, count=6000, writes=0.5), [MapFile("db")], refs_per_tick=50)
    start_evictor(vm, per_tick=8, seed=5)
    run_checked(vm)
    assert p.p_refs == 6000 and vm.lost_writes == []
    assert vm.counters()["file_writes"] > 0 and vm.counters()["file_reads"] > 0
    assert vm.verify_integrity() == 0


# -- the tests of the tests: break the machine, expect the oracle or the checker to notice ----------

def _paging_run(seed: int = 1) -> Machine:
    vm = small_machine(ram=64, swap=512, seed=seed)
    vm.vmstats.v_free_reserved = 4
    vm.spawn("a", UniformRandom(pages=200, count=8000, writes=0.5), refs_per_tick=100)
    start_evictor(vm, per_tick=8, seed=seed)
    vm.run(until=3000)
    return vm


def test_oracle_notices_a_swap_write_that_is_dropped(monkeypatch):
    original = Machine.swp_pager_async_iodone

    def lossy(self, bp):
        bp.b_data = [0] * len(bp.b_data)   # the disk writes zeros
        return original(self, bp)

    monkeypatch.setattr(Machine, "swp_pager_async_iodone", lossy)
    vm = _paging_run()
    assert len(vm.lost_writes) > 0
    assert {w["where"] for w in vm.lost_writes} & {"pagein:swap", "read"}


def test_oracle_notices_modified_bits_that_are_ignored(monkeypatch):
    def forgetful(self, pm, vpn, m):
        pte = int(pm.pm_pte[vpn])
        pm.pm_pte[vpn] = -1
        pm.pm_resident_count -= 1
        m.md_pv.remove((pm, vpn))
        if pte & PG_A:
            m.flags |= PG_REFERENCED
        if not m.md_pv:
            m.flags &= ~0x30
        # bug: the M bit is not moved into m->dirty

    monkeypatch.setattr(Machine, "_pmap_remove_pte", forgetful)
    monkeypatch.setattr(Machine, "pmap_is_modified", lambda self, m: False)
    vm = _paging_run()
    assert len(vm.lost_writes) > 0


def test_oracle_notices_resident_writes_that_do_not_reach_memory(monkeypatch):
    original = np.maximum.at
    calls = {"n": 0}

    def flaky_at(arr, idx, vals):
        calls["n"] += 1
        if calls["n"] % 7 == 0 and arr.dtype == np.int64 and arr.size < 1000:
            return None                    # drop one store to the frames now and then
        return original(arr, idx, vals)

    monkeypatch.setattr(np.maximum, "at", flaky_at, raising=False)
    vm = small_machine(ram=256, swap=0, seed=2)
    vm.spawn("w", UniformRandom(pages=100, count=20000, writes=0.5), refs_per_tick=1000)
    vm.run()
    assert len(vm.lost_writes) > 0


def test_checker_notices_a_queue_count_that_drifts(monkeypatch):
    original = Machine._vm_page_add_queue

    def drifting(self, m, base, athead):
        original(self, m, base, athead)
        if base == 1025 and m.pfn % 11 == 0:
            self.vmstats.v_active_count += 1

    monkeypatch.setattr(Machine, "_vm_page_add_queue", drifting)
    vm = small_machine(ram=256, seed=3)
    vm.spawn("w", Sequential(pages=100, writes=0.3))
    with pytest.raises(InvariantError, match="v_active_count"):
        run_checked(vm)
