"""Workloads: seeded streams of ``(virtual page, write)`` references.

A workload describes what a program does to its memory.  Bound to a process
(:meth:`vmkit.machine.Machine.spawn`) it drives the machine; alone it can be
replayed into arrays with :meth:`Workload.references`.

Protocol: :meth:`Workload.next_chunk` returns

* ``(vpns, writes)`` - an ``int64`` array of virtual pages and a ``bool``
  array of write flags (at most ``n`` references);
* an ``int`` - sleep that many ticks (an idle program);
* ``None`` - the program has finished.

Every random choice comes from the generator handed to :meth:`Workload.bind`
(the machine derives it from its seed and the pid), so a run is reproducible.
"""

from __future__ import annotations

import numpy as np

from .config import check_int


def _check_fraction(value: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{field} must be a number between 0.0 and 1.0, got {value!r}")
    return float(value)


class Workload:
    """Base class: ``npages`` is the size of the address space the workload touches.

    ``finite`` is False for a workload that never ends on its own (it runs
    until its process is killed or the machine stops).
    """

    name = "workload"
    finite = True

    def __init__(self, npages: int) -> None:
        self.npages = check_int(npages, "pages", 1, 1 << 26)
        self.rng: np.random.Generator | None = None

    def bind(self, rng: np.random.Generator) -> None:
        """Give the workload its random generator; called once, when a process starts it."""
        self.rng = rng

    def next_chunk(self, n: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def _writes(self, n: int, fraction: float) -> np.ndarray:
        if fraction <= 0.0:
            return np.zeros(n, dtype=bool)
        if fraction >= 1.0:
            return np.ones(n, dtype=bool)
        return self.rng.random(n) < fraction

    def references(self, limit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Replay the workload alone: up to ``limit`` references as ``(vpns, writes)`` (idle time dropped)."""
        check_int(limit, "limit", 0, 1 << 31)
        if self.rng is None:
            self.bind(np.random.default_rng(seed))
        vs, ws, total = [], [], 0
        while total < limit:
            chunk = self.next_chunk(min(1 << 16, limit - total))
            if chunk is None:
                break
            if isinstance(chunk, int):
                continue
            vs.append(chunk[0])
            ws.append(chunk[1])
            total += len(chunk[0])
        if not vs:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        return np.concatenate(vs)[:limit], np.concatenate(ws)[:limit]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pages={self.npages})"


class Refs(Workload):
    """An explicit list of references: ``[(vpn, write), ...]`` or ``(vpns, writes)`` arrays."""

    name = "refs"

    def __init__(self, refs, writes=None) -> None:
        if writes is None:
            try:
                pairs = [(v, w) for v, w in refs]
            except (TypeError, ValueError):
                raise ValueError("refs must be a list of (vpn, write) pairs, or give writes= as well") from None
            raw_v = [v for v, _ in pairs]
            raw_w = [w for _, w in pairs]
        else:
            raw_v, raw_w = list(refs), list(writes)
        for i, v in enumerate(raw_v):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 1 << 26:
                raise ValueError(f"refs must hold virtual pages, integers from 0 to {(1 << 26) - 1}; "
                                 f"refs[{i}] is {v!r}")
        if len(raw_w) != len(raw_v):
            raise ValueError(f"writes must have one flag per reference: {len(raw_v)} refs, {len(raw_w)} writes")
        for i, w in enumerate(raw_w):
            if not isinstance(w, (bool, np.bool_)) and not (isinstance(w, (int, np.integer)) and w in (0, 1)):
                raise ValueError(f"writes must hold True/False (or 1/0) for each reference; writes[{i}] is {w!r}")
        vpns = np.array(raw_v, dtype=np.int64)
        wr = np.array([bool(w) for w in raw_w], dtype=bool)
        super().__init__(int(vpns.max()) + 1 if vpns.size else 1)
        self._v, self._w, self._pos = vpns, wr, 0

    def next_chunk(self, n: int):
        if self._pos >= len(self._v):
            return None
        a, b = self._pos, min(self._pos + n, len(self._v))
        self._pos = b
        return self._v[a:b], self._w[a:b]


class Sequential(Workload):
    """Sweep pages 0..pages-1 in order, ``passes`` times (0: forever); a fraction ``writes`` of references write."""

    name = "seq"

    def __init__(self, pages: int, passes: int = 1, writes: float = 0.0) -> None:
        super().__init__(pages)
        self.passes = check_int(passes, "passes", 0, 1 << 30)
        self.finite = self.passes > 0
        self.writes = _check_fraction(writes, "writes")
        self._done = 0
        self._pos = 0

    def next_chunk(self, n: int):
        if self.passes and self._done >= self.passes:
            return None
        k = min(n, self.npages - self._pos)
        v = np.arange(self._pos, self._pos + k, dtype=np.int64)
        self._pos += k
        if self._pos >= self.npages:
            self._pos = 0
            self._done += 1
        return v, self._writes(k, self.writes)

    def __repr__(self) -> str:
        return f"Sequential(pages={self.npages}, passes={self.passes}, writes={self.writes})"


class UniformRandom(Workload):
    """``count`` references to pages drawn uniformly from 0..pages-1."""

    name = "uniform"

    def __init__(self, pages: int, count: int, writes: float = 0.0) -> None:
        super().__init__(pages)
        self.count = check_int(count, "count", 0, 1 << 40)
        self.writes = _check_fraction(writes, "writes")
        self._left = self.count

    def next_chunk(self, n: int):
        if self._left <= 0:
            return None
        k = min(n, self._left)
        self._left -= k
        return self.rng.integers(0, self.npages, k, dtype=np.int64), self._writes(k, self.writes)

    def __repr__(self) -> str:
        return f"UniformRandom(pages={self.npages}, count={self.count}, writes={self.writes})"


class HotCold(Workload):
    """``count`` references: a fraction ``p`` go to the hot ``hot`` fraction of the pages, the rest to the others."""

    name = "hotcold"

    def __init__(self, pages: int, count: int, hot: float = 0.2, p: float = 0.8, writes: float = 0.0) -> None:
        super().__init__(pages)
        self.count = check_int(count, "count", 0, 1 << 40)
        self.hot = _check_fraction(hot, "hot")
        self.p = _check_fraction(p, "p")
        self.writes = _check_fraction(writes, "writes")
        self.nhot = max(1, int(round(self.npages * self.hot)))
        if self.nhot >= self.npages and self.p < 1.0:
            raise ValueError(f"hot={hot} leaves no cold pages in {pages} pages; lower hot or set p=1.0")
        self._left = self.count

    def next_chunk(self, n: int):
        if self._left <= 0:
            return None
        k = min(n, self._left)
        self._left -= k
        rng = self.rng
        is_hot = rng.random(k) < self.p
        v = np.where(is_hot,
                     rng.integers(0, self.nhot, k, dtype=np.int64),
                     rng.integers(self.nhot, max(self.nhot + 1, self.npages), k, dtype=np.int64))
        return v, self._writes(k, self.writes)

    def __repr__(self) -> str:
        return (f"HotCold(pages={self.npages}, count={self.count}, hot={self.hot}, p={self.p}, "
                f"writes={self.writes})")


class IdleDaemon(Workload):
    """A mostly idle program: touch all pages once, then every ``period`` ticks touch ``touch`` of them."""

    name = "idle"

    def __init__(self, pages: int, touch: int = 1, period: int = 1000, writes: float = 0.1) -> None:
        super().__init__(pages)
        self.touch = check_int(touch, "touch", 1, self.npages)
        self.period = check_int(period, "period", 1, 1 << 40)
        self.writes = _check_fraction(writes, "writes")
        self.finite = False
        self._started = False
        self._sleep_next = False

    def next_chunk(self, n: int):
        if not self._started:
            self._started = True
            self._sleep_next = True
            v = np.arange(self.npages, dtype=np.int64)
            return v, np.ones(self.npages, dtype=bool)
        if self._sleep_next:
            self._sleep_next = False
            return self.period
        self._sleep_next = True
        v = self.rng.integers(0, self.npages, self.touch, dtype=np.int64)
        return v, self._writes(self.touch, self.writes)

    def __repr__(self) -> str:
        return f"IdleDaemon(pages={self.npages}, touch={self.touch}, period={self.period})"


class Script(Workload):
    """A scripted program: each step is a list of ``(vpn, write)`` references or an ``int`` of ticks to sleep.

    With ``linger=True`` the program sleeps forever after its last step
    (it keeps its memory, as a long-lived process does).
    """

    name = "script"
    FOREVER = 1 << 40

    def __init__(self, steps: list, linger: bool = False) -> None:
        parsed: list = []
        top = 0
        for i, step in enumerate(steps):
            if isinstance(step, bool) or not isinstance(step, (int, list, tuple)):
                raise ValueError(f"steps[{i}] must be a list of (vpn, write) pairs or a number of ticks, got {step!r}")
            if isinstance(step, int):
                parsed.append(check_int(step, f"steps[{i}]", 1, 1 << 40))
                continue
            vpns = np.array([int(v) for v, _ in step], dtype=np.int64)
            if vpns.size and vpns.min() < 0:
                raise ValueError(f"steps[{i}]: virtual pages must be >= 0, got {int(vpns.min())}")
            parsed.append((vpns, np.array([bool(w) for _, w in step], dtype=bool)))
            if vpns.size:
                top = max(top, int(vpns.max()) + 1)
        super().__init__(max(top, 1))
        self.linger = bool(linger)
        self.finite = not self.linger
        self._steps = parsed
        self._i = 0

    def next_chunk(self, n: int):
        if self._i >= len(self._steps):
            return self.FOREVER if self.linger else None
        step = self._steps[self._i]
        self._i += 1
        return step
