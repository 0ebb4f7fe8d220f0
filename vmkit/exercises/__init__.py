"""Self-check exercises for the notebooks.

Each notebook's exercises live in a module here (``nb00.py`` ... ``nb09.py``)
and register themselves with :func:`exercise`.  A notebook cell asks::

    from vmkit.exercises import check
    answer = ...            # the student's answer
    check("nb01.free_min_16M", answer)

and :func:`check` says whether it is right, with a hint if not, **without
printing the expected answer**.  Expected answers are computed (by running
vmkit where that is the point) when first asked for.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODULES = tuple(f"nb{i:02d}" for i in range(10))


@dataclass
class Exercise:
    """One question: how to get the expected answer, how to compare, what to hint."""

    key: str
    expected: Callable[[], Any]
    hint: str
    kind: str = "exact"              # "exact", "number", "text", "set", "choice"
    tolerance: float = 0.0           # for "number": relative tolerance
    synonyms: dict[str, str] = field(default_factory=dict)   # for "text"/"choice": accepted spellings
    _value: Any = None
    _known: bool = False

    def value(self) -> Any:
        if not self._known:
            self._value = self.expected()
            self._known = True
        return self._value


REGISTRY: dict[str, Exercise] = {}


def exercise(key: str, hint: str, kind: str = "exact", tolerance: float = 0.0,
             synonyms: dict[str, str] | None = None) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register the decorated function as the way to compute exercise ``key``'s answer."""
    if kind not in ("exact", "number", "text", "set", "choice"):
        raise ValueError(f"kind must be exact, number, text, set or choice, got {kind!r}")

    def deco(fn: Callable[[], Any]) -> Callable[[], Any]:
        if key in REGISTRY:
            raise ValueError(f"exercise {key!r} is registered twice")
        REGISTRY[key] = Exercise(key, fn, hint, kind, tolerance, dict(synonyms or {}))
        return fn

    return deco


def _load(key: str) -> Exercise:
    if key not in REGISTRY:
        mod = key.split(".", 1)[0]
        if mod in MODULES:
            importlib.import_module(f"{__name__}.{mod}")
    if key not in REGISTRY:
        raise ValueError(f"no exercise named {key!r}")
    return REGISTRY[key]


def _norm(text: Any, synonyms: dict[str, str]) -> str:
    t = " ".join(str(text).strip().lower().replace("_", " ").split())
    return synonyms.get(t, t)


def is_right(key: str, answer: Any) -> bool:
    """True if ``answer`` is right for exercise ``key`` (no output)."""
    ex = _load(key)
    exp = ex.value()
    if answer is None or answer is Ellipsis:
        return False
    try:
        if ex.kind == "number":
            a = float(answer)
            if math.isnan(a):
                return False
            return math.isclose(a, float(exp), rel_tol=ex.tolerance, abs_tol=1e-9)
        if ex.kind in ("text", "choice"):
            return _norm(answer, ex.synonyms) == _norm(exp, ex.synonyms)
        if ex.kind == "set":
            return {_norm(a, ex.synonyms) for a in answer} == {_norm(e, ex.synonyms) for e in exp}
        if isinstance(exp, bool) or isinstance(answer, bool):
            return answer is exp or answer == exp
        return answer == exp
    except (TypeError, ValueError):
        return False


def check(key: str, answer: Any) -> None:
    """Say whether ``answer`` is right for exercise ``key``, with a hint if not; never reveal the answer.

    Prints its verdict and returns nothing, so a notebook cell ending in ``check(...)`` shows only the verdict
    (use :func:`is_right` for a bool).
    """
    ex = _load(key)
    if answer is None or answer is Ellipsis:
        print(f"✎ {key}: replace ... with your answer, then run this cell again.")
        return
    if is_right(key, answer):
        print(f"✔ {key}: right.")
    else:
        print(f"✘ {key}: not yet. Hint: {ex.hint}")
