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

    def __init__(self, npages: int, field: str = "pages") -> None:
        self.npages = check_int(npages, field, 1, 1 << 26)
        self.rng: np.random.Generator | None = None

    def bind(self, rng: np.random.Generator) -> None:
        """Give the workload its random generator; called once, when a process starts it."""
        self.rng = rng

    def regions(self, vm, name: str) -> list:
        """The address space this workload expects: by default one anonymous region of ``npages``.

        File workloads override it to create and map their file on ``vm``.
        """
        from .vm_map import Anon

        return [Anon(self.npages, "heap")]

    def total_refs(self) -> int | None:
        """How many references the workload will make in all, if known (for progress bars)."""
        return None

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

    def total_refs(self) -> int | None:
        return len(self._v)

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

    def total_refs(self) -> int | None:
        return self.npages * self.passes if self.passes else None

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

    def total_refs(self) -> int | None:
        return self.count

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

    def total_refs(self) -> int | None:
        return self.count

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


class Loop(Workload):
    """A loop over ``k`` pages: 0, 1, ..., k-1, 0, 1, ... for ``count`` references (LRU's worst case above k frames)."""

    name = "loop"

    def __init__(self, k: int, count: int, writes: float = 0.0) -> None:
        super().__init__(k, "k")
        self.count = check_int(count, "count", 0, 1 << 40)
        self.writes = _check_fraction(writes, "writes")
        self._done = 0

    def next_chunk(self, n: int):
        if self._done >= self.count:
            return None
        m = min(n, self.count - self._done)
        v = (np.arange(self._done, self._done + m, dtype=np.int64) % self.npages)
        self._done += m
        return v, self._writes(m, self.writes)

    def total_refs(self) -> int | None:
        return self.count

    def __repr__(self) -> str:
        return f"Loop(k={self.npages}, count={self.count}, writes={self.writes})"


class Phases(Workload):
    """Phase-changing working sets: every ``phase`` references the program moves to a new random
    window of ``ws`` pages (out of ``pages``) and references it uniformly; ``count`` references in all."""

    name = "phases"

    def __init__(self, pages: int, count: int, ws: int = 1000, phase: int = 100_000, writes: float = 0.2) -> None:
        super().__init__(pages)
        self.count = check_int(count, "count", 0, 1 << 40)
        self.ws = check_int(ws, "ws", 1, self.npages)
        self.phase = check_int(phase, "phase", 1, 1 << 40)
        self.writes = _check_fraction(writes, "writes")
        self._done = 0
        self._base = 0

    def next_chunk(self, n: int):
        if self._done >= self.count:
            return None
        into = self._done % self.phase
        if into == 0:
            self._base = int(self.rng.integers(0, self.npages - self.ws + 1))
        m = min(n, self.count - self._done, self.phase - into)
        self._done += m
        v = self._base + self.rng.integers(0, self.ws, m, dtype=np.int64)
        return v, self._writes(m, self.writes)

    def total_refs(self) -> int | None:
        return self.count

    def __repr__(self) -> str:
        return (f"Phases(pages={self.npages}, count={self.count}, ws={self.ws}, phase={self.phase}, "
                f"writes={self.writes})")


class FileStream(Workload):
    """Read-once file streaming: read a file of ``pages`` pages from start to end, ``passes`` times,
    through a read-only mapping (the page cache's classic enemy: every page used once)."""

    name = "stream"

    def __init__(self, pages: int, passes: int = 1) -> None:
        super().__init__(pages)
        self.passes = check_int(passes, "passes", 1, 1 << 20)
        self._seq = Sequential(pages, passes, 0.0)

    def regions(self, vm, name: str) -> list:
        from .vm_map import MapFile

        return [MapFile(_new_file(vm, name, self.npages), writable=False)]

    def bind(self, rng: np.random.Generator) -> None:
        super().bind(rng)
        self._seq.bind(rng)

    def next_chunk(self, n: int):
        return self._seq.next_chunk(n)

    def total_refs(self) -> int | None:
        return self.npages * self.passes

    def __repr__(self) -> str:
        return f"FileStream(pages={self.npages}, passes={self.passes})"


class FileWrite(Workload):
    """mmap'd file writes: ``count`` uniform references to a file of ``pages`` pages mapped shared
    and writeable, a fraction ``writes`` of them stores - dirty vnode pages for the syncer and the daemon."""

    name = "mmapwrite"

    def __init__(self, pages: int, count: int, writes: float = 0.5) -> None:
        super().__init__(pages)
        self._u = UniformRandom(pages, count, writes)
        self.count = self._u.count
        self.writes = self._u.writes

    def regions(self, vm, name: str) -> list:
        from .vm_map import MapFile

        return [MapFile(_new_file(vm, name, self.npages), writable=True)]

    def bind(self, rng: np.random.Generator) -> None:
        super().bind(rng)
        self._u.bind(rng)

    def next_chunk(self, n: int):
        return self._u.next_chunk(n)

    def total_refs(self) -> int | None:
        return self.count

    def __repr__(self) -> str:
        return f"FileWrite(pages={self.npages}, count={self.count}, writes={self.writes})"


class MemoryHog(Workload):
    """A memory hog that grows until stopped: writes ``rate`` new pages a tick, never freeing, and
    re-touches its older pages now and then (``retouch`` of the references); wraps at ``pages``."""

    name = "hog"
    finite = False

    def __init__(self, pages: int = 1 << 20, rate: int = 256, retouch: float = 0.1) -> None:
        super().__init__(pages)
        self.rate = check_int(rate, "rate", 1, 1 << 24)
        self.retouch = _check_fraction(retouch, "retouch")
        self._top = 0
        self._tick_due = False

    def next_chunk(self, n: int):
        if self._tick_due:
            self._tick_due = False
            return 1                                   # one tick between growth steps
        self._tick_due = True
        new = np.arange(self._top, self._top + self.rate, dtype=np.int64) % self.npages
        self._top += self.rate
        nold = int(self.rate * self.retouch)
        if nold and self._top > self.rate:
            old = self.rng.integers(0, min(self._top - self.rate, self.npages), nold, dtype=np.int64)
            new = np.concatenate([new, old])
        return new, np.ones(len(new), dtype=bool)

    def __repr__(self) -> str:
        return f"MemoryHog(pages={self.npages}, rate={self.rate}, retouch={self.retouch})"


def _new_file(vm, name: str, pages: int) -> str:
    """Create a file for process ``name`` with a name not yet taken; return the name."""
    base = f"{name}.dat"
    fname, i = base, 1
    while fname in vm.vnodes:
        i += 1
        fname = f"{name}-{i}.dat"
    vm.vfs_create_file(fname, pages)
    return fname


# --- SPEC strings: "name:param=value,param=value" -------------------------------------------------

#: name -> (class, {param: (type, default or REQUIRED, description)}, what it models)
REQUIRED = object()
WORKLOADS: dict[str, tuple[type, dict[str, tuple[type, object, str]], str]] = {
    "seq": (Sequential, {
        "pages": (int, REQUIRED, "pages swept"),
        "passes": (int, 1, "sweeps (0: forever)"),
        "writes": (float, 0.0, "fraction of references that write"),
    }, "sequential scan over pages, repeated"),
    "loop": (Loop, {
        "k": (int, REQUIRED, "pages in the loop"),
        "count": (int, 1_000_000, "references in all"),
        "writes": (float, 0.0, "fraction of references that write"),
    }, "a loop over k pages (LRU's worst case above k frames)"),
    "uniform": (UniformRandom, {
        "pages": (int, REQUIRED, "pages to choose from"),
        "count": (int, 1_000_000, "references in all"),
        "writes": (float, 0.0, "fraction of references that write"),
    }, "uniform random references"),
    "hotcold": (HotCold, {
        "pages": (int, REQUIRED, "pages in all"),
        "count": (int, 1_000_000, "references in all"),
        "hot": (float, 0.2, "fraction of the pages that are hot"),
        "p": (float, 0.8, "fraction of references that go to the hot pages"),
        "writes": (float, 0.0, "fraction of references that write"),
    }, "hot/cold: a fraction p of references to the hot fraction of pages (80/20 by default)"),
    "phases": (Phases, {
        "pages": (int, REQUIRED, "pages in all"),
        "count": (int, 1_000_000, "references in all"),
        "ws": (int, 1000, "working-set size of a phase"),
        "phase": (int, 100_000, "references per phase"),
        "writes": (float, 0.2, "fraction of references that write"),
    }, "phase-changing working sets"),
    "stream": (FileStream, {
        "pages": (int, REQUIRED, "file size in pages"),
        "passes": (int, 1, "times the file is read"),
    }, "read-once file streaming through a read-only mapping"),
    "mmapwrite": (FileWrite, {
        "pages": (int, REQUIRED, "file size in pages"),
        "count": (int, 1_000_000, "references in all"),
        "writes": (float, 0.5, "fraction of references that write"),
    }, "random writes to a file mapped shared and writeable"),
    "hog": (MemoryHog, {
        "pages": (int, 1 << 20, "largest address space it may grow to"),
        "rate": (int, 256, "new pages written per tick"),
        "retouch": (float, 0.1, "extra references to older pages, as a fraction of rate"),
    }, "a memory hog that grows until stopped (for the OOM killer)"),
    "idle": (IdleDaemon, {
        "pages": (int, REQUIRED, "pages it owns"),
        "touch": (int, 1, "pages touched per wake-up"),
        "period": (int, 1000, "ticks asleep between wake-ups"),
        "writes": (float, 0.1, "fraction of touches that write"),
    }, "a mostly idle program (for swapout and the stats scan)"),
}


def _convert(kind: type, value: str, name: str, param: str):
    try:
        if kind is int:
            if not value.strip().lstrip("-").isdigit():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
    except ValueError:
        raise ValueError(f"workload {name!r}: {param} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {value!r}") from None
    return value


def parse_workload_spec(spec: str) -> Workload:
    """Build a workload from a SPEC string such as ``hotcold:pages=20000,hot=0.2,p=0.8,writes=0.3``.

    ``trace:PATH`` (or ``trace:path=PATH,loop=1``) replays a trace file.
    ``workload_help()`` lists the names and their parameters.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a workload SPEC must be a string such as 'seq:pages=1000', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if name == "trace":
        args = dict(_split_params(rest, name)) if "=" in rest else {"path": rest.strip()}
        path = args.pop("path", "")
        loop = args.pop("loop", "0")
        if args:
            raise ValueError(f"workload 'trace': unknown parameter(s) {', '.join(args)}; valid: path, loop")
        if not path:
            raise ValueError("workload 'trace' needs a file: trace:data/sort.npz")
        from .trace import TraceWorkload

        return TraceWorkload(path, loop=_convert(int, loop, name, "loop") != 0)
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose one of: {', '.join(list(WORKLOADS) + ['trace'])} "
                         "(vmkit run --list-workloads describes them)")
    cls, params, _ = WORKLOADS[name]
    kwargs = {}
    for key, value in _split_params(rest, name):
        if key not in params:
            raise ValueError(f"workload {name!r} has no parameter {key!r}; valid: {', '.join(params)}")
        kwargs[key] = _convert(params[key][0], value, name, key)
    for key, (_, default, desc) in params.items():
        if key not in kwargs:
            if default is REQUIRED:
                raise ValueError(f"workload {name!r} needs {key}=... ({desc})")
            kwargs[key] = default
    return cls(**kwargs)


def _split_params(rest: str, name: str) -> list[tuple[str, str]]:
    out = []
    for part in rest.split(","):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"workload {name!r}: parameters are key=value, got {part!r}")
        out.append((key.strip().lower(), value.strip()))
    return out


def workload_help() -> str:
    """Every workload SPEC name with what it models and its parameters (``vmkit run --list-workloads``)."""
    lines = []
    for name, (_, params, what) in WORKLOADS.items():
        lines.append(f"{name}: {what}")
        for key, (kind, default, desc) in params.items():
            d = "required" if default is REQUIRED else f"default {default}"
            lines.append(f"    {key + '=' + kind.__name__:<16} {desc} ({d})")
    lines.append("trace: replay a memory-reference trace of a real program")
    lines.append(f"    {'path=FILE':<16} a .npz from vmkit trace capture, or text: one page per line, optional R/W")
    lines.append(f"    {'loop=int':<16} 1: start again at the end (default 0)")
    lines.append("example: hotcold:pages=20000,hot=0.2,p=0.8,writes=0.3")
    return "\n".join(lines)
