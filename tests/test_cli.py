"""The ``vmkit`` command: output, JSON, and bad values reported as ``vmkit: error:`` with status 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmkit
from vmkit.cli import main

REPO = Path(__file__).resolve().parent.parent


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _subprocess(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def _console_script() -> str | None:
    """The ``vmkit`` console script installed next to the running interpreter."""
    bindir = Path(sys.executable).parent
    return shutil.which("vmkit", path=str(bindir))


# -- output -----------------------------------------------------------------------------------------

def test_machine_prints_page_counts(capsys):
    status, out, err = _run(capsys, "machine", "--memory", "16M", "--swap", "0")
    assert status == 0
    assert err == ""
    assert f"vmkit {vmkit.__version__}" in out
    assert "memory: 4096 pages (16M)" in out
    assert "swap: 0 pages (0)" in out
    assert "page size 4096" in out
    assert "vm.stats.v_page_count: 4096" in out


def test_machine_page_counts_follow_page_size(capsys):
    status, out, _ = _run(capsys, "machine", "--memory", "16M", "--swap", "32M", "--page-size", "8192")
    assert status == 0
    assert "memory: 2048 pages (16M), page size 8192" in out
    assert "swap: 4096 pages (32M)" in out


def test_machine_memory_in_pages(capsys):
    status, out, _ = _run(capsys, "machine", "--memory", "1000", "--swap", "0")
    assert status == 0
    assert "memory: 1000 pages" in out


def test_machine_json(capsys):
    status, out, err = _run(capsys, "machine", "--memory", "16M", "--swap", "0", "--json")
    assert status == 0
    assert err == ""
    data = json.loads(out)
    assert {"config", "vmstats", "queues", "processes"} <= set(data)
    assert data["config"]["ram"] == 4096
    assert data["config"]["swap"] == 0
    assert data["config"]["ram_bytes"] == "16M"
    assert data["config"]["hz"] == 100
    assert data["vmstats"]["v_page_count"] == 4096
    assert sum(data["queues"].values()) == 4096
    assert data["ticks"] == 0
    assert isinstance(data["processes"], list) and data["processes"]
    assert {"pid", "name", "state", "rss_pages"} <= set(data["processes"][0])


def test_machine_json_after_running(capsys):
    status, out, _ = _run(capsys, "machine", "--memory", "16M", "--swap", "16M", "--hz", "50",
                          "--seconds", "2", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["ticks"] == 100
    assert data["config"]["hz"] == 50


def test_no_command_prints_help(capsys):
    status, out, _ = _run(capsys)
    assert status == 0
    assert "machine" in out
    assert "usage:" in out


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == f"vmkit {vmkit.__version__}"


# -- bad values -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "option", "also"), [
    (["--memory", "10"], "--memory", ["64", "16777216", "got 10 pages"]),
    (["--memory", "64X"], "--memory", ["unknown unit 'X'"]),
    (["--memory", "6000B"], "--memory", ["whole number of"]),
    (["--memory", "lots"], "--memory", ["'lots'"]),
    (["--swap", "1X"], "--swap", ["unknown unit"]),
    (["--swap", "-1"], "--swap", ["'-1'"]),
    (["--page-size", "3000"], "--page-size", ["power of two", "512", "65536", "3000"]),
    (["--page-size", "256"], "--page-size", ["512", "65536"]),
    (["--hz", "5"], "--hz", ["10", "10000", "got 5"]),
    (["--hz", "20000"], "--hz", ["10", "10000"]),
    (["--ncpus", "0"], "--ncpus", ["1", "256"]),
    (["--pq-l2-size", "3"], "--pq-l2-size", ["power of two", "2 and 512"]),
    (["--pq-l2-size", "1"], "--pq-l2-size", ["2 and 512", "got 1"]),
    (["--seed", "-1"], "--seed", ["0"]),
])
def test_bad_values_exit_2_naming_the_option(capsys, argv, option, also):
    status, out, err = _run(capsys, "machine", *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("vmkit: error: ")
    assert err.count("\n") == 1
    message = err[len("vmkit: error: "):]
    assert message.startswith(f"{option} "), message
    for text in also:
        assert text in message, (text, message)
    assert "Traceback" not in err
    # The message speaks of the option, not of the VMConfig field behind it.
    for field in ("ram ", "page_size", "pq_l2_size"):
        assert not message.startswith(field)


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf", "10000001", "1e8"])
def test_bad_seconds_names_the_option(capsys, seconds):
    status, out, err = _run(capsys, "machine", "--seconds", seconds)
    assert status == 2
    assert out == ""
    assert err.startswith("vmkit: error: --seconds must be a number between 0 and 10000000, got ")
    assert err.count("\n") == 1


def test_bad_seconds_is_still_a_clean_error(capsys):
    status, out, err = _run(capsys, "machine", "--seconds", "-1")
    assert status == 2
    assert out == ""
    assert err.startswith("vmkit: error: ") and "seconds" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["machine", "--page-size", "abc"], ["machine", "--hz", "1.5"],
                                  ["machine", "--bogus"], ["bogus"]])
def test_argparse_errors_use_the_same_format(capsys, argv):
    with pytest.raises(SystemExit) as ei:
        main(argv)
    _, err = capsys.readouterr()
    assert "vmkit: error:" in str(ei.value.code) + err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["machine", "--page-size", "abc"], ["machine", "--hz", "1.5"],
                                  ["machine", "--bogus"], ["bogus"]])
def test_argparse_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "vmkit: error: " in err


def test_python_dash_m_vmkit_argparse_error_exits_2():
    r = _subprocess(sys.executable, "-m", "vmkit", "machine", "--bogus")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "vmkit: error: unrecognized arguments: --bogus" in r.stderr
    assert "Traceback" not in r.stderr


# -- as a program ---------------------------------------------------------------------------------------

def test_python_dash_m_vmkit_version():
    r = _subprocess(sys.executable, "-m", "vmkit", "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"vmkit {vmkit.__version__}"
    assert "Traceback" not in r.stderr


def test_python_dash_m_vmkit_bad_value():
    r = _subprocess(sys.executable, "-m", "vmkit", "machine", "--memory", "10")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("vmkit: error: --memory must be between 64 and 16777216")
    assert "Traceback" not in r.stderr


def test_console_script_is_installed():
    script = _console_script()
    assert script is not None, f"no vmkit console script in {Path(sys.executable).parent}"
    assert os.access(script, os.X_OK)


def test_console_script_runs():
    script = _console_script()
    assert script is not None
    r = _subprocess(script, "machine", "--memory", "16M", "--swap", "0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["ram"] == 4096
    r = _subprocess(script, "machine", "--hz", "5")
    assert r.returncode == 2
    assert r.stderr.startswith("vmkit: error: --hz ")
    assert "Traceback" not in r.stderr
