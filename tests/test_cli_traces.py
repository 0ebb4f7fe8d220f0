"""The real traces run on the machine without losing a write; `vmkit policies`, `compare` and `trace info`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmkit import Machine
from vmkit.cli import main
from vmkit.trace import TraceWorkload, load_trace

DATA = Path(__file__).resolve().parent.parent / "data"
ALL = sorted(DATA.glob("*.npz"))
# The program traces (reduced with K > 0); arc-oltp.npz is a disk-cache trace for the policies only.
TRACES = [p for p in ALL if int(load_trace(p).meta.get("k", 0) or 0) > 0]


def cli(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_there_are_at_least_four_real_traces():
    assert len(TRACES) >= 4
    programs = {load_trace(p).meta.get("program") for p in TRACES}
    assert len(programs) >= 4


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_vmkit_run_on_each_real_trace_loses_no_write(capsys, path):
    status, out, _ = cli(capsys, "run", "--memory", "2M", "--swap", "32M", "--json", "--workload", f"trace:{path}")
    assert status == 0
    s = json.loads(out)
    assert s["lost_writes"] == 0
    tr = load_trace(path)
    proc = [p for p in s["processes"] if p["pid"] >= 100]
    assert proc and proc[0]["refs"] == tr.n and proc[0]["state"] == "SZOMB"


def test_trace_workload_replays_the_trace_in_order():
    tr = load_trace(TRACES[0])
    vm = Machine(ram="4M", swap="32M", seed=1, boot_userland=False, refs_per_tick=20000)
    p = vm.spawn("t", TraceWorkload(tr))
    assert p.p_vmspace.vm_npages == tr.distinct_pages
    vm.run()
    assert p.p_refs == tr.n and vm.lost_writes == [] and vm.verify_integrity() == 0


def test_policies_textbook_string(capsys):
    status, out, _ = cli(capsys, "policies", "--refs", "7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1", "--frames", 3,
                         "--json")
    assert status == 0
    rows = {r["policy"]: r for r in json.loads(out)}
    assert (rows["fifo"]["faults"], rows["lru"]["faults"], rows["opt"]["faults"]) == (15, 12, 9)
    for r in rows.values():
        assert set(r) == {"policy", "faults", "hits", "hit_ratio", "write_backs"}
        assert r["faults"] + r["hits"] == 20


def test_policies_on_a_trace_and_write_marks(capsys):
    status, out, _ = cli(capsys, "policies", "--trace", TRACES[0], "--frames", 128, "--policy", "lru,opt")
    assert status == 0 and "lru" in out and "opt" in out and "fifo" not in out
    status, out, _ = cli(capsys, "policies", "--refs", "1W,2,3,1,4", "--frames", 2, "--policy", "fifo", "--json")
    assert json.loads(out)[0]["write_backs"] == 1


@pytest.mark.parametrize("argv, needle", [
    (["--frames", "3"], "give exactly one of --trace FILE or --refs"),
    (["--refs", "1,2", "--trace", "x.npz", "--frames", "3"], "give exactly one of"),
    (["--refs", "1,x,3", "--frames", "3"], "item 2 is 'x'"),
    (["--refs", "1,2,3", "--frames", "3", "--policy", "lfu"], "unknown policy 'lfu'"),
    (["--refs", "1,2,3", "--frames", "0"], "frames"),
    (["--trace", "/nonexistent.npz", "--frames", "3"], "nonexistent"),
])
def test_policies_bad_input(capsys, argv, needle):
    status, _, err = cli(capsys, "policies", *argv)
    assert status == 2 and err.startswith("vmkit: error:") and needle in err and "Traceback" not in err


def test_compare_runs_the_daemon_and_the_baselines_on_the_same_memory(capsys):
    status, out, _ = cli(capsys, "compare", "--trace", DATA / "sort.npz", "--memory", "1536K", "--json")
    assert status == 0
    d = json.loads(out)
    names = [r["policy"] for r in d["results"]]
    assert names == ["daemon", "fifo", "lru", "clock", "opt", "random"]
    assert d["frames"] == d["memory_pages"] - d["reserve"] and d["frames"] > 0
    assert "baselines get" in d["note"]
    assert d["lost_writes"] == 0
    rows = {r["policy"]: r for r in d["results"]}
    assert all(r["faults"] + r["hits"] == d["references"] for r in rows.values())
    assert rows["opt"]["faults"] <= min(r["faults"] for r in rows.values())


def test_compare_warns_below_twice_k_frames(capsys):
    status, out, _ = cli(capsys, "compare", "--trace", DATA / "sort.npz", "--memory", "512K")
    assert status == 0 and "warning: the trace was reduced with K=64" in out


def test_trace_info(capsys):
    status, out, _ = cli(capsys, "trace", "info", DATA / "sort.npz")
    assert status == 0 and "distinct pages" in out and "reuse distance" in out
    status, out, _ = cli(capsys, "trace", "info", DATA / "sort.npz", "--json")
    info = json.loads(out)
    assert info["distinct_pages"] == load_trace(DATA / "sort.npz").distinct_pages
