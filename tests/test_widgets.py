"""Dashboards redraw in place: no figures pile up, and the blitted picture is the picture a full draw makes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from vmkit import plots, widgets  # noqa: E402
from vmkit.machine import Machine  # noqa: E402

SMALL = {"workload": "seq:pages=1200,passes=2,writes=0.5", "memory": "4M", "swap": "8M", "seconds": 0.4,
         "max_memory_mb": 8}


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def _full_draw(box: widgets.FigureBox) -> np.ndarray:
    """The same figure drawn the ordinary way: every artist, in one pass."""
    for ax in box.fig.get_axes():
        for a in ax.get_children():
            a.set_animated(False)
    box.fig.canvas.draw()
    return np.asarray(box.fig.canvas.buffer_rgba()).astype(int)


def test_thirty_slider_moves_leave_the_open_figures_unchanged():
    dash = widgets.MachineDashboard(**SMALL, figures=("queues", "laundering"))
    figures_before = plt.get_fignums()
    fig = dash.box.fig
    memory = dash.controls["memory"]
    for i in range(30):
        memory.value = 3 if i % 2 == 0 else 4
    assert dash.errors == []
    assert plt.get_fignums() == figures_before
    assert dash.box.fig is fig and len(fig.axes) == 2
    assert dash.box.draws == 31


@pytest.mark.parametrize("figure", sorted(widgets.FIGURES))
def test_a_redrawn_figure_is_what_a_full_draw_shows(figure):
    """After a slider move the PNG (background kept, the rest drawn over it, legends put back on top) matches
    a full draw of the same figure, to a few pixels at the legends' edges."""
    dash = widgets.MachineDashboard(**SMALL, figures=(figure,), setup=_record_everything)
    dash.controls["memory"].value = 3
    dash.controls["wl:writes"].value = 0.8
    assert dash.errors == []
    shown = _pixels(dash.box.png)
    full = _full_draw(dash.box)
    assert shown.shape == full.shape
    differ = (np.abs(shown - full).max(axis=2) > 8).sum()
    assert differ < 0.001 * shown.shape[0] * shown.shape[1], f"{differ} pixels differ"


def _record_everything(vm: Machine, values: dict) -> None:
    vm.record_act_hist = True
    vm.act_hist_every = 5


def test_a_new_title_or_legend_redraws_the_background():
    dash = widgets.MachineDashboard(**SMALL, figures=("queues",))
    live = dash.plots[0]
    live.ax.set_title("Another title")
    dash.box.show()
    shown = _pixels(dash.box.png)
    assert (np.abs(shown - _full_draw(dash.box)).max(axis=2) > 8).sum() < 0.001 * shown[..., 0].size


def test_the_time_axis_spans_the_run_length():
    dash = widgets.MachineDashboard(**SMALL, figures=("queues", "swap", "rss", "act_count"),
                                    setup=_record_everything)
    for live in dash.plots:
        assert live.ax.get_xlim() == (0, SMALL["seconds"])


def test_the_plot_functions_still_draw_on_a_fresh_axes():
    vm = Machine(ram="4M", swap=2048, seed=1)
    vm.record_act_hist = True
    vm.spawn("seq", plots_workload())
    vm.run(until=40)
    fig, axes = plt.subplots(6, 1)
    try:
        assert len(plots.queue_sizes(vm.timeseries(), ax=axes[0], hz=vm.hz).lines) >= 5
        assert plots.laundering_per_pass(vm.passes(), ax=axes[1]).get_legend() is not None
        assert plots.rss_vs_limit(vm.rss_timeseries(), ax=axes[2], hz=vm.hz).lines
        assert plots.swap_use(vm.timeseries(), vm.oom_kills, ax=axes[3], hz=vm.hz).lines
        assert plots.act_count_histogram(vm.act_count_histogram(), ax=axes[4], hz=vm.hz).images
        # Without xlim the time axis follows the data, as before.
        t = vm.timeseries()["tick"] / vm.hz
        assert axes[0].get_xlim() == (t.iloc[0], t.iloc[-1])
        assert plots.queue_sizes(vm.timeseries().iloc[:0], ax=axes[5]).get_title() == "no samples"
    finally:
        plt.close(fig)


def plots_workload():
    from vmkit.workload import parse_workload_spec

    return parse_workload_spec("seq:pages=1200,passes=2,writes=0.5")


def test_stepper_still_redraws_in_place():
    def setup() -> Machine:
        vm = Machine(ram="4M", swap=2048, seed=1)
        vm.spawn("seq", plots_workload())
        return vm

    stepper = widgets.Stepper(setup)
    fig = stepper.box.fig
    for _ in range(3):
        stepper.step(1)
    stepper.back()
    assert stepper.errors == []
    assert stepper.box.fig is fig and stepper.box.png.startswith(b"\x89PNG")


def test_a_run_that_laundered_nothing_says_so_and_the_next_run_scales_again():
    dash = widgets.MachineDashboard(**SMALL, figures=("laundering",))
    live = dash.plots[0]
    dash.controls["memory"].value = 8          # twice the workload: nothing to launder
    assert dash.errors == [] and dash.vm.passes()["laundered"].sum() == 0
    assert live.note.get_text() == "no page was laundered in this run"
    assert live.ax.get_ylim() == (0, 1)
    dash.controls["memory"].value = 3
    laundered = dash.vm.passes()["laundered"]
    assert laundered.sum() > 0 and live.note.get_text() == ""
    assert live.ax.get_ylim()[1] >= laundered.max()


def test_laundering_plot_keeps_one_bar_artist_and_draws_every_pass():
    dash = widgets.MachineDashboard(**SMALL, figures=("laundering",))
    live = dash.plots[0]
    bars, children = live.bars, len(live.ax.get_children())
    for memory in (3, 4):
        dash.controls["memory"].value = memory
        passes = dash.vm.passes()
        values, edges, _ = live.bars.get_data()
        assert live.bars is bars and len(live.ax.get_children()) == children
        assert list(values) == list(passes["laundered"]) and list(edges) == [i - 0.5 for i in range(len(passes) + 1)]
        assert list(live.swap_line.get_ydata()) == list(passes["swap_pages_out"])
    assert dash.errors == []


def test_laundering_plot_marks_the_emergency_pagers_passes_and_drops_the_marks_when_there_are_none():
    import pandas as pd

    fig, ax = plt.subplots()
    live = plots.LaunderingPlot(ax)
    passes = pd.DataFrame({"laundered": [0, 5, 7, 2], "swap_pages_out": [0, 5, 7, 2],
                           "thread": ["pagedaemon", "emergpager", "pagedaemon", "emergpager"]})
    live.update(passes)
    assert [tuple(p) for p in live.pager.get_offsets()] == [(1, 5), (3, 2)]
    assert "emergency pager" in [t.get_text() for t in ax.get_legend().get_texts()]
    live.update(passes.assign(thread="pagedaemon"))
    assert live.pager is None and len(ax.collections) == 0
    assert ax.get_ylim()[1] > 7          # headroom above the tallest bar for the legend
    plt.close(fig)


def test_a_redraw_frees_the_machine_it_replaced_and_the_kernels_long_lived_objects_are_frozen():
    import gc
    import weakref

    dash = widgets.MachineDashboard(**SMALL)
    assert gc.get_freeze_count() > 0         # what was alive when the dashboard was made: out of the walks
    replaced = weakref.ref(dash.vm)
    dash.controls["memory"].value = 3
    assert replaced() is None and dash.vm is not None    # its cycles were collected after the redraw
    assert gc.isenabled()
