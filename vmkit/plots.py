"""Standard figures.  Each takes a recorded run (a DataFrame) and an optional ``ax=``, and returns the axes.

Library code draws; notebooks and the command line display or save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes

QUEUE_COLOURS = {
    "free": "#2ca02c",
    "cache": "#17becf",
    "inactive": "#ff7f0e",
    "active": "#d62728",
}


def _axes(ax: Axes | None, figsize: tuple[float, float] = (8, 4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


class LivePlot:
    """A standard figure drawn once on ``ax`` and then updated in place (``update(...)``), for dashboards.

    A dashboard redraws its figures on every slider move.  Building a figure from scratch (``ax.clear()``, new
    tick objects, new legend) costs more than drawing it, so each figure keeps its artists and ``update``
    changes their data; only what varies in number from run to run (bars, kills) is made afresh.  ``xlim``
    fixes the x axis (a dashboard passes ``(0, seconds)`` of its runs); without it the x axis follows the data.

    :meth:`static` names the artists that look the same after every update - the title, the legend and a fixed
    x axis.  :class:`vmkit.widgets.FigureBox` draws them once and keeps their pixels (blitting), and draws the
    rest on every update.  Legends are opaque, so their pixels can be put back on top of the lines; a legend
    placed where it hides the least data (``loc="best"``) moves with the data, so it is drawn every time.
    """

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None) -> None:
        self.ax = ax
        self.xlim = xlim
        self._legend_labels: list[str] | None = None
        self._legend_fixed = False
        if xlim is not None:
            ax.set_xlim(*xlim)

    def static(self) -> list:
        """Artists drawn once per background: they do not change in :meth:`update` unless their text does."""
        ax = self.ax
        out = [ax.patch, ax.title]
        if ax.legend_ is not None and self._legend_fixed:
            out.append(ax.legend_)
        if self.xlim is not None:
            out.append(ax.xaxis)
        return out

    def _legend(self, handles: list, **kwargs: Any) -> None:
        """(Re)make the legend only when its entries change, so that it can stay in the background."""
        labels = [h.get_label() for h in handles]
        if labels != self._legend_labels:
            self.ax.legend(handles, labels, framealpha=1.0, **kwargs)
            self._legend_labels = labels
            self._legend_fixed = kwargs.get("loc", "best") != "best"

    def _autoscale(self, headroom: float = 0.0) -> None:
        """Limits from the visible data, as a freshly drawn figure would have them (x fixed if ``xlim``), with
        ``headroom`` (a fraction of the y range) added above, to keep a legend in a top corner off the data."""
        self.ax.relim(visible_only=True)
        self.ax.autoscale_view(scalex=self.xlim is None)
        if headroom:
            lo, hi = self.ax.get_ylim()
            self.ax.set_ylim(lo, hi + headroom * (hi - lo), auto=None)


class QueuePlot(LivePlot):
    """Pages on the free, cache, inactive and active queues over time, with the daemon's thresholds.

    ``update(ts, hz)`` takes ``machine.timeseries()``.  The thresholds are drawn on the free+cache scale they
    apply to: ``v_free_min``, ``v_free_target`` and the paging target ``v_free_target + v_cache_min``.
    """

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None, thresholds: bool = True) -> None:
        super().__init__(ax, xlim)
        self.lines = {q: ax.plot([], [], label=q, color=c, lw=1.2)[0] for q, c in QUEUE_COLOURS.items()}
        self.lines["free + cache"] = ax.plot([], [], label="free + cache", color="black", lw=1.0, ls="--")[0]
        self.thresholds = []
        if thresholds:
            for _ in range(3):
                line = ax.axhline(0, color="grey", lw=0.9, visible=False)
                label = ax.annotate("", (0, 0), xytext=(-4, 2), textcoords="offset points", ha="right",
                                    va="bottom", fontsize=8, color="grey", visible=False)
                self.thresholds.append((line, label))
        ax.set_xlabel("simulated seconds")
        ax.set_ylabel("pages")
        ax.set_title("Page queues")
        self._legend(list(self.lines.values()), loc="upper left", fontsize=8, ncol=3)
        if xlim is None:
            ax.margins(x=0)

    def update(self, ts: pd.DataFrame, hz: int = 100) -> QueuePlot:
        if ts.empty:
            for line in self.lines.values():
                line.set_data([], [])
            for line, label in self.thresholds:
                line.set_visible(False)
                label.set_visible(False)
            return self
        t = ts["tick"].to_numpy() / hz
        for q, line in self.lines.items():
            line.set_data(t, ts[q].to_numpy() if q in ts else (ts["free"] + ts["cache"]).to_numpy())
        if self.thresholds:
            last = ts.iloc[-1]
            marks = [("v_free_min", last["v_free_min"], ":"), ("v_free_target", last["v_free_target"], "-."),
                     ("paging target", last["v_free_target"] + last["v_cache_min"], "--")]
            if last["v_cache_min"] == 0:     # small machines: the paging target is v_free_target itself
                marks = [marks[0], ("v_free_target = paging target", last["v_free_target"], "-.")]
            for i, (line, label) in enumerate(self.thresholds):
                name, value, style = marks[i] if i < len(marks) else ("", 0, "-")
                shown = value > 0
                line.set_visible(shown)
                label.set_visible(shown)
                if shown:
                    line.set_ydata([value, value])
                    line.set_linestyle(style)
                    label.set_text(name)
                    label.xy = (t[-1], value)
        # Headroom above the highest line for the legend, which sits in the top-left corner: without it the
        # legend hides whichever queue is largest at the start of the run.
        self._autoscale(headroom=0.3)
        return self


def queue_sizes(ts: pd.DataFrame, ax: Axes | None = None, hz: int = 100, thresholds: bool = True) -> Axes:
    """Pages on the free, cache, inactive and active queues over time, with the daemon's thresholds.

    ``ts`` is ``machine.timeseries()``.  The thresholds are drawn on the free+cache scale they
    apply to: ``v_free_min``, ``v_free_target`` and the paging target ``v_free_target + v_cache_min``.
    """
    ax = _axes(ax)
    if ts.empty:
        ax.set_title("no samples")
        return ax
    return QueuePlot(ax, thresholds=thresholds).update(ts, hz=hz).ax


class ActCountPlot(LivePlot):
    """How act_count is spread over the active pages, over time: ``update(hist, hz)`` takes
    ``machine.act_count_histogram()``.  See :func:`act_count_histogram`."""

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None) -> None:
        super().__init__(ax, xlim)
        self.image = None
        self.colorbar = None
        ax.set_xlabel("simulated seconds")
        ax.set_ylabel("act_count")
        ax.set_title("act_count of the active pages")

    def update(self, hist: pd.DataFrame, hz: int = 100) -> ActCountPlot:
        import numpy as np

        if hist.empty:
            if self.image is not None:
                self.image.set_visible(False)
            return self
        data = hist.to_numpy().T
        top = int(np.max(np.nonzero(data.sum(axis=1))[0])) + 2 if data.any() else data.shape[0]
        t = hist.index.to_numpy() / hz
        extent = (t[0], t[-1] if len(t) > 1 else t[0] + 1, -0.5, top - 0.5)
        shown = np.log1p(data[:top])
        if self.image is None:
            self.image = self.ax.imshow(shown, aspect="auto", origin="lower", extent=extent, cmap="viridis",
                                        interpolation="nearest")
            # The colour bar lives inside the axes' own box (an inset), so the figure keeps its layout from one
            # redraw to the next.
            cax = self.ax.inset_axes([1.01, 0.0, 0.015, 1.0])
            self.colorbar = self.ax.figure.colorbar(self.image, cax=cax, label="log(1 + pages)")
        else:
            self.image.set_visible(True)
            self.image.set_data(shown)
            self.image.set_extent(extent)
            self.image.set_clim(shown.min(), shown.max())     # what a fresh imshow would choose
        return self


def act_count_histogram(hist: pd.DataFrame, ax: Axes | None = None, hz: int = 100) -> Axes:
    """How act_count is spread over the active pages, over time (``machine.act_count_histogram()``).

    A heat map: time across, act_count up, colour = pages.  Aging shows as
    mass sliding down; a burst of references as mass jumping up.
    """
    ax = _axes(ax)
    if hist.empty:
        ax.set_title("no act_count samples (set machine.record_act_hist = True before running)")
        return ax
    return ActCountPlot(ax).update(hist, hz=hz).ax


class LaunderingPlot(LivePlot):
    """Pages laundered and swap pages written in each daemon pass: ``update(passes)`` takes
    ``machine.passes()``."""

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None) -> None:
        from matplotlib.ticker import MaxNLocator

        super().__init__(ax, xlim)
        # One bar per pass, drawn as a single filled step outline: one artist whose data is replaced, where
        # ax.bar would make (and the next run throw away) a rectangle per pass - most of a redraw's cost.
        self.bars = ax.stairs([0], [-0.5, 0.5], fill=True, color="#9467bd", label="laundered (pages flushed)")
        self.pager = None
        self.swap_line = ax.plot([], [], color="black", lw=1, label="swap pages written")[0]
        # Said in words when a run laundered nothing (plenty of memory, or no dirty pages): an empty plot
        # with stale axes would look like a fault of the dashboard.
        self.note = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center", color="dimgrey")
        ax.set_xlabel("daemon pass")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))      # passes are counted: no tick at 2.5
        ax.set_ylabel("pages")
        ax.set_title("Laundering and swap I/O per pass")

    def update(self, passes: pd.DataFrame) -> LaunderingPlot:
        import numpy as np

        ax = self.ax
        if self.pager is not None:              # the emergency pager's passes vary from run to run
            self.pager.remove()
            self.pager = None
        n = len(passes)
        laundered = passes["laundered"].to_numpy()
        self.bars.set_data(laundered if n else [0], np.arange(n + 1) - 0.5 if n else [-0.5, 0.5])
        self.swap_line.set_data(np.arange(n), passes["swap_pages_out"].to_numpy())
        handles = [self.bars, self.swap_line]
        ep = (passes["thread"] == "emergpager").to_numpy()
        if ep.any():
            self.pager = ax.scatter(np.flatnonzero(ep), laundered[ep], marker="v", color="red", zorder=3,
                                    label="emergency pager")
            handles.append(self.pager)
        # A fixed corner, so the legend is drawn once and kept (blitting); headroom keeps it off the bars.
        self._legend(handles, fontsize=8, loc="upper right")
        self._autoscale(headroom=0.3)
        idle = not (laundered.any() or passes["swap_pages_out"].any())
        self.note.set_text("no page was laundered in this run" if idle else "")
        if idle:
            ax.set_ylim(0, 1, auto=None)     # auto=None: the next run with data scales again
        return self


def laundering_per_pass(passes: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Pages laundered and pages written to swap in each daemon pass (``machine.passes()``)."""
    ax = _axes(ax)
    if passes.empty:
        ax.set_title("no daemon passes")
        return ax
    return LaunderingPlot(ax).update(passes).ax


def cluster_sizes(clusters: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """How many pages each laundering cluster held (``machine.cluster_sizes()``); at most 64."""
    ax = _axes(ax, (6, 4))
    if clusters.empty:
        ax.set_title("no clusters laundered")
        return ax
    for obj, colour in (("SWAP", "#1f77b4"), ("DEFAULT", "#1f77b4"), ("VNODE", "#8c564b")):
        sel = clusters[clusters["object"] == obj]["pages"]
        if len(sel):
            ax.hist(sel, bins=range(1, 66), color=colour, alpha=0.7, label=f"{obj} objects")
    ax.set_xlabel("pages in the cluster")
    ax.set_ylabel("clusters")
    ax.set_title("Laundering cluster sizes")
    ax.legend(fontsize=8)
    return ax


class RSSPlot(LivePlot):
    """Resident pages of each process against its RLIMIT_RSS: ``update(rss, hz)`` takes
    ``machine.rss_timeseries()``."""

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None) -> None:
        super().__init__(ax, xlim)
        self.procs: dict[tuple[int, str], tuple] = {}
        ax.set_xlabel("simulated seconds")
        ax.set_ylabel("resident pages")
        ax.set_title("RSS against RLIMIT_RSS (dashed: limit; dotted: limit + 4096, where vm_daemon acts)")

    def update(self, rss: pd.DataFrame, hz: int = 100) -> RSSPlot:
        ax = self.ax
        groups = list(rss.groupby(["pid", "name"]))
        keys = [(int(pid), str(name)) for (pid, name), _ in groups]
        if keys != list(self.procs):
            # Other processes: new lines, coloured from the start of the colour cycle as on a fresh figure.
            for artists in self.procs.values():
                for a in artists:
                    a.remove()
            ax.set_prop_cycle(None)
            self.procs = {}
            for pid, name in keys:
                line, = ax.plot([], [], label=f"{name} ({pid})")
                self.procs[(pid, name)] = (line, ax.axhline(0, color=line.get_color(), ls="--", lw=0.9),
                                           ax.axhline(0, color=line.get_color(), ls=":", lw=0.8))
        for key, (_, g) in zip(keys, groups, strict=True):
            line, limit, trim = self.procs[key]
            line.set_data(g["tick"].to_numpy() / hz, g["rss_pages"].to_numpy())
            lim = int(g["rss_limit_pages"].iloc[-1])
            limit.set_visible(lim < (1 << 40))
            trim.set_visible(lim < (1 << 40))
            limit.set_ydata([lim, lim])
            trim.set_ydata([lim + 4096, lim + 4096])
        self._legend([artists[0] for artists in self.procs.values()], fontsize=8)
        self._autoscale()
        return self


def rss_vs_limit(rss: pd.DataFrame, ax: Axes | None = None, hz: int = 100) -> Axes:
    """Resident pages of each process against its RLIMIT_RSS (``machine.rss_timeseries()``)."""
    ax = _axes(ax)
    if rss.empty:
        ax.set_title("no processes")
        return ax
    return RSSPlot(ax).update(rss, hz=hz).ax


class SwapPlot(LivePlot):
    """Swap in use, with the periods when swap was almost full or full, and the OOM kills:
    ``update(ts, kills, hz)`` takes ``machine.timeseries()`` and ``machine.oom_kills``."""

    def __init__(self, ax: Axes, xlim: tuple[float, float] | None = None) -> None:
        super().__init__(ax, xlim)
        self.used = ax.plot([], [], color="#1f77b4", label="swap used")[0]
        self.total = ax.axhline(0, color="grey", ls="--", lw=0.9, visible=False)
        self.made: list = []          # the shaded periods and the kills: as many as the run had
        ax.set_xlabel("simulated seconds")
        ax.set_ylabel("swap pages")
        ax.set_title("Swap use and the out-of-memory killer")
        if xlim is None:
            ax.margins(x=0)

    def update(self, ts: pd.DataFrame, kills: list | None = None, hz: int = 100) -> SwapPlot:
        ax = self.ax
        for a in self.made:
            a.remove()
        self.made = []
        t = ts["tick"].to_numpy() / hz
        self.used.set_data(t, ts["swap_used"].to_numpy())
        total = int(ts["swap_total"].max()) if len(ts) else 0
        self.total.set_visible(total > 0)
        self.total.set_ydata([total, total])
        top = max(total, int(ts["swap_used"].max()) if len(ts) else 0, 1)
        almost = ax.fill_between(t, 0, top, where=ts["swap_almost_full"].to_numpy() > 0, color="orange",
                                 alpha=0.15, step="post", label="swap_pager_almost_full")
        full = ax.fill_between(t, 0, top, where=ts["swap_full"].to_numpy() > 0, color="red", alpha=0.15,
                               step="post", label="swap_pager_full")
        self.made += [almost, full]
        for k in kills or []:
            self.made.append(ax.axvline(k["tick"] / hz, color="red", lw=1.2))
            self.made.append(ax.annotate(f"kill {k['name']}", (k["tick"] / hz, top), rotation=90, va="top",
                                         ha="right", fontsize=8, color="red"))
        self._legend([self.used, almost, full], fontsize=8, loc="upper left")
        self._autoscale()
        return self


def swap_use(ts: pd.DataFrame, kills: list | None = None, ax: Axes | None = None, hz: int = 100) -> Axes:
    """Swap in use, with the periods when swap was almost full or full, and the OOM kills."""
    ax = _axes(ax)
    if ts.empty:
        ax.set_title("no samples")
        return ax
    return SwapPlot(ax).update(ts, kills, hz=hz).ax


_LIFECYCLE_POS = {"FREE": (0.08, 0.5), "ACTIVE": (0.45, 0.88), "INACTIVE": (0.85, 0.5), "CACHE": (0.45, 0.12)}
_LIFECYCLE_EDGES = (
    ("FREE", "ACTIVE", "fault: vm_page_alloc + activate"),
    ("ACTIVE", "INACTIVE", "act_count < pass + 1: deactivate"),
    ("INACTIVE", "ACTIVE", "referenced: activate"),
    ("INACTIVE", "CACHE", "clean: vm_page_cache"),
    ("ACTIVE", "CACHE", "clean, shortage: cache"),
    ("CACHE", "FREE", "cache scan: free"),
    ("CACHE", "ACTIVE", "fault: reactivate"),
    ("INACTIVE", "INACTIVE", "dirty: 2nd trip / launder"),
)


def page_lifecycle(events: pd.DataFrame | None = None, ax: Axes | None = None) -> Axes:
    """The life of a page: FREE -> ACTIVE -> INACTIVE -> CACHE -> FREE, with laundering.

    With an event log, each arrow carries how many daemon decisions made
    that move (faults are not daemon decisions, so FREE -> ACTIVE has none).
    """
    from matplotlib.patches import FancyArrowPatch

    ax = _axes(ax, (8, 5))
    counts: dict[tuple[str, str], int] = {}
    if events is not None and len(events):
        moved = events[events["page"] >= 0].groupby(["queue_before", "queue_after"], observed=True).size()
        counts = {(str(a), str(b)): int(n) for (a, b), n in moved.items()}
    for name, (x, y) in _LIFECYCLE_POS.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=12, weight="bold",
                bbox={"boxstyle": "round,pad=0.5", "fc": QUEUE_COLOURS[name.lower()], "alpha": 0.35})
    for a, b, label in _LIFECYCLE_EDGES:
        (x0, y0), (x1, y1) = _LIFECYCLE_POS[a], _LIFECYCLE_POS[b]
        n = counts.get((a, b))
        text = label + (f"\n{n:,}" if n else "")
        if a == b:
            ax.annotate(text, (x0, y0 - 0.1), xytext=(x0 + 0.05, y0 - 0.3), fontsize=8, ha="left",
                        arrowprops={"arrowstyle": "->", "connectionstyle": "arc3,rad=-0.5"})
            continue
        rad = 0.25
        arrow = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, shrinkA=30, shrinkB=30,
                                connectionstyle=f"arc3,rad={rad}", color="#444444")
        ax.add_patch(arrow)
        # Put the label on the arc's bulge, so that opposite arrows keep their labels apart.
        dx, dy = x1 - x0, y1 - y0
        mx, my = (x0 + x1) / 2 + rad * 0.55 * dy, (y0 + y1) / 2 - rad * 0.55 * dx
        ax.text(mx, my, text, fontsize=8, ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.set_title("The life of a page" + (" (daemon decisions in this run)" if counts else ""))
    return ax
