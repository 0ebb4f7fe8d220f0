"""Built-in scenarios: small machines that each show one mechanism of the daemon clearly.

``run_scenario(name, seed)`` builds the machine, runs it, and returns a
:class:`ScenarioResult` with the machine (for its event log and time series)
and a JSON-ready summary.  ``vmkit scenario NAME`` prints the summary.

=================  ====================================================================
clean-pressure     clean file pages under memory pressure are cached and freed; no swap
dirty-anon         dirty anonymous pages go round the inactive queue twice, then to swap
rss-limit          a process over RLIMIT_RSS is trimmed (memuse modes 1 and 2 compared)
oom                swap fills: the warning, then the largest process is killed, once a second
vnode-stall        a held vnode lock stalls the primary daemon; the emergency pager steps in
idle-stats         no shortage: the stats scan ages the active queue
=================  ====================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import check_int
from .machine import Machine
from .vm_map import MapFile
from .workload import HotCold, Script, Sequential, UniformRandom


@dataclass
class ScenarioResult:
    """A finished scenario: its machine(s), summary and the mechanism's evidence."""

    name: str
    machine: Machine
    summary: dict[str, Any]
    machines: dict[str, Machine] = field(default_factory=dict)


def summarize(vm: Machine, host_seconds: float) -> dict[str, Any]:
    """The JSON summary shared by ``vmkit scenario`` and ``vmkit run``."""
    procs = list(vm.allproc.values()) + vm.zombproc
    return {
        "ticks": vm.ticks,
        "seconds": vm.ticks / vm.hz,
        "references": sum(p.p_refs for p in procs),
        "faults": vm.cnt.v_vm_faults,
        "host_seconds": round(host_seconds, 3),
        "counters": vm.counters(),
        "vmstats": vm.vmstats_dict(),
        "processes": vm.processes(),
        "killed": list(vm.oom_kills),
        "dmesg": vm.dmesg(),
        "lost_writes": len(vm.lost_writes) + vm.verify_integrity(),
        "swap_writes": vm.swapdev.writes,
        "swap_pages_written": vm.cnt.v_swappgsout,
        "laundered": vm.laundered,
        "reactivated": vm.cnt.v_reactivated,
        "pageout_passes": vm.pageout_passes,
        "events": vm.event_count(),
    }


def _clean_pressure(seed: int) -> tuple[Machine, dict[str, Any]]:
    """A program reads a file three times the size of memory through a read-only mapping.

    No boot daemons: their few dirty pages would be laundered to swap and
    blur the point that clean pages never need a write.
    """
    vm = Machine(ram="16M", swap="64M", seed=seed, boot_userland=False)
    vm.vfs_create_file("big.dat", 12288)
    vm.spawn("reader", Sequential(pages=12288, passes=2), [MapFile("big.dat", writable=False)],
             refs_per_tick=2000)
    vm.run()
    ev = vm.events()
    vnode = ev[ev.object == "VNODE"]
    return vm, {
        "vnode_pages_cached": int(((vnode.function == "vm_pageout_page") & (vnode.action == "cache")).sum()),
        "cache_pages_freed": int(((ev.function == "vm_pageout_scan_cache") & (ev.action == "free")).sum()),
        "launders": int((ev.action == "launder").sum()),
    }


def _dirty_anon(seed: int) -> tuple[Machine, dict[str, Any]]:
    """A program writes anonymous memory twice the size of RAM."""
    vm = Machine(ram="16M", swap="64M", seed=seed)
    vm.spawn("writer", Sequential(pages=8192, passes=2, writes=1.0), refs_per_tick=2000)
    vm.run()
    ev = vm.events()
    pp = ev[ev.function == "vm_pageout_page"]
    first = pp.reason == "dirty, first trip: PG_WINATCFLS set"
    laund = pp.action == "launder"
    # For each launder, the page's previous inactive-scan decision should be its first trip.
    prev_first = first.groupby(pp.page, observed=True).shift(1, fill_value=False)
    clusters = ev[ev.function == "vm_pageout_flush"]
    return vm, {
        "first_trips": int(first.sum()),
        "launders": int(laund.sum()),
        "launders_right_after_a_first_trip": int((laund & prev_first).sum()),
        "pages_written_to_swap": int((clusters.reason == "PEND").sum()),
        "pages_written_as_cluster_neighbours": int((clusters.reason == "PEND").sum() - laund.sum()),
    }


def _rss_one(seed: int, mode: int) -> Machine:
    # A slow swap disk (16 pages a tick) keeps the daemon short of its
    # target, which is when it asks vm_daemon to enforce RSS limits.
    vm = Machine(ram="32M", swap="128M", seed=seed, swap_bandwidth=16)
    vm.sysctl("vm.pageout_memuse_mode", mode)
    vm.spawn("limited", HotCold(pages=6000, count=1_200_000, hot=0.95, p=0.99, writes=0.3),
             refs_per_tick=4000, rss_limit=1000)
    vm.run(seconds=1)
    vm.spawn("pressure", Sequential(pages=6000, passes=1, writes=1.0), refs_per_tick=10000)
    vm.run(seconds=4)
    return vm


def _rss_limit(seed: int) -> tuple[Machine, dict[str, Any], dict[str, Machine]]:
    """A process with RLIMIT_RSS of 1000 pages works on 6000 pages; another process makes memory short.

    vm_daemon trims a process only when its RSS exceeds the limit by 4096
    pages, and only when the daemon asks (free+cache still short after a
    pass).  Mode 1 unmaps and deactivates down to the limit at once; mode 2
    also launders each page synchronously from vm_daemon, so the trim is
    slow and writes to swap.
    """
    out: dict[str, Any] = {}
    machines = {}
    for mode in (1, 2):
        vm = _rss_one(seed, mode)
        machines[f"mode{mode}"] = vm
        ev = vm.events()
        mdp = ev[ev.function == "vm_pageout_mdp_callback"]
        vmd = ev[ev.thread == "vmdaemon"]
        rss = vm.rss_timeseries()
        rss = rss[rss.name == "limited"].set_index("tick").rss_pages
        first = int(mdp.tick.min()) if len(mdp) else None
        reached = None
        if first is not None:
            after = rss[rss.index >= first]
            hit = after[after <= 1000]
            reached = int(hit.index[0]) - first if len(hit) else None
        out[f"mode{mode}"] = {
            "first_trim_tick": first,
            "rss_before_trim": int(rss[rss.index < first].max()) if first is not None else int(rss.max()),
            "rss_min_after_trim": int(rss[rss.index >= first].min()) if first is not None else None,
            "ticks_to_reach_limit": reached,
            "pages_removed_from_pmap": int((mdp.action == "remove").sum()),
            "pages_laundered_by_vmdaemon": int(((vmd.function == "vm_pageout_flush")
                                                 & (vmd.reason.isin(["PEND", "OK"]))).sum()),
            "swap_pages_written": vm.cnt.v_swappgsout,
            "rss_at_end": int(rss.iloc[-1]),
        }
    return machines["mode1"], out, machines


def _oom(seed: int) -> tuple[Machine, dict[str, Any]]:
    """Two programs allocate without end in a machine with little swap."""
    vm = Machine(ram="16M", swap="16M", seed=seed)
    vm.spawn("hog-a", Sequential(pages=12000, passes=1, writes=1.0), refs_per_tick=3000)
    vm.spawn("hog-b", Sequential(pages=9000, passes=1, writes=1.0), refs_per_tick=3000)
    vm.spawn("editor", UniformRandom(pages=200, count=200_000, writes=0.2), refs_per_tick=200)
    vm.run()
    kills = vm.oom_kills
    gaps = [b["tick"] - a["tick"] for a, b in zip(kills, kills[1:], strict=False)]
    return vm, {
        "warnings": sum("Warning: system low on memory+swap" in line for line in vm.dmesg()),
        "kills": len(kills),
        "min_ticks_between_kills": min(gaps) if gaps else None,
    }


def _vnode_stall(seed: int) -> tuple[Machine, dict[str, Any]]:
    """A file's lock is held for 20 s on a filesystem with a 5 s lock timeout, while memory runs short.

    The primary daemon waits in vget() on the file's dirty pages and stops
    advancing vm_pagedaemon_time; after 2 s the emergency pager starts,
    pages out anonymous memory only, and stops once the lock is released
    and the primary moves again.
    """
    vm = Machine(ram="16M", swap="64M", seed=seed, vnode_lk_timo=500)
    vm.vfs_create_file("db", 3000)
    vm.spawn("dbwriter", Sequential(pages=3000, passes=1, writes=1.0), [MapFile("db")], refs_per_tick=1000)
    vm.run(seconds=3)
    vm.vn_lock_hold("db", 20 * vm.hz)
    vm.spawn("anon", Sequential(pages=6000, passes=2, writes=0.7), refs_per_tick=500)
    vm.run()
    ev = vm.events()
    ep = ev[ev.thread == "emergpager"]
    lines = dict(zip(vm.dmesg_lines, vm.dmesg_ticks, strict=True))
    return vm, {
        "lock_held_from_tick": 3 * vm.hz + 1,
        "lock_held_ticks": 20 * vm.hz,
        "emergency_pager_started_tick": lines.get("Emergency pager running"),
        "emergency_pager_finished_tick": lines.get("Emergency pager finished"),
        "emergpager_decisions": len(ep),
        "emergpager_vnode_pages_laundered": int(((ep.object == "VNODE") & (ep.action == "launder")).sum()),
        "emergpager_anon_pages_laundered": int(((ep.object != "VNODE") & (ep.action == "launder")).sum()),
        "pageout_lock_miss": vm.pageout_lock_miss,
    }


def _idle_stats(seed: int) -> tuple[Machine, dict[str, Any]]:
    """Programs touch most of memory once, then sleep: no paging, only the stats scan."""
    vm = Machine(ram="16M", swap="64M", seed=seed)
    vm.spawn("worker", Script([[(v, v % 3 == 0) for v in range(3000)], 60 * vm.hz]), refs_per_tick=5000)
    vm.run()
    ev = vm.events()
    st = ev[ev.function == "vm_pageout_page_stats"]
    return vm, {
        "stats_decisions": len(st),
        "stats_declines": int((st.action == "decline").sum()),
        "stats_deactivations": int((st.action == "deactivate").sum()),
        "pageout_passes": vm.pageout_passes,
    }


SCENARIOS: dict[str, tuple[str, Callable]] = {
    "clean-pressure": ("clean file pages under memory pressure are cached and freed, no swap writes",
                       _clean_pressure),
    "dirty-anon": ("dirty anonymous pages go round the inactive queue twice before they are laundered to swap",
                   _dirty_anon),
    "rss-limit": ("a process over RLIMIT_RSS is trimmed: at once to the limit in memuse mode 1 (unmapped), "
                  "gradually with synchronous writes in mode 2", _rss_limit),
    "oom": ("swap fills, the warning appears, the largest eligible process is killed at most once a second", _oom),
    "vnode-stall": ("a held vnode lock stalls the primary daemon; the emergency pager pages out anonymous "
                    "memory until the primary recovers", _vnode_stall),
    "idle-stats": ("no shortage: the stats scan ages active pages", _idle_stats),
}


def run_scenario(name: str, seed: int = 0) -> ScenarioResult:
    """Run built-in scenario ``name`` with ``seed``; return its machine and summary."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    check_int(seed, "seed", 0, (1 << 63) - 1)
    description, fn = SCENARIOS[name]
    t = time.perf_counter()
    out = fn(seed)
    host = time.perf_counter() - t
    vm, mech = out[0], out[1]
    machines = out[2] if len(out) > 2 else {name: vm}
    summary = summarize(vm, host)
    summary.update({"scenario": name, "description": description, "seed": seed, "mechanism": mech})
    return ScenarioResult(name, vm, summary, machines)
