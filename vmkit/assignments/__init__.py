"""Autograded assignments: students implement parts of the daemon and plug them into the real one.

The assignments (nbgrader source notebooks in ``notebooks/assignments/source/``):

* ``a1-thresholds``: ``PQAVERAGE``, ``vm_pageout_free_page_calc``, ``vm_paging_target``
* ``a2-inactive``: the inactive-page decision, ``vm_pageout_page``
* ``a3-aging``: act_count aging and the deactivation rule of the active scan
* ``a4-laundering``: the cluster choice of ``vm_pageout_clean_helper``

A student's function goes into the machine with :meth:`vmkit.Machine.override`.
Each graded test is a battery of cases (:mod:`vmkit.assignments.batteries`)
scored by the fraction of cases whose outcome equals vmkit's own.
:mod:`vmkit.assignments.grader` releases and grades them (``vmkit assignments``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Test:
    """One graded cell: its nbgrader grade id, the battery it runs, its points and the functions it uses."""

    grade_id: str
    battery: str
    points: float
    functions: tuple[str, ...]


ASSIGNMENTS: dict[str, tuple[Test, ...]] = {
    "a1-thresholds": (
        Test("test_pqaverage", "pqaverage", 3, ("PQAVERAGE",)),
        Test("test_free_page_calc", "free_page_calc", 3, ("vm_pageout_free_page_calc",)),
        Test("test_paging_target", "paging_target", 2, ("vm_paging_target",)),
        Test("test_thresholds_run", "thresholds_run", 2,
             ("PQAVERAGE", "vm_pageout_free_page_calc", "vm_paging_target")),
    ),
    "a2-inactive": (
        Test("test_inactive_decisions", "inactive_decisions", 6, ("vm_pageout_page",)),
        Test("test_inactive_run", "inactive_run", 4, ("vm_pageout_page",)),
    ),
    "a3-aging": (
        Test("test_aging_rule", "aging_rule", 5, ("vm_pageout_aging",)),
        Test("test_aging_replay", "aging_replay", 5, ("vm_pageout_aging",)),
    ),
    "a4-laundering": (
        Test("test_clean_clusters", "clean_clusters", 6, ("vm_pageout_clean_helper",)),
        Test("test_clean_run", "clean_run", 4, ("vm_pageout_clean_helper",)),
    ),
}


def find_test(assignment: str, grade_id: str) -> Test:
    for t in ASSIGNMENTS.get(assignment, ()):
        if t.grade_id == grade_id:
            return t
    raise ValueError(f"no test {grade_id!r} in assignment {assignment!r}; "
                     f"assignments: {', '.join(ASSIGNMENTS)}")
