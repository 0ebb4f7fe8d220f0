"""The graded test batteries of the assignments.

A battery is a list of cases; each case builds a small machine, runs one
function of the daemon on it (the student's, through :meth:`Machine.override`,
or vmkit's own when no function is given) and describes what happened as
plain JSON data.  The grader runs every battery twice: once inside the
student's sandboxed kernel with the student's functions, printing the
outcomes, and once in its own process with vmkit's functions, which gives
the expected outcomes.  So nothing the student's process does can change
what counts as right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..constants import (
    OBJT_DEFAULT,
    OBJT_SWAP,
    OBJT_VNODE,
    PG_A,
    PG_BUSY,
    PG_NEED_COMMIT,
    PG_REFERENCED,
    PG_UNMANAGED,
    PG_WINATCFLS,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_INACTIVE,
    PQ_NONE,
    VM_ALLOC_NORMAL,
    VM_PAGE_BITS_ALL,
    VM_PAGER_ALLOW_ACTIVE,
    VM_PROT_READ,
    VM_PROT_WRITE,
)
from ..machine import Machine
from ..vm_pageout import Ref
from ..workload import parse_workload_spec

ALL = VM_PAGE_BITS_ALL
QNAMES = {PQ_NONE: "none", PQ_INACTIVE: "inactive", PQ_ACTIVE: "active", PQ_CACHE: "cache"}
Fns = dict[str, Callable[..., Any]]


# -- machines and pages in precise states ------------------------------------------------------------
def _machine(fns: Fns | None = None, **kw: Any) -> Machine:
    kw.setdefault("pagedaemon", False)
    kw.setdefault("ram", 256)
    kw.setdefault("swap", 1024)
    kw.setdefault("boot_userland", False)
    kw.setdefault("pq_l2_size", 4)
    vm = Machine(**kw)
    for name, fn in (fns or {}).items():
        vm.override(name, fn)
    return vm


def _page(vm: Machine, obj: Any, pindex: int, *, dirty: int = ALL, valid: int = ALL, queue: int = PQ_INACTIVE,
          flags: int = 0, act_count: int = 0) -> Any:
    m = vm.vm_page_alloc(obj, pindex, VM_ALLOC_NORMAL)
    vm.pmap_zero_page(m)
    m.valid, m.dirty, m.act_count = valid, dirty, act_count
    if queue == PQ_INACTIVE:
        vm.vm_page_deactivate(m)
    elif queue == PQ_ACTIVE:
        vm.vm_page_activate(m)
        m.act_count = act_count
    elif queue == PQ_CACHE:
        vm.vm_page_cache(m)
        m.flags |= flags
        return m
    m.flags |= flags
    vm.vm_page_wakeup(m)
    return m


def _map(vm: Machine, m: Any, n: int = 1, *, write: bool = False, accessed: bool = True) -> None:
    for _ in range(n):
        pm = vm.pmap_create(4)
        vm.pmap_enter(pm, 0, m, VM_PROT_READ | VM_PROT_WRITE, write)
        if not accessed:
            pm.pm_mv[0] = pm.pm_mv[0] & ~PG_A


def _in_thread(vm: Machine, genfunc: Callable[..., Any], *args: Any, max_ticks: int = 2000) -> Any:
    """Run generator function ``genfunc(*args)`` as a kernel thread (it may sleep); return its result."""
    return vm.run_in_thread(genfunc, *args, max_ticks=max_ticks, name="grader")


def _qname(m: Any) -> str:
    base = m.queue - m.pc if m.queue else PQ_NONE
    return QNAMES.get(base, str(base)) if m.object is not None else "free"


def _flags(m: Any) -> list[str]:
    return [n for n, f in (("WINATCFLS", PG_WINATCFLS), ("REFERENCED", PG_REFERENCED), ("BUSY", PG_BUSY))
            if m.flags & f]


# -- assignment 1: thresholds ------------------------------------------------------------------------
PQ_SIZES = (2, 4, 8, 16, 512)
PQ_NS = (-1000, -17, -9, -8, -7, -1, 0, 1, 7, 8, 9, 100, 12345)


def pqaverage(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    out = []
    for size in PQ_SIZES:
        vm = _machine(fns, pq_l2_size=size, ram=max(256, 4 * size))
        for n in PQ_NS:
            out.append((f"PQ_L2_SIZE={size}, n={n}", lambda vm=vm, n=n: vm.PQAVERAGE(n)))
    return out


FREE_CALC = (("256 pages, 1 cpu", 256, 1), ("1024 pages, 1 cpu", 1024, 1), ("2048 pages, 2 cpus", 2048, 2),
             ("8M, 2 cpus", "8M", 2), ("64M, 1 cpu", "64M", 1), ("64M, 4 cpus", "64M", 4),
             ("96M, 2 cpus", "96M", 2), ("20000 pages, 8 cpus", 20000, 8))
CALC_FIELDS = ("v_free_min", "v_free_reserved", "v_free_severe", "v_pageout_free_min", "v_interrupt_free_min")


def free_page_calc(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    out = []
    for label, ram, ncpus in FREE_CALC:
        out.append((label, lambda ram=ram, ncpus=ncpus: _calc(fns, ram, ncpus, 0)))
        out.append((label + ", count below v_page_count", lambda ram=ram, ncpus=ncpus: _calc(fns, ram, ncpus, 1)))
    return out


def _calc(fns: Fns | None, ram: Any, ncpus: int, below: int) -> Any:
    vm = _machine(fns, ram=ram, ncpus=ncpus)
    vs = vm.vmstats
    for field in CALC_FIELDS:
        setattr(vs, field, 0)
    r = vm.vm_pageout_free_page_calc(vs.v_page_count - below)
    return [r] + [getattr(vs, f) for f in CALC_FIELDS]


TARGETS = ((100, 0, 50, 0), (10, 5, 50, 0), (10, 5, 50, 40), (0, 0, 0, 0), (1000, 300, 200, 100), (7, 90, 64, 30))


def paging_target(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    def case(free: int, cache: int, ftarget: int, cmin: int) -> Any:
        vm = _machine(fns)
        vs = vm.vmstats
        vs.v_free_count, vs.v_cache_count, vs.v_free_target, vs.v_cache_min = free, cache, ftarget, cmin
        return vm.vm_paging_target()

    return [(f"free={f} cache={c} free_target={t} cache_min={n}", lambda a=(f, c, t, n): case(*a))
            for f, c, t, n in TARGETS]


def _whole_run(fns: Fns | None, spec: str, *, ram: str = "8M", swap: str = "32M", seconds: float = 3.0,
               seed: int = 3, extra: str | None = None) -> Machine:
    vm = Machine(ram=ram, swap=swap, seed=seed, pq_l2_size=8)
    for name, fn in (fns or {}).items():
        vm.override(name, fn)
    vm.spawn("work", parse_workload_spec(spec))
    if extra:
        vm.spawn("extra", parse_workload_spec(extra))
    vm.run(until=int(seconds * vm.hz), stop_when_done=True)
    return vm


def _once(run: Callable[[], Machine]) -> Callable[[], Machine]:
    """One run shared by several cases (if it raises, each of them fails)."""
    box: dict[str, Any] = {}

    def get() -> Machine:
        if "error" in box:
            raise box["error"]
        if "vm" not in box:
            try:
                box["vm"] = run()
            except Exception as exc:
                box["error"] = exc
                raise
        return box["vm"]
    return get


def _run_summary(get: Callable[[], Machine]) -> list[tuple[str, Callable[[], Any]]]:
    def counts() -> Any:
        c = get().counters()
        return [c.get("v_vm_faults"), c.get("v_swappgsout"), c.get("v_reactivated")]

    return [("queues at the end", lambda: get().queue_counts()),
            ("page faults, swap writes and reactivations", counts),
            ("lost writes", lambda: len(get().lost_writes)),
            ("whole machine state", lambda: get().state_digest())]


def thresholds_run(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    return _run_summary(_once(lambda: _whole_run(fns, "hotcold:pages=3000,count=60000,writes=0.3", ram="8M")))


# -- assignment 2: the inactive-page decision --------------------------------------------------------
# label, page set-up, pass, max_launder
PAGE_CASES: tuple[tuple[str, dict[str, Any], int, int], ...] = (
    ("wired page", {"wire": 1}, 0, 5),
    ("held page", {"hold": 1}, 0, 5),
    ("mapped once, accessed, act_count 0", {"maps": 1}, 0, 5),
    ("mapped twice, accessed, act_count 3", {"maps": 2, "act": 3}, 0, 5),
    ("PG_REFERENCED, not mapped", {"flags": PG_REFERENCED}, 0, 5),
    ("PG_REFERENCED and mapped, act_count 10", {"flags": PG_REFERENCED, "maps": 1, "act": 10}, 1, 5),
    ("unused object, accessed", {"refcount0": True, "maps": 1, "dirty": 0}, 0, 5),
    ("unused object, PG_REFERENCED, clean", {"refcount0": True, "flags": PG_REFERENCED, "dirty": 0}, 0, 5),
    ("invalid page", {"valid": 0, "dirty": 0}, 0, 5),
    ("clean anonymous page", {"dirty": 0}, 0, 5),
    ("clean file page", {"dirty": 0, "vnode": True}, 1, 5),
    ("clean page, M bit set in a mapping, pass 0", {"dirty": 0, "maps": 1, "accessed": False, "write": True}, 0, 5),
    ("dirty, pass 0, first trip", {}, 0, 5),
    ("dirty, pass 0, PG_WINATCFLS set", {"flags": PG_WINATCFLS}, 0, 5),
    ("dirty, pass 1", {}, 1, 5),
    ("dirty, pass 2, max_launder used up", {}, 2, 0),
    ("clean, PG_NEED_COMMIT, pass 1", {"dirty": 0, "flags": PG_NEED_COMMIT}, 1, 5),
    ("dirty file page, pass 1", {"vnode": True}, 1, 5),
    ("partly dirty, pass 0", {"dirty": 0x3}, 0, 5),
    ("dirty, mapped but not accessed, pass 1", {"maps": 1, "accessed": False}, 1, 3),
)


def _page_case(fns: Fns | None, setup: dict[str, Any], pass_: int, max_launder: int) -> Any:
    vm = _machine(fns)
    if setup.get("vnode"):
        obj = vm.vfs_create_file("file", 64).v_object
    else:
        obj = vm.vm_object_allocate(OBJT_DEFAULT, 64)
    m = _page(vm, obj, 5, dirty=setup.get("dirty", ALL), valid=setup.get("valid", ALL),
              flags=setup.get("flags", 0), act_count=setup.get("act", 0))
    if setup.get("maps"):
        _map(vm, m, setup["maps"], write=setup.get("write", False), accessed=setup.get("accessed", True))
    if setup.get("refcount0"):
        obj.ref_count = 0
    m.wire_count += setup.get("wire", 0)
    m.hold_count += setup.get("hold", 0)
    if vm.vm_page_busy_try(m, True):
        raise RuntimeError("page busy before the case")
    ml, vs, vf = Ref(max_launder), Ref(0), Ref(None)
    count = _in_thread(vm, vm.vm_pageout_page, m, ml, vs, vf, pass_, 0)
    return {"returned": count, "queue": _qname(m), "flags": _flags(m), "act_count": m.act_count,
            "dirty": m.dirty != 0, "max_launder": ml.v, "warnings": len(vm.dmesg_lines)}


def inactive_decisions(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    return [(label, lambda a=(setup, pass_, ml): _page_case(fns, *a)) for label, setup, pass_, ml in PAGE_CASES]


def inactive_run(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    return _run_summary(_once(lambda: _whole_run(fns, "seq:pages=4000,passes=2,writes=0.5", ram="8M",
                                                 seconds=4.0, extra="stream:pages=3000,passes=2")))


# -- assignment 3: active-queue aging ------------------------------------------------------------------
def _aging_case(fns: Fns | None, objtype: int, act: int, refs: int, pass_: int, *, unused: bool = False,
                decline: tuple[int, int] | None = None, shortage: int = 0) -> Any:
    vm = _machine(fns)
    if decline:
        vm.sysctl("vm.anonmem_decline", decline[0])
        vm.sysctl("vm.filemem_decline", decline[1])
    obj = vm.vfs_create_file("file", 64).v_object if objtype == OBJT_VNODE else vm.vm_object_allocate(objtype, 64)
    m = _page(vm, obj, 3, dirty=0, queue=PQ_ACTIVE, act_count=act)
    if refs >= 1:
        _map(vm, m, 1)
    if refs >= 2:
        m.flags |= PG_REFERENCED
    if unused:
        obj.ref_count = 0
    moved = _in_thread(vm, vm.vm_pageout_scan_active, pass_, m.pc, shortage, 1, Ref(0))
    return {"act_count": m.act_count, "queue": _qname(m), "moved": moved}


def aging_rule(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    out = []
    names = {OBJT_DEFAULT: "anon", OBJT_SWAP: "swap", OBJT_VNODE: "file"}
    for objtype in (OBJT_DEFAULT, OBJT_VNODE):
        for act in (0, 1, 4, 5, 6, 60, 64):
            for refs in (0, 1, 2):
                for pass_ in (0, 1, 3):
                    label = f"{names[objtype]} page, act_count {act}, {refs} reference(s), pass {pass_}"
                    out.append((label, lambda a=(objtype, act, refs, pass_): _aging_case(fns, *a)))
    out.append(("swap page, act_count 2, not referenced, pass 0", lambda: _aging_case(fns, OBJT_SWAP, 2, 0, 0)))
    out.append(("unused object, referenced, act_count 40",
                lambda: _aging_case(fns, OBJT_DEFAULT, 40, 1, 0, unused=True)))
    for decline in ((1, 4), (8, 0)):
        for objtype in (OBJT_DEFAULT, OBJT_VNODE):
            label = f"{names[objtype]} page, act_count 6, anonmem_decline {decline[0]}, filemem_decline {decline[1]}"
            out.append((label, lambda t=objtype, d=decline: _aging_case(fns, t, 6, 0, 1, decline=d)))
    out.append(("anon page, act_count 0, clean, shortage left",
                lambda: _aging_case(fns, OBJT_DEFAULT, 0, 0, 0, shortage=5)))
    return out


def aging_replay(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    def run() -> Any:
        vm = Machine(ram="6M", swap="32M", seed=5, pq_l2_size=8)
        for name, fn in (fns or {}).items():
            vm.override(name, fn)
        vm.spawn("hot", parse_workload_spec("hotcold:pages=2000,hot=0.2,p=0.9,count=80000,writes=0.2"))
        vm.spawn("stream", parse_workload_spec("stream:pages=2500,passes=3"))
        rows = []
        for second in range(1, 7):
            vm.run(until=second * vm.hz)
            q = vm.queue_counts()
            rows.append([q["free"], q["cache"], q["inactive"], q["active"]])
        return rows, vm.state_digest()

    get = _once(run)
    out: list[tuple[str, Callable[[], Any]]] = [
        (f"free, cache, inactive and active pages after {s + 1} s", lambda s=s: get()[0][s]) for s in range(6)]
    out.append(("whole machine state after 6 s", lambda: get()[1]))
    return out


# -- assignment 4: laundering clusters -------------------------------------------------------------------
# Each layout: the pages of a 256-page anonymous object around m.  'D' dirty inactive, 'C' clean inactive,
# 'A' dirty active, 'H' dirty held, 'W' dirty wired, 'B' dirty busy, 'K' cached, 'U' unmanaged dirty,
# '.' no page, 'm' the page being laundered; the string starts at pindex ``first``.
LAYOUTS: tuple[tuple[str, int, str, int], ...] = (
    ("all dirty around m", 60, "DDDDmDDDD", 0),
    ("m at the start of a 64-page window", 64, "mDDDDD", 0),
    ("m at the end of a window", 120, "DDDDDDDm" + "D" * 4, 0),
    ("a clean page stops the reverse scan", 10, "DDCDDmDDD", 0),
    ("a missing page stops the forward scan", 10, "DDmDD.DD", 0),
    ("a busy page stops the forward scan", 30, "DmDDBDD", 0),
    ("a held page stops the reverse scan", 30, "DHDmDD", 0),
    ("a wired page stops the forward scan", 30, "DmDWD", 0),
    ("an active neighbour without ALLOW_ACTIVE", 40, "DAmAD", 0),
    ("active neighbours with ALLOW_ACTIVE", 40, "DAmAD", VM_PAGER_ALLOW_ACTIVE),
    ("a cached page stops the scan", 50, "KDmDDK", 0),
    ("an unmanaged page stops the scan", 50, "DUDmDDUD", 0),
    ("the window is full", 128, "m" + "D" * 70, 0),
    ("reverse scan to the window start", 192, "D" * 20 + "m", 0),
    ("m held: nothing is written", 20, "DDHmDD".replace("Hm", "Dm"), -1),
    ("the object ends", 250, "DDmDDD", 0),
    ("PG_WINATCFLS and act_count are inherited", 70, "DDmDD", -2),
)


def _layout_case(fns: Fns | None, first: int, layout: str, flags: int) -> Any:
    vm = _machine(fns, ram=512)
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 256)
    pages: dict[int, Any] = {}
    m = None
    for i, ch in enumerate(layout):
        pindex = first + i
        if ch == "." or pindex >= 256:
            continue
        if ch == "K":
            pages[pindex] = _page(vm, obj, pindex, dirty=0, queue=PQ_CACHE)
            continue
        p = _page(vm, obj, pindex, dirty=0 if ch == "C" else ALL,
                  queue=PQ_ACTIVE if ch == "A" else PQ_INACTIVE, act_count=7 * (i % 3))
        if ch == "H":
            p.hold_count += 1
        elif ch == "W":
            p.wire_count += 1
        elif ch == "U":
            p.flags |= PG_UNMANAGED
        elif ch == "B":
            vm.vm_page_busy_try(p, True)
        elif ch == "m":
            m = p
        pages[pindex] = p
    assert m is not None
    if flags == -1:
        m.hold_count += 1
    if flags == -2:
        m.flags |= PG_WINATCFLS
        m.act_count = 9
    vm.vm_page_busy_try(m, True)
    seen: list[list[int]] = []

    def flush(mc: list, count: int, vmflush_flags: int) -> Any:
        seen.append([p.pindex for p in mc[:count]])
        for p in mc[:count]:
            vm.vm_page_wakeup(p)
        yield from ()
        return count

    vm.vm_pageout_flush = flush
    count = _in_thread(vm, vm.vm_pageout_clean_helper, m, max(flags, 0))
    cluster = seen[0] if seen else []
    still_busy = sorted(i for i, p in pages.items() if p.flags & PG_BUSY and layout[i - first] != "B")
    inherited = [[pages[i].act_count, bool(pages[i].flags & PG_WINATCFLS)] for i in cluster]
    return {"returned": count, "cluster": [cluster[0], cluster[-1]] if cluster else [], "still_busy": still_busy,
            "members": inherited}


def clean_clusters(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    return [(label, lambda a=(first, layout, flags): _layout_case(fns, *a)) for label, first, layout, flags in LAYOUTS]


def clean_run(fns: Fns | None) -> list[tuple[str, Callable[[], Any]]]:
    def run() -> Machine:
        vm = _whole_run(fns, "seq:pages=4000,passes=2,writes=0.9", ram="8M", seconds=4.0)
        vm.record_events = True
        return vm

    get = _once(run)
    return _run_summary(get) + [("pages laundered", lambda: get().laundered)]


BATTERIES: dict[str, Callable[[Fns | None], list[tuple[str, Callable[[], Any]]]]] = {
    "pqaverage": pqaverage,
    "free_page_calc": free_page_calc,
    "paging_target": paging_target,
    "thresholds_run": thresholds_run,
    "inactive_decisions": inactive_decisions,
    "inactive_run": inactive_run,
    "aging_rule": aging_rule,
    "aging_replay": aging_replay,
    "clean_clusters": clean_clusters,
    "clean_run": clean_run,
}


def run_battery(name: str, fns: Fns | None) -> list[list[Any]]:
    """Every case of battery ``name`` as ``[label, outcome]``; a case that raises gives ``{"error": ...}``."""
    import json

    out = []
    for label, case in BATTERIES[name](fns):
        try:
            outcome = case()
        except Exception as exc:             # a case that fails counts as wrong, the others go on
            outcome = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        out.append([label, outcome])
    return json.loads(json.dumps(out, default=str))
