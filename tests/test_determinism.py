"""Determinism: one seed, one history - independent of the process, the run and PYTHONHASHSEED."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import small_machine, start_evictor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmkit import Anon, HotCold, Machine, MapFile, Sequential, UniformRandom

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def busy_machine(seed: int) -> Machine:
    """Several processes, the evictor, and swap writes failing 20 % of the time."""
    vm = small_machine(ram=256, swap=1024, seed=seed)
    vm.swapdev.inject(write_error_rate=0.2)
    vm.inject_swap_alloc_failures(rate=0.1)     # logs "swap_pager_getswapspace: failed"
    start_evictor(vm, per_tick=8, cluster=8, seed=seed)
    vm.spawn("uniform", UniformRandom(pages=120, count=12_000, writes=0.5))
    vm.spawn("hotcold", HotCold(pages=100, count=12_000, writes=0.3))
    vm.spawn("seq", Sequential(pages=80, passes=6, writes=1.0))
    victim = vm.spawn("victim", UniformRandom(pages=200, count=10**7, writes=0.5))

    def killer():
        yield vm.tsleep("test-killer", 0, "wait", 100)
        vm.killproc(victim, "test")

    vm.kthread_create(killer, "test-killer")
    vm.run()
    return vm


def observed(vm: Machine) -> dict:
    return {
        "digest": vm.state_digest(),
        "dmesg": vm.dmesg(),
        "counters": vm.counters(),
        "vmstats": vm.vmstats_dict(),
        "lost_writes": list(vm.lost_writes),
        "ticks": vm.ticks,
        "procs": vm.processes(),
    }


def test_same_seed_same_history():
    a, b = busy_machine(seed=11), busy_machine(seed=11)
    assert a.swapdev.write_errors > 0, "the error injection never fired"
    assert any("was killed" in line for line in a.dmesg())
    assert any("swap_pager_getswapspace" in line for line in a.dmesg())
    assert a.counters()["swap_writes"] > 0
    oa, ob = observed(a), observed(b)
    for key in oa:
        assert oa[key] == ob[key], key
    assert a.swapdev.stats() == b.swapdev.stats()


def test_different_seed_different_digest():
    a, b = busy_machine(seed=11), busy_machine(seed=12)
    assert a.state_digest() != b.state_digest()


def test_digest_is_stable_while_idle_and_changes_with_time():
    """The digest is a function of the state: equal states hash equal, a tick later they differ."""
    a, b = small_machine(seed=3), small_machine(seed=3)
    assert a.state_digest() == b.state_digest()
    d = a.state_digest()
    assert a.state_digest() == d                # reading it changes nothing
    a.run(until=1)
    assert a.state_digest() != d


def test_swap_write_errors_lose_no_writes():
    vm = busy_machine(seed=21)
    assert vm.swapdev.write_errors > 0
    assert vm.lost_writes == []
    assert vm.verify_integrity() == 0


_workload = st.one_of(
    st.builds(lambda pages, passes, w: ("seq", pages, passes, w),
              st.integers(1, 120), st.integers(1, 3), st.sampled_from([0.0, 0.5, 1.0])),
    st.builds(lambda pages, count, w: ("uniform", pages, count, w),
              st.integers(1, 150), st.integers(1, 3000), st.sampled_from([0.0, 0.3, 1.0])),
    st.builds(lambda pages, count, w: ("hotcold", pages, count, w),
              st.integers(2, 150), st.integers(1, 3000), st.sampled_from([0.0, 0.5])),
)


def _make(spec: tuple):
    kind, pages, n, w = spec
    if kind == "seq":
        return Sequential(pages=pages, passes=n, writes=w)
    if kind == "uniform":
        return UniformRandom(pages=pages, count=n, writes=w)
    return HotCold(pages=pages, count=n, writes=w)


def _random_run(seed: int, specs: list, evict: int, err: float, refs: int) -> Machine:
    vm = small_machine(ram=128, swap=512, seed=seed, refs_per_tick=refs)
    if err:
        vm.swapdev.inject(write_error_rate=err)
    if evict:
        start_evictor(vm, per_tick=evict, seed=seed)
    for i, spec in enumerate(specs):
        vm.spawn(f"p{i}", _make(spec))
    vm.run(until=150)
    return vm


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), specs=st.lists(_workload, min_size=1, max_size=3),
       evict=st.integers(0, 8), err=st.sampled_from([0.0, 0.2]), refs=st.sampled_from([50, 200]))
def test_random_workloads_are_reproducible(seed, specs, evict, err, refs):
    a = _random_run(seed, specs, evict, err, refs)
    b = _random_run(seed, specs, evict, err, refs)
    assert a.state_digest() == b.state_digest()
    assert a.dmesg() == b.dmesg()
    assert a.counters() == b.counters()


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from helpers import small_machine, start_evictor
    from vmkit import Anon, HotCold, MapFile, Sequential, UniformRandom

    vm = small_machine(ram=192, swap=512, seed=5, boot_userland=True)
    vm.swapdev.inject(write_error_rate=0.2)
    vm.inject_swap_alloc_failures(rate=0.1)
    vm.vfs_create_file("data.bin", 64)
    start_evictor(vm, seed=5)
    vm.spawn("u", UniformRandom(pages=100, count=6000, writes=0.5))
    vm.spawn("h", HotCold(pages=80, count=6000, writes=0.3))
    vm.spawn("f", UniformRandom(pages=96, count=4000, writes=0.4),
             regions=[Anon(32, "heap"), MapFile("data.bin")])
    vm.spawn("s", Sequential(pages=50, passes=4, writes=1.0))
    vm.run(seconds=3)
    print(vm.state_digest(), vm.ticks, len(vm.dmesg()), vm.counters()["swap_writes"])
""")


def _digest_with_hashseed(hashseed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(TESTS))], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_digest_does_not_depend_on_pythonhashseed():
    first = _digest_with_hashseed("1")
    assert first and int(first.split()[3]) > 0
    assert _digest_with_hashseed("2") == first
    assert _digest_with_hashseed("12345") == first


def test_in_process_run_matches_subprocess():
    """The same script in this process gives the digest the subprocesses print."""
    vm = small_machine(ram=192, swap=512, seed=5, boot_userland=True)
    vm.swapdev.inject(write_error_rate=0.2)
    vm.inject_swap_alloc_failures(rate=0.1)
    vm.vfs_create_file("data.bin", 64)
    start_evictor(vm, seed=5)
    vm.spawn("u", UniformRandom(pages=100, count=6000, writes=0.5))
    vm.spawn("h", HotCold(pages=80, count=6000, writes=0.3))
    vm.spawn("f", UniformRandom(pages=96, count=4000, writes=0.4),
             regions=[Anon(32, "heap"), MapFile("data.bin")])
    vm.spawn("s", Sequential(pages=50, passes=4, writes=1.0))
    vm.run(seconds=3)
    line = f"{vm.state_digest()} {vm.ticks} {len(vm.dmesg())} {vm.counters()['swap_writes']}"
    assert _digest_with_hashseed("0") == line
