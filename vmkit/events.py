"""Recording: the daemon's event log and the per-tick time series.

* Every decision the daemon makes about a page appends one event: tick,
  thread, seed function, page (frame number), object type, queue before,
  queue after, action, reason (and the page's act_count).
  ``machine.events()`` returns them as a pandas DataFrame.  Events are kept
  in per-column Python lists, so recording costs a few list appends per
  decision; ``machine.record_events = False`` switches it off.
* Every tick, ``machine.timeseries()`` gets one row of queue sizes,
  thresholds, swap use and counters (``machine.record_stats`` switches it
  off; ``stats_every`` thins it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import OBJT_NAMES, PQ_NAMES, PQ_NONE

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .vm_page import vm_page

EVENT_COLUMNS = ("tick", "thread", "function", "page", "object", "queue_before", "queue_after",
                 "action", "reason", "act_count")

TIMESERIES_COLUMNS = (
    "tick", "free", "cache", "inactive", "active", "wired", "swap_full", "swap_almost_full",
    "v_free_min", "v_free_reserved", "v_free_severe", "v_free_target", "v_cache_min", "v_inactive_target",
    "paging_target", "swap_used", "swap_total", "faults", "pdwakeups", "pdpages", "swap_pages_out",
    "swap_pages_in", "vnode_pages_out", "vnode_pages_in", "reactivated", "vm_pages_needed", "procs",
)


def queue_name(m: vm_page) -> str:
    """The base queue of ``m`` as a name: FREE, CACHE, INACTIVE, ACTIVE, HOLD or NONE."""
    return "NONE" if m.queue == PQ_NONE else PQ_NAMES.get(m.queue - m.pc, str(m.queue))


# The columns event_counts can tally by, and where each is in an event row.
_COUNT_COLUMNS = {"thread": 1, "function": 2, "object": 4, "action": 7, "reason": 8}


class RecorderMixin:
    """Event log and time series of a :class:`~vmkit.machine.Machine`."""

    def _init_recorder(self) -> None:
        self.record_events = True
        self.record_stats = True
        self.stats_every = 1
        self._ev_rows: list[tuple] = []
        self._ts_rows: list[tuple] = []
        self._rss_rows: list[tuple] = []
        self._pass_rows: list[tuple] = []
        self._cluster_rows: list[tuple] = []
        # The act_count histogram of the active queue walks every active page: off unless asked for.
        self.record_act_hist = False
        self.act_hist_every = self.config.hz
        self._next_act_hist = 0
        self._act_hist_rows: list[tuple] = []

    def _ev(self, function: str, m: vm_page | None, qbefore: int, action: str, reason: str,
            objtype: int | None = None) -> None:
        """Append one daemon decision.  ``qbefore`` is the page's queue base when the decision began
        (``m.queue - m.pc``, 0 for none); ``objtype`` overrides the object type (for a page just freed).

        Kept cheap (one tuple append): names are looked up in :meth:`events`.
        """
        if not self.record_events:
            return
        if m is None:
            self._ev_rows.append((self.ticks, self._td_name(), function, -1, -1, qbefore, -1, action, reason, -1))
        else:
            if objtype is None:
                obj = m.object
                objtype = -1 if obj is None else obj.type
            q = m.queue
            self._ev_rows.append((self.ticks, self._td_name(), function, m.pfn, objtype,
                                  qbefore, q and q - m.pc, action, reason, m.act_count))

    def _td_name(self) -> str:
        """The running thread's name for an event row ("-" outside any thread).

        Rows hold the name, not the thread: a tuple of ints and strings is
        dropped from the cyclic garbage collector's lists at its first
        collection, while one holding an object is traversed by every
        collection after - with millions of rows, that was most of the cost
        of recording an event.
        """
        td = self.curthread
        return "-" if td is None else td.td_name

    def _ev_raw(self, function: str, pfn: int, objtype: int, qbefore: int, qafter: int, action: str,
                reason: str, act_count: int) -> None:
        """Append a decision recorded from saved values (taken before the page could change hands)."""
        if self.record_events:
            self._ev_rows.append((self.ticks, self._td_name(), function, pfn, objtype, qbefore, qafter,
                                  action, reason, act_count))

    def events(self) -> pd.DataFrame:
        """The event log as a DataFrame with columns ``EVENT_COLUMNS`` (one row per decision).

        ``queue_before``/``queue_after`` are FREE, CACHE, INACTIVE, ACTIVE,
        HOLD or NONE; ``object`` is the object type (DEFAULT, SWAP, VNODE).
        """
        import pandas as pd

        def qname(b: int) -> str:
            return "" if b == -1 else PQ_NAMES.get(b, "NONE")

        rows = self._ev_rows
        data = {
            "tick": [r[0] for r in rows],
            "thread": [r[1] for r in rows],
            "function": [r[2] for r in rows],
            "page": [r[3] for r in rows],
            "object": [OBJT_NAMES.get(r[4], "") for r in rows],
            "queue_before": [qname(r[5]) for r in rows],
            "queue_after": [qname(r[6]) for r in rows],
            "action": [r[7] for r in rows],
            "reason": [r[8] for r in rows],
            "act_count": [r[9] for r in rows],
        }
        df = pd.DataFrame(data, columns=list(EVENT_COLUMNS))
        for c in ("thread", "function", "object", "queue_before", "queue_after", "action"):
            df[c] = df[c].astype("category")
        return df

    def event_counts(self, function: str | None = None, by: str | tuple[str, ...] = "action",
                     thread: str | None = None) -> dict:
        """How many events there are per value of column ``by``, without building the DataFrame.

        Cheap enough for a dashboard's every redraw.  ``by`` is one of
        ``thread``, ``function``, ``object``, ``action``, ``reason``, or a
        tuple of them (the keys are then tuples, as ``groupby`` gives them);
        ``function`` and ``thread`` keep only the events of that function or
        thread.  Values are named as in :meth:`events` (``object`` as
        DEFAULT, SWAP, VNODE, or "" for none).
        """
        cols = (by,) if isinstance(by, str) else tuple(by)
        if not cols or any(c not in _COUNT_COLUMNS for c in cols):
            bad = by if not cols else next(c for c in cols if c not in _COUNT_COLUMNS)
            raise ValueError(f"event_counts: by must be one of {', '.join(_COUNT_COLUMNS)} or a tuple of them, "
                             f"got {bad!r}")
        idx = [_COUNT_COLUMNS[c] for c in cols]
        counts: dict = {}
        for r in self._ev_rows:
            if (function is None or r[2] == function) and (thread is None or r[1] == thread):
                key = r[idx[0]] if len(idx) == 1 else tuple(r[i] for i in idx)
                counts[key] = counts.get(key, 0) + 1
        if "object" in cols:        # object types are stored as numbers: name them as events() does
            o = cols.index("object")
            named: dict = {}
            for k, n in counts.items():
                k = OBJT_NAMES.get(k, "") if len(cols) == 1 else k[:o] + (OBJT_NAMES.get(k[o], ""),) + k[o + 1:]
                named[k] = named.get(k, 0) + n
            counts = named
        return counts

    def first_event_tick(self, function: str) -> int | None:
        """The tick of the first event of ``function`` (None if it made none), without building the DataFrame."""
        for r in self._ev_rows:
            if r[2] == function:
                return r[0]
        return None

    def event_count(self) -> int:
        return len(self._ev_rows)

    def clear_events(self) -> None:
        self._ev_rows.clear()

    def _sample_stats(self) -> None:
        if not self.record_stats or self.ticks % self.stats_every:
            return
        vs = self.vmstats
        cnt = self.cnt
        self._ts_rows.append((
            self.ticks, vs.v_free_count, vs.v_cache_count, vs.v_inactive_count, vs.v_active_count,
            vs.v_wire_count, self.swap_pager_full, self.swap_pager_almost_full,
            vs.v_free_min, vs.v_free_reserved, vs.v_free_severe, vs.v_free_target,
            vs.v_cache_min, vs.v_inactive_target, self.vm_paging_target(),
            self.vm_swap_max - self.vm_swap_size, self.vm_swap_max, cnt.v_vm_faults, cnt.v_pdwakeups,
            cnt.v_pdpages, cnt.v_swappgsout, cnt.v_swappgsin, cnt.v_vnodepgsout, cnt.v_vnodepgsin,
            cnt.v_reactivated, self.vm_pages_needed, len(self.allproc),
        ))
        if self.record_act_hist and self.ticks >= self._next_act_hist:
            self._next_act_hist = self.ticks + self.act_hist_every
            self._sample_act_hist()
        first = self.config.first_user_pid
        for pid, p in self.allproc.items():
            if pid >= first:
                self._rss_rows.append((self.ticks, pid, p.p_comm, p.rss_pages, p.p_rlimit[5][0] // self.PAGE_SIZE))

    def timeseries(self) -> pd.DataFrame:
        """Queue sizes, thresholds, swap use and cumulative counters, one row per sampled tick."""
        import pandas as pd

        return pd.DataFrame(self._ts_rows, columns=list(TIMESERIES_COLUMNS))

    def rss_timeseries(self) -> pd.DataFrame:
        """Resident pages of every spawned process, one row per process per sampled tick.

        Columns: tick, pid, name, rss_pages, rss_limit_pages (huge when unlimited).
        """
        import pandas as pd

        return pd.DataFrame(self._rss_rows, columns=["tick", "pid", "name", "rss_pages", "rss_limit_pages"])

    def _sample_act_hist(self) -> None:
        from .constants import ACT_MAX, PQ_ACTIVE

        hist = [0] * (ACT_MAX + 16)
        top = len(hist) - 1
        for m in self.queue_pages(PQ_ACTIVE):
            hist[min(m.act_count, top)] += 1
        self._act_hist_rows.append((self.ticks, tuple(hist)))

    def act_count_histogram(self) -> pd.DataFrame:
        """act_count of the active pages over time: one row per sample, one column per act_count value.

        Set ``machine.record_act_hist = True`` before running (sampled every
        ``act_hist_every`` ticks, one second by default).
        """
        import pandas as pd

        if not self._act_hist_rows:
            return pd.DataFrame()
        df = pd.DataFrame([h for _, h in self._act_hist_rows], index=[t for t, _ in self._act_hist_rows])
        df.index.name = "tick"
        return df

    def passes(self) -> pd.DataFrame:
        """One row per daemon pass: tick, thread, pass, the shortages, and what the pass did.

        Columns: tick, thread, pass, avail_shortage (at the start), inactive_shortage,
        avail_shortage_left, laundered (pages written), swap_pages_out, freed (v_dfree),
        visited (v_pdpages).
        """
        import pandas as pd

        return pd.DataFrame(self._pass_rows, columns=[
            "tick", "thread", "pass", "avail_shortage", "inactive_shortage", "avail_shortage_left",
            "laundered", "swap_pages_out", "freed", "visited"])

    def cluster_sizes(self) -> pd.DataFrame:
        """Every laundering cluster: tick, pages in it, object type."""
        import pandas as pd

        return pd.DataFrame([(t, n, OBJT_NAMES.get(o, "")) for t, n, o in self._cluster_rows],
                            columns=["tick", "pages", "object"])

    def kill_events(self) -> list[dict[str, Any]]:
        """Processes killed by the OOM killer: pid, name, size in pages, tick."""
        return list(self.oom_kills)


#: (function, action, reason prefix) -> the seed lines that make that decision.  First match wins.
SEED_LINES: tuple[tuple[str, str, str, int, int], ...] = (
    ("vm_pageout_clean_helper", "skip", "", 267, 270),
    ("vm_pageout_clean_helper", "cluster", "", 272, 393),
    ("vm_pageout_flush", "pageout", "", 453, 515),
    ("vm_pageout_mdp_callback", "activate", "", 556, 580),
    ("vm_pageout_mdp_callback", "remove", "", 587, 609),
    ("vm_pageout_scan_inactive", "skip", "", 834, 847),
    ("vm_pageout_page", "unqueue", "", 917, 923),
    ("vm_pageout_page", "requeue", "held (I/O", 928, 940),
    ("vm_pageout_page", "activate", "referenced in the page tables", 950, 966),
    ("vm_pageout_page", "activate", "PG_REFERENCED", 976, 983),
    ("vm_pageout_page", "free", "", 1004, 1010),
    ("vm_pageout_page", "cache", "", 1011, 1017),
    ("vm_pageout_page", "requeue", "dirty, first trip", 1018, 1041),
    ("vm_pageout_page", "requeue", "held after the vnode lock", 1178, 1191),
    ("vm_pageout_page", "requeue", "", 1053, 1087),
    ("vm_pageout_page", "skip", "vnode lock", 1113, 1138),
    ("vm_pageout_page", "skip", "page changed", 1140, 1156),
    ("vm_pageout_page", "skip", "page busied", 1158, 1168),
    ("vm_pageout_page", "skip", "dirty, max_launder", 1221, 1223),
    ("vm_pageout_page", "launder", "", 1194, 1220),
    ("vm_pageout_scan_active", "requeue", "held", 1318, 1331),
    ("vm_pageout_scan_active", "requeue", "vnode page", 1337, 1350),
    ("vm_pageout_scan_active", "requeue", "", 1380, 1391),
    ("vm_pageout_scan_active", "cache", "", 1404, 1433),
    ("vm_pageout_scan_active", "deactivate", "", 1404, 1437),
    ("vm_pageout_scan_active", "decline", "", 1393, 1451),
    ("vm_pageout_scan_cache", "deactivate", "busy", 1522, 1526),
    ("vm_pageout_scan_cache", "deactivate", "", 1535, 1541),
    ("vm_pageout_scan_cache", "free", "", 1511, 1547),
    ("vm_pageout_scan_cache", "kill", "", 1610, 1635),
    ("vm_pageout_page_stats", "requeue", "", 1780, 1806),
    ("vm_pageout_page_stats", "deactivate", "", 1808, 1823),
    ("vm_pageout_page_stats", "decline", "", 1824, 1836),
)


def seed_lines(function: str, action: str, reason: str = "") -> tuple[int, int] | None:
    """The line range of vm_pageout.c that made a decision of the event log, or None."""
    for fn, act, prefix, a, b in SEED_LINES:
        if fn == function and act == action and reason.startswith(prefix):
            return a, b
    return None
