"""How fast the lackey reducer is (``vmkit.trace``): seconds per GB of lackey log, and its peak memory.

Captures a lackey log of ``sort`` on 20,000 generated lines (about 0.5 GB,
45 s of valgrind) into a temporary file, or reuses ``--log FILE``, then times
:func:`vmkit.trace.reduce_lackey` on it.  A capture proper streams the log
through a named pipe instead; this benchmark times the reducer alone.

Usage: ``python benchmarks/trace_bench.py [--log FILE] [--keep FILE]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmkit.trace import CAPTURE_ENV, reduce_lackey  # noqa: E402


def make_log(path: Path) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as work:
        lines = "".join(f"{rng.randrange(10**6)} {rng.random():.6f}\n" for _ in range(20000))
        Path(work, "in.txt").write_text(lines)
        env = [f"{k}={v}" for k, v in CAPTURE_ENV.items()]
        subprocess.run(["env", "-i", *env, "valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={path}",
                        "sort", "in.txt"], cwd=work, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", type=Path, help="an existing lackey log to reduce")
    ap.add_argument("--keep", type=Path, help="keep the generated log here")
    ap.add_argument("--k", type=int, default=64)
    args = ap.parse_args()
    if shutil.which("valgrind") is None and args.log is None:
        print("valgrind is not installed: give --log FILE", file=sys.stderr)
        return 2
    tmp = None
    log = args.log
    if log is None:
        tmp = tempfile.TemporaryDirectory()
        log = args.keep or Path(tmp.name, "lackey.log")
        t0 = time.perf_counter()
        make_log(log)
        print(f"captured {log} ({os.path.getsize(log) / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s")
    size = os.path.getsize(log)
    t0 = time.perf_counter()
    tr = reduce_lackey(log, k=args.k)
    dt = time.perf_counter() - t0
    m = tr.meta
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"reduced {size / 1e9:.2f} GB in {dt:.1f} s: {dt / (size / 1e9):.1f} s per GB; peak RSS {peak:.0f} MB")
    print(f"  {m['raw_references']:,} references -> {m['step1_records']:,} step-1 records -> "
          f"{m['step2_records']:,} SAD records (K={m['k']}), {tr.distinct_pages} pages")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
