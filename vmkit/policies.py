"""Baseline page-replacement policies: FIFO, LRU, CLOCK, OPT (Belady) and RANDOM.

The rest of vmkit runs DragonFly's page-out daemon on an emulated machine.
This module is the classroom yardstick next to it: the textbook policies,
replayed over a reference string (a *trace*) with a fixed number of page
frames, counting page faults and dirty write-backs.  Pure functions, no
machine::

    >>> from vmkit.policies import simulate
    >>> r = simulate("lru", [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1], frames=3)
    >>> r.faults, r.hits
    (12, 8)

Conventions (the same for every policy)
---------------------------------------

* **Every miss is a fault**, including the first (compulsory, "cold") reference
  to a page.  ``faults + hits == references``.  Memory starts empty.
* **A write-back** is the eviction of a page that was written since it was
  loaded (it is dirty, so the pager must write it out before the frame can be
  reused).  A reference with ``writes[i]`` true dirties the page it references,
  whether it hits or faults.  Pages still resident and dirty at the end of the
  trace are *not* counted: nothing evicts them (the textbook convention).
* A reference *loads* its page on a miss; when all frames are full, the policy
  first evicts one resident page.  No policy evicts early, prefetches or
  bypasses memory (the referenced page is always resident afterwards).

The policies
------------

``fifo``
    Evict the page that was loaded longest ago.  Hits change nothing.
``lru``
    Evict the page whose last reference is the oldest.
``clock``
    The textbook second-chance CLOCK: the frames form a circle with a hand.
    A hit sets the page's reference bit.  On a miss the hand sweeps: a frame
    whose bit is 1 gets a second chance (the bit is cleared and the hand moves
    on); the first frame whose bit is 0 is replaced, **the reference bit is set
    when a page is loaded**, and the hand moves one frame past it.  While
    memory is filling, pages go into frames 0, 1, 2, ... and the hand is back
    at frame 0 when the last free frame is used.  (With every bit set, the
    hand clears them all and replaces the frame it started from: FIFO.)
``opt``
    Belady's optimal policy (Belady 1966): evict the resident page whose next
    reference is farthest in the future.  Among pages never referenced again
    (all equally far) it evicts the least recently used one, so write-back
    counts are deterministic.  No policy has fewer faults.
``random``
    Evict a uniformly random frame.  The generator is
    ``numpy.random.default_rng(seed)``; the *e*-th eviction draws the *e*-th
    double ``u`` of ``rng.random()`` and replaces frame ``floor(u * frames)``.
    Frames are numbered as they were first filled (0, 1, 2, ...); a loaded
    page takes the frame its victim left.  Same seed, same result.

How they are fast
-----------------

Replaying a trace is a sequential loop, and a Python loop step costs tens of
nanoseconds, so each policy visits as few references as it can prove it
must, and numpy does the rest over the whole trace.

* LRU and OPT first sort the trace once by (page, time) (numpy), which gives
  every reference's *reuse window*: how far back its page was last used and
  how far ahead it is used next.
* LRU: a reference whose page was used at most ``frames`` references earlier
  always hits (fewer than ``frames`` other pages fit in between).  Only the
  other references are visited, with one pointer that only moves forward: the
  last-use time of the least recently used resident page (a reference faults
  iff its page's last use is older).  At a fault the pointer steps over
  references whose page is used again within ``frames``: they are never the
  least recently used.
* OPT: Belady never evicts a page between two uses at most ``frames``
  references apart, and never evicts a page whose next use is at most
  ``frames`` references ahead (the other residents would all be used before
  it).  The loop visits only references with a long window back or ahead and
  keeps a heap of the next-use times of the long ones ahead.
* FIFO: hits change nothing, and a page is resident iff one of the last
  ``frames`` faults loaded it (each page keeps its load number; no queue).
  With at least :data:`FIFO_CHUNK_MIN` frames the trace is replayed in chunks:
  numpy finds the references to pages not resident at the start of the chunk,
  bounds how many faults the chunk can have and so which pages they can evict
  (the oldest loads); only references to those two kinds of page are visited,
  the rest are hits.  Chunks grow while there is little to visit, and a burst
  of faults is replayed reference by reference.
* CLOCK and RANDOM: one tight loop over every reference (a hit is a list
  lookup, and for CLOCK a store of the reference bit).
* Write-backs are counted afterwards from the fault times alone: each write
  falls in the residency that began with its page's last fault before it
  (one binary search for all writes).
* :func:`lru_fault_curve` computes every reference's LRU stack distance at
  once (a merge sort, one numpy pass per level), which gives the faults for
  every number of frames (Mattson, Gecsei, Slutz & Traiger 1970).

Traces may have up to :data:`MAX_REFS` references.
"""

from __future__ import annotations

import heapq
import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .config import check_int

POLICIES = ("fifo", "lru", "clock", "opt", "random")

_NEVER = np.iinfo(np.int64).max         # the reuse gap of a page's last reference

#: Largest accepted page number (page numbers are stored as int64).
MAX_PAGE = (1 << 62) - 1
#: Longest accepted trace (times and page ids are packed together into int64 keys).
MAX_REFS = 1 << 28


@dataclass
class PolicyResult:
    """The outcome of replaying one trace under one policy."""

    policy: str
    frames: int
    references: int
    faults: int
    hits: int
    hit_ratio: float
    write_backs: int

    def as_dict(self) -> dict[str, Any]:
        """The result as a plain dict (a row for a pandas DataFrame)."""
        return asdict(self)


# -- input checking ------------------------------------------------------------------------------

def _as_pages(pages: Any) -> np.ndarray:
    """``pages`` as a 1-D int64 array of non-negative page numbers, or ValueError naming ``pages``."""
    what = f"pages must be a one-dimensional sequence of integer page numbers between 0 and {MAX_PAGE}"
    if isinstance(pages, (str, bytes)) or not hasattr(pages, "__len__"):
        raise ValueError(f"{what}, got {type(pages).__name__}")
    arr = pages if isinstance(pages, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(pages)
        except (ValueError, OverflowError, TypeError) as e:
            raise ValueError(f"{what}: {e}") from None
    if arr.ndim != 1:
        raise ValueError(f"{what}, got an array of shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if len(arr) > MAX_REFS:
        raise ValueError(f"pages must have at most {MAX_REFS} references, got {len(arr)}")
    kind = arr.dtype.kind
    if kind == "O":
        bad = next((x for x in arr.tolist() if isinstance(x, bool) or not isinstance(x, numbers.Integral)), None)
        if bad is not None:
            raise ValueError(f"{what}, got {bad!r}")
        lo, hi = min(arr.tolist()), max(arr.tolist())
        if lo < 0 or hi > MAX_PAGE:
            raise ValueError(f"{what}, got {lo if lo < 0 else hi}")
        return np.array(arr.tolist(), dtype=np.int64)
    if kind not in "iu":
        sample = arr[0].item()
        raise ValueError(f"{what}, got {arr.dtype} values such as {sample!r}")
    lo, hi = arr.min().item(), arr.max().item()
    if lo < 0 or hi > MAX_PAGE:
        raise ValueError(f"{what}, got {lo if lo < 0 else hi}")
    return arr.astype(np.int64, copy=False)


def _as_writes(writes: Any, n: int) -> np.ndarray | None:
    """``writes`` as a bool array of length ``n``, or None when nothing is written."""
    if writes is None:
        return None
    what = "writes must be None or one True/False (write/read) flag per reference"
    if isinstance(writes, (str, bytes)) or not hasattr(writes, "__len__"):
        raise ValueError(f"{what}, got {type(writes).__name__}")
    try:
        arr = np.asarray(writes)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what}: {e}") from None
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{what}: len(pages) is {n}, writes has shape {arr.shape}")
    if n == 0:
        return None
    if arr.dtype.kind == "b":
        w = arr
    elif arr.dtype.kind in "iu" and ((arr == 0) | (arr == 1)).all():
        w = arr.astype(bool)
    elif arr.dtype.kind == "O" and all(isinstance(x, (bool, np.bool_)) or x in (0, 1) for x in arr.tolist()):
        w = arr.astype(bool)
    else:
        raise ValueError(f"{what}, got {arr.dtype} values such as {arr[0].item()!r}")
    return w if w.any() else None


def _check_policy(policy: Any) -> str:
    if isinstance(policy, str) and policy.lower() in POLICIES:
        return policy.lower()
    raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")


def _check_frames(frames: Any) -> int:
    if isinstance(frames, bool) or not isinstance(frames, numbers.Integral) or int(frames) < 1:
        raise ValueError(f"frames must be an integer >= 1 (1 to any number of page frames), got {frames!r}")
    return int(frames)


# -- the preprocessed trace ----------------------------------------------------------------------

class _Trace:
    """A trace, preprocessed lazily and shared by every policy run on it.

    ``pages`` holds page ids in ``0 .. npages-1`` (renumbered densely when the
    caller's page numbers are sparse).
    """

    def __init__(self, pages: np.ndarray, writes: np.ndarray | None) -> None:
        n = len(pages)
        self.n = n
        self.writes = writes
        self.shift = max(1, n.bit_length())                 # (page << shift) | time packs into an int64
        if n and (pages.max() >= max(4 * n, 1 << 16) or int(pages.max()).bit_length() + self.shift > 62):
            _, pages = np.unique(pages, return_inverse=True)    # sparse page numbers: renumber densely
            pages = pages.astype(np.int64, copy=False)
        self.pages = pages
        self.npages = int(pages.max()) + 1 if n else 0
        self._by_page = self._list = self._wkeys = self._windows = None

    def by_page(self) -> tuple[np.ndarray, np.ndarray]:
        """``(idx, gap)``: the reference times sorted by (page, time), one sort made once, and
        ``gap[j] = idx[j + 1] - idx[j]`` between consecutive references to the same page
        (:data:`_NEVER` where the page changes)."""
        if self._by_page is None:
            n, s = self.n, self.shift
            key = (self.pages << s) | np.arange(n, dtype=np.int64)
            key.sort()
            idx = key & ((1 << s) - 1)
            key >>= s
            gap = np.diff(idx)
            gap[key[1:] != key[:-1]] = _NEVER
            self._by_page = idx, gap
        return self._by_page

    def prev(self) -> np.ndarray:
        """``prev[i]``: the previous reference to page ``pages[i]`` (-1 for the first)."""
        idx, gap = self.by_page()
        prev = np.empty(self.n, dtype=np.int64)
        prev[idx[0]] = -1
        prev[idx[1:]] = np.where(gap != _NEVER, idx[:-1], -1)
        return prev

    def windows(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The references with a reuse window longer than ``k``, in time order:

        ``bt, bp``: references whose previous reference to the page is more than ``k`` back
        (``bp``), or that have none (``bp = -1``);
        ``ft, fn``: references whose next reference is more than ``k`` ahead (``fn``), or that
        have none (``fn = n``).
        """
        if self._windows is not None and self._windows[0] == k:
            return self._windows[1]
        n, s = self.n, self.shift
        mask = (1 << s) - 1
        idx, gap = self.by_page()
        long = np.flatnonzero(gap > k)
        same = gap[long] != _NEVER
        bt = np.concatenate((idx[:1], idx[long + 1]))
        bp = np.concatenate(([-1], np.where(same, idx[long], -1)))
        key = (bt << s) | (bp + 1)
        key.sort()
        bt, bp = key >> s, (key & mask) - 1
        ft = np.concatenate((idx[long], idx[-1:]))
        fn = np.concatenate((np.where(same, idx[long + 1], n), [n]))
        key = (ft << s) | fn
        key.sort()
        ft, fn = key >> s, key & mask
        self._windows = (k, (bt, bp, ft, fn))
        return bt, bp, ft, fn

    def page_list(self) -> list[int]:
        """The page ids as a Python list (for the per-reference loops), made once."""
        if self._list is None:
            self._list = self.pages.tolist()
        return self._list

    def write_keys(self) -> np.ndarray:
        """``(page << shift) | time`` of every write, sorted."""
        if self._wkeys is None:
            t = np.flatnonzero(self.writes)
            self._wkeys = np.sort((self.pages[t] << self.shift) | t)
        return self._wkeys


# -- write-backs, counted afterwards ---------------------------------------------------------------

def _write_backs(tr: _Trace, misses: np.ndarray, resident: np.ndarray) -> int:
    """Dirty evictions, from the fault times ``misses`` and the pages ``resident`` at the end.

    A page's residency runs from one of its faults to just before its next
    fault (it was evicted in between) or to the end of the trace.  It is dirty
    if a write to the page falls in it, and written back if it ended by an
    eviction: another fault on the page follows, or the page is not resident
    at the end.  Every write is placed in its residency with one binary search
    over the faults sorted by (page, time).
    """
    if tr.writes is None or len(misses) == 0:
        return 0
    s = tr.shift
    mk = (tr.pages[misses] << s) | misses
    mk.sort()                                       # the faults grouped by page, in time order
    # The residency holding a write: the page's last fault at or before it (its first reference is a fault).
    dirty = np.zeros(len(mk), dtype=bool)
    dirty[np.searchsorted(mk, tr.write_keys(), side="right") - 1] = True
    mk >>= s
    ended = np.empty(len(mk), dtype=bool)
    ended[:-1] = mk[1:] == mk[:-1]                  # another fault on the page follows
    last = np.flatnonzero(~ended[:-1])
    ended[last] = ~resident[mk[last]]               # the page's last residency: evicted unless resident now
    ended[-1] = not resident[mk[-1]]
    return int(np.count_nonzero(dirty & ended))


def _mask(tr: _Trace, pages) -> np.ndarray:
    m = np.zeros(tr.npages, dtype=bool)
    m[np.asarray(pages, dtype=np.int64)] = True
    return m


# -- the policies: each returns (fault times, resident-at-end mask) --------------------------------

#: FIFO replays the trace in chunks with numpy when there are at least this many frames ...
FIFO_CHUNK_MIN = 200
#: ... in chunks of ``frames`` to this many references.
FIFO_CHUNK_MAX = 1 << 16


def _fifo_visit(refs, load: list[int], nl: int, k: int, app) -> int:
    """FIFO over ``refs`` (pairs of time and page) after ``nl`` loads; return the loads after them.

    ``load[x]`` is the load number of page x: it is resident iff it was one of the last k loads.
    A fault's time goes to ``app``.
    """
    lim = nl - k                    # hit iff load[x] > lim
    for i, x in refs:
        if load[x] > lim:
            continue
        nl += 1
        lim += 1
        load[x] = nl
        app(i)
    return nl


def _fifo(tr: _Trace, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # A page is resident iff one of the last k faults loaded it: keep each page's load number;
    # hits change nothing.  With many frames the trace is replayed in chunks, visiting only the
    # references that may fault: those to pages not resident at the start of the chunk, and those
    # to the oldest loads, as many as the chunk may evict (the bound below); the rest are hits.
    n, pages = tr.n, tr.pages
    load = [-k - 1] * tr.npages
    misses: list[int] = []
    app = misses.append
    if k < FIFO_CHUNK_MIN or n < 4 * k:
        nl = _fifo_visit(enumerate(tr.page_list()), load, 0, k, app)
        m = np.array(misses, dtype=np.int64)
        return m, _mask(tr, pages[m[-k:]] if len(m) else [])
    res = np.zeros(tr.npages, dtype=bool)           # resident at the start of the chunk
    mark = np.zeros(tr.npages, dtype=bool)          # scratch, all False between uses
    loads = np.empty(n, dtype=np.int64)             # pages in load order
    nl = 0
    plain = False                                   # mostly faults: visit every reference
    size = k                                        # chunk length, adapted to the fault rate
    a = 0
    while a < n:
        n0 = nl
        if plain:
            pc = pages[a:a + max(k, 4096)]
            nl = _fifo_visit(enumerate(pc.tolist(), a), load, nl, k, app)
            a += len(pc)
            if nl > n0:
                loads[n0:nl] = pages[misses[n0 - nl:]]
            if 4 * (nl - n0) < len(pc):             # mostly hits again: back to chunks
                plain = False
                size = k
                res[:] = False
                res[loads[max(0, nl - k):nl]] = True
            continue
        pc = pages[a:a + size]
        sel = ~res[pc]
        na = int(np.count_nonzero(sel))             # references to pages not resident now
        if na == 0:                                 # all hits
            a += len(pc)
            size = min(2 * size, FIFO_CHUNK_MAX)
            continue
        if 2 * na > len(pc):
            if len(pc) > k:
                size = k
            else:
                plain = True
            continue
        free = k - nl if nl < k else 0              # faults that evict nothing
        if na > free:
            # The chunk's j-th fault (j > free) evicts front[j - free - 1].  Faults come from the
            # na references to non-resident pages and from evicted pages referenced again, each
            # at most once while at most k faults follow its reload; so the chunk has at most
            # `bound` faults, the least fixpoint of bound = na + #(front[:bound - free] referenced).
            front = loads[max(0, nl - k):nl]        # resident pages, oldest first
            mark[pc] = True
            refd = np.cumsum(mark[front])
            mark[pc] = False
            bound = na
            while True:
                e = bound - free
                if e > len(front):                  # might evict a page loaded in this chunk
                    e = len(front)
                    if len(pc) > k:
                        break
                nb = na + (int(refd[e - 1]) if e > 0 else 0)
                if nb == bound:
                    break
                bound = nb
            if bound - free > len(front) and len(pc) > k:
                size = max(k, size // 4)            # too long a chunk: retry a shorter one
                continue
            risk = front[:bound - free]
            mark[risk] = True
            sel |= mark[pc]
            mark[risk] = False
        sel = np.flatnonzero(sel)
        if 8 * len(sel) < len(pc):                  # few references to visit: longer chunks
            size = min(2 * size, FIFO_CHUNK_MAX)
        elif 3 * len(sel) > len(pc) and size > k:
            size = max(k, size // 2)
        idx = sel + a
        a += len(pc)
        nl = _fifo_visit(zip(idx.tolist(), pc[sel].tolist(), strict=True), load, nl, k, app)
        if nl > n0:
            new = pages[misses[n0 - nl:]]
            loads[n0:nl] = new
            res[loads[max(0, n0 - k):max(0, nl - k)]] = False
            res[new] = True
    m = np.array(misses, dtype=np.int64)
    return m, _mask(tr, loads[max(0, nl - k):nl])


def _lru(tr: _Trace, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # A reference faults iff its previous reference to the page is older than T, the last-reference
    # time of the least recently used resident page; T only moves forward, one fault at a time.
    # Only references reusing a page more than k references back can fault (the window between
    # holds at most k-1 distinct pages otherwise), and only references not reused within the next
    # k can be the least recently used page at a fault: two short lists to walk.
    n = tr.n
    bt, bp, ft, fn = tr.windows(k)
    L = ft.tolist() + [n]                           # sentinel
    Ln = np.where(fn == n, n + 1, fn).tolist() + [n + 1]    # last references stay current to the end
    T = 0
    ptr = 0
    filled = 0
    faults: list[int] = []
    app = faults.append
    for i, j in zip(bt.tolist(), bp.tolist(), strict=True):
        if j >= T:
            continue
        app(i)
        if filled < k:
            filled += 1
            continue
        while Ln[ptr] < i:          # skip references that are no longer their page's last one
            ptr += 1
        ptr += 1                    # evict the page referenced at L[ptr]; the next current one is the LRU
        T = L[ptr]
    last = ft[fn == n]
    return np.array(faults, dtype=np.int64), _mask(tr, tr.pages[last[-k:]])


def _clock(tr: _Trace, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    st = [0] * tr.npages            # 0 not resident, 1 resident with reference bit 0, 2 with bit 1
    frames = [0] * min(k, tr.npages)    # (with more frames than pages the hand never sweeps)
    hand = 0
    filled = 0
    misses: list[int] = []
    app = misses.append
    i = -1
    for x in tr.page_list():
        i += 1
        if st[x]:
            st[x] = 2
            continue
        app(i)
        if filled < k:
            filled += 1
        else:
            while True:
                y = frames[hand]
                if st[y] == 2:      # second chance
                    st[y] = 1
                    hand += 1
                    if hand == k:
                        hand = 0
                else:
                    break
            st[y] = 0
        frames[hand] = x
        st[x] = 2                   # the reference bit is set when a page is loaded
        hand += 1
        if hand == k:
            hand = 0
    return np.array(misses, dtype=np.int64), np.array(st, dtype=np.int8) > 0


def _opt(tr: _Trace, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Belady never evicts a page inside a window of at most k references between two uses of it
    # (the other k-1 residents and the faulting page would all be used before it, inside the window),
    # so only references reusing a page more than k back can fault, and the victim is always a page
    # whose next use is more than k ahead (or never).  The loop visits those references only and
    # keeps a heap of the next-use times of the second kind; an entry is current while its time is
    # still ahead (a page used again gets a new entry or none).
    n, pages = tr.n, tr.pages
    bt, bp, ft, fn = tr.windows(k)
    pb = max(1, tr.npages.bit_length())
    pmask = (1 << pb) - 1
    # Heap entry: -(next use << pb | page); a page never used again sorts as next use 2n - t, so the
    # least recently used of those goes first.  0: no entry (the next use is within k).
    entry = np.zeros(n, dtype=np.int64)
    entry[ft] = -((np.where(fn < n, fn, 2 * n - ft) << pb) | pages[ft])
    visit = np.zeros(n, dtype=bool)
    visit[bt] = True
    visit[ft] = True
    ev = np.flatnonzero(visit)                      # (a reference that cannot fault is tested harmlessly)
    resident = bytearray(tr.npages)
    heap: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    filled = 0
    faults: list[int] = []
    app = faults.append
    for a in range(0, len(ev), 8192):
        if len(heap) > 4 * k + 8192:                # drop entries that are no longer current
            thr = -(int(ev[a]) << pb)
            heap = [h for h in heap if h <= thr]
            heapq.heapify(heap)
        e = ev[a:a + 8192]
        for i, x, h in zip(e.tolist(), pages[e].tolist(), entry[e].tolist(), strict=True):
            if not resident[x]:
                app(i)
                if filled < k:
                    filled += 1
                else:
                    thr = -((i + 1) << pb)
                    while True:     # the farthest next use that is still ahead
                        v = pop(heap)
                        if v <= thr:
                            break
                    resident[-v & pmask] = 0
                resident[x] = 1
            if h:
                push(heap, h)
    return np.array(faults, dtype=np.int64), np.frombuffer(bytes(resident), dtype=np.uint8) > 0


def _random(tr: _Trace, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    where = [-1] * tr.npages        # frame of each resident page
    frames: list[int] = []
    draws: list[float] = []
    d = 0
    misses: list[int] = []
    app = misses.append
    i = -1
    for x in tr.page_list():
        i += 1
        if where[x] >= 0:
            continue
        app(i)
        if len(frames) < k:
            where[x] = len(frames)
            frames.append(x)
            continue
        if d == len(draws):
            draws = rng.random(4096).tolist()   # the same stream as one rng.random() per eviction
            d = 0
        f = int(draws[d] * k)
        d += 1
        if f >= k:                  # u * k rounded up to k
            f = k - 1
        where[frames[f]] = -1
        frames[f] = x
        where[x] = f
    return np.array(misses, dtype=np.int64), np.array(where, dtype=np.int64) >= 0


_IMPL = {"fifo": _fifo, "lru": _lru, "clock": _clock, "opt": _opt, "random": _random}


def _run(tr: _Trace, policy: str, frames: int, seed: int) -> PolicyResult:
    n = tr.n
    if n == 0:
        return PolicyResult(policy, frames, 0, 0, 0, 0.0, 0)
    # More frames than references: nothing is ever evicted, as with exactly n frames.
    misses, resident = _IMPL[policy](tr, min(frames, n), seed)
    faults = len(misses)
    return PolicyResult(policy=policy, frames=frames, references=n, faults=faults, hits=n - faults,
                        hit_ratio=(n - faults) / n, write_backs=_write_backs(tr, misses, resident))


def simulate(policy: str, pages, writes=None, frames: int = 3, seed: int = 0) -> PolicyResult:
    """Replay the reference string ``pages`` under ``policy`` with ``frames`` page frames.

    ``pages``: a sequence or numpy array of non-negative integer page numbers;
    ``writes``: None (every reference reads) or one bool per reference (True: it writes);
    ``policy``: one of :data:`POLICIES`; ``seed``: the RANDOM policy's generator seed.
    See the module docstring for what counts as a fault and a write-back.
    """
    policy = _check_policy(policy)
    frames = _check_frames(frames)
    seed = check_int(seed, "seed", 0, (1 << 63) - 1)
    p = _as_pages(pages)
    return _run(_Trace(p, _as_writes(writes, len(p))), policy, frames, seed)


def simulate_all(pages, writes=None, frames: int = 3, policies=POLICIES, seed: int = 0) -> list[PolicyResult]:
    """:func:`simulate` for each of ``policies`` on the same trace (preprocessed once)."""
    if isinstance(policies, str):
        policies = (policies,)
    try:
        names = [_check_policy(p) for p in policies]
    except TypeError:
        raise ValueError(f"policies must be a sequence of names from {', '.join(POLICIES)}; "
                         f"got {policies!r}") from None
    frames = _check_frames(frames)
    seed = check_int(seed, "seed", 0, (1 << 63) - 1)
    p = _as_pages(pages)
    tr = _Trace(p, _as_writes(writes, len(p)))
    return [_run(tr, name, frames, seed) for name in names]


# -- LRU stack distances and the fault curve -------------------------------------------------------

def _count_smaller_before(vals: np.ndarray, vbits: int) -> np.ndarray:
    """``c[q] = #{q' < q : vals[q'] < vals[q]}`` for distinct non-negative ``vals < 2**vbits``.

    Bottom-up merge sort, one level per numpy pass: at level ``l`` each element
    in the right half of a block of ``2**(l+1)`` counts the smaller elements of
    the left half.  Keys pack (block, value); a stable sort merges the sorted halves.
    """
    m = len(vals)
    c = np.zeros(m, dtype=np.int64)
    if m < 2:
        return c
    inv = np.empty(int(vals.max()) + 1, dtype=np.int64)
    inv[vals] = np.arange(m, dtype=np.int64)
    vmask = (1 << vbits) - 1
    key = vals.astype(np.int64, copy=True)
    q = np.arange(m, dtype=np.int64)          # position in the sequence of the element at each key slot
    pos = np.arange(m, dtype=np.int64)
    for lvl in range(max(1, (m - 1).bit_length())):
        key = ((q >> (lvl + 1)) << vbits) | (key & vmask)
        key.sort(kind="stable")               # runs already sorted: merges
        q = inv[key & vmask]
        right = (q >> lvl) & 1
        left = 1 - right
        before = np.cumsum(left) - left - ((pos >> (lvl + 1)) << lvl)   # left elements before, same block
        c[q] += before * right
    return c


def lru_stack_distances(pages) -> np.ndarray:
    """The LRU stack distance of every reference: distinct other pages referenced since the page's last use.

    ``-1`` marks a first reference (infinite distance).  Under LRU with ``k``
    frames a reference hits iff its distance is ``< k`` (Mattson et al. 1970).
    """
    p = _as_pages(pages)
    tr = _Trace(p, None)
    return _stack_distances(tr)


def _stack_distances(tr: _Trace) -> np.ndarray:
    n = tr.n
    d = np.full(n, -1, dtype=np.int64)
    prev = tr.prev() if n else d
    reuse = np.flatnonzero(prev >= 0)
    if len(reuse) == 0:
        return d
    j = prev[reuse]
    # distinct pages in (j, i) = #{t < i : prev[t] < j} - (j + 1); prev[t] = -1 for the first references.
    c = _count_smaller_before(j, max(1, n.bit_length()))
    first_before = reuse - np.arange(len(reuse))
    d[reuse] = first_before + c - j - 1
    return d


def lru_fault_curve(pages, max_frames: int) -> np.ndarray:
    """LRU faults for every number of frames, from one stack-distance pass.

    Returns an int64 array ``curve`` of length ``max_frames + 1``: ``curve[k]``
    is the number of faults with ``k`` frames (``curve[0]`` is ``len(pages)``:
    with no frame every reference faults).  ``curve[k]`` equals
    ``simulate("lru", pages, frames=k).faults``.
    """
    max_frames = check_int(max_frames, "max_frames", 1, 1 << 40)
    p = _as_pages(pages)
    d = _stack_distances(_Trace(p, None))
    hist = np.bincount(np.minimum(d[d >= 0], max_frames), minlength=max_frames + 1)
    hits = np.concatenate(([0], np.cumsum(hist[:max_frames])))
    return len(p) - hits
