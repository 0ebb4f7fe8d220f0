"""Regenerate the seed-to-vmkit table in docs/fidelity.md from the tests' names.

Every branch test is named test_<seed function>_<first line>_<last line>_<what>.
Run `python docs/make_fidelity_table.py` after adding or renaming such tests;
tests/test_fidelity_doc.py fails while the table is stale.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Seed function -> (first line, last line, vmkit function) ; lines are the seed's.
SEED_FUNCTIONS = {
    "PQAVERAGE": (230, 241, "PageoutMixin.PQAVERAGE"),
    "vm_pageout_clean_helper": (249, 394, "PageoutMixin.vm_pageout_clean_helper"),
    "vm_pageout_flush": (408, 517, "PageoutMixin.vm_pageout_flush"),
    "vm_pageout_mdp_callback": (525, 653, "PageoutMixin.vm_pageout_mdp_callback"),
    "vm_pageout_map_deactivate_pages": (662, 703, "PageoutMixin.vm_pageout_map_deactivate_pages"),
    "vm_pageout_page_free": (716, 721, "PageoutMixin.vm_pageout_page_free"),
    "vm_pageout_scan_inactive": (738, 892, "PageoutMixin.vm_pageout_scan_inactive"),
    "vm_pageout_page": (901, 1225, "PageoutMixin.vm_pageout_page"),
    "vm_pageout_scan_active": (1232, 1467, "PageoutMixin.vm_pageout_scan_active"),
    "vm_pageout_scan_cache": (1500, 1636, "PageoutMixin.vm_pageout_scan_cache"),
    "vm_pageout_scan_callback": (1638, 1688, "PageoutMixin.vm_pageout_scan_callback"),
    "vm_pageout_page_stats": (1696, 1849, "PageoutMixin.vm_pageout_page_stats"),
    "vm_pageout_free_page_calc": (1851, 1889, "PageoutMixin.vm_pageout_free_page_calc"),
    "vm_pageout_thread": (1901, 2285, "PageoutMixin.vm_pageout_thread"),
    "pagedaemon_wakeup": (2317, 2328, "PageoutMixin.pagedaemon_wakeup"),
    "vm_req_vmdaemon": (2336, 2345, "PageoutMixin.vm_req_vmdaemon"),
    "vm_daemon": (2352, 2373, "PageoutMixin.vm_daemon"),
    "vm_daemon_callback": (2375, 2427, "PageoutMixin.vm_daemon_callback"),
}
#: Test-name prefixes that belong to a seed function without being its name.
ALIASES = {"sysctl": "sysctl table (vm_pageout.c:155-204)"}

TEST_RE = re.compile(r"^def (test_([A-Za-z_]+?)_(\d+)_(\d+)_\w*)\(", re.M)
BEGIN = "<!-- BEGIN GENERATED TABLE: docs/make_fidelity_table.py -->"
END = "<!-- END GENERATED TABLE -->"


def branch_tests() -> list[tuple[str, str, int, int, str]]:
    """(function, test, first, last, file) for every branch test."""
    out = []
    names = sorted(SEED_FUNCTIONS, key=len, reverse=True) + list(ALIASES)
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for m in TEST_RE.finditer(path.read_text()):
            test, first, last = m.group(1), int(m.group(3)), int(m.group(4))
            for fn in names:
                if test.startswith(f"test_{fn}_"):
                    out.append((fn, test, first, last, path.name))
                    break
    return out


def render() -> str:
    rows = ["| Seed function (vm_pageout.c lines) | vmkit | Branch (seed lines) | Test |", "|---|---|---|---|"]
    tests = branch_tests()
    for fn, (a, b, py) in sorted(SEED_FUNCTIONS.items(), key=lambda kv: kv[1][0]):
        mine = sorted((t for t in tests if t[0] == fn), key=lambda t: (t[2], t[3], t[1]))
        first = True
        for _, test, x, y, path in mine:
            head = f"`{fn}()` {a}-{b}" if first else ""
            pyname = f"`{py}`" if first else ""
            rows.append(f"| {head} | {pyname} | {x}-{y} | `{path}::{test}` |")
            first = False
        if first:
            rows.append(f"| `{fn}()` {a}-{b} | `{py}` | - | (no branch test) |")
    for alias, label in ALIASES.items():
        for _, test, x, y, path in sorted(t for t in tests if t[0] == alias):
            rows.append(f"| {label} | `vmkit/sysctl.py` | {x}-{y} | `{path}::{test}` |")
    return "\n".join(rows)


def main() -> None:
    doc = ROOT / "docs" / "fidelity.md"
    text = doc.read_text()
    a, b = text.index(BEGIN), text.index(END)
    doc.write_text(text[: a + len(BEGIN)] + "\n" + render() + "\n" + text[b:])


if __name__ == "__main__":
    main()
