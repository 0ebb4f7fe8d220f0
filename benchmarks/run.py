"""vmkit performance benchmarks (``make bench``).

Each benchmark measures host time for one thing an issue sets a target for,
prints a table, and writes ``benchmarks/results/latest.json``.  These are
measurements, not tests: ``make test`` never times anything.

Usage: ``python benchmarks/run.py [NAME ...] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmkit import HotCold, Machine, Sequential, UniformRandom  # noqa: E402
from vmkit.scenarios import SCENARIOS, run_scenario  # noqa: E402

BENCHES = {}


def bench(name: str, target: float, unit: str, higher_is_better: bool = True):
    def deco(fn):
        BENCHES[name] = (fn, target, unit, higher_is_better)
        return fn
    return deco


@bench("resident_refs_per_s", 2_000_000, "refs/s")
def resident_refs(quick: bool) -> float:
    """References that hit resident pages (no fault): 30 % writes, uniform over 20,000 pages."""
    count = 5_000_000 if quick else 20_000_000
    vm = Machine(ram="256M", swap=0, seed=1, boot_userland=False)
    p = vm.spawn("hits", UniformRandom(pages=20000, count=count, writes=0.3), refs_per_tick=1_000_000)
    vm.run(until=vm.ticks + 1)      # the first tick faults (nearly) every page in; time the rest
    before = p.p_refs
    t = time.perf_counter()
    vm.run()
    dt = time.perf_counter() - t
    assert vm.lost_writes == []
    _extra["resident_faults_during_timing"] = vm.cnt.v_vm_faults - 20000
    return (p.p_refs - before) / dt


@bench("zero_fill_faults_per_s", 50_000, "faults/s")
def zero_fill(quick: bool) -> float:
    """First touches of anonymous memory: every reference is a zero-fill fault."""
    n = 100_000 if quick else 200_000
    vm = Machine(ram="1G", swap=0, seed=1, boot_userland=False, refs_per_tick=1_000_000)
    vm.spawn("zf", Sequential(pages=n, writes=1.0))
    z0 = vm.cnt.v_zfod
    t = time.perf_counter()
    vm.run()
    dt = time.perf_counter() - t
    return (vm.cnt.v_zfod - z0) / dt


@bench("daemon_hotcold_refs_per_s", 1_000_000, "refs/s")
def daemon_hotcold(quick: bool) -> float:
    """65,536 frames under steady paging pressure, daemon and event log on: a hot set of 40,000 pages
    that fits in RAM gets 99 % of references, a cold set of 160,000 pages that does not gets 1 %.

    Also measured, as extra figures, with smaller hot sets (8,000, 16,000 and 24,000 pages): the hot pages
    sit on the active queue too, and the active scan walks them on its way to the cold ones, so the
    speed depends on how much of RAM the hot set takes."""
    count = 4_000_000 if quick else 12_000_000
    for hot in (8000, 16000, 24000):
        rate, percent, visits = _hotcold(hot, count)
        pct = round(100 * hot / 65536)
        _extra[f"daemon_hotcold_hot{pct}pct_refs_per_s"] = rate
        _extra[f"daemon_hotcold_hot{pct}pct_visits_per_fault"] = visits
    rate, percent, visits = _hotcold(40000, count)
    _extra["daemon_hotcold_fault_percent"] = percent
    _extra["daemon_hotcold_visits_per_fault"] = visits
    return rate


def _hotcold(hot_pages: int, count: int) -> tuple[float, float, float]:
    """One hot/cold run over 200,000 pages; returns references/s, the fault percentage, and pages the daemon
    visited per fault, all over the steady state."""
    vm = Machine(ram=65536, swap=262144, seed=1, boot_userland=False)
    p = vm.spawn("hotcold", HotCold(pages=200000, count=count, hot=hot_pages / 200000, p=0.99, writes=0.3),
                 refs_per_tick=100000)
    # Warm up: fault the hot set in and fill memory, then time the steady state.
    vm.run(until=vm.ticks + 40)
    r0, f0, v0 = p.p_refs, vm.cnt.v_vm_faults, vm.cnt.v_pdpages
    t = time.perf_counter()
    vm.run()
    dt = time.perf_counter() - t
    assert vm.lost_writes == []
    faults = vm.cnt.v_vm_faults - f0
    return (p.p_refs - r0) / dt, 100 * faults / (p.p_refs - r0), (vm.cnt.v_pdpages - v0) / faults


@bench("daemon_sweep_faults_per_s", 30_000, "faults/s")
def daemon_sweep(quick: bool) -> float:
    """65,536 frames, daemon and event log on: a sequential sweep over twice RAM, half the pages written."""
    passes = 2 if quick else 3
    vm = Machine(ram=65536, swap=262144, seed=1, boot_userland=False)
    p = vm.spawn("sweep", Sequential(pages=131072, passes=passes, writes=0.5), refs_per_tick=100000)
    t = time.perf_counter()
    vm.run()
    dt = time.perf_counter() - t
    assert vm.lost_writes == []
    _extra["daemon_sweep_fault_percent"] = 100 * vm.cnt.v_vm_faults / p.p_refs
    return vm.cnt.v_vm_faults / dt


@bench("scenario_slowest_s", 5.0, "s", higher_is_better=False)
def scenarios(quick: bool) -> float:
    """Host time of each built-in scenario; the figure is the slowest."""
    worst = 0.0
    for name in SCENARIOS:
        gc.collect()
        t = time.perf_counter()
        run_scenario(name, 0)
        dt = time.perf_counter() - t
        _extra[f"scenario_{name}_s"] = dt
        worst = max(worst, dt)
    return worst


def _policy_bench(policy: str, quick: bool) -> float:
    """Best of 3 runs of one baseline policy on the locality trace of benchmarks/policies_bench.py."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from policies_bench import locality_trace

    from vmkit.policies import simulate

    n = 500_000 if quick else 2_000_000
    pages, writes = locality_trace(n)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        simulate(policy, pages, writes, frames=1000)
        best = min(best, time.perf_counter() - t)
    return n / best


for _name, _target in (("fifo", 5e6), ("lru", 5e6), ("opt", 1e6)):
    bench(f"policy_{_name}_refs_per_s", _target, "refs/s")(
        lambda quick, _p=_name: _policy_bench(_p, quick))


_BUILD = """
import resource, time
t = time.perf_counter()
from vmkit import Machine
vm = Machine(ram="4G", swap="1G", boot_userland=False)
dt = time.perf_counter() - t
assert vm.vmstats.v_page_count == 1048576
# VmHWM: this process's own peak resident set (ru_maxrss can carry the parent's peak across exec).
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(dt, int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@bench("build_1M_frames_s", 5.0, "s", higher_is_better=False)
def build_time(quick: bool) -> float:
    """Build a 1,048,576-frame (4 GiB) machine in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _BUILD], capture_output=True, text=True, check=True, cwd=ROOT)
    dt, rss = out.stdout.split()
    _extra["build_1M_frames_host_MB"] = int(rss) / 1024
    return float(dt)


_extra: dict[str, float] = {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(BENCHES)}")
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    args = ap.parse_args()
    names = args.names or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            print(f"unknown benchmark {n!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
            return 2
    results = {}
    print(f"{'benchmark':<34} {'measured':>14} {'target':>14}  ok")
    for n in names:
        fn, target, unit, hib = BENCHES[n]
        gc.collect()        # each benchmark starts on a clean heap, not on the last one's machines
        value = fn(args.quick)
        ok = value >= target if hib else value <= target
        results[n] = {"value": value, "target": target, "unit": unit, "ok": ok}
        bound = (">= " if hib else "<= ") + format(target, ",")
        print(f"{n:<34} {value:>14,.1f} {bound:>14} {unit:<8} {'yes' if ok else 'NO'}")
    for k, v in _extra.items():
        results[k] = {"value": v}
        print(f"{k:<34} {v:>14,.1f}")
    if "build_1M_frames_host_MB" in _extra:
        mb = _extra["build_1M_frames_host_MB"]
        results["build_1M_frames_host_MB"].update(target=1536, ok=mb <= 1536)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (out / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0 if all(r.get("ok", True) for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
