"""Standard figures.  Each takes a recorded run (a DataFrame) and an optional ``ax=``, and returns the axes.

Library code draws; notebooks and the command line display or save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def queue_sizes(ts: pd.DataFrame, ax: Axes | None = None, hz: int = 100, thresholds: bool = True) -> Axes:
    """Pages on the free, cache, inactive and active queues over time, with the daemon's thresholds.

    ``ts`` is ``machine.timeseries()``.  The thresholds are drawn on the
    free+cache scale they apply to: ``v_free_min``, ``v_free_target`` and
    the paging target ``v_free_target + v_cache_min``.
    """
    ax = _axes(ax)
    if ts.empty:
        ax.set_title("no samples")
        return ax
    t = ts["tick"] / hz
    for q, colour in QUEUE_COLOURS.items():
        ax.plot(t, ts[q], label=q, color=colour, lw=1.2)
    ax.plot(t, ts["free"] + ts["cache"], label="free + cache", color="black", lw=1.0, ls="--")
    if thresholds:
        last = ts.iloc[-1]
        lines = [("v_free_min", last["v_free_min"], ":"), ("v_free_target", last["v_free_target"], "-."),
                 ("paging target", last["v_free_target"] + last["v_cache_min"], "--")]
        if last["v_cache_min"] == 0:     # small machines: the paging target is v_free_target itself
            lines = [lines[0], ("v_free_target = paging target", last["v_free_target"], "-.")]
        for name, value, style in lines:
            if value > 0:
                ax.axhline(value, color="grey", ls=style, lw=0.9)
                ax.annotate(name, (t.iloc[-1], value), xytext=(-4, 2), textcoords="offset points",
                            ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("pages")
    ax.set_title("Page queues")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    ax.margins(x=0)
    return ax


def act_count_histogram(hist: pd.DataFrame, ax: Axes | None = None, hz: int = 100) -> Axes:
    """How act_count is spread over the active pages, over time (``machine.act_count_histogram()``).

    A heat map: time across, act_count up, colour = pages.  Aging shows as
    mass sliding down; a burst of references as mass jumping up.
    """
    import numpy as np

    ax = _axes(ax)
    if hist.empty:
        ax.set_title("no act_count samples (set machine.record_act_hist = True before running)")
        return ax
    data = hist.to_numpy().T
    top = int(np.max(np.nonzero(data.sum(axis=1))[0])) + 2 if data.any() else data.shape[0]
    t = hist.index.to_numpy() / hz
    extent = (t[0], t[-1] if len(t) > 1 else t[0] + 1, -0.5, top - 0.5)
    im = ax.imshow(np.log1p(data[:top]), aspect="auto", origin="lower", extent=extent, cmap="viridis",
                   interpolation="nearest")
    # The colour bar lives inside the axes' own box (an inset), so the figure keeps its layout from one redraw
    # to the next and clearing the axes clears the bar too.
    cax = ax.inset_axes([1.01, 0.0, 0.015, 1.0])
    ax.figure.colorbar(im, cax=cax, label="log(1 + pages)")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("act_count")
    ax.set_title("act_count of the active pages")
    return ax


def laundering_per_pass(passes: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Pages laundered and pages written to swap in each daemon pass (``machine.passes()``)."""
    ax = _axes(ax)
    if passes.empty:
        ax.set_title("no daemon passes")
        return ax
    x = range(len(passes))
    ax.bar(x, passes["laundered"], color="#9467bd", label="laundered (pages flushed)")
    ax.plot(x, passes["swap_pages_out"], color="black", lw=1, label="swap pages written")
    ep = passes["thread"] == "emergpager"
    if ep.any():
        ax.scatter([i for i, e in zip(x, ep, strict=True) if e], passes.loc[ep, "laundered"], marker="v",
                   color="red", zorder=3, label="emergency pager")
    ax.set_xlabel("daemon pass")
    ax.set_ylabel("pages")
    ax.set_title("Laundering and swap I/O per pass")
    ax.legend(fontsize=8)
    return ax


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


def rss_vs_limit(rss: pd.DataFrame, ax: Axes | None = None, hz: int = 100) -> Axes:
    """Resident pages of each process against its RLIMIT_RSS (``machine.rss_timeseries()``)."""
    ax = _axes(ax)
    if rss.empty:
        ax.set_title("no processes")
        return ax
    for (pid, name), g in rss.groupby(["pid", "name"]):
        line, = ax.plot(g["tick"] / hz, g["rss_pages"], label=f"{name} ({pid})")
        lim = int(g["rss_limit_pages"].iloc[-1])
        if lim < (1 << 40):
            ax.axhline(lim, color=line.get_color(), ls="--", lw=0.9)
            ax.axhline(lim + 4096, color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("resident pages")
    ax.set_title("RSS against RLIMIT_RSS (dashed: limit; dotted: limit + 4096, where vm_daemon acts)")
    ax.legend(fontsize=8)
    return ax


def swap_use(ts: pd.DataFrame, kills: list | None = None, ax: Axes | None = None, hz: int = 100) -> Axes:
    """Swap in use, with the periods when swap was almost full or full, and the OOM kills."""
    ax = _axes(ax)
    if ts.empty:
        ax.set_title("no samples")
        return ax
    t = ts["tick"] / hz
    ax.plot(t, ts["swap_used"], color="#1f77b4", label="swap used")
    total = int(ts["swap_total"].max())
    if total:
        ax.axhline(total, color="grey", ls="--", lw=0.9)
    top = max(total, int(ts["swap_used"].max()), 1)
    ax.fill_between(t, 0, top, where=ts["swap_almost_full"] > 0, color="orange", alpha=0.15, step="post",
                    label="swap_pager_almost_full")
    ax.fill_between(t, 0, top, where=ts["swap_full"] > 0, color="red", alpha=0.15, step="post",
                    label="swap_pager_full")
    for k in kills or []:
        ax.axvline(k["tick"] / hz, color="red", lw=1.2)
        ax.annotate(f"kill {k['name']}", (k["tick"] / hz, top), rotation=90, va="top", ha="right", fontsize=8,
                    color="red")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("swap pages")
    ax.set_title("Swap use and the out-of-memory killer")
    ax.legend(fontsize=8, loc="upper left")
    ax.margins(x=0)
    return ax


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
