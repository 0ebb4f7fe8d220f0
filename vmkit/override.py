"""Plugging a function of your own into the running daemon (the assignments' hook).

``vm.override(name, fn)`` makes the machine call ``fn`` where the daemon
would call its own version of ``name``; ``vm.override(name, None)`` restores
vmkit's.  Install overrides before ``run()``: the thresholds are computed
when the daemon thread first runs.  The names and the signatures your
function must have:

``PQAVERAGE(vm, n) -> int``
    Mirrors PQAVERAGE(), vm_pageout.c:230-241.

``vm_pageout_free_page_calc(vm, count) -> int``
    Mirrors vm_pageout_free_page_calc(), vm_pageout.c:1851-1889: sets
    ``vm.vmstats.v_free_min`` and the reserves derived from it.

``vm_paging_target(vm) -> int``
    The paging target (facts section 3; used by the daemon at vm_pageout.c:877,
    1568-1614 and 2123).

``vm_pageout_page(vm, m, max_launder, pass_) -> int | LAUNDER``
    The decision part of vm_pageout_page(), vm_pageout.c:901-1042, for a
    busied inactive page ``m``: do what the seed does (``vm.vm_page_activate(m)``,
    ``vm.vm_page_cache(m)``, ``vm.vm_page_requeue_tail(m, PQ_INACTIVE)``,
    ``vm.vm_page_wakeup(m)``, ...) and return the pages freed or cached; or
    return :data:`LAUNDER` to go on to the laundering branch
    (vm_pageout.c:1043-1221), which vmkit runs for you.  ``max_launder`` is
    the value of ``*max_launderp``.

``vm_pageout_clean_helper(vm, m, vmflush_flags) -> list[vm_page]``
    The cluster choice of vm_pageout_clean_helper(), vm_pageout.c:249-394:
    return the busied pages to write together, in ascending ``pindex``,
    ``m`` among them (or ``[]`` after waking ``m`` for a held or unmanaged
    page).  vmkit passes them to vm_pageout_flush().

``vm_pageout_aging(vm, m, actcount, pass_) -> bool``
    The act_count rule of the active scan, vm_pageout.c:1365-1410: set
    ``m.act_count`` for a page referenced ``actcount`` times since the last
    visit and return True if the page is to be deactivated.

A function that raises, returns the wrong type or leaves the page in an
impossible state stops the machine with :class:`OverrideError`, which names
the override and what was wrong.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Generator
from typing import Any

from .constants import ACT_MAX, PG_BUSY, PQ_INACTIVE


class OverrideError(RuntimeError):
    """An overriding function broke its contract."""


class _Launder:
    def __repr__(self) -> str:
        return "LAUNDER"


LAUNDER = _Launder()
"""Returned by a ``vm_pageout_page`` override: go on to the laundering branch."""

OVERRIDABLE = ("PQAVERAGE", "vm_pageout_free_page_calc", "vm_paging_target", "vm_pageout_page",
               "vm_pageout_clean_helper", "vm_pageout_aging")


class OverrideMixin:
    """``Machine.override``: let an assignment's function stand in for one of the daemon's."""

    def _init_override(self) -> None:
        self._overrides: dict[str, Callable[..., Any]] = {}

    def override(self, name: str, fn: Callable[..., Any] | None) -> None:
        """Call ``fn`` wherever the daemon calls ``name`` (None: back to vmkit's own); see the module doc."""
        if name not in OVERRIDABLE:
            raise ValueError(f"override: name must be one of {', '.join(OVERRIDABLE)}, got {name!r}")
        if fn is not None and not callable(fn):
            raise ValueError(f"override: {name} must be a function, got {type(fn).__name__}")
        self.__dict__.pop(name, None)
        self._overrides.pop(name, None)
        if fn is None:
            return
        self._overrides[name] = fn
        wrapper = getattr(type(self), f"_override_{name}", None)
        if wrapper is not None:
            setattr(self, name, types.MethodType(wrapper, self))
        elif name != "vm_pageout_aging":         # aging is looked up by the active scan itself
            setattr(self, name, types.MethodType(_plain(name, fn), self))

    # -- wrappers that keep the daemon's calling convention -----------------------------------
    def _override_vm_pageout_page(self, m: Any, max_launderp: Any, vnodes_skippedp: Any, vpfailedp: Any,
                                  pass_: int, vmflush_flags: int) -> Generator:
        fn = self._overrides["vm_pageout_page"]
        qbefore = m.queue and m.queue - m.pc
        result = _call("vm_pageout_page", fn, self, m, max_launderp.v, pass_)
        if result is LAUNDER:
            if not m.flags & PG_BUSY or m.queue - m.pc != PQ_INACTIVE:
                raise OverrideError("vm_pageout_page returned LAUNDER for a page that is not busied and inactive")
            return (yield from self._vm_pageout_page_launder(m, max_launderp, vnodes_skippedp, vpfailedp,
                                                             vmflush_flags, qbefore))
        if isinstance(result, bool) or not isinstance(result, int):
            raise OverrideError(f"vm_pageout_page must return an int or LAUNDER, got {result!r}")
        if m.flags & PG_BUSY:
            raise OverrideError(f"vm_pageout_page left page {m.pfn} busied: call vm.vm_page_wakeup(m) "
                                "(or free or cache it) before returning")
        self._ev("vm_pageout_page", m, qbefore, "override", f"returned {result}")
        return result

    def _override_vm_pageout_clean_helper(self, m: Any, vmflush_flags: int) -> Generator:
        fn = self._overrides["vm_pageout_clean_helper"]
        qbefore = m.queue and m.queue - m.pc
        pages = _call("vm_pageout_clean_helper", fn, self, m, vmflush_flags)
        if not isinstance(pages, (list, tuple)):
            raise OverrideError(f"vm_pageout_clean_helper must return a list of pages, got {type(pages).__name__}")
        pages = list(pages)
        if not pages:
            if m.flags & PG_BUSY:
                raise OverrideError("vm_pageout_clean_helper returned [] but left the page busied")
            return 0
        if all(p is not m for p in pages):
            raise OverrideError("vm_pageout_clean_helper: the cluster must contain the page m itself")
        for a, b in zip(pages, pages[1:], strict=False):
            if b.object is not m.object or b.pindex != a.pindex + 1:
                raise OverrideError("vm_pageout_clean_helper: the cluster must be consecutive pages of m's object "
                                    "in ascending pindex")
        for p in pages:
            if not p.flags & PG_BUSY:
                raise OverrideError(f"vm_pageout_clean_helper: page at pindex {p.pindex} is not busied")
        if len(pages) > 64 or pages[0].pindex // 64 != pages[-1].pindex // 64:
            raise OverrideError("vm_pageout_clean_helper: the cluster must lie in one aligned 64-page window")
        self._ev("vm_pageout_clean_helper", m, qbefore, "cluster",
                 f"{len(pages)} pages, pindex {pages[0].pindex}-{pages[-1].pindex}")
        if self.record_events:
            self._cluster_rows.append((self.ticks, len(pages), m.object.type))
        return (yield from self.vm_pageout_flush(pages, len(pages), vmflush_flags))

    def _override_aging(self, fn: Callable[..., Any], m: Any, actcount: int, pass_: int) -> bool:
        result = _call("vm_pageout_aging", fn, self, m, actcount, pass_)
        if not isinstance(result, (bool, int)):
            raise OverrideError(f"vm_pageout_aging must return True or False, got {result!r}")
        if not isinstance(m.act_count, int) or not 0 <= m.act_count <= ACT_MAX:
            raise OverrideError(f"vm_pageout_aging set act_count to {m.act_count!r}; it must be an int in "
                                f"0..{ACT_MAX}")
        return bool(result)


def _call(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except OverrideError:
        raise
    except Exception as exc:
        raise OverrideError(f"your {name} raised {type(exc).__name__}: {exc}") from exc


def _plain(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(vm: Any, *args: Any) -> Any:
        result = _call(name, fn, vm, *args)
        if isinstance(result, bool) or not isinstance(result, int):
            raise OverrideError(f"{name} must return an int, got {result!r}")
        return result
    call.__name__ = name
    return call
