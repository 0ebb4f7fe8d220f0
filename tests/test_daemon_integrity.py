"""The page-out daemon never loses a write and never leaves the machine inconsistent, whatever goes wrong.

Random machines and workloads run with the real daemon (``pagedaemon``,
``emergpager``, ``vmdaemon``) under injected faults: swap write and read
errors, swap-block allocation failures (and swap too small: the OOM killer
runs), slow swap disks, file write errors and vnode locks held for a long
time.  The invariant checker runs after every daemon pass (``pass_hooks``);
the data-integrity oracle checks every read and page-in, and a final sweep
checks resident pages, swap and files.  Runs are bounded in simulated time;
processes still running then, or killed by the OOM killer, are fine.

The last tests break things on purpose and check that this harness notices.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmkit import Anon, HotCold, InvariantError, KernelThreadError, Machine, MapFile, Sequential, UniformRandom

SHARED = "shared.dat"

proc_st = st.fixed_dictionaries({
    "kind": st.sampled_from(["seq", "uniform", "hotcold"]),
    "anon_share": st.floats(0.2, 1.2),          # anonymous pages, as a fraction of RAM
    "file": st.sampled_from(["none", "own", "shared"]),
    "file_pages": st.integers(8, 200),
    "file_first": st.booleans(),                # the file region below the anonymous one
    "writes": st.sampled_from([0.2, 0.5, 1.0]),
    "refs_per_tick": st.integers(50, 400),
})

machine_st = st.fixed_dictionaries({
    "ram": st.integers(256, 1024),
    "seed": st.integers(0, 2**31),
    "pq_l2_size": st.sampled_from([2, 4, 16]),
    # Swap as a fraction of the anonymous pages: generous down to far too small (swap fills, OOM kills).
    "swap_factor": st.sampled_from([2.0, 1.0, 0.5, 0.2, 0.05]),
    "swap_write_errors": st.sampled_from([0.0, 0.05, 0.3]),
    "swap_read_errors": st.sampled_from([0.0, 0.0, 0.02]),
    "swap_alloc_failures": st.sampled_from([0.0, 0.1, 0.5]),
    "file_write_errors": st.sampled_from([0.0, 0.2]),
    "swap_write_latency": st.integers(1, 30),
    "swap_bandwidth": st.sampled_from([0, 2, 8, 32]),
    "file_write_latency": st.integers(1, 10),
    # lk_timo 300: the primary daemon waits 3 s in vget(), long enough for the emergency pager.
    "vnode_lk_timo": st.sampled_from([0, 5, 50, 300]),
    # A vnode lock held for a while: (start, ticks), or none.
    "stall": st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(50, 800))),
})


def _workload(kind: str, pages: int, writes: float):
    if kind == "seq":
        return Sequential(pages=pages, passes=2, writes=writes)
    if kind == "uniform":
        return UniformRandom(pages=pages, count=4 * pages, writes=writes)
    return HotCold(pages=pages, count=6 * pages, hot=0.2, p=0.8, writes=writes)


def build(mc: dict, procs: list[dict]) -> tuple[Machine, dict[str, int]]:
    """A daemon machine with ``procs`` running; the checker hooked to every daemon pass.

    Process 0 always maps the shared file (the one the stall locks), and
    maps 1.6 times RAM or more: alone it makes memory short, so the daemon
    always has work.
    """
    ram = mc["ram"]
    anon = [max(8, int(p["anon_share"] * ram)) for p in procs]
    files = [("shared" if i == 0 else p["file"], p["file_pages"]) for i, p in enumerate(procs)]
    shared_pages = max(n for kind, n in files if kind == "shared")
    anon[0] = max(anon[0], int(1.6 * ram) - shared_pages)
    swap = int(sum(anon) * mc["swap_factor"])
    vm = Machine(ram=ram, swap=swap, seed=mc["seed"], pagedaemon=True, boot_userland=False,
                 pq_l2_size=mc["pq_l2_size"], swap_write_latency=mc["swap_write_latency"],
                 swap_bandwidth=mc["swap_bandwidth"], file_write_latency=mc["file_write_latency"],
                 vnode_lk_timo=mc["vnode_lk_timo"])
    vm.swapdev.inject(write_error_rate=mc["swap_write_errors"], read_error_rate=mc["swap_read_errors"])
    vm.filedev.inject(write_error_rate=mc["file_write_errors"])
    vm.inject_swap_alloc_failures(rate=mc["swap_alloc_failures"])
    vm.vfs_create_file(SHARED, shared_pages)
    for i, (p, a, (kind, fpages)) in enumerate(zip(procs, anon, files, strict=True)):
        regions: list = [Anon(a)]
        mapped = a
        if kind != "none":
            name = SHARED if kind == "shared" else f"own{i}.dat"
            if kind == "own":
                vm.vfs_create_file(name, fpages)
            region = MapFile(name)
            mapped += vm.vfs_lookup(name).v_size
            regions = [region, *regions] if p["file_first"] else [*regions, region]
        # The workload covers every region, so file pages are read, written and paged too.
        vm.spawn(f"p{i}", _workload(p["kind"], mapped, p["writes"]), regions, refs_per_tick=p["refs_per_tick"])
    if mc["stall"] is not None:
        start, ticks = mc["stall"]
        vm.vn_lock_hold(SHARED, ticks, start=start)
    passes = {"pagedaemon": 0, "emergpager": 0}

    def check_after_pass(m: Machine, isep: int) -> None:
        passes["emergpager" if isep else "pagedaemon"] += 1
        m.check()

    vm.pass_hooks.append(check_after_pass)
    return vm, passes


def run_bounded(vm: Machine, seconds: float, step: int = 50) -> None:
    """Run until every spawned process has ended, or for ``seconds`` of simulated time."""
    end = vm.ticks + int(seconds * vm.hz)
    while vm.user_procs() and vm.ticks < end:
        vm.run(until=min(end, vm.ticks + step))


def assert_intact(vm: Machine) -> None:
    vm.check()
    assert vm.lost_writes == []
    assert vm.verify_integrity() == 0
    assert vm.refs_checked > 0
    states = {p["pid"]: p["state"] for p in vm.processes()}
    for k in vm.oom_kills:                       # a killed process ends, whatever it was doing
        assert states[k["pid"]] == "SZOMB" or vm.pfind(k["pid"]).p_siglist


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mc=machine_st, procs=st.lists(proc_st, min_size=1, max_size=3))
def test_daemon_loses_no_write_and_keeps_the_machine_consistent_under_faults(mc, procs):
    vm, passes = build(mc, procs)
    run_bounded(vm, seconds=12)
    assert passes["pagedaemon"] > 0, "the daemon never ran a pass: the checker checked nothing"
    assert_intact(vm)


def test_all_faults_at_once_over_a_long_run():
    """One deterministic run with every fault kind, long enough for each to bite.

    No swap read errors here: each one kills a process (SIGBUS) and would cut the run short.
    """
    mc = {"ram": 512, "seed": 7, "pq_l2_size": 4, "swap_factor": 0.25, "swap_write_errors": 0.1,
          "swap_read_errors": 0.0, "swap_alloc_failures": 0.1, "file_write_errors": 0.2,
          "swap_write_latency": 6, "swap_bandwidth": 4, "file_write_latency": 4, "vnode_lk_timo": 250,
          "stall": (60, 800)}
    procs = [
        {"kind": "uniform", "anon_share": 0.5, "file": "shared", "file_pages": 160, "file_first": False,
         "writes": 0.5, "refs_per_tick": 200},
        {"kind": "seq", "anon_share": 0.9, "file": "own", "file_pages": 120, "file_first": True,
         "writes": 1.0, "refs_per_tick": 300},
        {"kind": "hotcold", "anon_share": 0.6, "file": "shared", "file_pages": 160, "file_first": True,
         "writes": 0.3, "refs_per_tick": 150},
    ]
    vm, passes = build(mc, procs)
    vm.vn_lock_hold("own1.dat", 300, start=400)          # a second stall, on another file
    run_bounded(vm, seconds=40)
    c = vm.counters()
    assert passes["pagedaemon"] > 50
    assert passes["emergpager"] > 0, "the stall should have brought in the emergency pager"
    assert "Emergency pager running" in vm.dmesg()
    assert vm.swapdev.write_errors > 0 and vm.filedev.write_errors > 0
    assert c["swap_writes"] > 0 and c["file_writes"] > 0 and c["file_reads"] > 0
    assert any(line.startswith("swap_pager_getswapspace: failed") for line in vm.dmesg())
    assert vm.pageout_lock_miss > 0
    assert any(line.startswith("vnode shared.dat: lock held") for line in vm.dmesg())
    assert len(vm.oom_kills) >= 1, "swap a quarter of the anonymous memory should fill and kill"
    assert_intact(vm)


# -- the tests of the tests -------------------------------------------------------------------------

def _pressure_machine(seed: int = 3) -> Machine:
    vm = Machine(ram=256, swap=1024, seed=seed, pagedaemon=True, boot_userland=False, pq_l2_size=4)
    vm.vfs_create_file("f", 64)
    vm.spawn("w", UniformRandom(pages=464, count=6000, writes=0.6), [Anon(400), MapFile("f")], refs_per_tick=200)
    return vm


def test_a_failed_check_in_a_pass_hook_stops_the_run():
    vm = _pressure_machine()
    calls = []

    def failing(m: Machine, isep: int) -> None:
        calls.append(m.ticks)
        if len(calls) == 3:
            raise InvariantError(["planted violation"], m.ticks)

    vm.pass_hooks.append(failing)
    with pytest.raises(KernelThreadError) as exc:
        run_bounded(vm, seconds=20)
    assert isinstance(exc.value.__cause__, InvariantError)
    assert len(calls) == 3


def test_checker_after_each_pass_notices_a_queue_count_that_drifts(monkeypatch):
    original = Machine._vm_page_deactivate_locked

    def drifting(self, m, athead):
        original(self, m, athead)
        if self.curthread is self.pagethread and m.pfn % 5 == 0:
            self.vmstats.v_inactive_count += 1

    monkeypatch.setattr(Machine, "_vm_page_deactivate_locked", drifting)
    vm = _pressure_machine()
    vm.pass_hooks.append(lambda m, isep: m.check())
    with pytest.raises(KernelThreadError) as exc:
        run_bounded(vm, seconds=20)
    assert isinstance(exc.value.__cause__, InvariantError)
    assert "v_inactive_count" in str(exc.value.__cause__)
    assert "pagedaemon" in str(exc.value) or "emergpager" in str(exc.value)


def test_oracle_notices_swap_writes_the_daemon_issues_that_are_dropped(monkeypatch):
    original = Machine.swp_pager_async_iodone

    def lossy(self, bp):
        bp.b_data = [0] * len(bp.b_data)        # the disk stores zeros
        return original(self, bp)

    monkeypatch.setattr(Machine, "swp_pager_async_iodone", lossy)
    vm = _pressure_machine()
    run_bounded(vm, seconds=30)
    assert vm.laundered > 0
    assert len(vm.lost_writes) > 0 or vm.verify_integrity() > 0
