"""What the assignment notebooks call: try your functions against vmkit's, and the graded cells' report.

``selfcheck(battery, **functions)`` (in the notebook, while you work) runs a
battery with your functions and with vmkit's and shows which cases differ.
``report(assignment, grade_id, **functions)`` is what the hidden test cells
call when your work is graded; the grade itself comes from the grader, which
runs your functions again in a clean process of its own and compares with
outcomes it computes itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import find_test
from .batteries import run_battery


def _compare(mine: list, expected: list) -> list[tuple[str, Any, Any]]:
    wrong = []
    for i, (label, want) in enumerate(expected):
        got = mine[i][1] if i < len(mine) and mine[i][0] == label else {"error": "case missing"}
        if got != want:
            wrong.append((label, want, got))
    return wrong


def selfcheck(battery: str, show: int = 5, **functions: Callable[..., Any]) -> bool:
    """Run battery ``battery`` with your functions and with vmkit's; print how many cases agree."""
    mine = run_battery(battery, functions)
    expected = run_battery(battery, None)
    wrong = _compare(mine, expected)
    print(f"{battery}: {len(expected) - len(wrong)} of {len(expected)} cases agree with vmkit's daemon.")
    for label, want, got in wrong[:show]:
        print(f"  ✘ {label}:\n      vmkit: {want}\n      yours: {got}")
    if len(wrong) > show:
        print(f"  ... and {len(wrong) - show} more")
    return not wrong


def report(assignment: str, grade_id: str, **functions: Callable[..., Any]) -> None:
    """A graded cell: run its battery with your functions and print the outcomes."""
    test = find_test(assignment, grade_id)
    outcomes = run_battery(test.battery, functions)
    errors = sum(1 for _, o in outcomes if isinstance(o, dict) and "error" in o)
    print(f"{grade_id}: {len(outcomes)} cases run, {errors} raised an error.")
    print("VMKIT-RESULT " + json.dumps({"grade_id": grade_id, "outcomes": outcomes}))
