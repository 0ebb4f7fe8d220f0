"""Speed of the baseline page-replacement policies (vmkit.policies), in references per second.

Two traces of 2,000,000 references over 20,000 pages, 30 % writes, 1,000 frames:

(a) ``locality``: phases of 20,000-200,000 references, each either a loop over
    100-800 consecutive pages or a hot/cold mix (97 % of references to a hot
    set of 300-800 random pages, 3 % uniform over all pages).  Hit ratio
    96-99 % at 1,000 frames.  Targets: FIFO and LRU >= 5 M refs/s, OPT >= 1 M.
(b) ``uniform``: uniform random over the 20,000 pages: about 5 % hits, the worst case
    (almost every reference is a fault, so none of the shortcuts apply).

Each policy is timed end to end through :func:`vmkit.policies.simulate` (input
checking, preprocessing, the replay, the write-back count) several times;
the best run is reported (the machine is shared, so the median is shown too).

Usage: ``python benchmarks/policies_bench.py [--repeats N] [--refs N] [--frames K] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmkit.policies import POLICIES, lru_fault_curve, simulate  # noqa: E402

TARGETS = {("locality", "fifo"): 5e6, ("locality", "lru"): 5e6, ("locality", "opt"): 1e6}


def locality_trace(n: int, npages: int = 20000, seed: int = 1, write_frac: float = 0.3):
    """Loops and hot/cold phases (see the module docstring)."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < n:
        length = int(rng.integers(20_000, 200_000))
        if rng.random() < 0.4:
            width = int(rng.integers(100, 800))
            base = int(rng.integers(0, npages - width))
            seg = base + np.arange(length) % width
        else:
            h = int(rng.integers(300, 800))
            hot = rng.choice(npages, h, replace=False)
            seg = np.where(rng.random(length) < 0.97, hot[rng.integers(0, h, length)],
                           rng.integers(0, npages, length))
        parts.append(seg)
        total += length
    pages = np.concatenate(parts)[:n].astype(np.int64)
    return pages, rng.random(n) < write_frac


def uniform_trace(n: int, npages: int = 20000, seed: int = 2, write_frac: float = 0.3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, npages, n), rng.random(n) < write_frac


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--refs", type=int, default=2_000_000)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--curve", action="store_true", help="also time lru_fault_curve (every frame count)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers to this file")
    args = ap.parse_args(argv)

    rows = []
    print(f"{args.refs:,} references, 20,000 pages, 30 % writes, {args.frames} frames; "
          f"best (median) of {args.repeats} runs of simulate()")
    print(f"{'trace':9} {'policy':7} {'best s':>7} {'median s':>8} {'M refs/s':>9} {'hit ratio':>9} "
          f"{'faults':>9} {'write-backs':>11}  target")
    for trace_name, gen in (("locality", locality_trace), ("uniform", uniform_trace)):
        pages, writes = gen(args.refs)
        for policy in POLICIES:
            def run(policy=policy, pages=pages, writes=writes):
                return simulate(policy, pages, writes, frames=args.frames, seed=1)
            best, med, r = timed(run, args.repeats)
            rate = args.refs / best
            target = TARGETS.get((trace_name, policy))
            verdict = "" if target is None else f"{target / 1e6:.0f} M: {'met' if rate >= target else 'MISSED'}"
            print(f"{trace_name:9} {policy:7} {best:7.3f} {med:8.3f} {rate / 1e6:9.2f} {r.hit_ratio:9.4f} "
                  f"{r.faults:9,} {r.write_backs:11,}  {verdict}")
            rows.append({"trace": trace_name, "policy": policy, "best_s": best, "median_s": med,
                         "refs_per_s": rate, "target_refs_per_s": target, **r.as_dict()})
        if args.curve:
            def curve(pages=pages):
                return lru_fault_curve(pages, args.frames)
            best, med, _ = timed(curve, max(1, args.repeats // 2))
            print(f"{trace_name:9} {'curve':7} {best:7.3f} {med:8.3f} {args.refs / best / 1e6:9.2f}  "
                  f"(lru_fault_curve: LRU faults for 1..{args.frames} frames at once)")
            rows.append({"trace": trace_name, "policy": "lru_fault_curve", "best_s": best, "median_s": med,
                         "refs_per_s": args.refs / best})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
