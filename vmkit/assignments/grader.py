"""Release and grade the assignments with nbgrader, the student code sandboxed.

``release(course)``: copies the source notebooks into the course directory
and runs ``nbgrader generate_assignment``: solutions and hidden tests are
stripped, the result is in ``COURSE/release/ASSIGNMENT/``.

``autograde(submissions, course)``: for every ``STUDENT/ASSIGNMENT/*.ipynb``:

1. ``nbgrader autograde`` runs the notebook in the sandboxed kernel
   (:mod:`vmkit.assignments.sandbox`), one cell at most ``timeout`` seconds;
   the whole student at most a bounded multiple of it.
2. The verification run: the notebook's solution cells, reduced to their
   definitions (:func:`vmkit.assignments.verify.definitions`), run against
   each graded battery in a fresh sandboxed process.
3. Each graded test scores ``points * (cases right / cases)``, comparing with
   outcomes computed here, in the grader's own process, by vmkit's daemon.
4. The scores go into nbgrader's gradebook (so ``nbgrader export`` agrees),
   ``grades.csv`` gets one row per student and assignment, and
   ``feedback/STUDENT/ASSIGNMENT/feedback.html`` says which tests failed and
   why, without the hidden tests' source.

A student whose notebook loops, crashes its kernel or exhausts its limits
gets 0 for what it broke, and grading goes on with the next student.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import ASSIGNMENTS, Test
from . import sandbox as sb
from .batteries import run_battery
from .verify import definitions

SOURCE = Path(__file__).resolve().parent.parent.parent / "notebooks" / "assignments" / "source"
CONFIG = '''c = get_config()  # noqa: F821 - written by vmkit assignments
c.CourseDirectory.course_id = "vmkit"
c.CourseDirectory.root = {root!r}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.kernel_name = "vmkit-sandboxed"
c.KernelManager.transport = "ipc"
c.KernelManager.ip = {ip!r}
c.KernelManager.shutdown_wait_time = 2.0
'''


class GradingError(RuntimeError):
    """A grading run cannot go on; the message says why and what to do."""


@dataclass
class TestResult:
    grade_id: str
    points: float
    score: float
    cases: int
    right: int
    why: list[str] = field(default_factory=list)


@dataclass
class Grade:
    student: str
    assignment: str
    score: float
    max_score: float
    tests: list[TestResult]
    notes: list[str]


def _nbgrader(course: Path, *args: str, env: dict[str, str] | None = None, timeout: float | None = None
              ) -> subprocess.CompletedProcess:
    env = dict(env if env is not None else os.environ)
    # nbgrader runs its database migrations with the `alembic` command of this environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, timeout=timeout,
                          capture_output=True, text=True)


def _write_config(course: Path, timeout: float, ip: str = "/tmp/vmkit-unused/k") -> None:
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), timeout=int(timeout), ip=ip))


def release(course: Path, assignments: list[str] | None = None, source: Path = SOURCE) -> list[Path]:
    """Generate the student versions in ``course/release/``; return the released notebooks."""
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    names = assignments or list(ASSIGNMENTS)
    for a in names:
        if a not in ASSIGNMENTS:
            raise GradingError(f"unknown assignment {a!r}; choose from {', '.join(ASSIGNMENTS)}")
        src = source / a
        if not src.is_dir():
            raise GradingError(f"no source notebooks for {a} in {source}")
        if course / "source" / a != src:
            dest = course / "source" / a
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if not (course / "nbgrader_config.py").exists():
        _write_config(course, 60)
    out = []
    for a in names:
        r = _nbgrader(course, "generate_assignment", a, "--force", "--create")
        if r.returncode != 0:
            raise GradingError(f"nbgrader generate_assignment {a} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
        out += sorted((course / "release" / a).glob("*.ipynb"))
    return out


_EXPECTED: dict[str, list] = {}


def expected(battery: str) -> list:
    """vmkit's own outcomes for ``battery``, computed in this (the grader's) process."""
    if battery not in _EXPECTED:
        _EXPECTED[battery] = run_battery(battery, None)
    return _EXPECTED[battery]


def score_test(test: Test, result: dict[str, Any] | None) -> TestResult:
    """Score one verification result against the expected outcomes."""
    want = expected(test.battery)
    if result is None:
        return TestResult(test.grade_id, test.points, 0.0, len(want), 0, ["did not finish (time or memory limit)"])
    if "error" in result:
        return TestResult(test.grade_id, test.points, 0.0, len(want), 0, [str(result["error"])])
    got = {label: outcome for label, outcome in result.get("outcomes", [])}
    right, why = 0, []
    for label, outcome in want:
        mine = got.get(label, {"error": "case missing"})
        if mine == outcome:
            right += 1
        elif isinstance(mine, dict) and "error" in mine:
            why.append(f"{label}: raised {mine['error']}")
        else:
            why.append(f"{label}: expected {_short(outcome)}, got {_short(mine)}")
    score = round(test.points * right / len(want), 2) if want else 0.0
    return TestResult(test.grade_id, test.points, score, len(want), right, why)


def _short(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 160 else s[:157] + "..."


def _results(stdout: str) -> dict[str, dict[str, Any]]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("VMKIT-RESULT "):
            try:
                r = json.loads(line[len("VMKIT-RESULT "):])
            except json.JSONDecodeError:
                continue
            if isinstance(r, dict) and isinstance(r.get("grade_id"), str) and r["grade_id"] not in out:
                out[r["grade_id"]] = r
    return out


def verify(cells: list[str], tests: tuple[Test, ...], runtime: Path, seconds: float) -> tuple[dict, list[str]]:
    """Run the definitions in ``cells`` against ``tests`` in a fresh sandboxed process."""
    source, dropped = definitions(cells)
    scratch = sb.make_scratch(runtime / "scratch", "verify")
    job = {"source": source, "seconds": int(seconds),
           "tests": [{"grade_id": t.grade_id, "battery": t.battery, "functions": list(t.functions)} for t in tests]}
    (scratch / "job.json").write_text(json.dumps(job))
    argv = sb.sandbox_argv([sys.executable, "-m", "vmkit.assignments.verify", "/scratch/job.json"], scratch,
                           cpu=int(seconds * len(tests)) + 30)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=seconds * len(tests) + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, _ = proc.communicate()
    finally:
        sb.kill_leftovers()
        shutil.rmtree(scratch, ignore_errors=True)
    return _results(stdout), dropped


def _solution_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The student's code: every code cell but the graded test cells (verify keeps only definitions)."""
    return [c.source for c in nb.cells if c.cell_type == "code"
            and not c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def _students(submissions: Path) -> list[tuple[str, str]]:
    out = []
    for sdir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            out.append((sdir.name, adir.name))
    return out


def autograde(submissions: Path, course: Path, timeout: float = 60.0,
              progress: Callable[[str], None] | None = None) -> list[Grade]:
    """Grade every submission under ``submissions`` (STUDENT/ASSIGNMENT/*.ipynb); see the module doc."""
    if not 1 <= timeout <= 3600:
        raise GradingError(f"timeout must be between 1 and 3600 seconds per cell, got {timeout}")
    submissions, course = Path(submissions).resolve(), Path(course).resolve()
    if not submissions.is_dir():
        raise GradingError(f"no submissions folder at {submissions}")
    if not (course / "source").is_dir():
        raise GradingError(f"{course} has no source/: run `vmkit assignments release --course {course}` first")
    try:
        sb.check_sandbox()
    except sb.SandboxUnavailable as exc:
        raise GradingError(f"refusing to grade unconfined: {exc}") from None
    runtime = Path(tempfile.mkdtemp(prefix="vmkit-grade-"))
    try:
        jupyter_dir, ipc = sb.install_kernel(runtime, cpu=int(timeout) * 40 + 60)
        _write_config(course, timeout, ip=str(ipc / "kernel"))
        env = dict(os.environ, JUPYTER_PATH=str(jupyter_dir), JUPYTER_RUNTIME_DIR=str(runtime / "jrt"))
        course.chmod(0o700)
        grades = []
        for student, assignment in _students(submissions):
            if progress:
                progress(f"{student}/{assignment}")
            grades.append(_grade_one(submissions, course, student, assignment, timeout, env, runtime))
        _write_gradebook(course, grades)
        _write_csv(course / "grades.csv", grades)
        for g in grades:
            _write_feedback(course, g)
        return grades
    finally:
        sb.kill_leftovers()
        shutil.rmtree(runtime, ignore_errors=True)


def _grade_one(submissions: Path, course: Path, student: str, assignment: str, timeout: float,
               env: dict[str, str], runtime: Path) -> Grade:
    notes: list[str] = []
    tests = ASSIGNMENTS.get(assignment)
    if tests is None:
        return Grade(student, assignment, 0.0, 0.0, [], [f"unknown assignment {assignment!r}: not graded"])
    max_score = float(sum(t.points for t in tests))
    src = submissions / student / assignment
    dest = course / "submitted" / student / assignment
    if dest.resolve() != src.resolve():
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for nb in src.glob("*.ipynb"):
            if nb.is_file() and not nb.is_symlink():
                shutil.copyfile(nb, dest / nb.name)
    ncells = sum(len(nbformat.read(nb, as_version=4).cells) for nb in dest.glob("*.ipynb")) or 1
    t0 = time.perf_counter()
    try:
        r = _nbgrader(course, "autograde", assignment, "--student", student, "--force", "--create", env=env,
                      timeout=timeout * min(ncells, 40) + 120)
        if r.returncode != 0:
            notes.append("nbgrader could not run the whole notebook (a cell timed out or the kernel died)")
    except subprocess.TimeoutExpired:
        notes.append("the notebook run was stopped at the time limit")
    finally:
        sb.kill_leftovers()
    cells: list[str] = []
    graded = course / "autograded" / student / assignment
    for nb_path in sorted(graded.glob("*.ipynb")) or sorted(dest.glob("*.ipynb")):
        try:
            cells += _solution_cells(nbformat.read(nb_path, as_version=4))
        except Exception as exc:                 # a corrupt notebook scores 0, the run goes on
            notes.append(f"{nb_path.name} could not be read: {type(exc).__name__}")
    results, dropped = verify(cells, tests, runtime, seconds=max(2 * timeout, 20.0))
    if dropped:
        notes.append("not run when grading (only imports, constants and function definitions are): "
                     + "; ".join(dropped[:5]))
    scored = [score_test(t, results.get(t.grade_id)) for t in tests]
    notes.append(f"graded in {time.perf_counter() - t0:.1f} s")
    return Grade(student, assignment, round(sum(s.score for s in scored), 2), max_score, scored, notes)


def _write_gradebook(course: Path, grades: list[Grade]) -> None:
    """Put our scores into nbgrader's gradebook, so that ``nbgrader export`` reports the same."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for g in grades:
            by_id = {t.grade_id: t.score for t in g.tests}
            try:
                sub = gb.find_submission(g.assignment, g.student)
            except MissingEntry:
                continue
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.name in by_id:
                        grade.auto_score = by_id[grade.name]
                        grade.manual_score = None
        gb.db.commit()


def _write_csv(path: Path, grades: list[Grade]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score"])
        for g in grades:
            w.writerow([g.student, g.assignment, g.score, g.max_score])


def feedback_html(g: Grade) -> str:
    """The student's feedback: each graded test, its score, and why cases failed (never the tests' source)."""
    rows = []
    for t in g.tests:
        mark = "✔" if t.score == t.points else "✘"
        why = "".join(f"<li><code>{html.escape(w)}</code></li>" for w in t.why[:8])
        more = f"<li>... and {len(t.why) - 8} more</li>" if len(t.why) > 8 else ""
        rows.append(f"<tr><td>{mark} {html.escape(t.grade_id)}</td><td>{t.score:g} / {t.points:g}</td>"
                    f"<td>{t.right} of {t.cases} cases right<ul>{why}{more}</ul></td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in g.notes)
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(g.assignment)}: feedback</title>"
            f"<h1>{html.escape(g.assignment)}: {g.score:g} / {g.max_score:g}</h1>"
            f"<p>Student: {html.escape(g.student)}</p><table border=1 cellpadding=4>"
            f"<tr><th>test</th><th>score</th><th>details</th></tr>{''.join(rows)}</table>"
            f"<h2>Notes</h2><ul>{notes}</ul>")


def _write_feedback(course: Path, g: Grade) -> None:
    d = course / "feedback" / g.student / g.assignment
    d.mkdir(parents=True, exist_ok=True)
    (d / "feedback.html").write_text(feedback_html(g))
    (d / "feedback.json").write_text(json.dumps({"student": g.student, "assignment": g.assignment,
                                                 "score": g.score, "max_score": g.max_score,
                                                 "tests": [t.__dict__ for t in g.tests], "notes": g.notes},
                                                indent=1))


def export(course: Path) -> Path:
    """``nbgrader export``: the gradebook as nbgrader's CSV (``COURSE/nbgrader-grades.csv``)."""
    course = Path(course).resolve()
    out = course / "nbgrader-grades.csv"
    r = _nbgrader(course, "export", f"--to={out}")
    if r.returncode != 0:
        raise GradingError(f"nbgrader export failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    return out
