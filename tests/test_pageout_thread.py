"""The page daemon's threads against the seed, one test per decision branch.

Covers ``vm_pageout_thread`` (set-up, the main loop, the emergency pager),
``pagedaemon_wakeup``, ``vm_req_vmdaemon``, ``vm_daemon``,
``vm_daemon_callback``, ``swapout_procs`` and the sysctl table.  Each test is
named ``test_<seed function>_<first line>_<last line>_<what>`` after the lines
of ``vm_pageout.c`` (DragonFly 5.0) whose decision it exercises.  The daemon
runs as the machine's own threads; its callees are wrapped (never replaced)
to record what it asked for, and ``tsleep`` is wrapped to record every sleep.
"""

from __future__ import annotations

import pytest
from helpers import small_machine

from vmkit import Anon, Machine, MapFile, Script, Sequential
from vmkit.constants import (
    OBJT_DEFAULT,
    P_SWAPPEDOUT,
    P_SYSTEM,
    P_WEXIT,
    PG_WINATCFLS,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_INACTIVE,
    RLIMIT_RSS,
    SCORE,
    SIDL,
    SSTOP,
    SZOMB,
    VM_ALLOC_NORMAL,
    VM_PAGE_BITS_ALL,
    VM_SWAP_IDLE,
    VM_SWAP_NORMAL,
)
from vmkit.kern import SEQUENCE_EMERG_PAGER, V_FREE_COUNT, VM_DAEMON_NEEDED, VM_PAGEDAEMON_TIME, VM_PAGES_NEEDED
from vmkit.sysctl import SYSCTLS

# -- helpers ----------------------------------------------------------------------------------------


def pqaverage(n: int, l2: int = 16) -> int:
    """The seed's PQAVERAGE (vm_pageout.c:230-241) with C division (truncation toward zero)."""
    if n >= 0:
        return (n + (l2 - 1)) // (l2 // 2) + 1
    return -((-(n - (l2 - 1))) // (l2 // 2)) - 1


def record_tsleeps(vm: Machine) -> list:
    """Wrap ``vm.tsleep``: every sleep is logged as (tick, thread, ident, wmesg, timo, vm_pages_needed)."""
    log: list = []
    orig = vm.tsleep

    def tsleep(ident, flags, wmesg, timo):
        td = vm.curthread
        log.append((vm.ticks, td.td_name if td is not None else None, ident, wmesg, timo, vm.vm_pages_needed))
        return orig(ident, flags, wmesg, timo)

    vm.tsleep = tsleep
    return log


def sleeps(log: list, thread: str, wmesg: str | None = None) -> list:
    return [(t, ident, w, timo, needed) for t, name, ident, w, timo, needed in log
            if name == thread and (wmesg is None or w == wmesg)]


def record(vm: Machine, name: str, generator: bool = True) -> list:
    """Wrap machine method ``name``: each call is logged as (tick, thread, args); it still runs."""
    log: list = []
    orig = getattr(vm, name)

    def note(args):
        td = vm.curthread
        log.append((vm.ticks, td.td_name if td is not None else None, args))

    if generator:
        def wrapper(*args):
            note(args)
            return (yield from orig(*args))
    else:
        def wrapper(*args):
            note(args)
            return orig(*args)
    setattr(vm, name, wrapper)
    return log


def daemon_machine(**kw) -> Machine:
    """A small machine (256 pages, 16 colours) with the page daemon's threads, run past their set-up."""
    kw.setdefault("pagedaemon", True)
    vm = small_machine(**kw)
    vm.run(until=1)
    return vm


def kick(vm: Machine) -> None:
    """Wake the primary daemon as vm_wait() does: vm_pages_needed = 1, wakeup(&vm_pages_needed)."""
    vm.vm_pages_needed = 1
    vm.wakeup(VM_PAGES_NEEDED)


def short_by(vm: Machine, n: int) -> None:
    """Make vm_paging_target() == n by moving v_free_target."""
    vs = vm.vmstats
    vs.v_free_target = vs.v_free_count + vs.v_cache_count - vs.v_cache_min + n


def emergpager_only(**kw) -> Machine:
    """A machine whose only page daemon thread is the emergency pager; thresholds set as the primary would."""
    vm = small_machine(**kw)
    vm.vm_pageout_thread_setup()
    vm.sequence_emerg_pager = 1
    vm.emergpager = vm.kthread_create(vm.vm_pageout_thread, "emergpager")
    return vm


def run_as(vm: Machine, genfunc, *args, role: str | None = None):
    """Run generator function ``genfunc(*args)`` as a kernel thread (optionally as vm.pagethread); return its result."""
    box: dict = {}

    def body():
        box["result"] = yield from genfunc(*args)
        box["done"] = True

    td = vm.kthread_create(body, role or "test-thread")
    if role is not None:
        setattr(vm, role, td)
    start = vm.ticks
    while "done" not in box:
        assert vm.ticks - start < 5000
        vm.run(until=vm.ticks + 1)
    return box["result"]


def waiter(vm: Machine, ident, log: list, name: str = "waiter") -> None:
    """A kernel thread that sleeps on ``ident`` until woken, then logs the tick."""
    def body():
        yield vm.tsleep(ident, 0, "wait", 0)
        log.append(vm.ticks)

    vm.kthread_create(body, name)


def colour_pages(vm: Machine, colour: int, n: int, queue: int, act_count: int = 0) -> list:
    """``n`` clean, valid, unmapped pages of a new anonymous object on ``queue`` + ``colour``."""
    obj = vm.vm_object_allocate(OBJT_DEFAULT, 256)
    L2 = vm.PQ_L2_SIZE
    out = []
    for k in range(n):
        m = vm.vm_page_alloc(obj, ((colour - obj.pg_color) % L2) + k * L2, VM_ALLOC_NORMAL)
        assert m is not None and m.pc == colour
        vm.pmap_zero_page(m)
        m.valid = VM_PAGE_BITS_ALL
        if queue == PQ_ACTIVE:
            vm.vm_page_activate(m)
        else:
            vm.vm_page_deactivate(m)
        m.act_count = act_count
        vm.vm_page_wakeup(m)
        out.append(m)
    return out


# =====================================================================================================
# vm_pageout_thread: set-up (vm_pageout.c:1911-2017)
# =====================================================================================================

@pytest.mark.parametrize("ram, free_min, reserved, free_target", [
    (6144, 307, 160, 2 * 307 + 160),
    (6145, 307, 160, 4 * 307 + 160),
])
def test_vm_pageout_thread_1939_1944_free_target_by_free_count(ram, free_min, reserved, free_target):
    """v_free_target = 4 * free_min + reserved if more than 6144 pages are free at start-up, else 2 * free_min + ..."""
    vm = Machine(ram=ram, swap=0, boot_userland=False)
    vm.run(until=1)
    vs = vm.vmstats
    assert vs.v_free_count == ram
    assert (vs.v_free_min, vs.v_free_reserved, vs.v_free_target) == (free_min, reserved, free_target)


@pytest.mark.parametrize("ram, cache_min, cache_max", [(2048, 0, 0), (2049, 262, 524)])
def test_vm_pageout_thread_1973_1979_cache_min_max_only_above_2048_free(ram, cache_min, cache_max):
    """v_cache_min = v_free_target and v_cache_max = 2 * v_cache_min only with more than 2048 free pages; else 0."""
    vm = Machine(ram=ram, swap=0, boot_userland=False)
    vm.run(until=1)
    vs = vm.vmstats
    assert vs.v_free_target == 2 * 102 + 58
    assert (vs.v_cache_min, vs.v_cache_max) == (cache_min, cache_max)


def test_vm_pageout_thread_1980_1984_inactive_target_and_max_wired():
    """v_inactive_target = free / 4; vm_page_max_wired = free / 3 unless already set."""
    vm = Machine(ram=2049, swap=0, boot_userland=False)
    vm.run(until=1)
    assert (vm.vmstats.v_inactive_target, vm.vm_page_max_wired) == (2049 // 4, 2049 // 3)
    vm = Machine(ram=2049, swap=0, boot_userland=False)
    vm.sysctl("vm.max_wired", 7)
    vm.run(until=1)
    assert (vm.vmstats.v_inactive_target, vm.vm_page_max_wired) == (512, 7)


def test_vm_pageout_thread_1986_2002_stats_defaults_unless_preset():
    """stats_max = v_free_target, stats_interval 5, full interval 4 * interval, stats_free_max 5: each only if 0."""
    vm = daemon_machine()
    assert vm.vmstats.v_free_target == 37
    assert vm.sysctl("vm.pageout_stats_max") == 37
    assert vm.sysctl("vm.pageout_stats_interval") == 5
    assert vm.sysctl("vm.pageout_full_stats_interval") == 20
    assert vm.sysctl("vm.pageout_stats_free_max") == 5
    vm = small_machine(pagedaemon=True)
    vm.sysctl("vm.pageout_stats_max", 50)
    vm.sysctl("vm.pageout_stats_interval", 3)
    vm.sysctl("vm.pageout_stats_free_max", 9)
    vm.run(until=1)
    assert [vm.sysctl(n) for n in ("vm.pageout_stats_max", "vm.pageout_stats_interval",
                                   "vm.pageout_full_stats_interval", "vm.pageout_stats_free_max")] == [50, 3, 12, 9]
    vm = small_machine(pagedaemon=True)
    vm.sysctl("vm.pageout_full_stats_interval", 7)
    vm.run(until=1)
    assert vm.sysctl("vm.pageout_full_stats_interval") == 7


def test_vm_pageout_thread_2007_2017_emergency_pager_waits_for_primary_setup():
    """The emergency pager skips the set-up, sleeps on sequence_emerg_pager (hz at a time) until the primary is done."""
    vm = small_machine(pagedaemon=False)
    log = record_tsleeps(vm)
    vm.emergpager = vm.kthread_create(vm.vm_pageout_thread, "emergpager")
    vm.run(until=250)
    assert sleeps(log, "emergpager") == [(t, SEQUENCE_EMERG_PAGER, "pstartup", 100, 0) for t in (1, 101, 201)]
    assert vm.vmstats.v_free_min == 0 and vm.sequence_emerg_pager == 0      # no set-up by the emergency pager
    vm.pagethread = vm.kthread_create(vm.vm_pageout_thread, "pagedaemon")
    vm.run(until=251)
    assert vm.sequence_emerg_pager == 1 and vm.vmstats.v_free_min == 12
    assert sleeps(log, "emergpager")[-1] == (251, VM_PAGEDAEMON_TIME, "psleep", 1000, 0)


# =====================================================================================================
# vm_pageout_thread: the main loop (vm_pageout.c:2025-2284)
# =====================================================================================================

def test_vm_pageout_thread_2071_2081_idle_primary_runs_stats_on_every_colour():
    """The primary sleeps stats_interval * hz on vm_pages_needed; on a timeout with nothing needed it scans stats."""
    vm = small_machine(pagedaemon=True)
    log = record_tsleeps(vm)
    stats = record(vm, "vm_pageout_page_stats", generator=False)
    vm.run(until=1001)
    assert sleeps(log, "pagedaemon") == [(t, VM_PAGES_NEEDED, "psleep", 500, 0) for t in (1, 501, 1001)]
    assert [(t, args[0]) for t, _, args in stats] == [(t, q) for t in (501, 1001) for q in range(16)]
    assert vm.cnt.v_pdwakeups == 0


def test_vm_pageout_thread_2075_2091_timeout_with_paging_needed_runs_a_pass():
    """On a timeout while vm_paging_needed(), no stats scan: vm_pagedaemon_time = ticks, vm_pages_needed = 1, a pass."""
    vm = daemon_machine()
    log = record_tsleeps(vm)
    stats = record(vm, "vm_pageout_page_stats", generator=False)
    caches = record(vm, "vm_pageout_scan_cache")
    vm.vmstats.v_free_min = 300                   # free_min > free: paging needed, but nobody calls for the daemon
    vm.run(until=501)
    assert stats == []
    assert vm.cnt.v_pdwakeups == 1 and vm.vm_pagedaemon_time == 501
    assert [(t, name) for t, name, _ in caches] == [(501, "pagedaemon")]
    assert (501, VM_PAGEDAEMON_TIME, "psleep", 1000, 0) in sleeps(log, "emergpager")    # woken to watch


def test_vm_pageout_thread_2072_2083_woken_without_request_still_runs_a_pass():
    """Woken (error 0) the primary never scans stats, even with nothing needed: vm_pages_needed = 1 and a pass."""
    vm = daemon_machine()
    stats = record(vm, "vm_pageout_page_stats", generator=False)
    vm.run(until=10)
    assert vm.vm_pages_needed == 0 and not vm.vm_paging_needed()
    vm.wakeup(VM_PAGES_NEEDED)                    # a bare wake-up: nobody set vm_pages_needed
    vm.run(until=11)
    assert stats == []
    assert vm.cnt.v_pdwakeups == 1 and vm.vm_pagedaemon_time == 11


def test_vm_pageout_thread_2082_2095_pagedaemon_wakeup_starts_a_pass():
    """Woken (error 0): vm_pagedaemon_time = ticks, vm_pages_needed = 1, the emergency pager is woken, v_pdwakeups++."""
    vm = daemon_machine()
    vm.run(until=10)
    log = record_tsleeps(vm)
    vm.vmstats.v_free_min = 300
    vm.pagedaemon_wakeup()
    assert vm.vm_pages_needed == 1
    vm.run(until=11)
    assert vm.cnt.v_pdwakeups == 1 and vm.vm_pagedaemon_time == 11
    assert [t for t, *_ in sleeps(log, "emergpager")] == [11]
    assert sleeps(log, "pagedaemon") == [(11, VM_PAGES_NEEDED, "psleep", 500, 0)]


@pytest.mark.parametrize("deficit, expected_avg", [(6, pqaverage(50)), (0, pqaverage(44))])
def test_vm_pageout_thread_2120_2124_avail_shortage_is_target_plus_deficit(deficit, expected_avg):
    """avail_shortage = vm_paging_target() + vm_pageout_deficit, and the deficit is zeroed."""
    vm = daemon_machine()
    inactive = record(vm, "vm_pageout_scan_inactive")
    short_by(vm, 44)
    vm.vm_pageout_deficit = deficit
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert vm.vm_pageout_deficit == 0
    assert [args[:3] for _, _, args in inactive] == [(0, q, expected_avg) for q in range(16)]


def test_vm_pageout_thread_2126_2126_no_inactive_scan_without_avail_shortage():
    """With vm_paging_target() + deficit <= 0 the inactive queues are not scanned (and the deficit still zeroed)."""
    vm = daemon_machine()
    inactive = record(vm, "vm_pageout_scan_inactive")
    assert vm.vm_paging_target() == 37 - 256
    vm.vm_pageout_deficit = 200
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert inactive == [] and vm.vm_pageout_deficit == 0 and vm.cnt.v_pdwakeups == 1


def test_vm_pageout_thread_2129_2139_inactive_colours_from_q1iterator():
    """Colours are scanned from q1iterator; q1iterator = q + 1 after the loop (after a break: the next colour)."""
    vm = daemon_machine()
    inactive = record(vm, "vm_pageout_scan_inactive")
    pages = colour_pages(vm, 0, 3, PQ_INACTIVE)
    short_by(vm, 3)
    kick(vm)
    vm.run(until=vm.ticks + 1)
    # Colour 0 yields 3 cached pages: avail_shortage - delta <= 0, break at q = 0.
    assert [args[1:3] for _, _, args in inactive] == [(0, pqaverage(3))]
    assert all(m.queue - m.pc != PQ_INACTIVE for m in pages)
    inactive.clear()
    vm.vm_pageout_deficit = 1
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [args[1] for _, _, args in inactive] == list(range(1, 16)) + [0]
    # That loop ran to the end (q = 16): the next pass starts at colour (16 + 1) & 15 = 1 again.
    inactive.clear()
    vm.vm_pageout_deficit = 1
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [args[1] for _, _, args in inactive][:2] == [1, 2]


@pytest.mark.parametrize("avail, inactive_shortage", [
    (50, 200 + 20),          # 2 * 50 > 200 / 10: capped at inactive_target / 10
    (2, 200 + 4),            # 2 * avail
    (-219, 200),             # no avail shortage: nothing added
])
def test_vm_pageout_thread_2151_2170_inactive_shortage_formula(avail, inactive_shortage):
    """inactive_shortage = inactive_target - inactive_count (+ min(2 * avail, inactive_target / 10) if avail > 0)."""
    vm = daemon_machine()
    active = record(vm, "vm_pageout_scan_active")
    vm.vmstats.v_inactive_target = 200
    if avail > 0:
        short_by(vm, avail)
    assert vm.vm_paging_target() == avail and vm.vmstats.v_inactive_count == 0
    kick(vm)
    vm.run(until=vm.ticks + 1)
    _, _, args = active[0]
    assert args[:4] == (0, 0, pqaverage(avail), pqaverage(inactive_shortage))


def test_vm_pageout_thread_2175_2177_pmap_collect_only_on_inactive_shortage():
    """pmap_collect() is called by the primary only when inactive_shortage > 0."""
    vm = daemon_machine()
    collects = record(vm, "pmap_collect", generator=False)
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [name for _, name, _ in collects] == ["pagedaemon"]
    vm.vmstats.v_inactive_target = 0
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert len(collects) == 1 and vm.cnt.v_pdwakeups == 2


@pytest.mark.parametrize("inactive_target, emerg_launder, expected", [
    (0, None, 100),          # raised to vm.emerg_launder (100)
    (0, 40, 40),             # the sysctl
    (300, None, 300),        # already above the minimum
    (60, 40, 60),            # above the (lowered) minimum
])
def test_vm_pageout_thread_2192_2193_emergency_pager_minimum_emerg_launder(inactive_target, emerg_launder, expected):
    """The emergency pager always scans the active queues for at least vm.emerg_launder pages (and no pmap_collect)."""
    vm = emergpager_only()
    if emerg_launder is not None:
        vm.sysctl("vm.emerg_launder", emerg_launder)
    vm.vmstats.v_inactive_target = inactive_target
    active = record(vm, "vm_pageout_scan_active")
    collects = record(vm, "pmap_collect", generator=False)
    vm.vm_pages_needed = 1
    vm.run(until=201)
    assert vm.dmesg() == ["Emergency pager running"]
    assert [(t, name, args[1:4]) for t, name, args in active][0] == (
        201, "emergpager", (0, pqaverage(37 - 256), pqaverage(expected)))
    assert collects == []


def test_vm_pageout_thread_2194_2213_active_colours_from_q2iterator():
    """Active colours are scanned from q2iterator until both shortages are met; q2iterator = q + 1."""
    vm = daemon_machine()
    active = record(vm, "vm_pageout_scan_active")
    a = colour_pages(vm, 0, 3, PQ_ACTIVE)
    b = colour_pages(vm, 1, 3, PQ_ACTIVE)
    vm.vmstats.v_inactive_target = 4                        # PQAVERAGE(4) = 3 per colour
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [(args[1], args[3]) for _, _, args in active] == [(0, 3), (1, 3)]
    assert all(m.queue - m.pc == PQ_INACTIVE for m in a + b)
    active.clear()
    vm.vmstats.v_inactive_target = vm.vmstats.v_inactive_count + 1
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [args[1] for _, _, args in active] == list(range(2, 16)) + [0, 1]


def test_vm_pageout_thread_2205_2208_active_loop_continues_while_avail_short():
    """The active loop breaks only when inactive_shortage - delta <= 0 and avail_shortage - delta <= 0."""
    vm = daemon_machine()
    active = record(vm, "vm_pageout_scan_active")
    a = colour_pages(vm, 0, 3, PQ_ACTIVE)
    b = colour_pages(vm, 1, 3, PQ_ACTIVE)
    vm.vmstats.v_inactive_target = 1              # inactive_shortage 1 + min(2 * 4, 1 / 10) = 1
    short_by(vm, 4)
    kick(vm)
    vm.run(until=vm.ticks + 1)
    # Colour 0 meets the inactive shortage (delta 3) but avail_shortage - 3 > 0: colour 1 is scanned too.
    assert [args[1:4] for _, _, args in active] == [(0, pqaverage(4), pqaverage(1)), (1, pqaverage(4), pqaverage(1))]
    assert all(m.queue - m.pc == PQ_CACHE for m in a + b)


def test_vm_pageout_thread_2233_2243_immediate_retry_while_others_wait():
    """pass < 10 and vm_pages_needed > 1: the next pass starts at once, without sleeping."""
    vm = daemon_machine()
    log = record_tsleeps(vm)
    passes: list = []
    orig = vm.vm_pageout_scan_cache

    def scan_cache(avail, pass_, skipped, recycle):
        passes.append((vm.ticks, pass_))
        yield from orig(avail, pass_, skipped, recycle)
        vm.vm_pages_needed = 2               # more processes asked meanwhile

    vm.vm_pageout_scan_cache = scan_cache
    short_by(vm, 50)
    kick(vm)
    t = vm.ticks + 1
    vm.run(until=t)
    assert passes == [(t, k) for k in range(10)]
    # After the tenth pass, pass == 10: the forced delay (swap not full), vm_pages_needed untouched.
    assert sleeps(log, "pagedaemon") == [(t, VM_PAGES_NEEDED, "pdelay", 10, 2)]


def test_vm_pageout_thread_2240_2242_swap_full_delays_retry_hz_5():
    """pass < 10 and vm_pages_needed > 1 but swap_pager_full: sleep hz/5 on vm_pages_needed before retrying."""
    vm = daemon_machine()
    log = record_tsleeps(vm)
    orig = vm.vm_pageout_scan_cache

    def scan_cache(avail, pass_, skipped, recycle):
        yield from orig(avail, pass_, skipped, recycle)
        vm.vm_pages_needed = 2

    vm.vm_pageout_scan_cache = scan_cache
    vm.swap_pager_full = 2
    short_by(vm, 50)
    kick(vm)
    t = vm.ticks + 1
    vm.run(until=t + 25)
    assert sleeps(log, "pagedaemon", "pdelay") == [(t, VM_PAGES_NEEDED, "pdelay", 20, 2),
                                                   (t + 20, VM_PAGES_NEEDED, "pdelay", 20, 2)]


@pytest.mark.parametrize("swap_full, late_timo", [(0, 10), (2, 100)])
def test_vm_pageout_thread_2244_2267_delay_after_a_pass(swap_full, late_timo):
    """Passes 1-9: vm_pages_needed = 0, sleep hz/10, vm_pages_needed = 1; from pass 10: hz/10, or hz if swap is full."""
    vm = daemon_machine()
    log = record_tsleeps(vm)
    passes = record(vm, "vm_pageout_scan_cache")
    vm.swap_pager_full = swap_full
    short_by(vm, 50)
    kick(vm)
    vm.run(until=vm.ticks + 9 * 10 + 2 * late_timo + 1)
    delays = [(timo, needed) for _, _, _, timo, needed in sleeps(log, "pagedaemon", "pdelay")]
    assert delays == [(10, 0)] * 9 + [(late_timo, 1)] * 3
    assert [args[1] for _, _, args in passes] == list(range(12))
    assert vm.vm_pages_needed == 1            # set back after each short sleep


def test_vm_pageout_thread_2268_2280_hysteresis_wakeup_when_paging_done():
    """No avail shortage, vm_pages_needed: pass = 0; if !count_min(hysteresis) || !count_target(): wake the waiters."""
    vm = daemon_machine()
    woke: list = []
    waiter(vm, V_FREE_COUNT, woke)
    vm.run(until=vm.ticks + 1)
    kick(vm)
    t = vm.ticks + 1
    vm.run(until=t)
    assert woke == [t] and vm.vm_pages_needed == 0


def test_vm_pageout_thread_2276_2280_no_wakeup_while_below_min_plus_hysteresis_and_target():
    """count_min(hysteresis) and count_target both true: no wake-up, vm_pages_needed stays set, next pass at once."""
    vm = daemon_machine()
    woke: list = []
    waiter(vm, V_FREE_COUNT, woke)
    vm.run(until=vm.ticks + 1)
    vs = vm.vmstats
    reserved = vs.v_free_reserved
    vs.v_free_reserved = vs.v_free_count + 1         # reserved > free: both predicates true, paging target still < 0
    seen: list = []
    orig = vm.vm_pageout_scan_cache

    def scan_cache(avail, pass_, skipped, recycle):
        seen.append((vm.ticks, avail, vm.vm_pages_needed, list(woke)))
        if len(seen) == 2:
            vs.v_free_reserved = reserved             # the second pass ends with memory above the mark
        yield from orig(avail, pass_, skipped, recycle)

    vm.vm_pageout_scan_cache = scan_cache
    kick(vm)
    t = vm.ticks + 1
    vm.run(until=t)
    assert [(tick, needed, w) for tick, _, needed, w in seen] == [(t, 1, []), (t, 1, [])]
    assert woke == [t] and vm.vm_pages_needed == 0


def test_vm_pageout_thread_2231_2282_pass_counts_up_then_resets():
    """pass++ after each pass with a shortage left; pass = 0 once the shortage is gone (hysteresis branch)."""
    vm = daemon_machine()
    passes = record(vm, "vm_pageout_scan_cache")
    short_by(vm, 50)
    kick(vm)
    vm.run(until=vm.ticks + 25)                  # passes 0, 1, 2 (10 ticks apart)
    vm.vmstats.v_free_target = 37                # the shortage goes away
    vm.run(until=vm.ticks + 10)                  # pass 3 finds no shortage: pass = 0
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert [args[1] for _, _, args in passes] == [0, 1, 2, 3, 0]


def test_vm_pageout_thread_2281_2283_pass_reset_when_not_needed():
    """No avail shortage and vm_pages_needed == 0 at the end of a pass: pass = 0 as well."""
    vm = daemon_machine()
    passes: list = []
    orig = vm.vm_pageout_scan_cache

    def scan_cache(avail, pass_, skipped, recycle):
        passes.append(pass_)
        yield from orig(avail, pass_, skipped, recycle)
        if avail <= 0:
            vm.vm_pages_needed = 0               # cleared meanwhile (as the primary does for the emergency pager)

    vm.vm_pageout_scan_cache = scan_cache
    short_by(vm, 50)
    kick(vm)
    vm.run(until=vm.ticks + 25)
    vm.vmstats.v_free_target = 37
    vm.run(until=vm.ticks + 10)
    kick(vm)
    vm.run(until=vm.ticks + 1)
    assert passes == [0, 1, 2, 3, 0]


# =====================================================================================================
# vm_pageout_thread: the emergency pager (vm_pageout.c:2038-2066)
# =====================================================================================================

def test_vm_pageout_thread_2047_2066_emergency_pager_runs_after_2s_without_primary():
    """The emergency pager runs only if vm_pages_needed and ticks - vm_pagedaemon_time >= 2 * hz; one line per edge."""
    vm = emergpager_only()
    log = record_tsleeps(vm)
    short_by(vm, 50)                              # keeps vm_pages_needed set
    vm.vm_pages_needed = 1
    vm.vm_pagedaemon_time = 1                     # the wake-ups at 101 and 201 are 100 and exactly 200 ticks later
    vm.run(until=200)
    assert vm.cnt.v_pdwakeups == 0 and vm.dmesg() == []
    assert [(t, timo) for t, _, w, timo, _ in sleeps(log, "emergpager")] == [(1, 100), (101, 100)]
    vm.run(until=201)
    assert vm.dmesg() == ["Emergency pager running"] and vm.dmesg_ticks == [201]
    assert vm.cnt.v_pdwakeups == 1
    vm.run(until=400)
    n = vm.cnt.v_pdwakeups
    assert n > 1 and vm.dmesg() == ["Emergency pager running"]
    # The emergency pager does not toggle vm_pages_needed around its short delays.
    assert {(timo, needed) for _, _, w, timo, needed in sleeps(log, "emergpager", "pdelay")} == {(10, 1)}
    vm.vm_pagedaemon_time = 400                   # the primary moves again
    vm.run(until=599)
    fin = [t for line, t in zip(vm.dmesg_lines, vm.dmesg_ticks, strict=True) if line == "Emergency pager finished"]
    assert len(fin) == 1 and fin[0] - 400 < 200
    assert vm.cnt.v_pdwakeups == n
    vm.run(until=900)
    assert vm.dmesg() == ["Emergency pager running", "Emergency pager finished", "Emergency pager running"]
    assert vm.dmesg_ticks[2] - 400 >= 200 and vm.dmesg_ticks[2] - 400 < 300


def test_vm_pageout_thread_2047_2054_emergency_pager_idle_without_vm_pages_needed():
    """With vm_pages_needed == 0 the emergency pager sleeps hz * 10 at a time and never runs."""
    vm = emergpager_only()
    log = record_tsleeps(vm)
    vm.run(until=2500)
    assert [(t, timo) for t, _, w, timo, _ in sleeps(log, "emergpager")] == [(1, 1000), (1001, 1000), (2001, 1000)]
    assert vm.cnt.v_pdwakeups == 0 and vm.dmesg() == []


def test_vm_pageout_thread_2038_2066_emergency_pager_never_warns_or_kills():
    """Swap full and memory short for seconds: the emergency pager passes, but prints no warning and kills nobody."""
    vm = emergpager_only()
    vm.vm_pages_needed = 1
    hog = vm.spawn("hog", Script([[(v, True) for v in range(20)]], linger=True))
    vm.run(until=20)
    passes = record(vm, "vm_pageout_scan_cache")
    vm.swap_pager_full = 2
    vm.swap_pager_almost_full = 1
    short_by(vm, 50)
    vm.run(until=1000)
    assert max(args[1] for _, _, args in passes) >= 2
    assert {name for _, name, _ in passes} == {"emergpager"}
    assert vm.dmesg() == ["Emergency pager running"]
    assert vm.oom_kills == [] and hog.p_pid in vm.allproc


def test_vm_pageout_thread_2038_2066_emergency_pager_takes_over_a_stalled_primary():
    """A vnode lock stalls the primary; 2 s later the emergency pager runs, launders only anonymous pages, stops."""
    vm = Machine(ram="4M", swap="16M", seed=0, vnode_lk_timo=500, boot_userland=False)
    vm.vfs_create_file("db", 700)
    vm.spawn("dbwriter", Sequential(pages=700, passes=1, writes=1.0), [MapFile("db")], refs_per_tick=1000)
    vm.run(seconds=1)
    vm.vn_lock_hold("db", 12 * vm.hz)
    vm.spawn("anon", Sequential(pages=1500, passes=2, writes=0.7), refs_per_tick=300)
    vm.run()
    lines = [(line, t) for line, t in zip(vm.dmesg_lines, vm.dmesg_ticks, strict=True) if "Emergency" in line]
    assert [line for line, _ in lines] == ["Emergency pager running", "Emergency pager finished"]
    lock_tick = vm.dmesg_ticks[vm.dmesg_lines.index("vnode db: lock held for 1200 ticks")]
    assert lines[0][1] - lock_tick >= 2 * vm.hz
    assert lines[1][1] > lines[0][1]
    ev = vm.events()
    ep = ev[ev.thread == "emergpager"]
    assert len(ep) > 0
    assert set(ep[ep.object == "VNODE"].action) <= {"requeue", "skip"}
    assert ((ep.object == "VNODE") & (ep.function == "vm_pageout_scan_active")).sum() > 0
    assert ((ep.object != "VNODE") & (ep.action == "launder")).sum() > 0
    assert not any("Warning" in line or "kill" in line for line in vm.dmesg())
    assert vm.pageout_lock_miss > 0
    vm.check()


# =====================================================================================================
# pagedaemon_wakeup (vm_pageout.c:2317-2328)
# =====================================================================================================

def wakeup_machine():
    vm = small_machine()
    vm.vm_pageout_thread_setup()
    woke: list = []
    waiter(vm, VM_PAGES_NEEDED, woke)
    vm.run(until=1)
    return vm, woke


def test_pagedaemon_wakeup_2320_2320_nothing_unless_paging_needed():
    """Without vm_paging_needed() nothing happens."""
    vm, woke = wakeup_machine()
    assert not vm.vm_paging_needed()
    vm.pagedaemon_wakeup()
    vm.run(until=2)
    assert vm.vm_pages_needed == 0 and woke == []


def test_pagedaemon_wakeup_2320_2320_not_from_the_pagedaemon_itself():
    """Called by the page daemon thread itself, nothing happens."""
    vm, woke = wakeup_machine()
    vm.vmstats.v_free_min = 300

    def call():
        vm.pagedaemon_wakeup()
        return vm.vm_pages_needed
        yield

    assert run_as(vm, call, role="pagethread") == 0
    assert woke == []
    assert run_as(vm, call, role="emergpager") == 1          # only the primary is exempt
    assert woke == [vm.ticks]


def test_pagedaemon_wakeup_2321_2323_zero_to_one_and_wakeup():
    """vm_pages_needed == 0: set it to 1 and wake the daemon."""
    vm, woke = wakeup_machine()
    vm.vmstats.v_free_min = 300
    vm.pagedaemon_wakeup()
    assert vm.vm_pages_needed == 1
    vm.run(until=2)
    assert woke == [2]


@pytest.mark.parametrize("count_min, expected", [(True, 2), (False, 1)])
def test_pagedaemon_wakeup_2324_2326_increment_only_at_count_min(count_min, expected):
    """Already awake: ++vm_pages_needed only if vm_page_count_min(0); no second wake-up."""
    vm, woke = wakeup_machine()
    vs = vm.vmstats
    if count_min:
        vs.v_free_min = vs.v_free_count + 1
    else:
        vs.v_cache_min = vs.v_free_count              # free_min + cache_min > free: paging needed, count_min not
    assert vm.vm_paging_needed() and vm.vm_page_count_min(0) == count_min
    vm.vm_pages_needed = 1
    vm.pagedaemon_wakeup()
    assert vm.vm_pages_needed == expected
    vm.run(until=2)
    assert woke == []


# =====================================================================================================
# vm_req_vmdaemon (vm_pageout.c:2336-2345)
# =====================================================================================================

def test_vm_req_vmdaemon_2341_2344_at_most_once_per_hz():
    """vm_daemon is woken only if ticks > lastrun + hz (strictly), or ticks < lastrun; lastrun = ticks."""
    vm = small_machine()
    woke: list = []

    def daemon():
        while True:
            yield vm.tsleep(VM_DAEMON_NEEDED, 0, "psleep", 0)
            woke.append(vm.ticks)

    vm.kthread_create(daemon, "vmdaemon")
    results = []
    for t in (100, 101, 150, 201, 202):
        vm.run(until=t)
        vm.vm_req_vmdaemon()
        results.append((t, vm.vm_req_vmdaemon_lastrun))
    vm.run(until=203)
    assert results == [(100, 0), (101, 101), (150, 101), (201, 101), (202, 202)]
    assert woke == [102, 203]
    vm.vm_req_vmdaemon_lastrun = vm.ticks + 5          # lastrun ahead of ticks (wrap-around)
    vm.vm_req_vmdaemon()
    assert vm.vm_req_vmdaemon_lastrun == vm.ticks
    vm.run(until=vm.ticks + 1)
    assert woke == [102, 203, 204]


# =====================================================================================================
# vm_daemon (vm_pageout.c:2352-2373) and swapout_procs (vm_glue.c, facts §6)
# =====================================================================================================

def sleeper(vm: Machine, name: str = "idle"):
    p = vm.spawn(name, Script([[(0, True)]], linger=True))
    vm.run(until=vm.ticks + 2)
    assert p.p_thread.td_wmesg == "nanslp"
    return p


def test_vm_daemon_2358_2371_swapout_request_is_dropped():
    """vm_daemon zeroes vm_pageout_req_swapout, then passes that (now 0) variable: nothing is swapped out."""
    vm = daemon_machine()
    p = sleeper(vm)
    vm.run(until=vm.ticks + 20 * vm.hz)
    assert vm.lwp_slptime(p) >= 15
    swapouts = record(vm, "swapout_procs")
    scanned = record(vm, "vm_daemon_callback")
    vm.vm_pageout_req_swapout = VM_SWAP_NORMAL
    vm.wakeup(VM_DAEMON_NEEDED)
    vm.run(until=vm.ticks + 1)
    assert vm.vm_pageout_req_swapout == 0
    assert [args for _, _, args in swapouts] == [(0,)]
    assert not p.p_flags & P_SWAPPEDOUT and vm.swapouts == 0
    assert [args[0].p_pid for _, name, args in scanned] == sorted(vm.allproc)
    assert {name for _, name, _ in scanned} == {"vmdaemon"}
    # The same process does qualify for VM_SWAP_NORMAL when swapout_procs gets the request.
    run_as(vm, vm.swapout_procs, VM_SWAP_NORMAL)
    assert p.p_flags & P_SWAPPEDOUT


def test_vm_daemon_2364_2371_no_swapout_call_without_request():
    """Woken without a swapout request, vm_daemon only scans the processes."""
    vm = daemon_machine()
    swapouts = record(vm, "swapout_procs")
    scanned = record(vm, "vm_daemon_callback")
    vm.wakeup(VM_DAEMON_NEEDED)
    vm.run(until=vm.ticks + 1)
    assert swapouts == [] and len(scanned) == len(vm.allproc)


@pytest.mark.parametrize("action, seconds, swapped", [
    (VM_SWAP_NORMAL, 14, False),
    (VM_SWAP_NORMAL, 15, True),
    (VM_SWAP_IDLE, 15, False),
    (VM_SWAP_IDLE, 60, False),
    (VM_SWAP_IDLE, 61, True),
    (0, 100, False),
])
def test_vm_daemon_2364_2365_swapout_procs_thresholds(action, seconds, swapped):
    """swapout_procs: asleep >= 15 s (threshold1) for NORMAL; IDLE needs more than 60 s (threshold2)."""
    vm = small_machine()
    p = sleeper(vm)
    vm.run(until=p.p_thread.td_slptick + seconds * vm.hz)
    assert vm.lwp_slptime(p) == seconds
    run_as(vm, vm.swapout_procs, action)
    assert bool(p.p_flags & P_SWAPPEDOUT) == swapped


# =====================================================================================================
# vm_daemon_callback (vm_pageout.c:2375-2427)
# =====================================================================================================

def callback_machine(resident: int = 5000, limit_pages: int | None = 100, **kw):
    """A process whose pmap claims ``resident`` pages (set by hand) and an RSS limit; trims are recorded, not done."""
    vm = small_machine(**kw)
    p = sleeper(vm)
    p.p_vmspace.vm_pmap.pm_resident_count = resident
    if limit_pages is not None:
        p.p_rlimit[RLIMIT_RSS] = [limit_pages * vm.PAGE_SIZE, limit_pages * vm.PAGE_SIZE]
    trims: list = []

    def trim(vmap, limit):
        trims.append(limit)
        return
        yield

    vm.vm_pageout_map_deactivate_pages = trim
    return vm, p, trims


def test_vm_daemon_callback_2387_2390_skips_system_and_exiting():
    """P_SYSTEM and P_WEXIT processes are skipped."""
    vm, p, trims = callback_machine()
    p.p_flags |= P_WEXIT
    run_as(vm, vm.vm_daemon_callback, p, None)
    p.p_flags &= ~P_WEXIT
    p.p_flags |= P_SYSTEM
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert trims == []
    p.p_flags &= ~P_SYSTEM
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert trims == [100]


@pytest.mark.parametrize("stat, trimmed", [(SSTOP, True), (SCORE, True), (SIDL, False), (SZOMB, False)])
def test_vm_daemon_callback_2396_2399_only_running_states(stat, trimmed):
    """Only SACTIVE, SSTOP and SCORE processes are considered."""
    vm, p, trims = callback_machine()
    p.p_stat = stat
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert trims == ([100] if trimmed else [])


def test_vm_daemon_callback_2404_2414_limit_is_min_of_rlimits_in_pages_or_0_if_swapped_out():
    """limit = OFF_TO_IDX(min(rlim_cur, rlim_max)); a P_SWAPPEDOUT process gets limit 0."""
    vm, p, trims = callback_machine()
    p.p_rlimit[RLIMIT_RSS] = [300 * vm.PAGE_SIZE + 123, 200 * vm.PAGE_SIZE + 4000]
    run_as(vm, vm.vm_daemon_callback, p, None)
    p.p_flags |= P_SWAPPEDOUT
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert trims == [200, 0]


@pytest.mark.parametrize("resident, limit, mode, trimmed", [
    (4097, 1, 1, True),          # size - 4096 == limit
    (4097, 2, 1, False),         # size - 4096 < limit
    (4096, 0, 1, False),         # size must exceed 4096
    (9000, 100, 2, True),
    (9000, 100, 0, False),       # memuse mode 0 never trims
])
def test_vm_daemon_callback_2418_2421_trim_only_4096_pages_over_limit(resident, limit, mode, trimmed):
    """Trim only if size > 4096, size - 4096 >= limit and vm.pageout_memuse_mode >= 1."""
    vm, p, trims = callback_machine(resident=resident, limit_pages=limit)
    vm.sysctl("vm.pageout_memuse_mode", mode)
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert trims == ([limit] if trimmed else [])


def test_vm_daemon_callback_2418_2421_trims_a_real_process_to_its_limit():
    """A process with 4200 resident pages and a 100-page limit is trimmed to exactly 100 (mode 1: nothing written)."""
    vm = Machine(ram="32M", swap="64M", pagedaemon=False, boot_userland=False)
    p = vm.spawn("big", Script([[(v, True) for v in range(4200)]], linger=True), [Anon(4200)],
                 refs_per_tick=5000, rss_limit=100)
    vm.run(until=20)
    assert p.rss_pages == 4200 and p.p_thread.td_wmesg == "nanslp"
    inactive0 = vm.vmstats.v_inactive_count
    run_as(vm, vm.vm_daemon_callback, p, None)
    assert p.rss_pages == 100
    assert vm.vmstats.v_inactive_count == inactive0 + 4100
    assert vm.cnt.v_swappgsout == 0
    assert p.p_vmspace.vm_map.pgout_offset == 4099 << vm.PAGE_SHIFT
    pm = p.p_vmspace.vm_pmap
    assert vm.pte_page(pm, 4099) is None and vm.pte_page(pm, 4100) is not None
    vm.check()
    # With 105 pages allowed, 4200 - 4096 = 104 < 105: left alone.
    vm2 = Machine(ram="32M", swap="64M", pagedaemon=False, boot_userland=False)
    p2 = vm2.spawn("big", Script([[(v, True) for v in range(4200)]], linger=True), [Anon(4200)],
                   refs_per_tick=5000, rss_limit=105)
    vm2.run(until=20)
    run_as(vm2, vm2.vm_daemon_callback, p2, None)
    assert p2.rss_pages == 4200


# =====================================================================================================
# The sysctl table (vm_pageout.c:155-204)
# =====================================================================================================

SEED_SYSCTLS = {
    # name: (default, description, read-only)
    "vm.anonmem_decline": (1, "active->inactive anon memory", False),
    "vm.filemem_decline": (2, "active->inactive file cache", False),
    "vm.page_free_hysteresis": (16, "Free more pages than the minimum required", False),
    "vm.max_launder": (4096, "Limit dirty flushes in pageout", False),
    "vm.emerg_launder": (100, "Emergency pager minimum", False),
    "vm.pageout_stats_max": (0, "Max pageout stats scan length", False),
    "vm.pageout_full_stats_interval": (0, "Interval for full stats scan", False),
    "vm.pageout_stats_interval": (0, "Interval for partial stats scan", False),
    "vm.pageout_stats_free_max": (0, "Not implemented", False),
    "vm.pageout_memuse_mode": (1, "memoryuse resource mode", False),
    "vm.swap_enabled": (1, "Enable entire process swapout", False),
    "vm.swap_idle_enabled": (0, "Allow swapout on idle criteria", False),
    "vm.defer_swapspace_pageouts": (0, "Give preference to dirty pages in mem", False),
    "vm.disable_swapspace_pageouts": (0, "Disallow swapout of dirty pages", False),
    "vm.pageout_lock_miss": (0, "vget() lock misses during pageout", True),
}


def test_sysctl_155_204_every_seed_sysctl_with_default_and_description():
    """Every SYSCTL_INT/UINT of the seed exists with the seed's initial value, description and RD/RW flag."""
    vm = small_machine()                           # daemon not started: the seed's initial values
    table = vm.sysctl_table().set_index("name")
    by_name = {e.name: e for e in SYSCTLS}
    for name, (default, descr, ro) in SEED_SYSCTLS.items():
        assert vm.sysctl(name) == default, name
        assert by_name[name].default == default, name
        assert table.loc[name, "description"] == descr, name
        assert bool(table.loc[name, "readonly"]) == ro, name
        assert table.loc[name, "source"] == "vm_pageout.c", name
    assert "vm.pageout_algorithm" not in vm.sysctl_names()          # vm_pageout_algorithm is not exported


def test_sysctl_202_204_pageout_lock_miss_is_read_only():
    """vm.pageout_lock_miss is CTLFLAG_RD: writes are refused and the value is unchanged."""
    vm = small_machine()
    with pytest.raises(ValueError, match="vm.pageout_lock_miss is read-only"):
        vm.sysctl("vm.pageout_lock_miss", 5)
    assert vm.pageout_lock_miss == 0


@pytest.mark.parametrize("name, bad", [("vm.max_launder", -1), ("vm.pageout_memuse_mode", 3),
                                        ("vm.anonmem_decline", "x"), ("vm.swap_enabled", 2)])
def test_sysctl_155_204_range_validation_names_the_sysctl(name, bad):
    """vmkit refuses out-of-range values with an error naming the sysctl; the value is unchanged."""
    vm = small_machine()
    before = vm.sysctl(name)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        vm.sysctl(name, bad)
    assert vm.sysctl(name) == before


def test_sysctl_165_166_max_launder_takes_effect_on_a_running_machine():
    """vm.max_launder set at run time limits the dirty pages the running daemon launders in its first pass (771-772)."""
    def first_pass_launders(max_launder):
        vm = daemon_machine()
        if max_launder is not None:
            vm.sysctl("vm.max_launder", max_launder)
        colour = 5
        for _ in range(5):                          # five objects: five one-page clusters, all on one colour
            obj = vm.vm_object_allocate(OBJT_DEFAULT, 16)
            m = vm.vm_page_alloc(obj, (colour - obj.pg_color) % 16, VM_ALLOC_NORMAL)
            assert m.pc == colour
            vm.pmap_zero_page(m)
            m.valid = VM_PAGE_BITS_ALL
            vm.vm_page_dirty(m)
            vm.vm_page_deactivate(m)
            m.flags |= PG_WINATCFLS                 # second trip round the inactive queue: launder now
            vm.vm_page_wakeup(m)
        calls: list = []
        orig = vm.vm_pageout_scan_inactive

        def scan_inactive(pass_, q, avail, skipped):
            n0 = vm.event_count()
            delta = yield from orig(pass_, q, avail, skipped)
            ev = vm.events().iloc[n0:]
            calls.append((pass_, q, int((ev.action == "launder").sum())))
            return delta

        vm.vm_pageout_scan_inactive = scan_inactive
        short_by(vm, 50)
        kick(vm)
        vm.run(until=vm.ticks + 30)
        return sum(n for pass_, q, n in calls if pass_ == 0), sum(n for _, _, n in calls)

    assert first_pass_launders(None) == (5, 5)
    assert first_pass_launders(2) == (2, 5)          # pass 1 and later: max_launder = 10000


def test_sysctl_155_156_anonmem_decline_takes_effect_on_a_running_machine():
    """vm.anonmem_decline set at run time changes how fast the daemon ages unreferenced anonymous pages (1396-1397)."""
    def aged(decline):
        vm = daemon_machine()
        if decline is not None:
            vm.sysctl("vm.anonmem_decline", decline)
        pages = colour_pages(vm, 3, 2, PQ_ACTIVE, act_count=30)
        vm.vmstats.v_inactive_target = 1            # an inactive shortage: the active scan runs
        kick(vm)
        vm.run(until=vm.ticks + 1)
        return [m.act_count for m in pages]

    assert aged(None) == [29, 29]
    assert aged(7) == [23, 23]
