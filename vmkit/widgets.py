"""Dashboards for the notebooks, built from ipywidgets.

* :class:`MachineDashboard` - sliders for memory, swap, the workload's
  parameters and chosen sysctls; every change re-runs a small machine and
  redraws its figures and summary.
* :class:`Stepper` - steps the page daemon one decision, one pass or one
  tick at a time, and back again; shows the queues as coloured strips with
  the page just decided on highlighted, and the decision with the seed lines
  that made it.

Every dashboard owns one matplotlib ``Figure`` (not registered with pyplot)
and redraws it in place, so moving a slider thirty times leaves the number of
open figures unchanged.  Errors inside a callback are shown in the
dashboard's status line, never lost in the kernel log.  Each dashboard has an
``update()`` (or step) method the tests drive, and a ``widget`` to display.
"""

from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import clear_output, display

from . import plots
from .config import parse_size
from .constants import PG_BUSY, PG_MARKER, PG_SBUSY, PG_WINATCFLS, PQ_ACTIVE, PQ_CACHE, PQ_FREE, PQ_INACTIVE
from .events import seed_lines
from .machine import Machine
from .sysctl import SYSCTLS
from .workload import REQUIRED, WORKLOADS, parse_workload_spec


class _Repainted(plots.LivePlot):
    """A standard figure that has no live version: cleared and drawn afresh on every update (slower)."""

    def __init__(self, ax: Any, xlim: tuple[float, float] | None, paint: Callable[..., Any]) -> None:
        super().__init__(ax)
        self.paint = paint

    def static(self) -> list:
        return [self.ax.patch]

    def update(self, *data: Any) -> _Repainted:
        self.ax.clear()
        self.paint(*data, ax=self.ax)
        return self


#: The figures a dashboard can show: name -> (make the live figure on ``ax`` with x limits ``xlim``,
#: update it from a machine that has run).
FIGURES: dict[str, tuple[Callable[..., plots.LivePlot], Callable[[Any, Machine], Any]]] = {
    "queues": (plots.QueuePlot, lambda p, vm: p.update(vm.timeseries(), hz=vm.hz)),
    "swap": (plots.SwapPlot, lambda p, vm: p.update(vm.timeseries(), vm.oom_kills, hz=vm.hz)),
    "laundering": (lambda ax, xlim: plots.LaunderingPlot(ax), lambda p, vm: p.update(vm.passes())),
    "clusters": (lambda ax, xlim: _Repainted(ax, xlim, plots.cluster_sizes),
                 lambda p, vm: p.update(vm.cluster_sizes())),
    "rss": (plots.RSSPlot, lambda p, vm: p.update(vm.rss_timeseries(), hz=vm.hz)),
    "act_count": (plots.ActCountPlot, lambda p, vm: p.update(vm.act_count_histogram(), hz=vm.hz)),
    "lifecycle": (lambda ax, xlim: _Repainted(ax, xlim, plots.page_lifecycle), lambda p, vm: p.update(vm.events())),
}


class FigureBox:
    """One matplotlib Figure shown in an Output widget, redrawn in place.

    Two ways to redraw: :meth:`draw` clears the axes and paints them afresh (the stepper), and
    :meth:`start` + :meth:`show` keep live figures (:class:`vmkit.plots.LivePlot`) that are updated in place
    and drawn by blitting: the parts that do not change (title, legend, a fixed axis) are drawn once into a
    background, and each redraw puts that background back and draws only the rest on top.
    """

    DPI = 90

    def __init__(self, nplots: int = 1, figsize: tuple[float, float] | None = None) -> None:
        self.nplots = nplots
        self.figsize = figsize or (9, 3.6 * nplots)
        self.fig = self._figure(layout="constrained")
        self.axes: list = []
        self.live: list[plots.LivePlot] = []
        self.frozen = False
        self.out = widgets.Output()
        self.draws = 0
        self.png = b""
        self.background: tuple | None = None    # (what it shows, the figure's pixels, each legend's pixels)

    def _figure(self, **kwargs: Any) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize, dpi=self.DPI, **kwargs)
        FigureCanvasAgg(fig)
        return fig

    def draw(self, painter: Callable[[list], None]) -> None:
        """Clear the axes, let ``painter(axes)`` draw on them, show the result as one PNG."""
        if self.frozen:
            for ax in self.axes:
                ax.clear()
        else:
            self.fig.clear()
            self.fig.set_layout_engine("constrained")
            self.axes = list(self.fig.subplots(self.nplots, 1, squeeze=False).ravel())
        painter(self.axes)
        self.draws += 1
        # One render at the figure's size, and the constrained layout computed once, then frozen: the layout
        # pass costs about as much as the render, and the axes keep their place from one redraw to the next.
        # Figures that add axes of their own (colour bars) keep the layout engine, which makes room for them.
        self.fig.canvas.draw()
        self._publish()
        if len(self.fig.axes) != len(self.axes):
            self.frozen = False
        elif not self.frozen:
            self.fig.set_layout_engine("none")      # the axes stay where the layout put them
            self.frozen = True

    def start(self, makers: list[Callable[[Any], plots.LivePlot]]) -> list[plots.LivePlot]:
        """Fresh axes, one per maker, and ``makers[i](axes[i])`` on each: the live figures to update and show."""
        if len(makers) != self.nplots:
            raise ValueError(f"FigureBox has {self.nplots} axes, got {len(makers)} figures")
        self.fig = self._figure(layout="constrained")
        self.axes = list(self.fig.subplots(self.nplots, 1, squeeze=False).ravel())
        self.live = [make(ax) for make, ax in zip(makers, self.axes, strict=True)]
        self.frozen = False
        self.background = None
        return self.live

    def show(self) -> None:
        """Draw the live figures after their ``update()`` and show them as one PNG.

        The first time, the constrained layout places the axes (with the first run's tick labels), and the
        figure keeps that layout.  Each time, the artists a figure calls static are drawn only if they changed
        (a new title, other legend entries, another fixed x range); everything else is drawn over them, in the
        order a full draw would use, and the legends' pixels are put back on top, as a full draw leaves them.
        """
        from matplotlib.legend import Legend

        fig, canvas = self.fig, self.fig.canvas
        if not self.frozen:
            fig.draw_without_rendering()
            fig.set_layout_engine("none")
            self.frozen = True
        dynamic: list[list] = []
        legends: list = []
        key: list = []
        for live in self.live:
            ax = live.ax
            ax.apply_aspect()
            ax.viewLim            # noqa: B018 - reading it brings pending autoscaling up to date, as Axes.draw does
            static = live.static()
            children = ax.get_children()
            # What Axes.draw leaves out, left out here too: the frame and axis objects of an axis("off").
            if not (ax.axison and ax.get_frame_on()):
                children = [a for a in children if a not in ax.spines.values()]
            if not ax.axison:
                children = [a for a in children if a is not ax.xaxis and a is not ax.yaxis]
            drawn = []
            for a in children:
                fixed = any(a is s for s in static)
                a.set_animated(not fixed)
                if not fixed:
                    drawn.append(a)
            dynamic.append(sorted(drawn, key=lambda a: a.get_zorder()))
            legends += [a for a in static if isinstance(a, Legend)]
            key.append(tuple(_looks(ax, a) for a in static))
        if self.background is None or self.background[0] != key:
            canvas.draw()          # the static artists only: Axes.draw skips animated ones
            self.background = (key, canvas.copy_from_bbox(fig.bbox),
                               [canvas.copy_from_bbox(leg.get_window_extent()) for leg in legends])
        else:
            canvas.restore_region(self.background[1])
        for live, artists in zip(self.live, dynamic, strict=True):
            for a in artists:
                live.ax.draw_artist(a)
        for region in self.background[2]:
            canvas.restore_region(region)
        self.draws += 1
        self._publish()

    def _publish(self) -> None:
        """Encode the canvas as a PNG (fast compression: it is sent once and shown once) and show it."""
        import io

        from IPython.display import Image
        from PIL import Image as PILImage

        canvas = self.fig.canvas
        w, h = canvas.get_width_height(physical=True)
        buf = io.BytesIO()
        PILImage.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buf, format="png", compress_level=1)
        self.png = buf.getvalue()
        with self.out:
            clear_output(wait=True)
            display(Image(data=self.png, format="png"))


def _looks(ax: Any, artist: Any) -> Any:
    """What a static artist shows, to tell whether a kept background still holds: text, legend entries,
    axis range."""
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    if isinstance(artist, Text):
        return (artist.get_text(), artist.get_visible())
    if isinstance(artist, Legend):
        return tuple(t.get_text() for t in artist.get_texts()) + (artist.get_visible(),)
    if artist is ax.xaxis:
        return (ax.get_xlim(), ax.xaxis.get_label().get_text())
    if artist is ax.yaxis:
        return (ax.get_ylim(), ax.yaxis.get_label().get_text())
    return None


class _Base:
    """Status line and error guard shared by the dashboards."""

    def __init__(self) -> None:
        self.status = widgets.HTML()
        self.errors: list[str] = []
        self.last_seconds = 0.0
        _settle_heap()

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def callback(*args: Any) -> None:
            # No cyclic garbage collection while a redraw runs; the machine the redraw replaced is collected
            # after it, once the new figure and text have gone to the browser.  Why: a new machine runs faster
            # in the memory the last one gave back (notebook 06: 0.20-0.23 s a run with the old machine
            # collected first, 0.31-0.36 s without), and a collection in the middle of a run stalls it.
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                fn(*args)
            except Exception as exc:           # show it: a silent failure teaches nothing
                self.errors.append(traceback.format_exc())
                self.status.value = (f"<span style='color:#b00'><b>{type(exc).__name__}:</b> "
                                     f"{_escape(str(exc))}</span>")
            finally:
                gc.collect()
                if was_enabled:
                    gc.enable()
        return callback

    def _ipython_display_(self) -> None:
        display(self.widget)


def _settle_heap() -> None:
    """Free what is garbage now, then keep every object still alive out of the collector's walks.

    Why: each redraw ends with a collection (see ``_Base._guard``), and a
    full collection walks every object the kernel holds - some 200,000 in a
    notebook (IPython, pandas, matplotlib), 0.15 s a walk on a 2-core
    machine.  Nearly all of them live as long as the kernel, so they are
    frozen (``gc.freeze``) when a dashboard is made, and a redraw's
    collection walks only what was made since: the machines, a few
    hundredths of a second.  ``gc.unfreeze`` first, so that anything frozen
    by an earlier dashboard that has become garbage since is freed here.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def memory_slider(value: str | int = "8M", lo: int = 1, hi: int = 64, description: str = "memory (MB)"):
    """An integer slider in MB."""
    mb = parse_size(value, "memory") * 4096 // (1 << 20) if isinstance(value, str) else int(value)
    return widgets.IntSlider(value=mb, min=lo, max=hi, step=1, description=description,
                             continuous_update=False, style={"description_width": "initial"})


def sysctl_slider(name: str, lo: int, hi: int, value: int | None = None, step: int = 1) -> widgets.IntSlider:
    """A slider for sysctl ``name`` over ``[lo, hi]``, starting at its default unless ``value`` is given.

    A starting value outside ``[lo, hi]`` is an error (a slider would silently clamp it).
    """
    entry = {e.name: e for e in SYSCTLS}.get(name)
    if entry is None:
        raise ValueError(f"unknown sysctl {name!r}")
    if entry.readonly:
        raise ValueError(f"{name} is read-only")
    default = value if value is not None else (entry.default if not entry.computed else lo)
    if not lo <= default <= hi:
        inside = min(max(default, lo), hi)
        raise ValueError(f"sysctl slider {name}: start value {default} is outside the range {lo}..{hi}; widen "
                         f"the range or give a start value, e.g. sysctls={{{name!r}: ({lo}, {hi}, {inside})}}")
    return widgets.IntSlider(value=default, min=lo, max=hi, step=step, description=name,
                             continuous_update=False, style={"description_width": "initial"},
                             layout=widgets.Layout(width="420px"))


def workload_controls(spec: str) -> dict[str, widgets.Widget]:
    """Sliders for the numeric parameters of a workload SPEC (ranges around the given values)."""
    name, _, rest = spec.partition(":")
    _, params, _ = WORKLOADS[name]
    given = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
    out: dict[str, widgets.Widget] = {}
    for key, (kind, default, desc) in params.items():
        raw = given.get(key)
        if raw is None and default is REQUIRED:
            raise ValueError(f"workload_controls: {spec!r} must give {key}=")
        value = kind(raw) if raw is not None else default
        if kind is float:
            # A hot set of all the pages leaves none cold: the slider stops short of it.
            hi = 0.95 if key == "hot" else 1.0
            out[key] = widgets.FloatSlider(value=min(value, hi), min=0.0 if key != "hot" else 0.05, max=hi,
                                           step=0.05, description=key, continuous_update=False, tooltip=desc)
        else:
            hi = max(4 * int(value), 16)
            # A handful of pages is the least any workload makes sense with (hot/cold needs cold pages too).
            lo = 16 if key in ("pages", "k") else 1
            out[key] = widgets.IntSlider(value=max(int(value), lo), min=lo, max=hi,
                                         step=max(1, hi // 100), description=key, continuous_update=False,
                                         tooltip=desc)
    return out


class MachineDashboard(_Base):
    """Sliders -> a small machine run -> figures and a summary, redrawn in place on every change.

    ``workload`` is a SPEC string whose numeric parameters get sliders;
    ``sysctls`` maps sysctl names to ``(lo, hi)`` slider ranges, or ``(lo, hi, start)``;
    ``figures`` names figures from :data:`FIGURES`; ``seconds`` bounds each
    run (simulated).  ``extra`` adds controls of your own, passed to
    ``setup(vm, values)`` if given, called after the workload is spawned.
    """

    def __init__(self, workload: str = "hotcold:pages=3000,count=100000,writes=0.3",
                 memory: str = "8M", swap: str = "32M", seconds: float = 5.0,
                 sysctls: dict[str, tuple[int, int]] | None = None, figures: tuple[str, ...] = ("queues",),
                 seed: int = 1, extra: dict[str, widgets.Widget] | None = None,
                 setup: Callable[[Machine, dict[str, Any]], None] | None = None,
                 summary: Callable[[Machine], str] | None = None, boot_userland: bool = False,
                 max_memory_mb: int = 64) -> None:
        super().__init__()
        for f in figures:
            if f not in FIGURES:
                raise ValueError(f"unknown figure {f!r}; choose from {', '.join(FIGURES)}")
        self.spec_name = workload.partition(":")[0]
        parse_workload_spec(workload)       # fail now, not in a callback
        self.seconds = seconds
        self.figures = figures
        self.setup = setup
        self.summary_fn = summary
        self.boot_userland = boot_userland
        self.controls: dict[str, widgets.Widget] = {
            "memory": memory_slider(memory, hi=max_memory_mb),
            "swap": memory_slider(swap, lo=0, hi=4 * max_memory_mb, description="swap (MB)"),
        }
        self.controls.update({f"wl:{k}": w for k, w in workload_controls(workload).items()})
        for name, spec in (sysctls or {}).items():
            self.controls[f"sysctl:{name}"] = sysctl_slider(name, *spec)
        self.controls.update(extra or {})
        self.controls["seed"] = widgets.IntText(value=seed, description="seed")
        self.box = FigureBox(len(figures))
        self.plots: list[plots.LivePlot] = []
        self.text = widgets.HTML()
        self.vm: Machine | None = None
        for w in self.controls.values():
            w.observe(self._guard(lambda change: self.update()), names="value")
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox(list(self.controls.values())), self.text]),
                                    self.status, self.box.out])
        self._guard(self.update)()

    def values(self) -> dict[str, Any]:
        return {k: w.value for k, w in self.controls.items()}

    def build(self) -> Machine:
        """A machine for the current control values, its workload spawned, not yet run."""
        v = self.values()
        vm = Machine(ram=f"{v['memory']}M", swap=v["swap"] * 256, seed=int(v["seed"]),
                     boot_userland=self.boot_userland)
        for k, val in v.items():
            if k.startswith("sysctl:"):
                vm.sysctl(k[7:], int(val))
        params = ",".join(f"{k[3:]}={val}" for k, val in v.items() if k.startswith("wl:"))
        vm.spawn(self.spec_name, parse_workload_spec(f"{self.spec_name}:{params}"))
        if self.setup is not None:
            self.setup(vm, v)
        return vm

    def update(self) -> None:
        """Re-run the machine with the current values and redraw."""
        t = time.perf_counter()
        vm = self.build()
        vm.run(until=vm.ticks + int(self.seconds * vm.hz), stop_when_done=True)
        self.vm = vm
        if not self.plots:
            # Time runs along x from 0 to the run's length, the same for every run: the axis is drawn once.
            self.plots = self.box.start([lambda ax, f=f: FIGURES[f][0](ax, (0, self.seconds)) for f in self.figures])
        for f, live in zip(self.figures, self.plots, strict=True):
            FIGURES[f][1](live, vm)
        self.box.show()
        self.text.value = self.summary_fn(vm) if self.summary_fn else summary_html(vm)
        self.last_seconds = time.perf_counter() - t
        self.status.value = f"<small>ran {vm.ticks / vm.hz:.1f} simulated s in {self.last_seconds:.2f} s</small>"


def summary_html(vm: Machine) -> str:
    """A small HTML table of what a run did."""
    c = vm.cnt
    vs = vm.vmstats
    refs = sum(p.p_refs for p in list(vm.allproc.values()) + vm.zombproc)
    rows = [
        ("references", refs), ("faults", c.v_vm_faults), ("page-ins", c.v_swappgsin + c.v_vnodepgsin),
        ("pages written to swap", c.v_swappgsout), ("laundered", vm.laundered), ("reactivated", c.v_reactivated),
        ("daemon passes", vm.pageout_passes), ("pages visited", c.v_pdpages), ("OOM kills", len(vm.oom_kills)),
        ("lost writes", len(vm.lost_writes)),
        ("free / cache / inactive / active",
         f"{vs.v_free_count} / {vs.v_cache_count} / {vs.v_inactive_count} / {vs.v_active_count}"),
    ]
    body = "".join(f"<tr><td>{k}</td><td style='text-align:right'><b>{v}</b></td></tr>" for k, v in rows)
    return f"<table style='font-size:90%'>{body}</table>"


# --- the stepper ---------------------------------------------------------------------------------

STATE_COLOURS = ["#ffffff", "#a6d96a", "#fdae61", "#d7191c", "#2b83ba", "#000000", "#d9d9d9"]
STATE_NAMES = ["(empty)", "clean", "dirty", "dirty, 2nd trip", "busy (I/O)", "scan marker", "free"]


def _state(m: Any) -> int:
    if m.flags & PG_MARKER:
        return 5
    if m.object is None:
        return 6
    if m.flags & (PG_BUSY | PG_SBUSY):
        return 4
    if m.dirty:
        return 3 if m.flags & PG_WINATCFLS else 2
    return 1


class Stepper(_Base):
    """Step the page daemon one decision, one pass or one tick at a time, and back.

    ``setup()`` must return a fresh machine with its processes spawned, the
    same every time (a fixed seed): stepping back replays the run from the
    start to the previous decision, which is exact because runs are
    deterministic.
    """

    WINDOW = 96          # pages of a queue shown at once

    def __init__(self, setup: Callable[[], Machine]) -> None:
        super().__init__()
        self.setup = setup
        self.vm = setup()
        self.vm.record_events = True
        self.history: list[int] = []
        self.box = FigureBox(1, figsize=(10, 3.4))
        self.text = widgets.HTML()
        self.buttons = {
            "decision": widgets.Button(description="next decision", icon="step-forward"),
            "ten": widgets.Button(description="10 decisions", icon="forward"),
            "pass": widgets.Button(description="next pass", icon="fast-forward"),
            "tick": widgets.Button(description="next tick", icon="clock-o"),
            "back": widgets.Button(description="back", icon="step-backward"),
            "reset": widgets.Button(description="reset", icon="refresh"),
        }
        actions = {"decision": lambda: self.step(1), "ten": lambda: self.step(10), "pass": self.step_pass,
                   "tick": self.step_tick, "back": self.back, "reset": self.reset}
        for key, b in self.buttons.items():
            b.on_click(self._guard(lambda _b, f=actions[key]: f()))
        self.widget = widgets.VBox([widgets.HBox(list(self.buttons.values())), self.text, self.status, self.box.out])
        self._guard(self.refresh)()

    # -- actions ----------------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        self.history.append(self.vm.event_count())
        self.vm.step(n)
        self.refresh()

    def step_pass(self) -> None:
        self.history.append(self.vm.event_count())
        self.vm.step_pass(max_seconds=600)
        self.refresh()

    def step_tick(self) -> None:
        self.history.append(self.vm.event_count())
        self.vm.run(until=self.vm.ticks + 1)
        self.refresh()

    def back(self) -> None:
        """Replay from the start to the decision count before the last step."""
        if not self.history:
            self.status.value = "<small>already at the start</small>"
            return
        target = self.history.pop()
        self.vm = self.setup()
        self.vm.record_events = True
        # Decisions made inside setup() (a machine it ran for a while) are already behind us.
        if target > self.vm.event_count():
            self.vm.step(target - self.vm.event_count())
        self.refresh()

    def reset(self) -> None:
        self.history.clear()
        self.vm = self.setup()
        self.vm.record_events = True
        self.refresh()

    # -- display -----------------------------------------------------------------------------------
    def last_decision(self) -> dict[str, Any] | None:
        rows = self.vm._ev_rows
        if not rows:
            return None
        return self.vm.events().iloc[-1].to_dict()

    def decision_html(self) -> str:
        d = self.last_decision()
        vm = self.vm
        head = (f"tick {vm.ticks} &nbsp; decisions {vm.event_count()} &nbsp; passes {vm.pageout_passes} &nbsp; "
                f"free {vm.vmstats.v_free_count} &nbsp; cache {vm.vmstats.v_cache_count} &nbsp; "
                f"inactive {vm.vmstats.v_inactive_count} &nbsp; active {vm.vmstats.v_active_count}")
        if d is None:
            return f"<div>{head}</div><div>No decision yet: step to run the machine until the daemon acts.</div>"
        lines = seed_lines(str(d["function"]), str(d["action"]), str(d["reason"]))
        where = f"vm_pageout.c:{lines[0]}-{lines[1]}" if lines else "vm_pageout.c"
        return (f"<div>{head}</div><div style='font-family:monospace'>"
                f"<b>{d['function']}</b> ({d['thread']}): page {d['page']} ({d['object']}) "
                f"{d['queue_before']} &rarr; {d['queue_after']}: <b>{d['action']}</b>, {_escape(str(d['reason']))}"
                f", act_count {d['act_count']} &nbsp; <i>{where}</i></div>")

    def strips(self) -> tuple[list[str], list[list[int]], dict[str, int]]:
        """Per queue (for the colour of the page decided on last): page states in queue order, where that
        page is, and where a scan marker is (``name + "/marker"``)."""
        vm = self.vm
        d = self.last_decision()
        colour = 0
        page = -1
        if d is not None and d["page"] >= 0:
            page = int(d["page"])
            colour = vm.vm_page_array[page].pc
        names, rows, where = [], [], {}
        for base, name in ((PQ_ACTIVE, "ACTIVE"), (PQ_INACTIVE, "INACTIVE"), (PQ_CACHE, "CACHE"),
                           (PQ_FREE, "FREE")):
            q = vm.vm_page_queues[base + colour]
            states, pos, mpos = [], -1, -1
            for i, m in enumerate(q):
                states.append(_state(m))
                if m.flags & PG_MARKER:
                    mpos = i
                elif m.pfn == page:
                    pos = i
            names.append(f"{name}+{colour}")
            rows.append(states)
            if pos >= 0:
                where[names[-1]] = pos
            if mpos >= 0:
                where[names[-1] + "/marker"] = mpos
        return names, rows, where

    def refresh(self) -> None:
        t = time.perf_counter()
        self.text.value = self.decision_html()
        names, rows, where = self.strips()

        def paint(axes: list) -> None:
            import numpy as np
            from matplotlib.colors import ListedColormap
            from matplotlib.patches import Patch, Rectangle

            ax = axes[0]
            width = self.WINDOW
            half = width // 2
            grid = np.zeros((len(rows), width + 1))
            cut = False
            for r, states in enumerate(rows):
                # A long queue shows its head (where the scan marker works) and its tail
                # (where requeued pages go), with a gap between.
                if len(states) > width:
                    shown = states[:half] + [0] + states[-half:]
                    cut = True
                else:
                    shown = states
                grid[r, :len(shown)] = shown

            def column(r: int, i: int) -> int | None:
                n = len(rows[r])
                if n <= width:
                    return i
                if i < half:
                    return i
                if i >= n - half:
                    return half + 1 + (i - (n - half))
                return None

            ax.imshow(grid, cmap=ListedColormap(STATE_COLOURS), vmin=0, vmax=len(STATE_COLOURS) - 1, aspect="auto",
                      interpolation="nearest")
            for r, name in enumerate(names):
                if name in where:
                    x = column(r, where[name])
                    if x is not None:
                        ax.add_patch(Rectangle((x - 0.5, r - 0.5), 1, 1, fill=False, ec="magenta", lw=2.5))
            if cut:
                ax.axvline(half, color="grey", lw=0.8, ls=":")
            ax.set_yticks(range(len(names)), [f"{n} ({len(rows[i])})" for i, n in enumerate(names)])
            ax.set_xlabel("queue position: head on the left, tail on the right"
                          + (f" (long queues: first and last {half} pages)" if cut else ""))
            ax.legend(handles=[Patch(color=c, label=n) for c, n in zip(STATE_COLOURS[1:], STATE_NAMES[1:],
                                                                       strict=True)]
                      + [Patch(fill=False, ec="magenta", label="page just decided on")],
                      loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=8, fontsize=8)
            ax.set_title("Page queues of one colour, as the daemon sees them")

        self.box.draw(paint)
        self.last_seconds = time.perf_counter() - t
