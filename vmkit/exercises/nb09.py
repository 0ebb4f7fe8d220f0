"""Exercises of notebook 09: workloads, real traces and tuning.

The expected answers come from the shipped trace ``data/sort.npz``, vmkit's
baseline policies, and runs of the same small machines the notebook builds
(:func:`run_trace`, :func:`grid_run`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from . import exercise

POLICY_NAMES = {
    "belady": "opt", "optimal": "opt", "min": "opt", "belady's optimal": "opt",
    "least recently used": "lru", "first in first out": "fifo", "first-in first-out": "fifo",
    "second chance": "clock", "second-chance": "clock", "random replacement": "random",
}

#: The memory sizes (MB) and vm.max_launder values of the notebook's tuning grid, and its workload.
GRID_MB = (3, 4, 5, 6)
GRID_MAX_LAUNDER = (1, 32, 4096)
GRID_SPEC = "hotcold:pages=1500,count=20000,hot=0.2,p=0.9,writes=0.5"


def data_dir() -> Path:
    """The repository's ``data/`` folder, where the real traces are."""
    import vmkit

    return Path(vmkit.__file__).resolve().parent.parent / "data"


@lru_cache(maxsize=2)
def sort_trace():
    from vmkit.trace import load_trace

    return load_trace(data_dir() / "sort.npz")


@lru_cache(maxsize=16)
def run_trace(ram: int, seed: int = 1) -> dict:
    """Replay sort.npz on a machine of ``ram`` pages, as the notebook does; the daemon's faults and the frames
    the baselines get (memory minus the daemon's free reserve (v_free_min + v_free_target) / 2)."""
    from vmkit import Machine
    from vmkit.trace import TraceWorkload

    vm = Machine(ram=ram, swap="16M", seed=seed, boot_userland=False)
    p = vm.spawn("sort", TraceWorkload(sort_trace()))
    vm.run()
    vs = vm.vmstats
    reserve = (vs.v_free_min + vs.v_free_target) // 2
    return {"ram": ram, "frames": ram - reserve, "daemon": p.p_zfod + p.p_majflt, "seconds": vm.ticks / vm.hz}


def grid_run(mb: int, max_launder: int, seed: int = 1) -> dict:
    """One cell of the notebook's tuning grid: GRID_SPEC on ``mb`` MB with vm.max_launder set."""
    from vmkit import Machine
    from vmkit.workload import parse_workload_spec

    vm = Machine(ram=f"{mb}M", swap="32M", seed=seed, boot_userland=False, pq_l2_size=8)
    vm.sysctl("vm.max_launder", max_launder)
    p = vm.spawn("hotcold", parse_workload_spec(GRID_SPEC))
    vm.run(seconds=20, stop_when_done=True)
    return {"memory_mb": mb, "max_launder": max_launder, "seconds": vm.ticks / vm.hz,
            "faults": p.p_zfod + p.p_majflt, "swap_out": vm.cnt.v_swappgsout, "reactivated": vm.cnt.v_reactivated}


@exercise("nb09.compulsory",
          hint="Every page must be brought in once, whatever the policy and the memory: a cold miss. "
               "How many different pages does the trace touch? (tr.distinct_pages, or np.unique(tr.pages))",
          kind="number")
def compulsory() -> int:
    return sort_trace().distinct_pages


@exercise("nb09.lru_all_fit",
          hint="lru_fault_curve(tr.pages, n)[k] is LRU's fault count with k frames. Find the first k where it "
               "equals the compulsory faults. It is not simply the number of distinct pages: why?",
          kind="number")
def lru_all_fit() -> int:
    import numpy as np

    from vmkit.policies import lru_fault_curve

    tr = sort_trace()
    curve = lru_fault_curve(tr.pages, tr.distinct_pages)
    return int(np.flatnonzero(curve == tr.distinct_pages)[0])


@exercise("nb09.closest_policy",
          hint="Run the trace on a machine of 256 pages, give the baselines ram - (v_free_min + v_free_target)//2 "
               "frames, and compare each policy's faults with the daemon's (p_zfod + p_majflt).",
          kind="choice", synonyms=POLICY_NAMES)
def closest_policy() -> str:
    from vmkit.policies import POLICIES, simulate_all

    r = run_trace(256)
    tr = sort_trace()
    res = simulate_all(tr.pages, tr.writes, r["frames"], policies=POLICIES)
    return min(res, key=lambda x: abs(x.faults - r["daemon"])).policy


@exercise("nb09.no_paging_mb",
          hint="In the grid's DataFrame, keep the rows with swap_out == 0 and take the smallest memory_mb. "
               "Compare it with the workload's 1500 pages: how many pages is 1 MB?",
          kind="number")
def no_paging_mb() -> int:
    for mb in GRID_MB:
        if grid_run(mb, 4096)["swap_out"] == 0:
            return mb
    raise RuntimeError("nb09.no_paging_mb: every memory size of the grid wrote to swap")
