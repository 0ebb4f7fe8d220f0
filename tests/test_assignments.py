"""The assignments: reference solutions score full marks, the release scores 0, plausible wrong answers score
in between, and (as root, with bubblewrap) a whole course round trip - release, autograde with hostile
submissions contained, feedback without hidden tests, export.

The scoring tests run the graded batteries in this process (fast); the round trip runs nbgrader with the
sandboxed kernel and the sandboxed verification run, exactly as ``vmkit assignments autograde`` does.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from vmkit import Machine
from vmkit.assignments import ASSIGNMENTS, find_test
from vmkit.assignments import sandbox as sb
from vmkit.assignments.batteries import run_battery
from vmkit.assignments.grader import SOURCE, _solution_cells, score_test
from vmkit.assignments.verify import definitions
from vmkit.override import OverrideError

ROOT = Path(__file__).resolve().parent.parent
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

# Plausible wrong answers: (assignment, what the student got wrong, text in the solution, replacement).
WRONG = [
    ("a1-thresholds", "Python floor division for negative n",
     "return -((-(n - (vm.PQ_L2_SIZE - 1))) // half) - 1", "return (n - (vm.PQ_L2_SIZE - 1)) // half - 1"),
    ("a1-thresholds", "no cap at 1/20 of memory",
     "if vs.v_free_min > vs.v_page_count // 20:", "if False:"),
    ("a2-inactive", "no second trip for dirty pages",
     "if not m.flags & PG_WINATCFLS and pass_ == 0:", "if False:"),
    ("a2-inactive", "reactivation without the boost",
     "m.act_count = (m.act_count + actcount + ACT_ADVANCE) & 0xFF", "m.act_count = m.act_count"),
    ("a3-aging", "file pages decline like anonymous ones",
     "m.act_count -= min(m.act_count, vm.vm_filemem_decline)",
     "m.act_count -= min(m.act_count, vm.vm_anonmem_decline)"),
    ("a3-aging", "deactivation at act_count <= pass",
     "m.act_count < pass_ + 1", "m.act_count <= pass_ + 1"),
    ("a4-laundering", "forward scan only",
     "    while ib >= 0:", "    while False:"),
    ("a4-laundering", "active pages always join",
     "if p.queue - p.pc != PQ_ACTIVE or not vmflush_flags & VM_PAGER_ALLOW_ACTIVE:", "if p.queue - p.pc != PQ_ACTIVE:"),
]


def _source(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)


def _strip_solutions(text: str) -> str:
    out, skipping = [], False
    for line in text.splitlines():
        if "### BEGIN SOLUTION" in line:
            skipping = True
            out.append(line[: line.index("###")] + STUB.replace("\n", "\n" + line[: line.index("###")]))
        elif "### END SOLUTION" in line:
            skipping = False
        elif not skipping:
            out.append(line)
    return "\n".join(out)


def _score(assignment: str, transform=lambda s: s) -> tuple[float, float]:
    """Score the source notebook's code (after ``transform``) the way the grader does, in this process."""
    cells = [transform(c) for c in _solution_cells(_source(assignment))]
    src, _ = definitions(cells)
    ns: dict = {}
    exec(compile(src, "submission", "exec"), ns)
    total = got = 0.0
    for t in ASSIGNMENTS[assignment]:
        fns = {f: ns[f] for f in t.functions}
        r = score_test(t, {"grade_id": t.grade_id, "outcomes": run_battery(t.battery, fns)})
        total += t.points
        got += r.score
    return got, total


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_reference_solution_scores_full_marks(assignment):
    got, total = _score(assignment)
    assert got == total


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_release_scores_zero(assignment):
    got, total = _score(assignment, _strip_solutions)
    assert got == 0 and total > 0


@pytest.mark.parametrize("assignment,what,old,new", WRONG, ids=[w[1] for w in WRONG])
def test_plausible_wrong_answer_scores_in_between(assignment, what, old, new):
    assert any(old in c for c in _solution_cells(_source(assignment))), f"{old!r} is not in the solution"
    got, total = _score(assignment, lambda s: s.replace(old, new))
    assert 0 < got < total, (what, got, total)


def test_every_graded_cell_matches_the_registry():
    for assignment, tests in ASSIGNMENTS.items():
        nb = _source(assignment)
        graded = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade")}
        assert set(graded) == {t.grade_id for t in tests}
        for gid, cell in graded.items():
            assert cell.metadata["nbgrader"]["points"] == find_test(assignment, gid).points
            assert "### BEGIN HIDDEN TESTS" in cell.source and "report(" in cell.source


def test_definitions_keep_functions_and_drop_monkeypatching():
    src, dropped = definitions([
        "import vmkit\nfrom vmkit.assignments import harness\nLIMIT = 3\n"
        "harness.report = print\nvmkit.Machine.override = None\nsetattr(vmkit, 'x', 1)\nX = compute()\n",
        "@decorate\ndef f(vm):\n    return 1\n\ndef g(vm, n=3):\n    return n\n\ndef h(vm, n=patch()):\n    return n\n",
        "%matplotlib inline\ndef k(vm):\n    return 2\n",
        "def broken(:\n",
    ])
    ns: dict = {}
    exec(src, ns)
    assert ns["LIMIT"] == 3 and callable(ns["g"]) and callable(ns["k"])
    assert "f" not in ns and "h" not in ns and "X" not in ns
    assert "harness.report" not in src and "override" not in src and "setattr" not in src
    assert len(dropped) == 5


def test_override_rejects_unknown_names_and_broken_functions():
    vm = Machine(ram=256, swap=1024, boot_userland=False, pagedaemon=False)
    with pytest.raises(ValueError, match="override: name must be one of"):
        vm.override("vm_page_alloc", lambda vm: 0)
    with pytest.raises(ValueError, match="must be a function"):
        vm.override("PQAVERAGE", 3)
    vm.override("PQAVERAGE", lambda vm, n: "many")
    with pytest.raises(OverrideError, match="PQAVERAGE must return an int"):
        vm.PQAVERAGE(5)
    vm.override("PQAVERAGE", lambda vm, n: 1 // 0)
    with pytest.raises(OverrideError, match="your PQAVERAGE raised ZeroDivisionError"):
        vm.PQAVERAGE(5)
    vm.override("PQAVERAGE", None)
    assert vm.PQAVERAGE(5) == type(vm).PQAVERAGE(vm, 5)


def test_selfcheck_says_which_cases_differ(capsys):
    from vmkit.assignments.harness import selfcheck

    assert selfcheck("paging_target", vm_paging_target=lambda vm: 0) is False
    out = capsys.readouterr().out
    assert "of 6 cases agree" in out and "✘" in out


# -- the course round trip, sandboxed -------------------------------------------------------------------------
def _sandbox_ok() -> str | None:
    try:
        sb.check_sandbox()
    except sb.SandboxUnavailable as exc:
        return str(exc)
    return None


HOSTILE = {
    "h-loop": "while True:\n    pass",
    "h-nointerrupt": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    "h-loop-in-function": "def PQAVERAGE(vm, n):\n    while True:\n        pass",
    "h-read": ("import glob\nfor path in [{paths}]:\n    try:\n        print('LEAK', path, open(path, 'rb').read(80))\n"
               "    except Exception as exc:\n        print('BLOCKED', path, type(exc).__name__)\n"
               "listing = glob.glob({course!r} + '/*')\n"
               "print('LEAK listing' if listing else 'BLOCKED listing', listing)"),
    "h-write": ("for path in [{writes}]:\n    try:\n        open(path, 'w').write('pwned')\n"
                "        print('LEAK wrote', path)\n"
                "    except Exception as exc:\n        print('BLOCKED', path, type(exc).__name__)"),
    "h-network": ("import socket\nfor addr in [('127.0.0.1', {port}), ('1.1.1.1', 80)]:\n    try:\n"
                  "        socket.create_connection(addr, timeout=3)\n        print('LEAK connected', addr)\n"
                  "    except OSError as exc:\n        print('BLOCKED', addr, type(exc).__name__)"),
    "h-forkbomb": ("import os, time\nn = 0\nfor i in range(400):\n    try:\n        pid = os.fork()\n"
                   "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
                   "    n += 1\nprint('FORKED', n)"),
    "h-memory": ("try:\n    x = bytearray(8 * 1024 ** 3)\n    print('LEAK allocated')\n"
                 "except MemoryError:\n    print('BLOCKED memory')"),
    "h-crash": "import os\nos.kill(os.getpid(), 9)",
    "h-monkeypatch": (
        "import json\nimport vmkit.assignments.harness as harness\nfrom vmkit.assignments import find_test\n"
        "from vmkit.assignments.batteries import run_battery\n"
        "def fake(assignment, grade_id, **fns):\n"
        "    t = find_test(assignment, grade_id)\n"
        "    print('VMKIT-RESULT ' + json.dumps({{'grade_id': grade_id, 'outcomes': run_battery(t.battery, None)}}))\n"
        "harness.report = fake\nimport vmkit.assignments.grader as g\ng.score_test = lambda t, r: None\n"
        "def PQAVERAGE(vm, n):\n    return -1\n"
        "def vm_pageout_free_page_calc(vm, count):\n    return -1\n"
        "def vm_paging_target(vm):\n    return -1"),
}


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    why = _sandbox_ok()
    if why:
        pytest.skip(f"no sandbox here: {why}")
    from vmkit.assignments.grader import autograde, export, release

    base = tmp_path_factory.mktemp("course-run")
    course, subs = base / "course", base / "submitted"
    released = release(course)
    source_hash = {p: hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in sorted((course / "source").rglob("*.ipynb"))}

    def put(student: str, assignment: str, nb: nbformat.NotebookNode) -> None:
        d = subs / student / assignment
        d.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, d / f"{assignment}.ipynb")

    rel = {p.parent.name: nbformat.read(p, as_version=4) for p in released}
    for a in ASSIGNMENTS:
        put("z-reference", a, _source(a))
        put("blank", a, rel[a])
        what, old, new = next((w, o, n) for (aa, w, o, n) in WRONG if aa == a)
        nb = _source(a)
        for c in nb.cells:
            c.source = c.source.replace(old, new)
        put("wrong", a, nb)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    venv = Path(os.__file__).parent
    paths = ", ".join(repr(str(p)) for p in [course / "source" / "a1-thresholds" / "a1-thresholds.ipynb",
                                             course / "gradebook.db", subs / "z-reference" / "a1-thresholds" /
                                             "a1-thresholds.ipynb", "/etc/shadow"])
    writes = ", ".join(repr(str(p)) for p in [course / "pwned.txt", ROOT / "vmkit" / "pwned.py", venv / "pwned.py",
                                              "/usr/pwned"])
    for student, code in HOSTILE.items():
        nb = nbformat.read(course / "release" / "a1-thresholds" / "a1-thresholds.ipynb", as_version=4)
        first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        first.source = code.format(paths=paths, writes=writes, course=str(course), port=port)
        put(student, "a1-thresholds", nb)
    grades = autograde(subs, course, timeout=10)
    server.close()
    return {"course": course, "grades": grades, "source_hash": source_hash, "connections": connections,
            "written": [p for p in (course / "pwned.txt", ROOT / "vmkit" / "pwned.py", venv / "pwned.py")
                        if p.exists()],
            "export": export(course)}


def _grade(run, student, assignment):
    return next(g for g in run["grades"] if g.student == student and g.assignment == assignment)


def _outputs(run, student, assignment="a1-thresholds") -> str:
    p = run["course"] / "autograded" / student / assignment / f"{assignment}.ipynb"
    if not p.exists():
        return ""
    nb = nbformat.read(p, as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_round_trip_scores(course_run, assignment):
    full = sum(t.points for t in ASSIGNMENTS[assignment])
    assert _grade(course_run, "z-reference", assignment).score == full
    assert _grade(course_run, "blank", assignment).score == 0
    assert 0 < _grade(course_run, "wrong", assignment).score < full


def test_round_trip_writes_grades_csv_feedback_and_export(course_run):
    course = course_run["course"]
    rows = list(csv.DictReader(open(course / "grades.csv")))
    assert {r["student"] for r in rows} >= {"z-reference", "blank", "wrong", *HOSTILE}
    assert list(rows[0]) == ["student", "assignment", "score", "max_score"]
    ref = next(r for r in rows if r["student"] == "z-reference" and r["assignment"] == "a2-inactive")
    assert float(ref["score"]) == float(ref["max_score"]) == 10
    exported = list(csv.DictReader(open(course_run["export"])))
    by = {(r["student_id"], r["assignment"]): float(r["score"]) for r in exported}
    assert by[("z-reference", "a3-aging")] == 10 and by[("blank", "a3-aging")] == 0
    assert by[("wrong", "a4-laundering")] == _grade(course_run, "wrong", "a4-laundering").score
    for g in course_run["grades"]:
        text = (course / "feedback" / g.student / g.assignment / "feedback.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "import report" not in text
        assert f"report({g.assignment!r}" not in text and f'report("{g.assignment}"' not in text
    wrong = (course / "feedback" / "wrong" / "a3-aging" / "feedback.html").read_text()
    assert "✘" in wrong and "expected" in wrong


@pytest.mark.parametrize("student", list(HOSTILE))
def test_hostile_submission_is_contained(course_run, student):
    g = _grade(course_run, student, "a1-thresholds")
    assert g.score == 0, (student, g.score, g.notes)
    out = _outputs(course_run, student)
    assert "LEAK" not in out, out[-2000:]
    if student in ("h-read", "h-write", "h-network"):
        assert out.count("BLOCKED") >= 2, out[-2000:]
    if student == "h-forkbomb":
        forked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("FORKED")]
        assert not forked or forked[0] < sb.LIMITS["nproc"]


def test_hostile_submissions_leave_the_course_intact_and_grading_goes_on(course_run):
    course = course_run["course"]
    now = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((course / "source").rglob("*.ipynb"))}
    assert now == course_run["source_hash"]
    assert course_run["written"] == [] and course_run["connections"] == []
    # Graded after every hostile one (students go in name order): still full marks.
    assert _grade(course_run, "z-reference", "a1-thresholds").score == 10
    assert json.loads((course / "feedback" / "h-loop" / "a1-thresholds" / "feedback.json").read_text())["score"] == 0


def test_released_notebooks_have_no_solutions_or_hidden_tests(course_run):
    released = sorted((course_run["course"] / "release").rglob("*.ipynb"))
    assert len(released) == len(ASSIGNMENTS)
    for p in released:
        text = p.read_text()
        for needle in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "report(", "vm.PQ_L2_SIZE // 2",
                       "return LAUNDER", "cluster_candidate(vm, m, obj, pindex - page_base",
                       "m.act_count < pass_ + 1"):
            assert needle not in text, (p.name, needle)
        assert "raise NotImplementedError()" in text


def test_grading_refuses_to_run_unconfined(monkeypatch, tmp_path):
    from vmkit.assignments.grader import GradingError, autograde

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(sb.SandboxUnavailable, match="needs root"):
        sb.check_sandbox()
    (tmp_path / "course" / "source").mkdir(parents=True)
    (tmp_path / "subs").mkdir()
    with pytest.raises(GradingError, match="refusing to grade unconfined"):
        autograde(tmp_path / "subs", tmp_path / "course")


def test_autograde_command_names_bad_values(tmp_path, capsys):
    from vmkit.cli import main

    assert main(["assignments", "autograde", str(tmp_path), "--timeout", "0"]) == 2
    assert "--timeout must be between 1 and 3600" in capsys.readouterr().err
    assert main(["assignments", "autograde", str(tmp_path / "nowhere"), "--course", str(tmp_path)]) == 1
    assert "no submissions folder" in capsys.readouterr().err
    assert main(["assignments", "release", "--course", str(tmp_path / "c"), "--assignment", "a9-nothing"]) == 1
    assert "unknown assignment 'a9-nothing'" in capsys.readouterr().err
