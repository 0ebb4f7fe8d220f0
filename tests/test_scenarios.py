"""The built-in scenarios: each one shows its mechanism in the event log, not only in the totals.

Every scenario runs once per module (seed 0, a module-scoped fixture); the
tests then read its machine's event log, time series and kernel log.  Row
order in the event log is the order of the decisions, so "A precedes B"
below means "A's row comes before B's row".  Frames are reused, so a page's
history is cut at the events that end a stay on the inactive queue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vmkit import Machine
from vmkit.constants import P_SYSTEM, SACTIVE, SCORE, SSTOP
from vmkit.scenarios import SCENARIOS, ScenarioResult, run_scenario

SEED = 0
FIRST_TRIP = "dirty, first trip: PG_WINATCFLS set"
SECOND_TRIP = "dirty, second trip"
LOCK_MISS_REASONS = ("vnode lock timed out", "vnode lock busy (LK_NOWAIT)")
QUEUE_NAMES = {"FREE", "CACHE", "INACTIVE", "ACTIVE", "HOLD", "NONE"}


@dataclass
class Runs:
    """Every scenario's result, their event logs (computed once), and the OOM killer's view at each kill."""

    results: dict[str, ScenarioResult]
    kill_snapshots: list[dict[str, Any]]
    _events: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def machine(self, name: str, key: str | None = None) -> Machine:
        return self.results[name].machines[key or name]

    def events(self, name: str, key: str | None = None) -> pd.DataFrame:
        k = (name, key or name)
        if k not in self._events:
            self._events[k] = self.machine(name, key).events().reset_index(drop=True)
        return self._events[k]

    def all_machines(self) -> list[tuple[str, str]]:
        return [(name, key) for name, res in self.results.items() for key in res.machines]


@pytest.fixture(scope="module")
def runs() -> Runs:
    """Run the six scenarios once.  killproc is wrapped (read-only) to record every process's size at each kill."""
    snapshots: list[dict[str, Any]] = []
    original = Machine.killproc

    def spy(self: Machine, p: Any, why: str) -> None:
        procs = {}
        for q in self.allproc.values():
            if q.p_vmspace is None:
                continue
            procs[q.p_pid] = {
                "name": q.p_comm, "flags": q.p_flags, "stat": q.p_stat,
                "size": self.vmspace_anonymous_count(q.p_vmspace) + self.vmspace_swap_count(q.p_vmspace),
            }
        snapshots.append({"tick": self.ticks, "victim": p.p_pid, "why": why, "swap_free": self.vm_swap_size,
                          "procs": procs})
        original(self, p, why)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Machine, "killproc", spy)
        results = {name: run_scenario(name, SEED) for name in SCENARIOS}
    return Runs(results, snapshots)


def _rss_series(vm: Machine, name: str) -> pd.Series:
    rss = vm.rss_timeseries()
    return rss[rss.name == name].set_index("tick").rss_pages


def _rss_at(series: pd.Series, tick: int) -> int:
    """RSS sampled at the end of ``tick`` (or the last sample before it)."""
    return int(series.loc[:tick].iloc[-1])


def _dmesg(vm: Machine) -> list[tuple[int, str]]:
    return list(zip(vm.dmesg_ticks, vm.dmesg_lines, strict=True))


# -- every scenario -------------------------------------------------------------------------------

SUMMARY_KEYS = {"ticks", "references", "faults", "host_seconds", "counters", "vmstats", "processes", "killed",
                "dmesg", "lost_writes", "swap_writes", "laundered", "reactivated"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_summary_has_the_documented_keys_and_no_lost_write(runs, name):
    res = runs.results[name]
    s = res.summary
    vm = res.machine
    assert SUMMARY_KEYS <= set(s), f"missing: {SUMMARY_KEYS - set(s)}"
    assert s["scenario"] == name and s["seed"] == SEED
    json.dumps(s)                                     # JSON-ready as it is
    assert s["lost_writes"] == 0
    assert s["ticks"] == vm.ticks > 0
    assert s["references"] > 0
    assert s["swap_writes"] == vm.swapdev.writes
    assert s["laundered"] == vm.laundered
    assert s["reactivated"] == vm.cnt.v_reactivated
    assert s["dmesg"] == vm.dmesg()
    assert s["counters"]["v_vm_faults"] == s["faults"]
    assert s["vmstats"]["v_page_count"] == vm.vmstats.v_page_count
    assert s["events"] == vm.event_count() > 0
    assert s["processes"], "no processes in the summary"
    for p in s["processes"]:
        assert {"pid", "name", "state", "rss_pages", "rss_limit_pages"} <= set(p)
    assert [p["name"] for p in s["processes"] if p["pid"] >= vm.config.first_user_pid]
    for k in s["killed"]:
        assert set(k) == {"pid", "name", "size_pages", "tick"}
    assert s["killed"] == vm.oom_kills


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_ends_consistent_with_every_write_intact(runs, name):
    res = runs.results[name]
    assert res.machine is next(iter(res.machines.values()))
    for vm in res.machines.values():
        vm.check()
        assert vm.lost_writes == []
        assert vm.verify_integrity() == 0


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_seed_same_summary_and_event_log(runs, name):
    first = runs.results[name]
    again = run_scenario(name, SEED)
    a = {k: v for k, v in first.summary.items() if k != "host_seconds"}
    b = {k: v for k, v in again.summary.items() if k != "host_seconds"}
    assert a == b
    assert set(again.machines) == set(first.machines)
    for key, vm in again.machines.items():
        assert vm.state_digest() == first.machines[key].state_digest()
        assert vm.events().equals(runs.events(name, key)), f"{key}: the event logs differ"


def test_second_trip_launders_follow_a_logged_flag(runs):
    """A launder logged as the second trip has PG_WINATCFLS: set by the page's own first trip, by joining a
    flushed cluster, or by RSS trimming - all logged - since the page last left the inactive queue."""
    checked = 0
    for name, key in runs.all_machines():
        ev = runs.events(name, key)
        fn = ev.function.astype(str).to_numpy()
        act = ev.action.astype(str).to_numpy()
        reason = ev.reason.to_numpy()
        page = ev.page.to_numpy()
        last_set: dict[int, int] = {}
        last_clear: dict[int, int] = {}
        for i in range(len(ev)):
            p = page[i]
            if fn[i] == "vm_pageout_page" and act[i] == "launder" and reason[i] == SECOND_TRIP:
                assert last_set.get(p, -1) > last_clear.get(p, -1), (
                    f"{name}/{key}: row {i}: page {p} laundered as a second trip with no logged first trip")
                checked += 1
            if ((fn[i] == "vm_pageout_page" and reason[i] == FIRST_TRIP) or fn[i] == "vm_pageout_flush"
                    or (fn[i] == "vm_pageout_mdp_callback" and act[i] == "remove")):
                last_set[p] = i
            elif act[i] in ("deactivate", "cache", "free"):
                last_clear[p] = i
    assert checked > 1000


# -- clean-pressure -------------------------------------------------------------------------------

def test_clean_pressure_caches_and_frees_vnode_pages_without_swap(runs):
    s = runs.results["clean-pressure"].summary
    ev = runs.events("clean-pressure")
    cached = ev[(ev.function == "vm_pageout_page") & (ev.action == "cache")]
    freed = ev[(ev.function == "vm_pageout_scan_cache") & (ev.action == "free")]
    assert len(cached) > 1000 and set(cached.object) == {"VNODE"}
    assert (cached.queue_before == "INACTIVE").all() and (cached.queue_after == "CACHE").all()
    assert set(cached.reason) == {"clean"}
    assert len(freed) > 1000 and set(freed.object) == {"VNODE"} and (freed.queue_before == "CACHE").all()
    # Clean pages never need a write: no swap, no laundering, no write to the file either.
    assert s["swap_writes"] == 0 and s["swap_pages_written"] == 0 and s["laundered"] == 0
    assert s["counters"]["file_writes"] == 0
    assert not (ev.function == "vm_pageout_flush").any()
    assert not ev.action.isin(["launder", "pageout"]).any()
    assert s["mechanism"] == {"vnode_pages_cached": len(cached), "cache_pages_freed": len(freed), "launders": 0}


def test_clean_pressure_log_follows_one_vnode_page_inactive_to_cache_to_free(runs):
    ev = runs.events("clean-pressure")
    pages = ev[ev.page >= 0]
    found = None
    for pfn, h in pages.groupby("page", sort=True):
        steps = list(zip(h.function.astype(str), h.action.astype(str), h.queue_before.astype(str),
                         h.queue_after.astype(str), h.object.astype(str), strict=True))
        for a, b in zip(steps, steps[1:], strict=False):
            if (a == ("vm_pageout_page", "cache", "INACTIVE", "CACHE", "VNODE")
                    and b[:3] == ("vm_pageout_scan_cache", "free", "CACHE") and b[4] == "VNODE"):
                found = pfn
                break
        if found is not None:
            break
    assert found is not None, "no vnode page went INACTIVE -> CACHE -> freed"


def test_clean_pressure_every_freed_page_was_cached_by_a_daemon_decision(runs):
    ev = runs.events("clean-pressure")
    last: dict[int, tuple[str, str]] = {}
    frees = 0
    for fn, act, p in zip(ev.function.astype(str), ev.action.astype(str), ev.page, strict=True):
        if fn == "vm_pageout_scan_cache" and act == "free":
            assert last.get(p, ("", ""))[1] == "cache", f"page {p} freed from the cache without being cached"
            frees += 1
        if p >= 0:
            last[p] = (fn, act)
    assert frees > 1000


# -- dirty-anon -----------------------------------------------------------------------------------

def test_dirty_anon_every_launder_follows_the_pages_own_first_trip(runs):
    ev = runs.events("dirty-anon")
    launders = ev[(ev.function == "vm_pageout_page") & (ev.action == "launder")]
    assert len(launders) > 500
    # No page is laundered the first time the inactive scan meets it dirty.
    assert set(launders.reason) == {SECOND_TRIP}
    assert set(launders.object) <= {"DEFAULT", "SWAP"}
    fn = ev.function.astype(str).to_numpy()
    act = ev.action.astype(str).to_numpy()
    reason = ev.reason.to_numpy()
    qafter = ev.queue_after.astype(str).to_numpy()
    page = ev.page.to_numpy()
    first: dict[int, int] = {}
    left_inactive: dict[int, int] = {}
    seen = 0
    for i in range(len(ev)):
        p = page[i]
        if fn[i] == "vm_pageout_page" and act[i] == "launder":
            j = first.get(p, -1)
            assert j > left_inactive.get(p, -1), f"row {i}: page {p} laundered without its own first trip"
            assert qafter[j] == "INACTIVE"           # the first trip put it back on the inactive queue
            seen += 1
        if fn[i] == "vm_pageout_page" and reason[i] == FIRST_TRIP:
            first[p] = i
        elif act[i] in ("deactivate", "cache", "free", "activate"):
            left_inactive[p] = i
    assert seen == len(launders)


def test_dirty_anon_pages_written_without_a_trip_of_their_own_are_cluster_neighbours(runs):
    """Each cluster event is followed by its pages' flush rows; a page other than the cluster's head was
    dirty and inactive (deactivated, or on its first trip) and joined the head's write."""
    ev = runs.events("dirty-anon")
    assert set(ev.thread) == {"pagedaemon"}
    clusters: list[dict[str, Any]] = []
    last: dict[int, tuple[str, str, str]] = {}
    neighbour_history: list[tuple[str, str, str]] = []
    for fn, act, reason, p, qa in zip(ev.function.astype(str), ev.action.astype(str), ev.reason, ev.page,
                                      ev.queue_after.astype(str), strict=True):
        if fn == "vm_pageout_clean_helper" and act == "cluster":
            clusters.append({"head": p, "n": int(reason.split()[0]), "pages": []})
        elif fn == "vm_pageout_flush":
            assert clusters, "a flush before any cluster"
            c = clusters[-1]
            c["pages"].append(p)
            if p != c["head"]:
                neighbour_history.append(last.get(p, ("", "", "")))
        else:
            last[p] = (fn, act, qa)
    assert len(clusters) > 500
    for c in clusters:
        assert len(c["pages"]) == c["n"] and c["head"] in c["pages"]
    assert len(neighbour_history) > 100
    for fn, act, qa in neighbour_history:
        assert qa == "INACTIVE" and (fn, act) in {("vm_pageout_page", "requeue"),
                                                  ("vm_pageout_scan_active", "deactivate")}, (fn, act, qa)


def test_dirty_anon_writes_to_swap_and_summary_matches_the_log(runs):
    s = runs.results["dirty-anon"].summary
    ev = runs.events("dirty-anon")
    flushed = ev[ev.function == "vm_pageout_flush"]
    assert s["swap_writes"] > 0 and s["swap_pages_written"] > 0
    assert set(flushed.reason) == {"PEND"}                  # every write started
    assert len(flushed) == s["laundered"] == s["swap_pages_written"]
    first = ev[(ev.function == "vm_pageout_page") & (ev.reason == FIRST_TRIP)]
    laund = ev[(ev.function == "vm_pageout_page") & (ev.action == "launder")]
    m = s["mechanism"]
    assert m["first_trips"] == len(first) and m["launders"] == len(laund)
    # Every page the inactive scan launders had its first trip just before (the seed's two trips).
    assert 0 < m["launders_right_after_a_first_trip"] == m["launders"]
    assert m["pages_written_to_swap"] == m["launders"] + m["pages_written_as_cluster_neighbours"]


# -- rss-limit ------------------------------------------------------------------------------------

RSS_LIMIT = 1000


def _trims(runs: Runs, mode: str) -> pd.DataFrame:
    ev = runs.events("rss-limit", mode)
    return ev[(ev.function == "vm_pageout_mdp_callback") & (ev.action == "remove")]


def test_rss_limit_both_modes_are_run_and_the_limit_is_set(runs):
    res = runs.results["rss-limit"]
    assert set(res.machines) == {"mode1", "mode2"}
    assert res.machine is res.machines["mode1"]
    for mode, vm in res.machines.items():
        assert vm.sysctl("vm.pageout_memuse_mode") == int(mode[-1])
        limited = [p for p in vm.processes() if p["name"] == "limited"]
        assert limited and limited[0]["rss_limit_pages"] == RSS_LIMIT


def test_rss_limit_trims_only_a_process_over_its_limit_and_never_below_it(runs):
    for mode in ("mode1", "mode2"):
        vm = runs.machine("rss-limit", mode)
        trims = _trims(runs, mode)
        assert len(trims) > 0, mode
        assert set(runs.events("rss-limit", mode)[lambda e: e.function == "vm_pageout_mdp_callback"].thread) \
            == {"vmdaemon"}
        rss = _rss_series(vm, "limited")
        first = int(trims.tick.min())
        # vm_daemon trims only a process over its limit by 4096 pages or more.
        assert _rss_at(rss, first - 1) - 4096 >= RSS_LIMIT
        for t in sorted(set(trims.tick)):
            assert _rss_at(rss, t) >= RSS_LIMIT, f"{mode}: RSS below the limit after trimming at tick {t}"
        assert set(trims.queue_after) == {"INACTIVE"}           # out of the pmap: deactivated


def test_rss_limit_mode1_trims_to_the_limit_at_once_without_laundering(runs):
    vm = runs.machine("rss-limit", "mode1")
    ev = runs.events("rss-limit", "mode1")
    trims = _trims(runs, "mode1")
    first = int(trims.tick.min())
    rss = _rss_series(vm, "limited")
    assert _rss_at(rss, first - 1) > RSS_LIMIT + 4096
    assert RSS_LIMIT <= _rss_at(rss, first) <= RSS_LIMIT * 1.01     # down to the limit in that tick
    assert (trims.tick == first).sum() > 4000
    assert (trims.queue_after == "INACTIVE").all()                  # deactivated, left for the daemon
    vmd = ev[ev.thread == "vmdaemon"]
    assert set(vmd.function) == {"vm_pageout_mdp_callback"}, "mode 1 must not launder from vm_daemon"
    m = runs.results["rss-limit"].summary["mechanism"]["mode1"]
    assert m["first_trim_tick"] == first and m["ticks_to_reach_limit"] == 0
    assert m["pages_removed_from_pmap"] == len(trims) and m["pages_laundered_by_vmdaemon"] == 0


def test_rss_limit_mode2_launders_from_vmdaemon_and_trims_slowly(runs):
    vm = runs.machine("rss-limit", "mode2")
    ev = runs.events("rss-limit", "mode2")
    vmd = ev[ev.thread == "vmdaemon"]
    trims = _trims(runs, "mode2")
    first = int(trims.tick.min())
    # Each page taken from the pmap is laundered at once, synchronously, by vm_daemon itself.
    rows = list(zip(vmd.function.astype(str), vmd.action.astype(str), vmd.page, vmd.reason, strict=True))
    removes = [i for i, r in enumerate(rows) if r[:2] == ("vm_pageout_mdp_callback", "remove")]
    assert len(removes) > 5
    for i in removes:
        assert rows[i + 1][:3] == ("vm_pageout_page", "launder", rows[i][2]) and rows[i + 1][3] == SECOND_TRIP
        assert rows[i + 2][:2] == ("vm_pageout_clean_helper", "cluster")
    flushed = vmd[vmd.function == "vm_pageout_flush"]
    assert len(flushed) > 100 and set(flushed.reason) == {"PEND"}
    assert vm.swapdev.writes > 0 and vm.cnt.v_swappgsout > 0
    # Slowly: far from the limit after the first trim, and still above it at the end of the run.
    rss = _rss_series(vm, "limited")
    before = _rss_at(rss, first - 1)
    assert _rss_at(rss, first) > RSS_LIMIT + 2000
    assert rss.loc[first:].min() < before - 1000                       # it does trim, over time
    m = runs.results["rss-limit"].summary["mechanism"]
    mode1_reach = m["mode1"]["ticks_to_reach_limit"]
    assert m["mode2"]["ticks_to_reach_limit"] is None or m["mode2"]["ticks_to_reach_limit"] > mode1_reach + vm.hz
    assert m["mode2"]["pages_laundered_by_vmdaemon"] == len(flushed) > 0


# -- oom ------------------------------------------------------------------------------------------

def test_oom_warns_before_the_first_kill_and_logs_each_kill(runs):
    vm = runs.machine("oom")
    log = vm.dmesg()
    kills = vm.oom_kills
    assert len(kills) >= 1
    warn = [i for i, line in enumerate(log) if line.startswith("Warning: system low on memory+swap")]
    tries = [i for i, line in enumerate(log) if line.startswith("Try to kill process")]
    assert warn and tries and warn[0] < tries[0]
    assert len(tries) == len(kills)
    for k, i in zip(kills, tries, strict=True):
        assert log[i] == f"Try to kill process {k['pid']} {k['name']}"
        assert re.fullmatch(rf"pid {k['pid']} \({re.escape(k['name'])}\), uid \d+, was killed: out of swap space",
                            log[i + 1]), log[i + 1]
        assert vm.dmesg_ticks[i] == vm.dmesg_ticks[i + 1] == k["tick"]
    assert runs.results["oom"].summary["mechanism"]["warnings"] == len(warn)


def test_oom_kills_are_at_least_a_second_apart(runs):
    vm = runs.machine("oom")
    ticks = [k["tick"] for k in vm.oom_kills]
    assert len(ticks) >= 2, "the scenario should kill more than once to show the rate limit"
    gaps = np.diff(ticks)
    assert (gaps >= vm.hz).all(), gaps
    assert runs.results["oom"].summary["mechanism"]["min_ticks_between_kills"] == int(gaps.min())


def test_oom_victim_was_the_largest_eligible_process(runs):
    """Recomputed at the moment of each kill with the seed's rule (vm_pageout.c:1638-1688)."""
    vm = runs.machine("oom")
    snaps = runs.kill_snapshots
    assert [(s["tick"], s["victim"]) for s in snaps] == [(k["tick"], k["pid"]) for k in vm.oom_kills]
    for snap, kill in zip(snaps, vm.oom_kills, strict=True):
        assert snap["why"] == "out of swap space"
        eligible = {pid: p["size"] for pid, p in snap["procs"].items()
                    if not p["flags"] & P_SYSTEM and pid != 1 and not (pid < 48 and snap["swap_free"] != 0)
                    and p["stat"] in (SACTIVE, SSTOP, SCORE)}
        biggest = max(eligible.values())
        expected = min(pid for pid, size in eligible.items() if size == biggest)
        assert kill["pid"] == expected, (kill, eligible)
        assert kill["size_pages"] == biggest


def test_oom_never_kills_init_or_a_low_pid(runs):
    vm = runs.machine("oom")
    assert any(p["pid"] == 1 for p in vm.processes())          # init was there to be spared
    for k in vm.oom_kills:
        assert k["pid"] != 1 and k["pid"] >= 48
    states = {p["pid"]: p["state"] for p in vm.processes()}
    for k in vm.oom_kills:
        assert states[k["pid"]] == "SZOMB"


def test_oom_event_log_has_the_kill_rows(runs):
    vm = runs.machine("oom")
    ev = runs.events("oom")
    kills = ev[ev.action == "kill"]
    assert set(kills.thread) == {"pagedaemon"} and set(kills.function) == {"vm_pageout_scan_cache"}
    assert (kills.page == -1).all()
    got = [(int(t), r) for t, r in zip(kills.tick, kills.reason, strict=True)]
    want = [(k["tick"], f"pid {k['pid']} ({k['name']}), {k['size_pages']} pages") for k in vm.oom_kills]
    assert got == want
    assert runs.results["oom"].summary["killed"] == vm.oom_kills


# -- vnode-stall ----------------------------------------------------------------------------------

def _stall_ticks(vm: Machine) -> tuple[int, int, int, int]:
    """(lock taken, lock released, emergency pager running, emergency pager finished), from dmesg."""
    log = _dmesg(vm)
    held = [(t, line) for t, line in log if line.startswith("vnode db: lock held for")]
    assert len(held) == 1
    taken = held[0][0]
    hold = int(held[0][1].split()[-2])
    running = [t for t, line in log if line == "Emergency pager running"]
    finished = [t for t, line in log if line == "Emergency pager finished"]
    assert len(running) == 1 and len(finished) == 1
    return taken, taken + hold, running[0], finished[0]


def test_vnode_stall_emergency_pager_starts_after_2s_and_stops_after_the_release(runs):
    vm = runs.machine("vnode-stall")
    taken, released, running, finished = _stall_ticks(vm)
    assert running - taken > 2 * vm.hz
    assert running < released <= finished
    ep = runs.events("vnode-stall")[lambda e: e.thread == "emergpager"]
    assert len(ep) > 0
    assert running <= ep.tick.min() and ep.tick.max() <= finished
    m = runs.results["vnode-stall"].summary["mechanism"]
    assert (m["emergency_pager_started_tick"], m["emergency_pager_finished_tick"]) == (running, finished)
    assert m["lock_held_from_tick"] == taken and m["lock_held_ticks"] == released - taken


def test_vnode_stall_emergency_pager_launders_only_anonymous_pages(runs):
    ep = runs.events("vnode-stall")[lambda e: e.thread == "emergpager"]
    written = ep[ep.action.isin(["launder", "pageout", "cluster"])]
    assert len(written) > 50
    assert set(written.object) <= {"DEFAULT", "SWAP"}
    # Every vnode page it met, it left alone.
    vnode = ep[ep.object == "VNODE"]
    assert len(vnode) > 0
    inactive = vnode[vnode.function == "vm_pageout_scan_inactive"]
    active = vnode[vnode.function == "vm_pageout_scan_active"]
    assert len(inactive) + len(active) == len(vnode)
    assert len(inactive) > 0 and set(inactive.action) == {"skip"}
    assert (inactive.queue_after == "INACTIVE").all()
    assert active.empty or set(active.action) == {"requeue"}
    assert set(vnode.reason) == {"vnode page: emergency pager skips it"}
    m = runs.results["vnode-stall"].summary["mechanism"]
    assert m["emergpager_vnode_pages_laundered"] == 0 and m["emergpager_anon_pages_laundered"] > 0


def test_vnode_stall_emergency_pager_never_kills_or_warns(runs):
    vm = runs.machine("vnode-stall")
    ev = runs.events("vnode-stall")
    assert not ((ev.thread == "emergpager") & (ev.action == "kill")).any()
    assert vm.oom_kills == []
    assert not any(line.startswith(("Warning: system low", "Try to kill", "pid ")) for line in vm.dmesg())


def test_vnode_stall_primary_logs_its_vnode_lock_misses(runs):
    vm = runs.machine("vnode-stall")
    ev = runs.events("vnode-stall")
    taken, released, _, _ = _stall_ticks(vm)
    misses = ev[ev.reason.isin(LOCK_MISS_REASONS)]
    assert vm.pageout_lock_miss > 0
    assert len(misses) == vm.pageout_lock_miss
    assert set(misses.thread) == {"pagedaemon"} and set(misses.object) == {"VNODE"}
    assert (misses.tick >= taken).all() and (misses.tick <= released).all()
    timeouts = misses[misses.reason == "vnode lock timed out"]
    lk_timo = vm.config.vnode_lk_timo
    assert len(timeouts) > 0 and int(timeouts.tick.min()) >= taken + lk_timo
    assert runs.results["vnode-stall"].summary["mechanism"]["pageout_lock_miss"] == vm.pageout_lock_miss


# -- idle-stats -----------------------------------------------------------------------------------

def test_idle_stats_no_paging_shortage(runs):
    vm = runs.machine("idle-stats")
    s = runs.results["idle-stats"].summary
    ev = runs.events("idle-stats")
    assert s["pageout_passes"] == 0 and s["counters"]["v_pdwakeups"] == 0
    assert set(ev.function) == {"vm_pageout_page_stats"}
    assert s["swap_writes"] == 0 and s["laundered"] == 0
    ts = vm.timeseries()
    assert (ts.pdwakeups == 0).all() and (ts.vm_pages_needed == 0).all()


def test_idle_stats_scan_declines_and_deactivates(runs):
    ev = runs.events("idle-stats")
    assert {"decline", "deactivate"} <= set(ev.action)
    deact = ev[ev.action == "deactivate"]
    assert (deact.act_count == 0).all()
    assert (deact.queue_before == "ACTIVE").all() and (deact.queue_after == "INACTIVE").all()
    dec = ev[ev.action == "decline"]
    assert (dec.queue_after == "ACTIVE").all()
    m = runs.results["idle-stats"].summary["mechanism"]
    assert m["stats_declines"] == len(dec) > 0 and m["stats_deactivations"] == len(deact) > 0


def test_idle_stats_act_counts_decline_over_time(runs):
    """Per page, between references, each stats visit lowers act_count by ACT_DECLINE until it is 0."""
    ev = runs.events("idle-stats")
    prev: dict[int, int] = {}
    chains = 0
    for p, action, count in zip(ev.page, ev.action.astype(str), ev.act_count, strict=True):
        if action == "decline":
            if p in prev:
                assert count == prev[p] - 1, (p, prev[p], count)
        elif action == "deactivate":
            assert prev.get(p) == 0 and count == 0
            chains += 1
        prev[p] = count
    assert chains > 100
    # The visits run at increasing ticks and the typical act_count falls round after round.
    rounds = ev[ev.action == "decline"].groupby("tick").act_count.median()
    assert len(rounds) >= 5 and rounds.iloc[0] > rounds.min() + 4


# -- the event log describes each page faithfully --------------------------------------------------------------

def test_event_log_queue_names_are_never_blank(runs):
    for name, key in runs.all_machines():
        ev = runs.events(name, key)
        pages = ev[ev.page >= 0]
        bad = pages[~pages.queue_after.astype(str).isin(QUEUE_NAMES)
                    | ~pages.queue_before.astype(str).isin(QUEUE_NAMES)]
        assert bad.empty, f"{name}/{key}: {len(bad)} rows with an unknown queue, e.g.\n{bad.head(3)}"


def test_cache_scan_free_rows_end_on_the_free_queue(runs):
    ev = runs.events("clean-pressure")
    freed = ev[(ev.function == "vm_pageout_scan_cache") & (ev.action == "free")]
    assert len(freed) > 0
    assert (freed.queue_after == "FREE").all(), freed.queue_after.value_counts().to_dict()


def test_flush_rows_describe_the_page_that_was_flushed(runs):
    ev = runs.events("rss-limit", "mode2")
    flushed = ev[(ev.thread == "vmdaemon") & (ev.function == "vm_pageout_flush")]
    assert len(flushed) > 0
    assert set(flushed.object.astype(str)) == {"SWAP"}, flushed.object.value_counts().to_dict()
