"""The ``vmkit`` command line (also ``python -m vmkit``).

Every sub-command prints plain text by default and JSON with ``--json``.  A
bad value is reported as ``vmkit: error: ...`` naming the option and the
allowed range, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .config import RAM_MAX_PAGES, RAM_MIN_PAGES, VMConfig, check_int


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: same format and status as ours
        self.print_usage(sys.stderr)
        self.exit(2, f"vmkit: error: {message}\n")


def _add_machine_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--memory", default="64M", help="RAM, e.g. 64M, 1G, or a page count (default 64M)")
    sp.add_argument("--swap", default="128M", help="swap size, e.g. 128M, 0 for none (default 128M)")
    sp.add_argument("--page-size", type=int, default=4096, help="bytes per page, a power of two (default 4096)")
    sp.add_argument("--ncpus", type=int, default=1, help="CPUs (default 1)")
    sp.add_argument("--hz", type=int, default=100, help="clock ticks per second (default 100)")
    sp.add_argument("--pq-l2-size", type=int, default=16, help="page colours per queue (default 16; DragonFly: 512)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _config_from(args: argparse.Namespace) -> VMConfig:
    return VMConfig(ram=args.memory, swap=args.swap, page_size=args.page_size, ncpus=args.ncpus,
                    hz=args.hz, pq_l2_size=args.pq_l2_size, seed=args.seed)


def cmd_machine(args: argparse.Namespace) -> int:
    """Boot a machine and print its configuration, vmstats, queues and processes."""
    from .machine import Machine

    vm = Machine(_config_from(args))
    if args.seconds:
        vm.run(seconds=args.seconds)
    out: dict[str, Any] = {
        "config": vm.config.describe(),
        "ticks": vm.ticks,
        "vmstats": vm.vmstats_dict(),
        "queues": vm.queue_counts(),
        "swap": {"total_pages": vm.vm_swap_max, "free_pages": vm.vm_swap_size},
        "processes": vm.processes(),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    cfg = out["config"]
    print(f"vmkit {__version__}: DragonFly BSD VM on an emulated machine")
    print(f"memory: {cfg['ram']} pages ({cfg['ram_bytes']}), page size {cfg['page_size']}, "
          f"swap: {cfg['swap']} pages ({cfg['swap_bytes']})")
    print(f"ncpus {cfg['ncpus']}, hz {cfg['hz']}, PQ_L2_SIZE {cfg['pq_l2_size']}, seed {cfg['seed']}")
    print(f"tick {vm.ticks}")
    print("queues: " + ", ".join(f"{k} {v}" for k, v in out["queues"].items()))
    for k, v in out["vmstats"].items():
        print(f"vm.stats.{k}: {v}")
    print("  PID COMMAND        STATE     RSS")
    for p in out["processes"]:
        print(f"{p['pid']:5d} {p['name']:<14} {p['state']:<8} {p['rss_pages']:5d}")
    return 0


# Machine settings are named after VMConfig fields; on the command line they are options.
_OPTION_OF_FIELD = {"ram": "--memory", "pages": "--pages", "swap": "--swap", "page_size": "--page-size",
                    "ncpus": "--ncpus", "hz": "--hz", "pq_l2_size": "--pq-l2-size", "seed": "--seed",
                    "seconds": "--seconds"}


def _option_names(message: str) -> str:
    field, _, rest = message.partition(" ")
    return f"{_OPTION_OF_FIELD[field]} {rest}" if field in _OPTION_OF_FIELD else message


def cmd_sysctl(args: argparse.Namespace) -> int:
    """Print every tunable and every threshold the daemon computes at start-up, as sysctl(8) does."""
    from .machine import Machine

    if args.pages is not None and args.memory is not None:
        raise ValueError("give --pages or --memory, not both")
    if args.pages is not None:
        check_int(args.pages, "pages", RAM_MIN_PAGES, RAM_MAX_PAGES)
    ram = args.pages if args.pages is not None else (args.memory or "64M")
    # A freshly booted machine: every page free when the daemon starts.
    vm = Machine(ram=ram, swap=args.swap, ncpus=args.ncpus, hz=args.hz, boot_userland=False)
    vm.run(until=1)
    values = vm.sysctl_all()
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        for name, value in values.items():
            print(f"{name}: {value}")
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    """Run a built-in scenario and print its summary (and write its event log)."""
    from .scenarios import SCENARIOS, run_scenario

    if args.list or not args.name:
        for name, (desc, _) in SCENARIOS.items():
            print(f"{name:<16} {desc}")
        return 0
    res = run_scenario(args.name, args.seed)
    if args.events:
        res.machine.events().to_csv(args.events, index=False)
    s = res.summary
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    print(f"scenario {s['scenario']}: {s['description']}")
    print(f"simulated {s['seconds']:.2f} s ({s['ticks']} ticks) in {s['host_seconds']:.2f} s; seed {s['seed']}")
    print(f"references {s['references']}, faults {s['faults']}, swap writes {s['swap_writes']} "
          f"({s['swap_pages_written']} pages), laundered {s['laundered']}, reactivated {s['reactivated']}, "
          f"lost writes {s['lost_writes']}")
    for k, v in s["mechanism"].items():
        print(f"  {k}: {v}")
    for k in s["killed"]:
        print(f"  killed pid {k['pid']} ({k['name']}), {k['size_pages']} pages, at tick {k['tick']}")
    if s["dmesg"]:
        print("dmesg:")
        lines = s["dmesg"]
        for line in lines[:12]:
            print(f"  {line}")
        if len(lines) > 12:
            print(f"  ... {len(lines) - 12} more lines")
    if args.events:
        print(f"event log: {args.events} ({s['events']} events)")
    return 0


class Progress:
    """A one-line progress bar on stderr, shown only on a terminal and only for runs longer than a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()
        self.shown = False

    def update(self, fraction: float | None, text: str) -> None:
        if not self.enabled or time.perf_counter() - self.start < 1.0:
            return
        self.shown = True
        if fraction is None:
            bar = ""
        else:
            n = int(30 * min(max(fraction, 0.0), 1.0))
            bar = f"[{'#' * n}{'.' * (30 - n)}] {100 * fraction:5.1f}% "
        sys.stderr.write(f"\r{bar}{text}\x1b[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_with_progress(vm: Any, until: int | None, progress: Progress) -> None:
    """Run ``vm`` to tick ``until`` (or until its processes end) in quarter-second slices, updating ``progress``."""
    procs = vm.user_procs()
    totals = [p.workload.total_refs() if p.workload is not None else None for p in procs]
    known = None if any(t is None for t in totals) else sum(totals)
    start = vm.ticks
    step = max(1, vm.hz // 4)
    while True:
        if until is not None:
            if vm.ticks >= until:
                break
            vm.run(until=min(until, vm.ticks + step))
            frac: float | None = (vm.ticks - start) / max(1, until - start)
        else:
            if not vm.user_procs():
                break
            vm.run(until=vm.ticks + step, stop_when_done=True)
            frac = sum(p.p_refs for p in procs) / known if known else None
        progress.update(frac, f"t={vm.ticks / vm.hz:.1f}s faults={vm.cnt.v_vm_faults} "
                              f"free={vm.vmstats.v_free_count} swap used={vm.swap_in_use()}")
    progress.done()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the machine with the page daemon on workloads and print a summary."""
    from .machine import Machine
    from .scenarios import summarize
    from .workload import parse_workload_spec, workload_help

    if args.list_workloads:
        print(workload_help())
        return 0
    if not args.workload:
        raise ValueError("give at least one --workload SPEC (vmkit run --list-workloads lists them)")
    if args.seconds is not None and not 0 < args.seconds <= 1e7:
        raise ValueError(f"--seconds must be between 0 and 10000000, got {args.seconds}")
    vm = Machine(ram=args.memory, swap=args.swap, seed=args.seed, ncpus=args.ncpus, hz=args.hz)
    for i, spec in enumerate(args.workload):
        wl = parse_workload_spec(spec)
        name = spec.split(":", 1)[0].strip().lower()
        if len(args.workload) > 1:
            name = f"{name}{i + 1}"
        if not wl.finite and args.seconds is None:
            raise ValueError(f"--workload {spec!r} never ends by itself: give --seconds")
        vm.spawn(name, wl)
    t = time.perf_counter()
    progress = Progress(not args.json)
    until = None if args.seconds is None else vm.ticks + int(round(args.seconds * vm.hz))
    run_with_progress(vm, until, progress)
    host = time.perf_counter() - t
    s = summarize(vm, host)
    s["page_ins"] = vm.cnt.v_swappgsin + vm.cnt.v_vnodepgsin
    s["kills"] = len(vm.oom_kills)
    if args.csv:
        vm.timeseries().to_csv(args.csv, index=False)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .plots import queue_sizes

        ax = queue_sizes(vm.timeseries(), hz=vm.hz)
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=120)
        plt.close(ax.figure)
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    print(f"simulated {s['seconds']:.2f} s ({s['ticks']} ticks) in {host:.2f} s of host time")
    print(f"references {s['references']}, faults {s['faults']}, page-ins {s['page_ins']}, "
          f"swap writes {s['swap_writes']} ({s['swap_pages_written']} pages), laundered {s['laundered']}, "
          f"reactivated {s['reactivated']}, kills {s['kills']}, lost writes {s['lost_writes']}")
    vs = s["vmstats"]
    print(f"final: free {vs['v_free_count']}, cache {vs['v_cache_count']}, inactive {vs['v_inactive_count']}, "
          f"active {vs['v_active_count']}, wired {vs['v_wire_count']} (of {vs['v_page_count']} pages)")
    print("  PID COMMAND        STATE       RSS   REFS")
    for p in s["processes"]:
        if p["pid"] >= vm.config.first_user_pid:
            print(f"{p['pid']:5d} {p['name']:<14} {p['state']:<8} {p['rss_pages']:6d} {p['refs']:6d}")
    for k in s["killed"]:
        print(f"killed pid {k['pid']} ({k['name']}), {k['size_pages']} pages, at tick {k['tick']}")
    if args.csv:
        print(f"time series: {args.csv}")
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


def _parse_refs(text: str) -> tuple[list[int], list[bool]]:
    """``7,0,1,2W,...``: page numbers, a trailing W marking a write."""
    pages, writes = [], []
    for i, tok in enumerate(t.strip() for t in text.split(",")):
        if not tok:
            continue
        w = tok[-1] in "wW"
        body = tok[:-1] if w or tok[-1] in "rR" else tok
        if not body.isdigit():
            raise ValueError(f"--refs must be page numbers separated by commas (a W suffix marks a write); "
                             f"item {i + 1} is {tok!r}")
        pages.append(int(body))
        writes.append(w)
    if not pages:
        raise ValueError("--refs must list at least one page number, e.g. --refs 7,0,1,2,0,3")
    return pages, writes


def _load_refs(args: argparse.Namespace) -> tuple[Any, Any, str]:
    if (args.trace is None) == (args.refs is None):
        raise ValueError("give exactly one of --trace FILE or --refs 7,0,1,...")
    if args.refs is not None:
        pages, writes = _parse_refs(args.refs)
        return pages, writes, "--refs"
    from .trace import load_trace

    tr = load_trace(args.trace)
    return tr.pages, tr.writes, args.trace


def _print_policy_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'policy':<8} {'faults':>10} {'hits':>10} {'hit ratio':>10} {'write-backs':>12}")
    for r in rows:
        print(f"{r['policy']:<8} {r['faults']:>10} {r['hits']:>10} {r['hit_ratio']:>10.4f} {r['write_backs']:>12}")


def cmd_policies(args: argparse.Namespace) -> int:
    """Replay a trace or reference string against the textbook policies and print their counts."""
    from .policies import POLICIES, simulate_all

    pages, writes, source = _load_refs(args)
    names = [p.strip().lower() for p in args.policy.split(",") if p.strip()]
    for n in names:
        if n not in POLICIES:
            raise ValueError(f"--policy: unknown policy {n!r}; choose from {', '.join(POLICIES)}")
    results = simulate_all(pages, writes, args.frames, policies=names, seed=args.seed)
    rows = [{k: r.as_dict()[k] for k in ("policy", "faults", "hits", "hit_ratio", "write_backs")} for r in results]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    n = len(pages)
    print(f"{source}: {n} references, {args.frames} frames")
    _print_policy_rows(rows)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the page daemon and the baseline policies on one trace with the same usable memory."""
    from .config import VMConfig
    from .machine import Machine
    from .policies import POLICIES, simulate_all
    from .trace import TraceWorkload, load_trace

    tr = load_trace(args.trace)
    cfg = VMConfig(ram=args.memory, swap=args.swap, seed=args.seed, boot_userland=False)
    vm = Machine(cfg)
    p = vm.spawn("trace", TraceWorkload(tr))
    t = time.perf_counter()
    run_with_progress(vm, None, Progress(not args.json))
    host = time.perf_counter() - t
    vs = vm.vmstats
    # The daemon keeps about (v_free_min + v_free_target) / 2 pages free (the cache scan's refill level);
    # free pages hold no data, so the baselines get the rest of memory as frames.
    reserve = (vs.v_free_min + vs.v_free_target) // 2
    frames = cfg.ram_pages - reserve
    if frames < 1:
        raise ValueError(f"--memory {args.memory} leaves no frames after the daemon's free reserve ({reserve} pages)")
    daemon_faults = p.p_zfod + p.p_majflt
    rows = [{
        "policy": "daemon", "faults": daemon_faults, "hits": p.p_refs - daemon_faults,
        "hit_ratio": (p.p_refs - daemon_faults) / max(1, p.p_refs), "write_backs": vm.cnt.v_swappgsout,
    }]
    for r in simulate_all(tr.pages, tr.writes, frames, policies=list(POLICIES), seed=args.seed):
        d = r.as_dict()
        rows.append({k: d[k] for k in ("policy", "faults", "hits", "hit_ratio", "write_backs")})
    note = (f"memory {cfg.ram_pages} pages; the daemon keeps about (v_free_min + v_free_target)/2 = {reserve} "
            f"pages free, so the baselines get {frames} frames. Daemon faults are zero-fills plus swap-ins "
            "(a page still in memory on the inactive or cache queue is a hit); daemon write-backs are pages "
            "written to swap.")
    warn = ""
    k = int(tr.meta.get("k", 0) or 0)
    if k and frames < 2 * k:
        warn = (f"warning: the trace was reduced with K={k}; results are reliable from {2 * k} frames up, "
                f"these runs use {frames}")
    if args.json:
        print(json.dumps({"trace": args.trace, "references": int(p.p_refs), "frames": frames, "reserve": reserve,
                          "memory_pages": cfg.ram_pages, "note": note, "warning": warn, "results": rows,
                          "lost_writes": len(vm.lost_writes) + vm.verify_integrity(),
                          "daemon_host_seconds": round(host, 3)}, indent=2))
        return 0
    print(f"{args.trace}: {p.p_refs} references")
    print(note)
    if warn:
        print(warn)
    _print_policy_rows(rows)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vmkit", description="vmkit: DragonFly BSD's page-out daemon on an emulated machine.")
    parser.add_argument("--version", action="version", version=f"vmkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sp = sub.add_parser("machine", help="boot a machine and print its state")
    _add_machine_options(sp)
    sp.add_argument("--seconds", type=float, default=0.0, help="run this many simulated seconds first")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp.set_defaults(func=cmd_machine)

    sp = sub.add_parser("sysctl", help="print the tunables and the thresholds the daemon computes at start-up")
    sp.add_argument("--pages", type=int, default=None, help="RAM in pages")
    sp.add_argument("--memory", default=None, help="RAM with a unit, e.g. 16M (default 64M)")
    sp.add_argument("--swap", default="128M", help="swap size (default 128M)")
    sp.add_argument("--ncpus", type=int, default=1, help="CPUs (default 1)")
    sp.add_argument("--hz", type=int, default=100, help="clock ticks per second (default 100)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=cmd_sysctl)

    sp = sub.add_parser("scenario", help="run a built-in scenario (--list to see them)")
    sp.add_argument("name", nargs="?", help="scenario name")
    sp.add_argument("--list", action="store_true", help="list the scenarios")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--json", action="store_true", help="print the summary as JSON")
    sp.add_argument("--events", metavar="FILE.csv", help="write the event log as CSV")
    sp.set_defaults(func=cmd_scenario)

    sp = sub.add_parser("run", help="run the machine with the page daemon on workloads or traces")
    sp.add_argument("--memory", default="64M", help="RAM, e.g. 64M (default 64M)")
    sp.add_argument("--swap", default="128M", help="swap size (default 128M)")
    sp.add_argument("--workload", action="append", metavar="SPEC",
                    help="a workload such as hotcold:pages=20000,hot=0.2,p=0.8,writes=0.3 or trace:data/sort.npz; "
                         "repeat for several processes")
    sp.add_argument("--list-workloads", action="store_true", help="list the workloads and their parameters")
    sp.add_argument("--seconds", type=float, default=None, help="simulated seconds to run (default: until done)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--ncpus", type=int, default=1, help="CPUs (default 1)")
    sp.add_argument("--hz", type=int, default=100, help="clock ticks per second (default 100)")
    sp.add_argument("--csv", metavar="FILE", help="write the per-tick time series as CSV")
    sp.add_argument("--plot", metavar="FILE.png", help="save the queue-size figure")
    sp.add_argument("--json", action="store_true", help="print the summary as JSON")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("policies", help="replay a trace against FIFO, LRU, CLOCK, OPT and RANDOM")
    sp.add_argument("--trace", metavar="FILE", help="a trace (.npz or text)")
    sp.add_argument("--refs", metavar="7,0,1,...", help="a reference string; a W suffix marks a write (3W)")
    sp.add_argument("--frames", type=int, required=True, help="frames of memory")
    sp.add_argument("--policy", default="fifo,lru,clock,opt,random", help="policies, comma-separated")
    sp.add_argument("--seed", type=int, default=0, help="seed for RANDOM (default 0)")
    sp.add_argument("--json", action="store_true", help="print a JSON list")
    sp.set_defaults(func=cmd_policies)

    sp = sub.add_parser("compare", help="the page daemon and the baseline policies on one trace")
    sp.add_argument("--trace", metavar="FILE", required=True, help="a trace (.npz or text)")
    sp.add_argument("--memory", required=True, help="RAM of the machine, e.g. 4M")
    sp.add_argument("--swap", default="256M", help="swap size (default 256M)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp.set_defaults(func=cmd_compare)

    from .trace import add_trace_commands

    add_trace_commands(sub)
    from .assignments.cli import add_assignment_commands

    add_assignment_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return func(args)
    except ValueError as exc:
        print(f"vmkit: error: {_option_names(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `vmkit ... | head`
        return 0
