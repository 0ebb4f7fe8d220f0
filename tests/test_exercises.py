"""The notebooks' self-check exercises: the right answer is accepted, wrong ones are rejected, and check() never
prints the expected answer.  Every exercise the notebooks use is registered and every registered one is used."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from vmkit.exercises import MODULES, REGISTRY, check, is_right

ROOT = Path(__file__).resolve().parent.parent
for _mod in MODULES:
    if (ROOT / "vmkit" / "exercises" / f"{_mod}.py").exists():
        importlib.import_module(f"vmkit.exercises.{_mod}")
KEYS = sorted(REGISTRY)


def _notebook_keys() -> set[str]:
    keys = set()
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                keys |= set(re.findall(r"check\(\s*[\"'](nb\d\d\.[\w.\-]+)[\"']", "".join(cell["source"])))
    return keys


def _wrong(value):
    """Plausible wrong answers of the same kind as ``value``."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, value * 2 + 3, -value - 7]
    if isinstance(value, float):
        return [value * 1.5 + 1.0, value - abs(value) * 0.5 - 1.0, -value - 3.0]
    if isinstance(value, str):
        return ["certainly not this", value + " not", ""]
    if isinstance(value, (set, frozenset, list, tuple)):
        return [type(value)(), type(value)(list(value)[:-1]) if len(value) > 1 else type(value)(["nothing"])]
    return [object()]


def test_every_notebook_has_at_least_two_exercises_and_all_are_registered():
    used = _notebook_keys()
    assert used <= set(REGISTRY), sorted(used - set(REGISTRY))
    for i in range(10):
        assert len([k for k in used if k.startswith(f"nb{i:02d}.")]) >= 2, f"notebook {i:02d}"


@pytest.mark.parametrize("key", KEYS)
def test_right_answer_is_accepted(key, capsys):
    value = REGISTRY[key].value()
    assert is_right(key, value)
    check(key, value)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("key", KEYS)
def test_wrong_answers_are_rejected_without_revealing_the_answer(key, capsys):
    ex = REGISTRY[key]
    value = ex.value()
    wrongs = [w for w in _wrong(value) if not is_right(key, w)]
    assert wrongs, f"no wrong answer is rejected for {key}"
    for w in wrongs:
        check(key, w)
        out = capsys.readouterr().out
        assert "not yet" in out and ex.hint in out
        # The message is the key and the hint; the expected value must not appear in it as a word of its own
        # (a hint may name the options of a yes/no question, and cite seed lines that contain the digits).
        if isinstance(value, (int, float, str)) and not isinstance(value, bool) and len(str(value)) >= 2:
            pattern = rf"(?<![\w.:-]){re.escape(str(value))}(?![\w.:-])"
            assert not re.search(pattern, out.replace(key, "")), f"{key}: the answer appears in the message"


@pytest.mark.parametrize("key", KEYS)
def test_placeholder_is_neither_right_nor_wrong(key, capsys):
    check(key, ...)
    assert "replace ... with your answer" in capsys.readouterr().out
