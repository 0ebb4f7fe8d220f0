"""The verification run: a student's function definitions, alone, against the graded batteries.

Run by the grader inside the sandbox as ``python -m vmkit.assignments.verify``
with ``/scratch/job.json`` holding the definitions (already filtered by
:func:`definitions`) and the tests.  Only definitions are executed, never the
notebook's other statements, so a submission that monkeypatches vmkit or the
test helpers at the top level of a cell changes nothing here.  Each test gets
a time limit; one line ``VMKIT-RESULT {...}`` is printed per test.
"""

from __future__ import annotations

import ast
import json
import signal
import sys
from pathlib import Path

SAFE_VALUES = (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.BinOp,
               ast.UnaryOp, ast.Load, ast.operator, ast.unaryop, ast.expr_context)


def _safe(node: ast.AST | None) -> bool:
    """An expression that runs no code of its own: constants, names, attributes and arithmetic on them."""
    return node is None or all(isinstance(n, SAFE_VALUES) for n in ast.walk(node))


def definitions(cells: list[str]) -> tuple[str, list[str]]:
    """Keep the imports, plain constant assignments and function definitions of ``cells``.

    Also returns the notable statements left out: definitions that would run code when defined (decorators,
    computed defaults), classes, and assignments to attributes or items (monkeypatching).
    """
    kept: list[str] = []
    dropped: list[str] = []
    for src in cells:
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError as exc:
            dropped.append(f"a cell that does not parse ({exc.msg}, line {exc.lineno})")
            continue
        for node in tree.body:
            ok = False
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                ok = True
            elif isinstance(node, ast.FunctionDef):
                args = node.args
                ok = (not node.decorator_list
                      and all(_safe(d) for d in args.defaults + [d for d in args.kw_defaults if d is not None]))
            elif isinstance(node, ast.Assign):
                ok = all(isinstance(t, ast.Name) for t in node.targets) and _safe(node.value)
            if ok:
                kept.append(ast.unparse(node))
            elif not _ordinary(node):
                # Worth telling the student: a definition that was not run, or a change to a module's attributes.
                dropped.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0][:80]}")
    return "\n\n".join(kept), dropped


def _ordinary(node: ast.stmt) -> bool:
    """Statements a notebook is full of (calls, plots, plain variables): not run when grading, not worth a note."""
    if isinstance(node, ast.Expr):
        return True
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store))
                   for t in targets for n in ast.walk(t))
    return isinstance(node, (ast.For, ast.While, ast.If, ast.With, ast.Try))


class _TimeUp(BaseException):
    """Raised inside the student's code when a test runs out of time (a BaseException, so `except
    Exception` in their code does not swallow it)."""


def main() -> None:
    job = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "/scratch/job.json").read_text())
    from vmkit.assignments.batteries import run_battery

    ns: dict = {"__name__": "submission"}
    load_error = None
    try:
        exec(compile(job["source"], "submission", "exec"), ns)
    except BaseException as exc:              # noqa: BLE001 - anything the definitions do is theirs
        load_error = f"{type(exc).__name__}: {exc}"

    def time_up(*_: object) -> None:
        raise _TimeUp()

    signal.signal(signal.SIGALRM, time_up)
    for test in job["tests"]:
        missing = [f for f in test["functions"] if not callable(ns.get(f))]
        if load_error or missing:
            why = load_error or f"not defined: {', '.join(missing)}"
            result = {"grade_id": test["grade_id"], "error": why}
        else:
            signal.alarm(int(job.get("seconds", 60)))
            try:
                result = {"grade_id": test["grade_id"],
                          "outcomes": run_battery(test["battery"], {f: ns[f] for f in test["functions"]})}
            except _TimeUp:
                result = {"grade_id": test["grade_id"], "error": f"ran longer than {job.get('seconds', 60)} s"}
            except BaseException as exc:      # noqa: BLE001
                result = {"grade_id": test["grade_id"], "error": f"{type(exc).__name__}: {exc}"[:300]}
            finally:
                signal.alarm(0)
        sys.stdout.write("VMKIT-RESULT " + json.dumps(result, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
