"""Memory-reference traces of real programs: capture, reduce, store, load, replay.

A trace is what a real program did to its memory, page by page.  vmkit
captures one with valgrind's *lackey* tool, which prints every instruction
fetch, load, store and modify a program makes (``--tool=lackey
--trace-mem=yes``)::

    I  0400d7d4,3          instruction fetch of 3 bytes (a read)
     L 1ffefffe38,8        load of 8 bytes (a read)
     S 1ffefffe30,8        store (a write)
     M 0421c0a8,4          modify: load and store (a write)

A second or two of a program's run makes around a hundred million
references, a log of 1-2 GB that takes valgrind a minute or two to write.
:func:`capture` never writes that log to disk: valgrind writes it into a
named pipe and the reducer reads the pipe as valgrind runs, 8 MB at a time,
in bounded memory (about 17 s of CPU time per GB, vectorised with numpy).
The reduction has two steps.

**Step 1: pages** (:func:`collapse_pages`).  Each reference becomes the
4 KiB page it touches; a reference that crosses a page boundary touches both
pages (it counts once on each).  Consecutive records of one page collapse
into one record whose write flag is the OR of the run and whose count is the
number of references in the run.  Instruction fetches alternate with stack and
heap references, so this step only halves a trace: tens of millions of
records per program, too many to ship.

**Step 2: Safely Allowed Drop** (:func:`safely_allowed_drop`), from
S. F. Kaplan, Y. Smaragdakis and P. R. Wilson, "Trace reduction for virtual
memory simulations", Proc. ACM SIGMETRICS '99 (Performance Evaluation Review
27(1)), 1999; extended as "Flexible reference trace reduction for VM
simulations", ACM TOMACS, 2003.  Cut the step-1 trace, from
the start, into segments that touch at most ``K`` distinct pages (a segment
ends just before the reference that would bring in page ``K + 1``).  Within
a segment keep, for each page, only its first reference, its first write and
its last reference; drop the rest.  Each kept record carries the count of
the records dropped just before it, so the counts still add up to every
reference the program made and time can be shown.

Why it is exact for LRU with ``m >= K`` frames: a dropped reference is
preceded, in its segment, by a reference to the same page with fewer than
``K`` other pages in between, so it is an LRU hit in both traces.  A kept
first reference sees the same set of distinct pages since its page's previous
reference (every page touched in between keeps its first or last reference
of each segment), hence the same LRU stack distance.  A page touched in a
segment is never the LRU victim later in that segment (fewer than ``m``
pages are newer), so victims, and whether they are dirty (the first write of
each segment is kept), agree too.  LRU fault counts and write-back counts
are therefore identical for every memory of ``m >= K`` frames, and CLOCK-like
policies (vmkit's page queues among them) see nearly the same trace when
memory is well above ``K``.  Below ``K`` frames the reduced trace is not
faithful.  With ``K = 64``: simulate with at least ``2 K = 128`` frames.

Files (:func:`save_trace`, :func:`load_trace`) are compressed ``.npz``
archives: dense page ids ``0..n-1`` into a sorted table of the real virtual
page numbers (so code, heap, mapped libraries and stack stay recognisable),
packed write flags, counts, and the capture's provenance as JSON metadata.
Plain text traces load too: one page number per line, optionally followed by
``R`` or ``W``.  :class:`TraceWorkload` replays a trace as a vmkit process.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import queue
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import check_int
from .workload import Workload

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
DEFAULT_K = 64
FORMAT_NAME = "vmkit-trace"
FORMAT_VERSION = 1
#: The fixed environment of a capture (``env -i`` clears everything else).
CAPTURE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONHASHSEED": "0"}
CHUNK_BYTES = 8 << 20           # lackey log processed this many bytes at a time
_MAX_PAGE = 1 << 62
_PIPE_SIZE = 1 << 20            # the named pipe's buffer (F_SETPIPE_SZ)

__all__ = [
    "CAPTURE_ENV", "DEFAULT_K", "FORMAT_NAME", "FORMAT_VERSION", "LackeyReducer", "Trace", "TraceWorkload",
    "add_trace_commands", "capture", "cmd_trace_capture", "cmd_trace_info", "collapse_pages", "load_trace",
    "parse_lackey", "reduce_lackey", "safely_allowed_drop", "save_trace", "stack_distances", "trace_info",
]


# -- the trace ----------------------------------------------------------------------------------------

@dataclass
class Trace:
    """A page-reference trace.

    ``pages[i]`` is the dense page id (``0..len(page_table)-1``) of record
    ``i``; ``page_table[pages[i]]`` is its real virtual page number (address
    >> 12).  ``writes[i]`` says whether the record writes; ``counts[i]``
    (>= 1) is how many references the record stands for.  ``meta`` holds the
    provenance (program, command, date, ``k``, counts before and after each
    reduction step, ...).
    """

    pages: np.ndarray
    writes: np.ndarray
    counts: np.ndarray
    page_table: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pages = np.asarray(self.pages, dtype=np.int64).reshape(-1)
        self.writes = np.asarray(self.writes, dtype=bool).reshape(-1)
        self.counts = np.asarray(self.counts, dtype=np.int64).reshape(-1)
        self.page_table = np.asarray(self.page_table, dtype=np.int64).reshape(-1)
        self.meta = dict(self.meta)
        n = len(self.pages)
        if len(self.writes) != n or len(self.counts) != n:
            raise ValueError(f"trace arrays differ in length: {n} pages, {len(self.writes)} writes, "
                             f"{len(self.counts)} counts")
        if n and (self.pages.min() < 0 or self.pages.max() >= len(self.page_table)):
            raise ValueError(f"page ids must lie in 0..{len(self.page_table) - 1} (the page table)")
        if n and self.counts.min() < 1:
            raise ValueError("every record must stand for at least one reference (counts >= 1)")

    @classmethod
    def from_pages(cls, pages, writes=None, counts=None, meta: dict | None = None) -> Trace:
        """A trace from real page numbers: the page table is their sorted set, the ids index it."""
        real = np.asarray(pages, dtype=np.int64).reshape(-1)
        if real.size and real.min() < 0:
            raise ValueError(f"page numbers must be >= 0, got {int(real.min())}")
        table, dense = np.unique(real, return_inverse=True)
        n = len(real)
        w = np.zeros(n, bool) if writes is None else writes
        c = np.ones(n, np.int64) if counts is None else counts
        return cls(dense.reshape(-1), w, c, table, dict(meta or {}))

    @property
    def n(self) -> int:
        """Number of records."""
        return len(self.pages)

    @property
    def distinct_pages(self) -> int:
        """Number of distinct pages the trace touches."""
        return int(np.unique(self.pages).size) if self.n else 0

    @property
    def write_fraction(self) -> float:
        """Fraction of records that write."""
        return float(self.writes.mean()) if self.n else 0.0

    @property
    def raw_references(self) -> int:
        """References the program made (lackey lines), or the sum of the counts if not recorded."""
        v = self.meta.get("raw_references")
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else int(self.counts.sum())

    @property
    def real_pages(self) -> np.ndarray:
        """Real virtual page number of every record."""
        return self.page_table[self.pages]

    def __repr__(self) -> str:
        prog = self.meta.get("program", "?")
        return (f"Trace(program={prog!r}, records={self.n}, distinct_pages={self.distinct_pages}, "
                f"k={self.meta.get('k')})")


# -- step 0: lackey lines -> page touches -------------------------------------------------------------

_I, _L, _S, _M, _SP, _COMMA, _NL, _ZERO = (ord(c) for c in "ILSM ,\n0")
_LINE_RE = re.compile(rb"(?:I | [LSM]) ([0-9a-fA-F]{1,16}),([0-9]{1,9})")


def _hex_value(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of rows of 8 hex digits (``uint8`` ASCII, shape (n, 8)) and whether each row is valid."""
    v = rows - np.uint8(_ZERO)                       # '0'..'9' -> 0..9, 'a'..'f' -> 49..54 (uint8 wraps)
    hexa = (v >= 49) & (v <= 54)
    ok = ((v <= 9) | hexa).all(axis=1)
    d = (rows & np.uint8(15)) + np.uint8(9) * (rows >> np.uint8(6))   # '0'-'9' -> 0-9, 'a'-'f' -> 10-15
    packed = (d[:, 0::2] << np.uint8(4)) | d[:, 1::2]                  # (n, 4) bytes, big-endian
    return np.ascontiguousarray(packed).view(">u4").reshape(-1).astype(np.int64), ok


def _parse_line_slow(line: bytes):
    """One reference line the vectorised path does not cover: (write, addr, size) or None."""
    m = _LINE_RE.fullmatch(line)
    if m is None:
        return None
    return line[1:2] in (b"S", b"M"), int(m.group(1), 16), int(m.group(2))


def parse_lackey(buf, page_shift: int = PAGE_SHIFT) -> tuple[np.ndarray, np.ndarray, dict]:
    """Page touches of the complete lines of a lackey log in ``buf`` (bytes; the last line may lack its newline).

    Returns ``(pages, writes, stats)``: one record per page a reference
    touches (two for a reference that crosses a page boundary), in order, and
    ``stats`` with ``lines``, ``references``, ``crossing_references`` and
    ``malformed_lines`` (lines that look like references but do not parse;
    they are dropped).  Other lines (valgrind's ``==pid==`` lines) are ignored.
    Vectorised with numpy: about 10 s per GB of log.
    """
    b = np.frombuffer(buf, np.uint8)
    if b.size and b[-1] != _NL:
        b = np.concatenate([b, np.array([_NL], np.uint8)])
    nl = np.flatnonzero(b == _NL)
    stats = {"lines": int(nl.size), "references": 0, "crossing_references": 0, "malformed_lines": 0}
    if nl.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool), stats
    s = np.empty(nl.size, np.int64)
    s[0] = 0
    s[1:] = nl[:-1] + 1
    e = nl
    # Reference lines: "I  addr,size" or " X addr,size" with X in L, S, M; at least "I  0,1".
    long_enough = e - s >= 6
    if not long_enough.all():
        s, e = s[long_enough], e[long_enough]
    c0, c1, c2 = b[s], b[s + 1], b[s + 2]
    data = (c0 == _SP) & ((c1 == _L) | (c1 == _S) | (c1 == _M))
    is_ref = (c2 == _SP) & (((c0 == _I) & (c1 == _SP)) | data)
    if not is_ref.all():
        s, e, c1 = s[is_ref], e[is_ref], c1[is_ref]
    n = s.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool), stats
    write = (c1 == _S) | (c1 == _M)
    # The size: 1 to 4 decimal digits before the newline, after the comma.
    u1, u2, u3, u4, u5 = (b[e - i] for i in (1, 2, 3, 4, 5))
    declen = np.where(u2 == _COMMA, 1, np.where(u3 == _COMMA, 2, np.where(u4 == _COMMA, 3,
                      np.where(u5 == _COMMA, 4, 0))))
    dig = [u.astype(np.int64) - _ZERO for u in (u1, u2, u3, u4)]
    size = dig[0] + np.where(declen >= 2, 10 * dig[1], 0) + np.where(declen >= 3, 100 * dig[2], 0) \
        + np.where(declen >= 4, 1000 * dig[3], 0)
    dec_ok = (u1 >= _ZERO) & (u1 <= _ZERO + 9)
    for i in range(1, 4):
        dec_ok &= (declen <= i) | ((dig[i] >= 0) & (dig[i] <= 9))
    comma = e - declen - 1
    hexlen = comma - s - 3
    # The address: lackey prints at least 8 hex digits ("%08lx"); the last 8 in one go, the rest if any.
    fast = dec_ok & (declen > 0) & (hexlen >= 8) & (hexlen <= 16)
    win = np.lib.stride_tricks.sliding_window_view(b, 8)
    cm = np.where(fast, comma, 8)
    low, ok = _hex_value(win[cm - 8])
    addr = low
    long_ = np.flatnonzero(fast & (hexlen > 8))
    if long_.size and cm[long_[0]] < 16:             # too close to the start of the buffer: the slow way
        fast[long_[cm[long_] < 16]] = False
        long_ = long_[cm[long_] >= 16]
    if long_.size:
        rows = win[cm[long_] - 16].copy()            # the 8 characters before the last 8 digits
        pad = 16 - hexlen[long_]                     # leading characters that are not digits
        rows[np.arange(8)[None, :] < pad[:, None]] = _ZERO
        high, ok_h = _hex_value(rows)
        addr = addr.copy()
        addr[long_] |= high << 32
        ok[long_] &= ok_h
    fast &= ok
    if not fast.all():                               # rare: short or odd lines, parsed one by one
        size = size.copy()
        bad = []
        for i in np.flatnonzero(~fast).tolist():
            r = _parse_line_slow(bytes(b[s[i]:e[i]]))
            if r is None:
                bad.append(i)
            else:
                write[i], addr[i], size[i] = r
        if bad:
            keep = np.ones(n, bool)
            keep[bad] = False
            addr, size, write = addr[keep], size[keep], write[keep]
            stats["malformed_lines"] = len(bad)
    stats["references"] = int(addr.size)
    np.maximum(size, 1, out=size)
    first = addr >> page_shift
    last = (addr + size - 1) >> page_shift
    span = last - first
    cross = int(np.count_nonzero(span))
    stats["crossing_references"] = cross
    if cross == 0:
        return first, write, stats
    touches = span + 1
    offs = np.cumsum(touches) - touches
    total = int(touches.sum())
    pages = np.repeat(first, touches) + (np.arange(total, dtype=np.int64) - np.repeat(offs, touches))
    return pages, np.repeat(write, touches), stats


# -- step 1: collapse runs of one page -----------------------------------------------------------------

def collapse_pages(pages, writes, counts=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 1: merge consecutive records of one page into one (write = OR of the run, count = sum).

    ``counts`` defaults to one reference per record.  Returns ``(pages,
    writes, counts)`` as int64, bool, int64 arrays.  To collapse a stream
    chunk by chunk use :class:`PageCollapser`.
    """
    pages = np.asarray(pages, dtype=np.int64).reshape(-1)
    writes = np.asarray(writes, dtype=bool).reshape(-1)
    n = pages.size
    if writes.size != n:
        raise ValueError(f"pages and writes differ in length: {n} and {writes.size}")
    if counts is not None:
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if counts.size != n:
            raise ValueError(f"pages and counts differ in length: {n} and {counts.size}")
    if n == 0:
        return pages.copy(), writes.copy(), np.zeros(0, np.int64)
    start = np.empty(n, bool)
    start[0] = True
    np.not_equal(pages[1:], pages[:-1], out=start[1:])
    idx = np.flatnonzero(start)
    w = np.logical_or.reduceat(writes, idx)
    if counts is None:
        c = np.diff(np.append(idx, n))
    else:
        c = np.add.reduceat(counts, idx)
    return pages[idx], w, c.astype(np.int64)


class PageCollapser:
    """Step 1 on a stream: :meth:`feed` chunks, collect what it returns, then :meth:`finish`."""

    def __init__(self) -> None:
        self._pending: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.records = 0

    def feed(self, pages, writes, counts=None):
        p, w, c = collapse_pages(pages, writes, counts)
        if self._pending is not None and p.size:
            pp, pw, pc = self._pending
            if pp[0] == p[0]:
                w[0] |= pw[0]
                c[0] += pc[0]
                self._pending = None
        out = self._pending
        if p.size:
            self._pending = (p[-1:], w[-1:], c[-1:])
            p, w, c = p[:-1], w[:-1], c[:-1]
        else:
            out = None
        if out is not None:
            p, w, c = np.concatenate([out[0], p]), np.concatenate([out[1], w]), np.concatenate([out[2], c])
        self.records += p.size
        return p, w, c

    def finish(self):
        out = self._pending or (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64))
        self._pending = None
        self.records += out[0].size
        return out


# -- step 2: Safely Allowed Drop -------------------------------------------------------------------------

def _prev_next(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous (-1 if none) and next (len if none) record of the same page."""
    n = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    same = ps[1:] == ps[:-1]
    a, b = order[:-1][same], order[1:][same]
    prev = np.full(n, -1, np.int64)
    nxt = np.full(n, n, np.int64)
    prev[b] = a
    nxt[a] = b
    return prev, nxt


class SafelyAllowedDrop:
    """Step 2 on a stream, in bounded memory: :meth:`feed` chunks of step-1 records, then :meth:`finish`.

    The open segment is carried from chunk to chunk reduced to its
    candidates (each page's first reference, first write and latest
    reference so far: at most ``3 K`` records), so memory does not grow with
    the length of a segment.  Kept records come out in time order; each
    carries the counts of the records dropped since the previous kept one.
    """

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.k = check_int(k, "k", 1, 1 << 20)
        z = np.zeros(0, np.int64)
        self._cp, self._cw, self._cc = z, np.zeros(0, bool), z     # carried candidates: page, write, cum count
        self._cum = 0               # references fed so far
        self._emitted_cum = 0       # cum count at the last kept record emitted
        self.segments = 0           # closed segments
        self.records_in = 0
        self.records_out = 0
        self._guess = 4 * self.k

    def _boundaries(self, prev: np.ndarray) -> list[int]:
        """Greedy segment starts after 0: each segment touches at most k distinct pages."""
        k, n = self.k, prev.size
        out: list[int] = []
        s = 0
        while True:
            w = self._guess
            while True:
                hi = min(n, s + w)
                cand = np.flatnonzero(prev[s:hi] < s)
                if cand.size > k:
                    b = s + int(cand[k])
                    break
                if hi == n:
                    return out
                w *= 2
            out.append(b)
            self._guess = max(4 * k, 2 * (b - s))
            s = b

    def feed(self, pages, writes, counts):
        pages = np.asarray(pages, dtype=np.int64)
        writes = np.asarray(writes, dtype=bool)
        counts = np.asarray(counts, dtype=np.int64)
        self.records_in += pages.size
        cum = self._cum + np.cumsum(counts)
        if cum.size:
            self._cum = int(cum[-1])
        p = np.concatenate([self._cp, pages])
        w = np.concatenate([self._cw, writes])
        c = np.concatenate([self._cc, cum])
        n = p.size
        if n == 0:
            return self._emit(p, w, c)
        prev, nxt = _prev_next(p)
        wi = np.flatnonzero(w)
        prevw = np.full(n, -1, np.int64)
        if wi.size:
            pw_sub, _ = _prev_next(p[wi])
            prevw[wi] = np.where(pw_sub >= 0, wi[np.maximum(pw_sub, 0)], -1)
        bounds = self._boundaries(prev)
        self.segments += len(bounds)
        edges = np.array([0, *bounds, n], np.int64)
        lengths = np.diff(edges)
        seg_start = np.repeat(edges[:-1], lengths)
        seg_end = np.repeat(edges[1:], lengths)
        keep = (prev < seg_start) | (nxt >= seg_end) | (w & (prevw < seg_start))
        open_start = int(edges[-2])
        ki = np.flatnonzero(keep)
        split = int(np.searchsorted(ki, open_start))
        done, carry = ki[:split], ki[split:]
        self._cp, self._cw, self._cc = p[carry], w[carry], c[carry]
        return self._emit(p[done], w[done], c[done])

    def _emit(self, p, w, c):
        if c.size == 0:
            return p, w, np.zeros(0, np.int64)
        counts = np.diff(c, prepend=self._emitted_cum)
        self._emitted_cum = int(c[-1])
        self.records_out += p.size
        return p, w, counts

    def finish(self):
        p, w, c = self._cp, self._cw, self._cc
        z = np.zeros(0, np.int64)
        self._cp, self._cw, self._cc = z, np.zeros(0, bool), z
        if p.size:
            self.segments += 1
        return self._emit(p, w, c)


def safely_allowed_drop(pages, writes, counts=None, k: int = DEFAULT_K):
    """Step 2: Safely Allowed Drop with segments of at most ``k`` distinct pages.

    Returns ``(pages, writes, counts)`` of the kept records in time order;
    the counts add up to the input's.  Exact for LRU fault and write-back
    counts at ``k`` frames or more (see the module docstring).
    """
    pages = np.asarray(pages, dtype=np.int64).reshape(-1)
    writes = np.asarray(writes, dtype=bool).reshape(-1)
    counts = np.ones(pages.size, np.int64) if counts is None else np.asarray(counts, dtype=np.int64).reshape(-1)
    if not pages.size == writes.size == counts.size:
        raise ValueError(f"pages, writes and counts differ in length: {pages.size}, {writes.size}, {counts.size}")
    sad = SafelyAllowedDrop(k)
    a = sad.feed(pages, writes, counts)
    b = sad.finish()
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]])


# -- the whole reducer ---------------------------------------------------------------------------------

class LackeyReducer:
    """Reduce a lackey log streamed in pieces of any size: :meth:`feed` bytes, then :meth:`finish`.

    Memory is bounded by the chunk size plus the reduced trace.
    """

    def __init__(self, k: int = DEFAULT_K, page_shift: int = PAGE_SHIFT, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.k = check_int(k, "k", 1, 1 << 20)
        self.page_shift = page_shift
        self.chunk_bytes = chunk_bytes
        self._buf: list[bytes] = []
        self._buffered = 0
        self._collapse = PageCollapser()
        self._sad = SafelyAllowedDrop(self.k)
        self._out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.stats = {"log_bytes": 0, "lines": 0, "raw_references": 0, "crossing_references": 0,
                      "malformed_lines": 0}
        self.reduce_seconds = 0.0

    def feed(self, data) -> None:
        """Add bytes of the log."""
        if not data:
            return
        data = bytes(data)
        self.stats["log_bytes"] += len(data)
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered >= self.chunk_bytes:
            joined = b"".join(self._buf)
            cut = joined.rfind(b"\n") + 1
            self._buf = [joined[cut:]] if cut < len(joined) else []
            self._buffered = len(joined) - cut
            if cut:
                self._process(memoryview(joined)[:cut])

    def _process(self, lines) -> None:
        t0 = time.perf_counter()
        pages, writes, st = parse_lackey(lines, self.page_shift)
        self.stats["lines"] += st["lines"]
        self.stats["raw_references"] += st["references"]
        self.stats["crossing_references"] += st["crossing_references"]
        self.stats["malformed_lines"] += st["malformed_lines"]
        self._step2(*self._collapse.feed(pages, writes))
        self.reduce_seconds += time.perf_counter() - t0

    def _step2(self, p, w, c) -> None:
        if p.size:
            out = self._sad.feed(p, w, c)
            if out[0].size:
                self._out.append(out)

    def finish(self, meta: dict | None = None) -> Trace:
        """Reduce what is left and return the trace (``meta`` entries are added to its metadata)."""
        rest = b"".join(self._buf)
        self._buf, self._buffered = [], 0
        if rest:
            self._process(rest)
        t0 = time.perf_counter()
        self._step2(*self._collapse.finish())
        out = self._sad.finish()
        if out[0].size:
            self._out.append(out)
        self.reduce_seconds += time.perf_counter() - t0
        if self._out:
            real = np.concatenate([o[0] for o in self._out])
            writes = np.concatenate([o[1] for o in self._out])
            counts = np.concatenate([o[2] for o in self._out])
        else:
            real, writes, counts = np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64)
        self._out = []
        m = {"page_size": 1 << self.page_shift, "k": self.k, **self.stats,
             "page_touches": int(counts.sum()), "step1_records": self._collapse.records,
             "step2_records": int(real.size), "segments": self._sad.segments,
             "reduce_seconds": round(self.reduce_seconds, 2)}
        m.update(meta or {})
        return Trace.from_pages(real, writes, counts, m)


def reduce_lackey(source, k: int = DEFAULT_K, meta: dict | None = None) -> Trace:
    """Reduce a lackey log: a path, a binary file object, or bytes."""
    red = LackeyReducer(k)
    if isinstance(source, (bytes, bytearray, memoryview)):
        red.feed(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                red.feed(chunk)
    else:
        while chunk := source.read(CHUNK_BYTES):
            red.feed(chunk)
    return red.finish(meta)


# -- capture ---------------------------------------------------------------------------------------------

def _default_signals() -> None:
    """Runs in the child between fork and exec: default signal handling, no blocked signals.

    (A program started from a background job would otherwise inherit SIGINT
    ignored, and from Python SIGPIPE ignored.)  On Linux the child is also
    killed if the capturing process dies, so valgrind never runs on alone.
    """
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def _resolve_program(name: str, workdir: str) -> str:
    if "/" in name:
        path = name if os.path.isabs(name) else os.path.join(workdir, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ValueError(f"program {name!r} is not an executable file")
        return name
    found = shutil.which(name, path=CAPTURE_ENV["PATH"])
    if found is None:
        raise ValueError(f"program {name!r} not found: the capture runs with PATH={CAPTURE_ENV['PATH']}; "
                         f"give its full path")
    return found


def _package_of(path: str) -> str | None:
    """The Debian package (and version) that installed ``path``, if dpkg knows it."""
    if shutil.which("dpkg-query") is None:
        return None
    for candidate in dict.fromkeys((os.path.realpath(path), path)):
        try:
            r = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, timeout=30)
            if r.returncode != 0 or ":" not in r.stdout:
                continue
            pkg = r.stdout.splitlines()[0].split(": ", 1)[0].split(",")[0].strip()
            v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True,
                               timeout=30)
            return f"{pkg} {v.stdout.strip()}".strip()
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def _valgrind_version(valgrind: str) -> str:
    try:
        return subprocess.run([valgrind, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _pipe_reader(fd: int, proc: subprocess.Popen, q: queue.Queue, stop: threading.Event) -> None:
    """Read the FIFO until valgrind closes it; put ~CHUNK_BYTES pieces on ``q``, then None."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        seen = False
        parts: list[bytes] = []
        size = 0
        while not stop.is_set():
            if not poller.poll(200):
                if not seen and proc.poll() is not None:
                    break                      # valgrind ended without ever opening its log
                continue
            try:
                data = os.read(fd, _PIPE_SIZE)
            except BlockingIOError:
                continue
            if not data:
                if seen or proc.poll() is not None:
                    break                      # the writer closed the pipe: end of the log
                time.sleep(0.05)
                continue
            seen = True
            parts.append(data)
            size += len(data)
            if len(data) < _PIPE_SIZE // 2:
                time.sleep(0.02)               # let the pipe fill: a few big reads, not one per log line
            if size >= CHUNK_BYTES:
                q.put(b"".join(parts))
                parts, size = [], 0
        if parts:
            q.put(b"".join(parts))
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        q.put(exc)
        return
    q.put(None)


def capture(argv, k: int = DEFAULT_K, out=None, workdir=None, *, meta: dict | None = None,
            valgrind: str | None = None, progress=None) -> Trace:
    """Run ``argv`` under valgrind's lackey and reduce its memory references to a trace.

    The program runs in ``workdir`` (default: the current directory) with
    ``env -i`` and the fixed environment :data:`CAPTURE_ENV`, default signal
    handling, stdin and stdout on ``/dev/null``; a re-capture on the same CPU
    and system gives the same trace.  Lackey's log goes into a named pipe
    that this process reduces as it arrives (steps 1 and 2, ``k`` pages per
    segment), so it never touches the disk.  With ``out`` the trace is saved
    there too.  ``meta`` entries (e.g. ``input``) are added to the metadata.
    ``progress(stats)`` is called about every 8 MB of log.
    """
    k = check_int(k, "k", 1, 1 << 20)
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("give the program to capture and its arguments, e.g. -- sort -n numbers.txt")
    workdir = os.path.abspath(workdir or os.getcwd())
    if not os.path.isdir(workdir):
        raise ValueError(f"working directory {workdir!r} does not exist")
    vg = valgrind or shutil.which("valgrind")
    if vg is None:
        raise ValueError("valgrind not found: install it (Debian/Ubuntu: apt-get install valgrind)")
    program = _resolve_program(argv[0], workdir)
    env_cmd = shutil.which("env", path=CAPTURE_ENV["PATH"]) or "/usr/bin/env"
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vmkit-trace-") as tmp:
        fifo = os.path.join(tmp, "lackey.fifo")
        os.mkfifo(fifo, 0o600)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        with contextlib.suppress(OSError, AttributeError):
            import fcntl
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
        cmd = [env_cmd, "-i", *(f"{k_}={v}" for k_, v in CAPTURE_ENV.items()), vg, "--tool=lackey",
               "--trace-mem=yes", f"--log-file={fifo}", *argv]
        errpath = os.path.join(tmp, "stderr")
        red = LackeyReducer(k)
        q: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()
        with open(errpath, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, preexec_fn=_default_signals)   # noqa: PLW1509
        reader = threading.Thread(target=_pipe_reader, args=(fd, proc, q, stop), daemon=True)
        reader.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                red.feed(item)
                if progress is not None:
                    progress(dict(red.stats, seconds=time.monotonic() - t0))
            status = proc.wait()
        except BaseException:
            stop.set()
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            raise
        finally:
            stop.set()
            deadline = time.monotonic() + 5
            while reader.is_alive() and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):      # unblock a reader waiting on a full queue
                    q.get(timeout=0.05)
            os.close(fd)
        seconds = time.monotonic() - t0
        with open(errpath, "rb") as f:
            errtext = f.read()[-2000:].decode("utf-8", "replace").strip()
    cpu = _cpu_model()
    m = {
        "program": program,
        "program_sha256": _sha256(os.path.realpath(os.path.join(workdir, program))),
        "package": _package_of(os.path.join(workdir, program)),
        "argv": argv,
        "command": shlex.join(["env", "-i", *(f"{k_}={v}" for k_, v in CAPTURE_ENV.items()), "valgrind",
                               "--tool=lackey", "--trace-mem=yes", "--log-file=FIFO", *argv]),
        "environment": dict(CAPTURE_ENV),
        "date": started.replace(microsecond=0).isoformat(),
        "capture_seconds": round(seconds, 1),
        "exit_status": status,
        "valgrind": _valgrind_version(vg),
        "cpu": cpu,
        "kernel": platform.release(),
        "libc": " ".join(platform.libc_ver()),
    }
    m.update(meta or {})
    trace = red.finish(m)
    if trace.meta["raw_references"] == 0:
        detail = f": {errtext}" if errtext else ""
        raise ValueError(f"valgrind produced no memory references for {shlex.join(argv)} "
                         f"(exit status {status}){detail}")
    if errtext:
        trace.meta["stderr_tail"] = errtext[-500:]
    if out is not None:
        save_trace(trace, out)
    return trace


# -- files -------------------------------------------------------------------------------------------------

def _smallest_uint(maxval: int):
    for dt in (np.uint8, np.uint16, np.uint32):
        if maxval <= np.iinfo(dt).max:
            return dt
    return np.uint64


def _json_safe(meta: dict) -> str:
    return json.dumps(meta, sort_keys=True, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def save_trace(trace: Trace, path) -> Path:
    """Write ``trace``: a compressed ``.npz`` (any name not ending in ``.txt``) or a text file (``.txt``).

    Text keeps real page numbers and write flags only (one ``PAGE R|W`` per
    line); the counts and metadata go in ``#`` comment lines.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".txt":
        real = trace.real_pages.tolist()
        rw = np.where(trace.writes, "W", "R").tolist()
        with open(tmp, "w") as f:
            f.write(f"# vmkit page trace: one page number per line, R or W; {trace.n} records\n")
            prog = trace.meta.get("program")
            if prog:
                f.write(f"# program: {prog}\n")
            f.write("".join(f"{p} {w}\n" for p, w in zip(real, rw, strict=True)))
    else:
        n = trace.n
        arrays = {
            "format": np.array(FORMAT_NAME),
            "version": np.array(FORMAT_VERSION, np.int64),
            "pages": trace.pages.astype(_smallest_uint(max(len(trace.page_table) - 1, 0))),
            "writes": np.packbits(trace.writes),
            "counts": trace.counts.astype(_smallest_uint(int(trace.counts.max()) if n else 0)),
            "page_table": trace.page_table.astype(np.int64),
            "meta": np.array(_json_safe(trace.meta)),
        }
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return path


_REQUIRED = ("format", "version", "pages", "writes", "counts", "page_table", "meta")


def _load_npz(path: Path) -> Trace:
    name = str(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ValueError(f"{name}: truncated or corrupt .npz file ({exc})") from None
    with npz:
        keys = set(npz.files)
        if "format" not in keys:
            raise ValueError(f"{name}: not a vmkit trace (no 'format' entry; it holds {sorted(keys)})")
        arrays: dict[str, np.ndarray] = {}
        for key in _REQUIRED:
            if key not in keys:
                raise ValueError(f"{name}: missing array {key!r} (a vmkit trace holds {', '.join(_REQUIRED)})")
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise ValueError(f"{name}: wrong dtype for {key!r}: object arrays are not allowed") from None
                raise ValueError(f"{name}: truncated or corrupt .npz file (reading {key!r}: {exc})") from None
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error, KeyError) as exc:
                raise ValueError(f"{name}: truncated or corrupt .npz file (reading {key!r}: {exc})") from None
    fmt, ver = arrays["format"], arrays["version"]
    if fmt.dtype.kind != "U" or fmt.shape != () or str(fmt[()]) != FORMAT_NAME:
        raise ValueError(f"{name}: not a vmkit trace (format is {fmt!r}, expected {FORMAT_NAME!r})")
    if ver.dtype.kind not in "iu" or ver.shape != () or int(ver) != FORMAT_VERSION:
        raise ValueError(f"{name}: unsupported trace format version {ver!r}; this vmkit reads version "
                         f"{FORMAT_VERSION}")
    for key in ("pages", "counts", "page_table"):
        a = arrays[key]
        if a.dtype.kind not in "iu":
            raise ValueError(f"{name}: wrong dtype for {key!r}: {a.dtype} (expected an integer type)")
        if a.ndim != 1:
            raise ValueError(f"{name}: {key!r} must be one-dimensional, got shape {a.shape}")
    pages, counts, table = arrays["pages"], arrays["counts"], arrays["page_table"]
    n = pages.size
    if n and pages.min() < 0:
        i = int(np.argmax(pages < 0))
        raise ValueError(f"{name}: negative page id {int(pages[i])} at record {i}")
    if table.size and table.min() < 0:
        raise ValueError(f"{name}: negative page number {int(table.min())} in the page table")
    if table.size > 1 and np.any(np.diff(table.astype(np.int64)) <= 0):
        raise ValueError(f"{name}: the page table must be strictly increasing")
    if n and pages.max() >= table.size:
        i = int(np.argmax(pages >= table.size))
        raise ValueError(f"{name}: page id {int(pages[i])} at record {i} is out of range: the page table has "
                         f"{table.size} entries")
    w = arrays["writes"]
    if w.dtype == np.uint8 and w.ndim == 1 and w.size == (n + 7) // 8:
        writes = np.unpackbits(w, count=n).astype(bool)
    elif w.dtype == np.bool_ and w.ndim == 1 and w.size == n:
        writes = w
    elif w.dtype in (np.uint8, np.bool_):
        raise ValueError(f"{name}: length mismatch: {n} pages but {w.size} write flags "
                         f"(expected {(n + 7) // 8} packed bytes)")
    else:
        raise ValueError(f"{name}: wrong dtype for 'writes': {w.dtype} (expected packed uint8 bits or bool)")
    if counts.size != n:
        raise ValueError(f"{name}: length mismatch: {n} pages but {counts.size} counts")
    if n and counts.min() < 1:
        i = int(np.argmax(counts < 1))
        raise ValueError(f"{name}: counts must be >= 1; record {i} has {int(counts[i])}")
    mt = arrays["meta"]
    try:
        meta = json.loads(str(mt[()])) if mt.dtype.kind == "U" and mt.shape == () else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"{name}: 'meta' must be a JSON object stored as a string")
    if n == 0:
        raise ValueError(f"{name}: the trace holds no references")
    return Trace(pages.astype(np.int64), writes, counts.astype(np.int64), table.astype(np.int64), meta)


def _load_text(path: Path) -> Trace:
    name = str(path)
    pages: list[int] = []
    writes: list[bool] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{name}:{lineno}: not a text trace (binary data; a .npz trace is a zip archive "
                         f"starting with 'PK')") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        ok = len(body) <= 2
        if ok:
            try:
                tok = body[0]
                page = int(tok, 16) if tok[:2].lower() == "0x" else int(tok, 10)
            except ValueError:
                ok = False
        if ok and not 0 <= page < _MAX_PAGE:
            what = "negative page" if page < 0 else "page number too large:"
            raise ValueError(f"{name}:{lineno}: {what} {page} in line {line.strip()!r}")
        if ok and len(body) == 2 and body[1] not in ("R", "W", "r", "w"):
            ok = False
        if not ok:
            raise ValueError(f"{name}:{lineno}: bad line {line.strip()[:80]!r}: expected a page number, "
                             f"optionally followed by R or W")
        pages.append(page)
        writes.append(len(body) == 2 and body[1] in ("W", "w"))
    if not pages:
        raise ValueError(f"{name}: the trace holds no references (one page number per line, "
                         f"optionally followed by R or W)")
    return Trace.from_pages(np.array(pages, np.int64), np.array(writes, bool), None,
                            {"source": "text", "file": os.path.basename(name), "raw_references": len(pages)})


def load_trace(path) -> Trace:
    """Load and validate a trace: a vmkit ``.npz`` or a text file (one page number per line, then R or W).

    Any problem (not a trace, wrong format version, missing array, wrong
    dtype, negative or out-of-range page, length mismatch, truncated file,
    bad text line) raises ``ValueError`` naming the file and the problem.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a trace file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    if head.startswith(b"PK"):
        return _load_npz(path)
    if path.suffix == ".npz":
        raise ValueError(f"{path}: not a vmkit trace: a .npz file is a zip archive, this one does not start "
                         f"with 'PK' (truncated or corrupt?)")
    return _load_text(path)


# -- analysis ----------------------------------------------------------------------------------------------

def _count_less_prefix(values: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each query i: #{j < t[i] : values[j] < x[i]}  (values, x >= 0), with a wavelet matrix."""
    res = np.zeros(t.size, np.int64)
    if t.size == 0 or values.size == 0:
        return res
    nbits = max(int(values.max()), int(x.max()), 1).bit_length()
    cur = values.astype(np.int64)
    lo = np.zeros(t.size, np.int64)
    hi = t.astype(np.int64)
    for lvl in range(nbits - 1, -1, -1):
        bit = (cur >> lvl) & 1
        rank0 = np.zeros(cur.size + 1, np.int64)
        np.cumsum(bit == 0, out=rank0[1:])
        z = rank0[-1]
        xb = ((x >> lvl) & 1).astype(bool)
        r0lo, r0hi = rank0[lo], rank0[hi]
        res += np.where(xb, r0hi - r0lo, 0)
        lo = np.where(xb, z + (lo - r0lo), r0lo)
        hi = np.where(xb, z + (hi - r0hi), r0hi)
        cur = np.concatenate([cur[bit == 0], cur[bit == 1]])
    return res


def stack_distances(pages) -> np.ndarray:
    """LRU stack distance of every reference; -1 for the first reference to a page.

    The distance is the number of distinct other pages referenced since the
    previous reference to the same page: LRU with ``m`` frames hits exactly
    the references with ``0 <= distance < m``.  O(n log n), vectorised.
    """
    p = np.asarray(pages, dtype=np.int64).reshape(-1)
    prev, _ = _prev_next(p)
    d = np.full(p.size, -1, np.int64)
    q = np.flatnonzero(prev >= 0)
    a = prev[q]
    # distinct pages in (a, t) = #{j in (a, t): prev[j] < a} = #{j < t: prev[j] < a} - (a + 1)
    d[q] = _count_less_prefix(prev + 1, q, a + 1) - (a + 1)
    return d


_FRAMES = (64, 128, 256, 1024)


def _regions(table: np.ndarray, gap: int = 256) -> list[dict]:
    """Runs of nearby pages (gaps under ``gap`` pages): code, heap, libraries, stack."""
    if table.size == 0:
        return []
    cut = np.flatnonzero(np.diff(table) > gap) + 1
    out = []
    for part in np.split(table, cut):
        out.append({"first_page": hex(int(part[0])), "last_page": hex(int(part[-1])),
                    "start": hex(int(part[0]) << PAGE_SHIFT), "end": hex((int(part[-1]) + 1) << PAGE_SHIFT),
                    "pages": int(part.size)})
    return out


def trace_info(trace: Trace) -> dict:
    """Counts, distinct pages, write fraction, address regions and an LRU reuse-distance summary."""
    n = trace.n
    d = stack_distances(trace.pages)
    cold = int(np.count_nonzero(d < 0))
    finite = d[d >= 0]
    pct = {}
    for q in (50, 90, 99):
        pct[f"p{q}"] = int(np.percentile(finite, q, method="lower")) if finite.size else None
    pct["max"] = int(finite.max()) if finite.size else None
    below = {str(f): (float(np.count_nonzero(finite < f)) / n if n else 0.0) for f in _FRAMES}
    faults = {str(f): cold + int(np.count_nonzero(finite >= f)) for f in _FRAMES}
    meta = trace.meta
    k = meta.get("k")
    written = int(np.unique(trace.pages[trace.writes]).size) if n else 0
    info = {
        "program": meta.get("program"),
        "argv": meta.get("argv"),
        "input": meta.get("input"),
        "date": meta.get("date"),
        "k": k,
        "raw_references": trace.raw_references,
        "step1_records": meta.get("step1_records"),
        "records": n,
        "references_per_record": (float(trace.counts.sum()) / n) if n else 0.0,
        "distinct_pages": trace.distinct_pages,
        "written_pages": written,
        "write_fraction": trace.write_fraction,
        "regions": _regions(trace.page_table),
        "reuse": {
            "first_references": cold,
            "distance_percentiles": pct,
            "fraction_distance_below": below,
            "lru_faults": faults,
            "lru_exact_from_frames": k,
        },
    }
    return info


# -- replay ------------------------------------------------------------------------------------------------

class TraceWorkload(Workload):
    """Replay a trace as a process: its dense page ids are the process's virtual pages.

    ``npages`` is the number of distinct pages in the trace (the page table's
    size).  With ``loop=True`` the trace repeats forever.  ``counts`` (how
    many real references each record stands for) is exposed for pacing.
    Simulate with at least ``2 K`` frames of memory (128 for ``K = 64``).
    """

    name = "trace"

    def __init__(self, trace_or_path, loop: bool = False) -> None:
        trace = trace_or_path if isinstance(trace_or_path, Trace) else load_trace(trace_or_path)
        super().__init__(max(1, len(trace.page_table)))
        self.trace = trace
        self.loop = bool(loop)
        self._v = np.ascontiguousarray(trace.pages, dtype=np.int64)
        self._w = np.ascontiguousarray(trace.writes, dtype=bool)
        self.finite = not self.loop or self._v.size == 0
        self._pos = 0
        self.passes = 0

    @property
    def counts(self) -> np.ndarray:
        return self.trace.counts

    def next_chunk(self, n: int):
        if self._pos >= self._v.size:
            if not self.loop or self._v.size == 0:
                return None
            self._pos = 0
        a = self._pos
        b = min(a + max(int(n), 1), self._v.size)
        self._pos = b
        if b >= self._v.size:
            self.passes += 1
        return self._v[a:b], self._w[a:b]

    def __repr__(self) -> str:
        prog = os.path.basename(str(self.trace.meta.get("program", "?")))
        return f"TraceWorkload({prog!r}, records={self.trace.n}, pages={self.npages}, loop={self.loop})"


# -- command line ------------------------------------------------------------------------------------------

def _fmt_int(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def cmd_trace_capture(args: argparse.Namespace) -> int:
    """``vmkit trace capture [--k 64] [--out FILE] -- PROGRAM ARGS...``"""
    argv = list(args.argv or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise ValueError("give the program to capture after --, e.g. vmkit trace capture -- sort -n numbers.txt")
    if isinstance(args.k, bool) or not isinstance(args.k, int) or not 1 <= args.k <= 1 << 20:
        raise ValueError(f"--k must be between 1 and {1 << 20}, got {args.k}")
    out = args.out or (os.path.basename(argv[0]) + ".npz")
    show = sys.stderr.isatty()
    last = [0.0]

    def progress(st: dict) -> None:
        if show and st["seconds"] - last[0] >= 10:
            last[0] = st["seconds"]
            print(f"  {st['seconds']:6.0f} s: {st['log_bytes'] / 1e9:.2f} GB of log, "
                  f"{st['raw_references']:,} references", file=sys.stderr)

    trace = capture(argv, k=args.k, out=out, progress=progress)
    m = trace.meta
    if getattr(args, "json", False):
        print(json.dumps({"out": str(out), **m}, indent=2))
        return 0
    log = m["log_bytes"]
    size = f"{log / 1e9:.2f} GB" if log >= 1e9 else f"{log / 1e6:.0f} MB"
    print(f"captured {shlex.join(argv)} in {m['capture_seconds']:.0f} s "
          f"({size} of lackey log, streamed; reducing took {m['reduce_seconds']:.0f} s)")
    print(f"  {'references:':<24}{m['raw_references']:>14,}")
    print(f"  {'step 1 (page runs):':<24}{m['step1_records']:>14,}")
    step2 = f"step 2 (SAD, K={m['k']}):"
    print(f"  {step2:<24}{m['step2_records']:>14,}   "
          f"({trace.distinct_pages:,} distinct pages)")
    print(f"wrote {out} ({os.path.getsize(out):,} bytes); simulate with at least {2 * m['k']} frames")
    if m.get("exit_status"):
        print(f"warning: the program exited with status {m['exit_status']}", file=sys.stderr)
        if m.get("stderr_tail"):
            print(m["stderr_tail"], file=sys.stderr)
    return 0


def cmd_trace_info(args: argparse.Namespace) -> int:
    """``vmkit trace info FILE [--json]``"""
    trace = load_trace(args.file)
    info = trace_info(trace)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    r = info["reuse"]
    prog = info["program"] or trace.meta.get("file", "?")
    print(f"trace {args.file}: {prog}" + (f" ({info['input']})" if info.get("input") else ""))
    if info["argv"]:
        cmd = shlex.join(info["argv"]).replace("\n", "\\n")
        print(f"  command:        {cmd if len(cmd) <= 160 else cmd[:157] + '...'}")
    if info["date"]:
        print(f"  captured:       {info['date']}")
    print(f"  references:     {_fmt_int(info['raw_references'])}")
    if info["step1_records"] is not None:
        print(f"  step 1 records: {_fmt_int(info['step1_records'])}")
    print(f"  records:        {_fmt_int(info['records'])}" + (f" (SAD, K={info['k']})" if info["k"] else ""))
    print(f"  distinct pages: {_fmt_int(info['distinct_pages'])} ({_fmt_int(info['written_pages'])} written)")
    print(f"  write fraction: {info['write_fraction']:.3f} of records")
    regs = info["regions"]
    print(f"  address regions ({len(regs)}):")
    for reg in regs[:8]:
        print(f"    {reg['start']:>16} - {reg['end']:<16} {reg['pages']:6d} pages")
    if len(regs) > 8:
        print(f"    ... {len(regs) - 8} more")
    pc = r["distance_percentiles"]
    print(f"  reuse distance (LRU stack distance, pages): median {pc['p50']}, p90 {pc['p90']}, "
          f"p99 {pc['p99']}, max {pc['max']}; {r['first_references']:,} first references")
    for f, frac in r["fraction_distance_below"].items():
        exact = "" if info["k"] is None or int(f) >= info["k"] else " (not exact: below K)"
        print(f"    {int(f):5d} frames: {frac:6.1%} of records hit, LRU faults {r['lru_faults'][f]:,}{exact}")
    return 0


def add_trace_commands(sub) -> argparse.ArgumentParser:
    """Add ``trace capture`` and ``trace info`` to the ``vmkit`` sub-parsers ``sub``; return the ``trace`` parser."""
    sp = sub.add_parser("trace", help="capture and inspect memory-reference traces of real programs",
                        description="Capture a real program's memory references with valgrind's lackey, "
                                    "reduce them to pages (Safely Allowed Drop), inspect a trace.")
    tsub = sp.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", parser_class=type(sp))
    cp = tsub.add_parser(
        "capture", help="run a program under valgrind's lackey and save its reduced page trace",
        usage="%(prog)s [--k K] [--out FILE] [--json] -- PROGRAM [ARGS ...]",
        description="Run PROGRAM under valgrind --tool=lackey --trace-mem=yes with a fixed environment "
                    f"({' '.join(f'{a}={b}' for a, b in CAPTURE_ENV.items())}), stream its log through a named "
                    "pipe into the reducer (4 KiB pages, then Safely Allowed Drop with K pages per segment) "
                    "and save the trace as a compressed .npz. The result is exact for LRU with K frames or more; "
                    "simulate with at least 2K frames.")
    cp.add_argument("--k", type=int, default=DEFAULT_K, help=f"pages per SAD segment (default {DEFAULT_K})")
    cp.add_argument("--out", metavar="FILE", default=None, help="output file (default: PROGRAM.npz here)")
    cp.add_argument("--json", action="store_true", help="print the trace's metadata as JSON")
    cp.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- PROGRAM ARGS",
                    help="the program to run and its arguments, after --")
    cp.set_defaults(func=cmd_trace_capture)
    ip = tsub.add_parser("info", help="print a trace's counts, pages, write fraction and reuse distances")
    ip.add_argument("file", metavar="FILE", help="a .npz trace or a text trace (page [R|W] per line)")
    ip.add_argument("--json", action="store_true", help="print JSON")
    ip.set_defaults(func=cmd_trace_info)

    def _usage(args: argparse.Namespace) -> int:
        sp.print_help()
        return 0

    sp.set_defaults(func=_usage)
    return sp
