"""Every notebook runs top to bottom headless in under 60 s, and every widget control works.

Plain headless execution does not see errors raised inside widget callbacks
(they go to an Output widget or the kernel log), so after running a notebook
the test drives every control in the same kernel - each slider to its ends
and middle, each button clicked - and fails if any dashboard recorded an
error or any Output widget holds an error or a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
LIMIT_S = 60.0

DRIVER = r'''
import json as _json, time as _time
import ipywidgets as _w
from ipywidgets.widgets import widget as _wm
import vmkit.widgets as _vw

_report = {"controls": 0, "buttons": 0, "errors": [], "slowest": 0.0}
_drive_start = _time.perf_counter()

def _dashboards():
    return [v for v in list(globals().values()) if isinstance(v, _vw._Base)]

def _settle(label):
    for d in _dashboards():
        _report["slowest"] = max(_report["slowest"], d.last_seconds)
        for e in d.errors:
            _report["errors"].append(f"{label}: {e.strip().splitlines()[-1]}")
        d.errors.clear()

def _outputs_with_errors():
    bad = []
    for wid in list(_wm._instances.values()):
        if isinstance(wid, _w.Output):
            for o in wid.outputs:
                text = str(o.get("text", "")) + str(o.get("traceback", "")) + str(o.get("ename", ""))
                if o.get("output_type") == "error" or "Traceback" in text:
                    bad.append(text[-300:])
    return bad

_settle("before driving")
for _wid in list(_wm._instances.values()):
    if not getattr(_wid, "_view_name", None) or isinstance(_wid, _w.Output):
        continue
    try:
        if isinstance(_wid, (_w.IntSlider, _w.FloatSlider, _w.IntRangeSlider, _w.FloatRangeSlider,
                             _w.BoundedIntText, _w.BoundedFloatText)):
            lo, hi = _wid.min, _wid.max
            old = _wid.value
            if isinstance(_wid, (_w.IntRangeSlider, _w.FloatRangeSlider)):
                values = [(lo, lo), (lo, hi), (lo, (lo + hi) / 2 if isinstance(lo, float) else (lo + hi) // 2)]
            else:
                mid = (lo + hi) / 2 if isinstance(_wid, (_w.FloatSlider, _w.BoundedFloatText)) else (lo + hi) // 2
                values = [lo, hi, mid]
            for v in values + [old]:
                _wid.value = v
                _settle(f"{type(_wid).__name__} {getattr(_wid, 'description', '')}={v}")
            _report["controls"] += 1
        elif isinstance(_wid, (_w.Dropdown, _w.ToggleButtons, _w.RadioButtons, _w.SelectionSlider)):
            old = _wid.value
            for opt in list(_wid.options):
                _wid.value = opt[1] if isinstance(opt, tuple) else opt
                _settle(f"{type(_wid).__name__} {getattr(_wid, 'description', '')}")
            _wid.value = old
            _report["controls"] += 1
        elif isinstance(_wid, (_w.Checkbox, _w.ToggleButton)):
            old = _wid.value
            _wid.value = not old
            _settle(f"{type(_wid).__name__} {getattr(_wid, 'description', '')}")
            _wid.value = old
            _settle(f"{type(_wid).__name__} {getattr(_wid, 'description', '')}")
            _report["controls"] += 1
        elif isinstance(_wid, _w.Button):
            _wid.click()
            _settle(f"Button {_wid.description}")
            _report["buttons"] += 1
    except Exception as _exc:       # an unguarded callback raised into the setter
        _report["errors"].append(f"{type(_wid).__name__} {getattr(_wid, 'description', '')}: {_exc!r}")
_report["errors"] += _outputs_with_errors()
_report["drive_seconds"] = _time.perf_counter() - _drive_start
print("WIDGET-REPORT " + _json.dumps(_report))
'''


def _run(path: Path, extra: str | None = None) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    if extra is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    out = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and "Traceback" in o.get("text", ""):
                out.append(f"cell {i}: traceback on stderr")
    return out


def test_there_are_ten_notebooks():
    numbers = sorted(p.name[:2] for p in NOTEBOOKS)
    assert numbers == [f"{i:02d}" for i in range(10)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_in_time_and_every_widget_works(path):
    """Top to bottom in under 60 s (kernel start included, the widget drive after it excluded), no errors,
    and then every control driven to its ends and middle without an error reaching the screen."""
    nb, seconds = _run(path, DRIVER)
    assert _errors(nb) == []
    report = None
    for o in nb.cells[-1].get("outputs", []):
        for line in o.get("text", "").splitlines():
            if line.startswith("WIDGET-REPORT "):
                report = json.loads(line[len("WIDGET-REPORT "):])
    assert report is not None, "the widget driver did not report"
    notebook_seconds = seconds - report["drive_seconds"]
    print(f"{path.name}: {notebook_seconds:.1f} s; {report['controls']} controls, {report['buttons']} buttons "
          f"driven in {report['drive_seconds']:.1f} s; slowest redraw {report['slowest']:.2f} s")
    assert notebook_seconds < LIMIT_S, f"{path.name} took {notebook_seconds:.1f} s"
    assert report["errors"] == [], report["errors"][:5]
    assert report["controls"] + report["buttons"] > 0, f"{path.name} has no interactive control"
