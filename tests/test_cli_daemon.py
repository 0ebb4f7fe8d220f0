"""``vmkit sysctl`` and ``vmkit scenario``: the daemon's tunables and the built-in scenarios from the shell.

Thresholds are checked against the seed's formulas (vm_pageout.c:1851-1889
and 1925-2022, facts §3), computed here independently of vmkit; the facts
sheet's worked example (1,000,000 pages, 4 CPUs) is checked number by number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vmkit.cli import main
from vmkit.events import EVENT_COLUMNS
from vmkit.scenarios import SCENARIOS
from vmkit.sysctl import SYSCTLS

REPO = Path(__file__).resolve().parent.parent
TABLE = [e.name for e in SYSCTLS]
THRESHOLDS = ("vm.v_free_min", "vm.v_free_reserved", "vm.v_free_severe", "vm.v_free_target", "vm.v_cache_min",
              "vm.v_cache_max", "vm.v_inactive_target", "vm.v_pageout_free_min", "vm.v_interrupt_free_min",
              "vm.max_launder")
LINE = re.compile(r"^(?P<name>[a-z][a-z0-9_.]*): (?P<value>-?\d+)$")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _parse(out: str) -> dict[str, int]:
    values = {}
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, f"not a 'name: value' line: {line!r}"
        assert m["name"] not in values, f"{m['name']} printed twice"
        values[m["name"]] = int(m["value"])
    return values


def seed_thresholds(pages: int, ncpus: int = 1, hz: int = 100) -> dict[str, int]:
    """The start-up thresholds of the seed for a machine whose ``pages`` pages are all free."""
    free = pages
    free_min = 64 + (pages - 1024) // 200 if pages > 1024 else 64
    free_min = max(free_min, 128 * ncpus * 10)          # VMMETER_SLOP_COUNT * ncpus * 10
    free_min = min(free_min, pages // 20)
    reserved = free_min * 4 // 8 + 7
    free_target = (4 if free > 6144 else 2) * free_min + reserved
    cache_min = free_target if free > 2048 else 0
    return {
        "vm.v_free_min": free_min,
        "vm.v_free_reserved": reserved,
        "vm.v_free_severe": free_min * 4 // 8,
        "vm.v_pageout_free_min": free_min * 2 // 8 + 7,
        "vm.v_interrupt_free_min": free_min // 8 + 7,
        "vm.v_free_target": free_target,
        "vm.v_cache_min": cache_min,
        "vm.v_cache_max": 2 * cache_min,
        "vm.v_inactive_target": free // 4,
        "vm.pageout_stats_max": free_target,
        "vm.max_wired": free // 3,
        "vm.max_launder": 4096,
        "kern.hz": hz,
    }


# -- vmkit sysctl ---------------------------------------------------------------------------------

def test_sysctl_prints_every_name_of_the_table_one_per_line(capsys):
    status, out, err = _run(capsys, "sysctl", "--memory", "16M")
    assert status == 0 and err == ""
    assert "vm.v_free_min: 204" in out.splitlines()
    values = _parse(out)
    assert list(values) == TABLE
    for name in THRESHOLDS:
        assert name in values


def test_sysctl_thresholds_follow_the_seed_formulas(capsys):
    status, out, _ = _run(capsys, "sysctl", "--memory", "16M")
    assert status == 0
    values = _parse(out)
    for name, want in seed_thresholds(4096).items():
        assert values[name] == want, name
    # The tunables the daemon does not compute keep the seed's defaults (facts §8).
    defaults = {"vm.anonmem_decline": 1, "vm.filemem_decline": 2, "vm.page_free_hysteresis": 16,
                "vm.emerg_launder": 100, "vm.pageout_stats_interval": 5, "vm.pageout_full_stats_interval": 20,
                "vm.pageout_stats_free_max": 5, "vm.pageout_memuse_mode": 1, "vm.swap_enabled": 1,
                "vm.swap_idle_enabled": 0, "vm.defer_swapspace_pageouts": 0, "vm.disable_swapspace_pageouts": 0,
                "vm.pageout_lock_miss": 0, "vm.swap_idle_threshold1": 15, "vm.swap_idle_threshold2": 60,
                "vm.swap_async_max": 4, "vm.swap_user_async": 0}
    for name, want in defaults.items():
        assert values[name] == want, name


def test_sysctl_json_is_the_same_table_as_one_object(capsys):
    _, text, _ = _run(capsys, "sysctl", "--memory", "16M")
    status, out, err = _run(capsys, "sysctl", "--memory", "16M", "--json")
    assert status == 0 and err == ""
    obj = json.loads(out)
    assert isinstance(obj, dict)
    assert list(obj) == TABLE
    assert obj == _parse(text)


def test_sysctl_pages_gives_ram_in_pages(capsys):
    status, out, _ = _run(capsys, "sysctl", "--pages", "4096")
    assert status == 0
    _, by_memory, _ = _run(capsys, "sysctl", "--memory", "16M")
    assert out == by_memory
    # Below 2048 free pages the seed keeps no cache target at all.
    status, out, _ = _run(capsys, "sysctl", "--pages", "2000", "--hz", "250")
    assert status == 0
    values = _parse(out)
    for name, want in seed_thresholds(2000, hz=250).items():
        assert values[name] == want, name
    assert values["vm.v_cache_min"] == values["vm.v_cache_max"] == 0


def test_sysctl_facts_worked_example(capsys):
    """facts §3: 1,000,000 pages, 4 CPUs."""
    status, out, _ = _run(capsys, "sysctl", "--ncpus", "4", "--pages", "1000000", "--json")
    assert status == 0
    values = json.loads(out)
    assert {k: values[k] for k in ("vm.v_free_min", "vm.v_free_reserved", "vm.v_free_severe",
                                   "vm.v_pageout_free_min", "vm.v_interrupt_free_min", "vm.v_free_target",
                                   "vm.v_cache_min", "vm.v_cache_max")} == {
        "vm.v_free_min": 5120, "vm.v_free_reserved": 2567, "vm.v_free_severe": 2560,
        "vm.v_pageout_free_min": 1287, "vm.v_interrupt_free_min": 647, "vm.v_free_target": 23047,
        "vm.v_cache_min": 23047, "vm.v_cache_max": 46094}
    assert values == {**values, **seed_thresholds(1_000_000, ncpus=4)}


@pytest.mark.parametrize(("argv", "option"), [
    (["--memory", "10"], "--memory"),
    (["--memory", "16X"], "--memory"),
    (["--swap", "-1"], "--swap"),
    (["--ncpus", "0"], "--ncpus"),
    (["--ncpus", "300"], "--ncpus"),
    (["--hz", "5"], "--hz"),
    (["--memory", "16M", "--pages", "4096"], "--pages"),
    (["--pages", "10"], "--pages"),
])
def test_sysctl_bad_values_exit_2_naming_the_option(capsys, argv, option):
    status, out, err = _run(capsys, "sysctl", *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("vmkit: error: ") and err.count("\n") == 1
    assert option in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--pages", "abc"], ["--ncpus", "two"], ["--bogus"]])
def test_sysctl_unparsable_values_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as ei:
        main(["sysctl", *argv])
    out, err = capsys.readouterr()
    assert ei.value.code == 2 and out == ""
    assert "vmkit: error: " in err
    assert argv[0] in err


def test_python_dash_m_vmkit_sysctl():
    r = subprocess.run([sys.executable, "-m", "vmkit", "sysctl", "--memory", "16M", "--json"], capture_output=True,
                       text=True, timeout=120, cwd=REPO, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vm.v_free_min"] == 204


# -- vmkit scenario -------------------------------------------------------------------------------

def test_scenario_list_names_the_six(capsys):
    status, out, err = _run(capsys, "scenario", "--list")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["clean-pressure", "dirty-anon", "rss-limit", "oom",
                                                   "vnode-stall", "idle-stats"]
    for line in lines:
        name = line.split()[0]
        assert line[len(name):].strip() == SCENARIOS[name][0]


@pytest.fixture(scope="module")
def oom_cli(tmp_path_factory) -> tuple[int, str, str, Path]:
    """``vmkit scenario oom --seed 1 --json --events FILE.csv``, run once."""
    path = tmp_path_factory.mktemp("events") / "oom.csv"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["scenario", "oom", "--seed", "1", "--json", "--events", str(path)])
    return status, out.getvalue(), err.getvalue(), path


def test_scenario_json_summary(oom_cli):
    status, out, err, _ = oom_cli
    assert status == 0 and err == ""
    s = json.loads(out)
    assert {"ticks", "references", "faults", "host_seconds", "counters", "vmstats", "processes", "killed", "dmesg",
            "lost_writes", "swap_writes", "laundered", "reactivated"} <= set(s)
    assert s["scenario"] == "oom" and s["seed"] == 1
    assert s["lost_writes"] == 0
    assert s["killed"] and all(set(k) == {"pid", "name", "size_pages", "tick"} for k in s["killed"])
    for p in s["processes"]:
        assert {"pid", "name", "state", "rss_pages", "rss_limit_pages"} <= set(p)
    assert any(line.startswith("Try to kill process") for line in s["dmesg"])
    assert s["mechanism"]["kills"] == len(s["killed"])


def test_scenario_events_csv(oom_cli):
    status, out, _, path = oom_cli
    assert status == 0 and path.exists()
    s = json.loads(out)
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == EVENT_COLUMNS
    assert len(rows) - 1 == s["events"]
    col = {name: i for i, name in enumerate(rows[0])}
    kills = [r for r in rows[1:] if r[col["action"]] == "kill"]
    assert [(int(r[col["tick"]]), r[col["reason"]]) for r in kills] == [
        (k["tick"], f"pid {k['pid']} ({k['name']}), {k['size_pages']} pages") for k in s["killed"]]
    assert {r[col["thread"]] for r in rows[1:]} <= {"pagedaemon", "emergpager", "vmdaemon", "syncer"}


def test_scenario_plain_text(capsys):
    status, out, err = _run(capsys, "scenario", "idle-stats")
    assert status == 0 and err == ""
    assert out.startswith(f"scenario idle-stats: {SCENARIOS['idle-stats'][0]}\n")
    assert "lost writes 0" in out
    assert "stats_deactivations: " in out


def test_unknown_scenario_exits_2_naming_the_choices(capsys):
    status, out, err = _run(capsys, "scenario", "no-such-thing")
    assert status == 2 and out == ""
    assert err.startswith("vmkit: error: ") and "no-such-thing" in err
    for name in SCENARIOS:
        assert name in err
    assert "Traceback" not in err


def test_unknown_scenario_exit_status_from_the_shell():
    r = subprocess.run([sys.executable, "-m", "vmkit", "scenario", "no-such-thing"], capture_output=True, text=True,
                       timeout=120, cwd=REPO, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert r.returncode == 2 and r.stdout == ""
    assert "vmkit: error: " in r.stderr and "oom" in r.stderr


def test_scenario_bad_seed_names_the_option(capsys):
    status, out, err = _run(capsys, "scenario", "oom", "--seed", "-1")
    assert status == 2 and out == ""
    assert err.startswith("vmkit: error: --seed ")
