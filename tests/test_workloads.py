"""Workloads model what they say, are reproducible, parse from SPEC strings, and reject bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

from vmkit import (
    FileStream,
    FileWrite,
    HotCold,
    IdleDaemon,
    Loop,
    Machine,
    MemoryHog,
    Phases,
    Sequential,
    UniformRandom,
    parse_workload_spec,
)
from vmkit.workload import WORKLOADS, workload_help


def refs(w, n=200_000, seed=1):
    return w.references(n, seed=seed)


def test_sequential_sweeps_in_order_and_repeats():
    v, w = refs(Sequential(pages=10, passes=3, writes=1.0))
    assert v.tolist() == list(range(10)) * 3 and w.all()


def test_loop_cycles_over_k_pages():
    v, _ = refs(Loop(k=7, count=30))
    assert v.tolist() == [i % 7 for i in range(30)]


def test_uniform_random_covers_pages_uniformly():
    v, w = refs(UniformRandom(pages=100, count=100_000, writes=0.3))
    counts = np.bincount(v, minlength=100)
    assert counts.min() > 800 and counts.max() < 1200
    assert 0.28 < w.mean() < 0.32


def test_hotcold_sends_p_of_references_to_the_hot_fraction():
    wl = HotCold(pages=1000, count=200_000, hot=0.2, p=0.8, writes=0.0)
    v, w = refs(wl)
    assert abs((v < 200).mean() - 0.8) < 0.01
    assert not w.any()


def test_phases_stay_in_a_window_of_ws_pages_per_phase():
    v, _ = refs(Phases(pages=10_000, count=50_000, ws=300, phase=10_000))
    for i in range(5):
        block = v[i * 10_000:(i + 1) * 10_000]
        assert block.max() - block.min() < 300
    starts = {int(v[i * 10_000:(i + 1) * 10_000].min()) // 300 for i in range(5)}
    assert len(starts) > 1                      # the working set moved


def test_hog_grows_and_never_ends():
    wl = MemoryHog(pages=10_000, rate=100, retouch=0.0)
    wl.bind(np.random.default_rng(0))
    seen = []
    for _ in range(6):
        c = wl.next_chunk(1000)
        if isinstance(c, int):
            continue
        seen.append(c[0])
    assert np.concatenate(seen).tolist() == list(range(300))
    assert not wl.finite


def test_idle_daemon_touches_all_then_sleeps():
    wl = IdleDaemon(pages=20, touch=3, period=500)
    wl.bind(np.random.default_rng(0))
    first = wl.next_chunk(100)
    assert first[0].tolist() == list(range(20))
    assert wl.next_chunk(100) == 500
    assert len(wl.next_chunk(100)[0]) == 3


def test_workloads_are_reproducible_for_a_seed():
    for spec in ("uniform:pages=500,count=5000,writes=0.4", "hotcold:pages=500,count=5000",
                 "phases:pages=5000,count=5000,ws=100,phase=1000"):
        a = refs(parse_workload_spec(spec), seed=3)
        b = refs(parse_workload_spec(spec), seed=3)
        c = refs(parse_workload_spec(spec), seed=4)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not np.array_equal(a[0], c[0])


def test_file_workloads_map_their_own_files():
    vm = Machine(ram="16M", swap="64M", boot_userland=False, pagedaemon=True)
    s = vm.spawn("reader", FileStream(pages=500, passes=1))
    w = vm.spawn("writer", FileWrite(pages=300, count=5000, writes=0.5))
    assert s.p_vmspace.vm_map.entries[0].object.handle.v_name == "reader.dat"
    assert not s.p_vmspace.vm_map.entries[0].protection & 2          # read-only mapping
    assert w.p_vmspace.vm_map.entries[0].protection & 2
    vm.run()
    assert vm.counters()["file_reads"] >= 500
    assert vm.lost_writes == [] and vm.verify_integrity() == 0
    vm.check()


def test_every_spec_name_builds_and_help_lists_it():
    helptext = workload_help()
    for name, (cls, params, _) in WORKLOADS.items():
        args = ",".join(f"{k}={'64' if kind is int else '0.5'}" for k, (kind, _, _) in params.items())
        wl = parse_workload_spec(f"{name}:{args}")
        assert isinstance(wl, cls)
        assert f"{name}:" in helptext
        for k in params:
            assert f"{k}=" in helptext
    assert "trace:" in helptext


def test_spec_example_from_the_issue():
    wl = parse_workload_spec("hotcold:pages=20000,hot=0.2,p=0.8,writes=0.3")
    assert (wl.npages, wl.hot, wl.p, wl.writes) == (20000, 0.2, 0.8, 0.3)


@pytest.mark.parametrize("spec, message", [
    ("nope:pages=1", "unknown workload 'nope'"),
    ("hotcold:pages=10,colour=3", "has no parameter 'colour'"),
    ("hotcold:pages=abc", "pages must be an integer"),
    ("hotcold:pages=100,p=x", "p must be a number"),
    ("hotcold:count=5", "needs pages="),
    ("hotcold:pages=100,p=1.5", "p must be a number between 0.0 and 1.0"),
    ("seq:pages=0", "pages must be between 1 and"),
    ("loop:k=0", "k must be between 1 and"),
    ("seq:pages", "parameters are key=value"),
    ("", "workload SPEC must be a string"),
    ("trace:", "needs a file"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_workload_spec(spec)
