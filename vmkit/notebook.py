"""Small helpers for the notebooks: show vmkit's source next to the seed's line numbers.

The seed itself is not shipped with vmkit; notebooks quote a line or two of
it in their prose, with line numbers, and show vmkit's Python beside it.
"""

from __future__ import annotations

import inspect
from typing import Any


def source(obj: Any, start: str | None = None, lines: int | None = None) -> Any:
    """vmkit's source of ``obj`` (a function or method) as a highlighted code block.

    ``start`` begins the excerpt at the first line containing that text;
    ``lines`` limits its length.
    """
    from IPython.display import Code

    text = inspect.getsource(obj)
    body = text.splitlines()
    if start is not None:
        for i, line in enumerate(body):
            if start in line:
                body = body[i:]
                break
        else:
            raise ValueError(f"{start!r} does not occur in the source of {obj.__qualname__}")
    if lines is not None:
        body = body[:lines]
    import textwrap

    return Code(textwrap.dedent("\n".join(body)), language="python")


def seed_ref(first: int, last: int | None = None) -> str:
    """``vm_pageout.c:first-last``, the way vmkit cites the seed."""
    return f"vm_pageout.c:{first}" + (f"-{last}" if last else "")
