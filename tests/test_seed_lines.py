"""Every kind of decision in the event log maps to seed lines inside the function that makes it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vmkit.events import SEED_LINES, seed_lines
from vmkit.scenarios import SCENARIOS, run_scenario

ROOT = Path(__file__).resolve().parent.parent


def _functions():
    spec = importlib.util.spec_from_file_location("mft", ROOT / "docs" / "make_fidelity_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SEED_FUNCTIONS


def test_table_lines_lie_inside_their_function():
    funcs = _functions()
    for fn, _, _, a, b in SEED_LINES:
        lo, hi, _ = funcs[fn]
        assert lo <= a <= b <= hi, (fn, a, b)


def test_every_decision_in_the_scenarios_has_seed_lines():
    missing = set()
    for name in ("dirty-anon", "idle-stats", "oom"):
        assert name in SCENARIOS
        ev = run_scenario(name, 0).machine.events()
        for fn, act, reason in ev[["function", "action", "reason"]].drop_duplicates().itertuples(index=False):
            if seed_lines(str(fn), str(act), str(reason)) is None:
                missing.add((fn, act, reason))
    assert missing == set()
