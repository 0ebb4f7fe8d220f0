"""Re-capture the real-program traces in data/ (see data/README.md).

Each trace is one program run under valgrind's lackey by
``vmkit.trace.capture`` (the same code as ``vmkit trace capture``), on an
input this script generates deterministically from a fixed seed into a
temporary working directory.  On the same CPU, system and package versions a
re-capture gives the same trace.

Usage::

    .venv/bin/python data/make_traces.py                 # all traces (about 10 minutes)
    .venv/bin/python data/make_traces.py sort xz         # some of them
    .venv/bin/python data/make_traces.py --list          # what there is
    .venv/bin/python data/make_traces.py --table         # the provenance table of data/README.md
    .venv/bin/python data/make_traces.py --scale 0.1 --out /tmp/t   # a quick, smaller trial

Needs valgrind, and sqlite3 for the sqlite3 trace (Debian: ``apt-get install
valgrind sqlite3``).  Captures run one after another.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from vmkit.trace import DEFAULT_K, capture, load_trace  # noqa: E402

SEED = 20240601

# Input sizes, chosen so that each capture takes roughly 100-170 s of valgrind time.
SIZES = {"sort_lines": 20_000, "xz_bytes": 48_000, "python_keys": 8_000, "sql_customers": 500,
         "sql_orders": 6_000, "awk_bytes": 700_000}


def _size(name: str, scale: float) -> int:
    return max(10, int(SIZES[name] * scale))

# A small vocabulary with Zipf-like frequencies: text that compresses like prose.
_SYLLABLES = ["an", "ber", "cal", "do", "en", "fra", "gi", "hol", "in", "jo", "ka", "lu", "mer", "no", "or",
              "pa", "qui", "ra", "se", "ta", "un", "vo", "wen", "xi", "yo", "zu"]


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def make_words(scale: float) -> dict[str, bytes]:
    """lines.txt: N lines of 'word word number' for sort."""
    rng = random.Random(SEED)
    vocab = _vocabulary(rng)
    n = _size("sort_lines", scale)
    lines = [f"{rng.choice(vocab)} {rng.choice(vocab)} {rng.randint(0, 999999)}\n" for _ in range(n)]
    return {"lines.txt": "".join(lines).encode()}


def make_text(target: int) -> dict[str, bytes]:
    """text.txt: ``target`` bytes of pseudo-English prose (Zipf-distributed words, sentences, paragraphs)."""
    rng = random.Random(SEED + 1)
    vocab = _vocabulary(rng)
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    out: list[str] = []
    size = 0
    while size < target:
        words = rng.choices(vocab, weights, k=rng.randint(5, 20))
        sentence = " ".join(words).capitalize() + (". " if rng.random() < 0.9 else ".\n\n")
        out.append(sentence)
        size += len(sentence)
    return {"text.txt": "".join(out).encode()[:target]}


PYTHON_PROGRAM = """\
n = {n}
d = {{}}
x = 12345
for i in range(n):
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    d["key%d" % x] = i
items = sorted(d.items())
print(len(items), items[0], items[-1])
"""


def python_argv(scale: float) -> list[str]:
    n = _size("python_keys", scale)
    return ["/usr/bin/python3", "-I", "-S", "-c", PYTHON_PROGRAM.format(n=n)]


def make_sql(scale: float) -> dict[str, bytes]:
    """join.sql: two tables filled by recursive CTEs, joined and grouped."""
    customers = _size("sql_customers", scale)
    orders = _size("sql_orders", scale)
    sql = f"""\
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, region INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {customers})
  INSERT INTO customers SELECT x, 'customer' || x, x % 17 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {orders})
  INSERT INTO orders SELECT x, (x * 7919) % {customers} + 1, (x * 104729) % 1000 FROM c;
SELECT c.region, count(*), sum(o.amount)
  FROM orders AS o JOIN customers AS c ON o.customer = c.id
  GROUP BY c.region ORDER BY c.region;
SELECT c.name, sum(o.amount) AS total
  FROM customers AS c JOIN orders AS o ON o.customer = c.id
  GROUP BY c.id ORDER BY total DESC LIMIT 10;
"""
    return {"join.sql": sql.encode()}


AWK_PROGRAM = '{ for (i = 1; i <= NF; i++) count[$i]++ } END { for (w in count) n++; print n }'

# name: (what, input files generator or None, argv builder, input description)
TRACES = {
    "sort": ("GNU sort: 20,000 lines of two words and a number, sorted by number then word",
             make_words, lambda s: ["sort", "-k3,3n", "-k1,1", "lines.txt"],
             "lines.txt: {lines} lines, {bytes} bytes, random words and numbers (seed {seed})"),
    "xz": ("xz -6, one thread, compressing 48 kB of pseudo-English text",
           lambda s: make_text(_size("xz_bytes", s)), lambda s: ["xz", "-6", "-T1", "-c", "text.txt"],
           "text.txt: {bytes} bytes of Zipf-distributed pseudo-words (seed {seed})"),
    "python3": ("CPython 3 building a dict of 8,000 string keys and sorting its items",
                None, python_argv,
                "the program in argv (-c), dict of {n} keys from a linear congruential generator"),
    "sqlite3": ("SQLite 3 in memory: fill two tables (500 and 6,000 rows), join, group, sort",
                make_sql, lambda s: ["sqlite3", "-batch", "-init", "/dev/null", ":memory:", ".read join.sql"],
                "join.sql: recursive-CTE inserts of {customers} customers and {orders} orders, two joins"),
    "awk": ("mawk counting word frequencies in 700 kB of pseudo-English text",
            lambda s: make_text(_size("awk_bytes", s)), lambda s: ["awk", AWK_PROGRAM, "text.txt"],
            "text.txt: {bytes} bytes of Zipf-distributed pseudo-words (seed {seed})"),
}


def _describe(name: str, files: dict[str, bytes], scale: float) -> str:
    fmt = TRACES[name][3]
    blob = b"".join(files.values())
    return fmt.format(lines=blob.count(b"\n"), bytes=len(blob), seed=SEED, n=_size("python_keys", scale),
                      customers=_size("sql_customers", scale), orders=_size("sql_orders", scale))


def capture_one(name: str, out_dir: Path, scale: float = 1.0, k: int = DEFAULT_K) -> None:
    what, make, argv_of, _ = TRACES[name]
    files = make(scale) if make else {}
    argv = argv_of(scale)
    with tempfile.TemporaryDirectory(prefix="vmkit-capture-") as work:
        for fname, content in files.items():
            Path(work, fname).write_bytes(content)
        meta = {
            "name": name,
            "description": what,
            "input": _describe(name, files, scale),
            "input_sha256": {f: hashlib.sha256(c).hexdigest() for f, c in files.items()},
            "generator": f"data/make_traces.py (seed {SEED}, scale {scale})",
        }
        out = out_dir / f"{name}.npz"
        print(f"{name}: capturing {shlex.join(argv)[:100]!r} ...", flush=True)
        t0 = time.monotonic()
        tr = capture(argv, k=k, out=out, workdir=work, meta=meta)
    m = tr.meta
    print(f"{name}: {m['raw_references']:,} references ({m['log_bytes'] / 1e9:.2f} GB of log) -> "
          f"{m['step1_records']:,} step-1 records -> {m['step2_records']:,} SAD records, "
          f"{tr.distinct_pages:,} pages; {time.monotonic() - t0:.0f} s; {out} {os.path.getsize(out):,} bytes; "
          f"exit status {m['exit_status']}", flush=True)


def table(out_dir: Path) -> str:
    rows = ["| Trace | Program | Raw references | Step 1 records | Step 2 records (K) | Pages | Writes | "
            "Log | Capture | File |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in TRACES:
        path = out_dir / f"{name}.npz"
        if not path.exists():
            continue
        tr = load_trace(path)
        m = tr.meta
        rows.append(f"| `{name}.npz` | `{m['program']}` | {m['raw_references']:,} | {m['step1_records']:,} | "
                    f"{m['step2_records']:,} ({m['k']}) | {tr.distinct_pages:,} | {tr.write_fraction:.1%} | "
                    f"{m['log_bytes'] / 1e9:.2f} GB | {m['capture_seconds']:.0f} s | "
                    f"{os.path.getsize(path) / 1e3:,.0f} kB |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"traces to capture (default: all of {', '.join(TRACES)})")
    ap.add_argument("--out", type=Path, default=HERE, help="directory for the .npz files (default: data/)")
    ap.add_argument("--scale", type=float, default=1.0, help="input size factor (default 1)")
    ap.add_argument("--k", type=int, default=DEFAULT_K, help=f"SAD segment size (default {DEFAULT_K})")
    ap.add_argument("--list", action="store_true", help="list the traces")
    ap.add_argument("--table", action="store_true", help="print the provenance table of the captured traces")
    args = ap.parse_args(argv)
    if args.list:
        for name, (what, *_rest) in TRACES.items():
            print(f"{name:<8} {what}")
        return 0
    if args.table:
        print(table(args.out))
        return 0
    names = args.names or list(TRACES)
    for name in names:
        if name not in TRACES:
            ap.error(f"unknown trace {name!r}; choose from {', '.join(TRACES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        capture_one(name, args.out, args.scale, args.k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
