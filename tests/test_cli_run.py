"""`vmkit run`: runs workloads with the daemon and reports, as text, JSON, CSV and a plot."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from vmkit.cli import main

SUMMARY_KEYS = {"ticks", "references", "faults", "host_seconds", "counters", "vmstats", "processes", "killed",
                "dmesg", "lost_writes", "swap_writes", "laundered", "reactivated", "page_ins", "kills"}


def run(capsys, *argv):
    try:
        status = main(list(argv))
    except SystemExit as exc:        # argparse errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_run_json_has_the_scenario_keys_and_loses_no_write(capsys):
    status, out, _ = run(capsys, "run", "--memory", "8M", "--swap", "32M", "--json",
                         "--workload", "uniform:pages=3000,count=40000,writes=0.5")
    assert status == 0
    s = json.loads(out)
    assert SUMMARY_KEYS <= set(s)
    assert s["lost_writes"] == 0 and s["references"] >= 40000
    assert s["swap_writes"] > 0 and s["page_ins"] > 0
    assert s["processes"][-1]["state"] == "SZOMB"


def test_run_text_csv_and_plot(capsys, tmp_path):
    csv, png = tmp_path / "ts.csv", tmp_path / "q.png"
    status, out, err = run(capsys, "run", "--memory", "8M", "--swap", "32M", "--seed", "3",
                           "--workload", "hotcold:pages=3000,count=30000,writes=0.3",
                           "--workload", "stream:pages=1000", "--csv", str(csv), "--plot", str(png))
    assert status == 0 and err == ""
    assert "references" in out and "lost writes 0" in out
    assert "hotcold1" in out and "stream2" in out
    ts = pd.read_csv(csv)
    assert {"tick", "free", "cache", "inactive", "active", "v_free_min"} <= set(ts.columns)
    assert len(ts) > 10
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_same_seed_same_result(capsys):
    args = ("run", "--memory", "8M", "--swap", "32M", "--json", "--seed", "5",
            "--workload", "phases:pages=4000,count=30000,ws=500,phase=5000")
    a = json.loads(run(capsys, *args)[1])
    b = json.loads(run(capsys, *args)[1])
    a.pop("host_seconds"), b.pop("host_seconds")
    assert a == b


def test_run_seconds_bounds_an_endless_workload(capsys):
    status, out, _ = run(capsys, "run", "--memory", "8M", "--swap", "8M", "--seconds", "3", "--json",
                         "--workload", "hog:pages=50000,rate=400")
    assert status == 0
    s = json.loads(out)
    assert s["ticks"] == 300


def test_list_workloads(capsys):
    status, out, _ = run(capsys, "run", "--list-workloads")
    assert status == 0
    for name in ("seq", "loop", "uniform", "hotcold", "phases", "stream", "mmapwrite", "hog", "idle", "trace"):
        assert f"{name}:" in out


@pytest.mark.parametrize("argv, needle", [
    (["--workload", "hog"], "never ends by itself: give --seconds"),
    (["--workload", "nope:x=1"], "unknown workload 'nope'"),
    (["--workload", "hotcold:pages=abc"], "pages must be an integer"),
    ([], "give at least one --workload"),
    (["--memory", "10", "--workload", "seq:pages=10"], "--memory must be between"),
    (["--seconds", "-1", "--workload", "seq:pages=10"], "--seconds must be between"),
])
def test_run_bad_input_exits_2_with_a_clear_message(capsys, argv, needle):
    status, out, err = run(capsys, "run", *argv)
    assert status == 2
    assert err.startswith("vmkit: error:") and needle in err
    assert "Traceback" not in err
