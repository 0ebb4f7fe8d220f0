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
        for name, value, style in (
            ("v_free_min", last["v_free_min"], ":"),
            ("v_free_target", last["v_free_target"], "-."),
            ("paging target", last["v_free_target"] + last["v_cache_min"], "--"),
        ):
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
