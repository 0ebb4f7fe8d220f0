"""The machine as a whole: pids, running and stopping, exit, stalls, killproc, summary, size, page colours."""

from __future__ import annotations

import json
import time
from collections.abc import Generator

import pytest
from helpers import small_machine, start_evictor

from vmkit import IdleDaemon, Machine, MachineStalled, Script, Sequential, UniformRandom
from vmkit.constants import (
    P_SYSTEM,
    PQ_ACTIVE,
    PQ_CACHE,
    PQ_COUNT,
    PQ_FREE,
    PQ_HOLD,
    PQ_INACTIVE,
    PQ_NONE,
    SIGKILL,
    SZOMB,
)
from vmkit.kern import TDS_EXIT, TDS_SLEEP
from vmkit.proc import BOOT_DAEMONS


def row(vm: Machine, pid: int) -> dict:
    rows = [r for r in vm.processes() if r["pid"] == pid]
    assert len(rows) == 1, rows
    return rows[0]


def object_pages(vm: Machine) -> int:
    return sum(obj.resident_page_count for obj in vm.vm_objects())


def object_swap(vm: Machine) -> int:
    return sum(len(obj.swblock) for obj in vm.vm_objects())


# --- pids ------------------------------------------------------------------------------------------


def test_pids_as_on_a_booted_system():
    vm = Machine(ram=1024, swap=1024, seed=1)
    swapper = vm.pfind(0)
    assert swapper is not None and swapper.p_comm == "swapper"
    assert swapper.p_flags & P_SYSTEM
    init = vm.pfind(1)
    assert init is not None and init.p_comm == "init"
    assert not init.p_flags & P_SYSTEM          # init is an ordinary process, not the kernel
    boot = sorted(vm.allproc)
    assert boot[0] == 0 and len(boot) == 1 + len(BOOT_DAEMONS)
    assert all(pid < 48 for pid in boot)
    assert [vm.allproc[pid].p_comm for pid in boot[1:]] == [d[0] for d in BOOT_DAEMONS]
    assert vm.config.first_user_pid == 100
    procs = [vm.spawn(f"u{i}", Sequential(pages=4)) for i in range(3)]
    assert [p.p_pid for p in procs] == [100, 101, 102]
    assert [p.p_pid for p in vm.user_procs()] == [100, 101, 102]
    assert all(p.p_uid == 1001 for p in procs)


def test_pids_without_boot_userland():
    vm = Machine(ram=256, swap=256, seed=1, boot_userland=False)
    assert list(vm.allproc) == [0]
    assert vm.allproc[0].p_flags & P_SYSTEM
    assert vm.spawn("a", Sequential(pages=4)).p_pid == 100
    assert vm.spawn("b", Sequential(pages=4)).p_pid == 101


def test_first_user_pid_is_configurable():
    vm = Machine(ram=1024, swap=0, seed=1, first_user_pid=300)
    assert vm.spawn("a", Sequential(pages=4)).p_pid == 300
    assert all(pid < 48 for pid in vm.allproc if pid != 300)


# --- run() and exit --------------------------------------------------------------------------------


def test_run_returns_when_spawned_processes_exit_and_boot_daemons_keep_running():
    vm = Machine(ram=1024, swap=1024, seed=2, refs_per_tick=500)
    a = vm.spawn("a", Sequential(pages=100, passes=3, writes=0.5))
    b = vm.spawn("b", UniformRandom(pages=60, count=5000, writes=0.2))
    vm.run()
    assert vm.user_procs() == []
    for p in (a, b):
        assert p.p_stat == SZOMB
        assert p.rss_pages == 0
        r = row(vm, p.p_pid)
        assert r["state"] == "SZOMB" and r["rss_pages"] == 0
        assert p.p_thread.td_state == TDS_EXIT
    assert a.p_refs == 300 and b.p_refs == 5000
    for name, pages, _touch, _period in BOOT_DAEMONS:
        d = next(p for p in vm.allproc.values() if p.p_comm == name)
        assert d.p_stat != SZOMB and d.p_thread.td_state != TDS_EXIT
        assert d.rss_pages == pages
        assert row(vm, d.p_pid)["state"] == "SACTIVE"
    vm.check()


def test_exit_frees_pages_and_swap():
    vm = small_machine(ram=256, swap=1024, seed=3)
    start_evictor(vm, seed=3)
    vm.spawn("a", UniformRandom(pages=150, count=20_000, writes=0.5))
    vm.spawn("b", Sequential(pages=120, passes=20, writes=1.0))
    vm.run(until=60)
    assert vm.swap_in_use() > 0
    assert vm.vmstats.v_free_count < 256
    vm.run()
    assert vm.vmstats.v_free_count == 256
    assert vm.queue_counts()["free"] == 256
    assert vm.vm_swap_size == vm.vm_swap_max == 1024
    assert vm.swap_in_use() == 0
    assert list(vm.vm_objects()) == []
    vm.check()


def test_exit_frees_pages_with_boot_daemons():
    vm = Machine(ram=1024, swap=1024, seed=4, refs_per_tick=500)
    vm.run(seconds=1)                     # the daemons touch all their pages at start
    free0 = vm.vmstats.v_free_count
    assert free0 == 1024 - sum(d[1] for d in BOOT_DAEMONS)
    vm.spawn("a", Sequential(pages=300, passes=2, writes=0.5))
    vm.spawn("b", UniformRandom(pages=200, count=4000, writes=0.5))
    vm.run()
    assert vm.vmstats.v_free_count == free0
    assert vm.vm_swap_size == 1024
    vm.check()


def test_exit_frees_pages_and_swap_with_boot_daemons_and_evictor():
    """Daemon pages may be paged out too: what is not free belongs to the daemons' objects."""
    vm = Machine(ram=256, swap=1024, seed=5, refs_per_tick=200)
    start_evictor(vm, seed=5)
    vm.spawn("a", UniformRandom(pages=150, count=20_000, writes=0.5))
    vm.spawn("b", Sequential(pages=100, passes=10, writes=1.0))
    vm.run()
    assert vm.vmstats.v_free_count + object_pages(vm) == 256
    assert vm.swap_in_use() == object_swap(vm)
    names = {obj.name for obj in vm.vm_objects()}
    assert names <= {d[0] for d in BOOT_DAEMONS}
    vm.check()


@pytest.mark.parametrize("hz", [100, 250])
@pytest.mark.parametrize("busy", [False, True])
def test_run_seconds_advances_exactly(hz, busy):
    vm = Machine(ram=512, swap=512, seed=6, hz=hz)
    if busy:
        vm.spawn("a", UniformRandom(pages=100, count=10**8))
    vm.run(seconds=2)
    assert vm.ticks == 2 * hz
    vm.run(seconds=2)
    assert vm.ticks == 4 * hz
    vm.run(seconds=0.5)
    assert vm.ticks == 4 * hz + hz // 2


def test_run_seconds_on_machine_with_nothing_scheduled():
    vm = small_machine()
    vm.run(seconds=2)
    assert vm.ticks == 200


# --- idle processes and stalls ---------------------------------------------------------------------


def test_idle_process_sleeps_in_nanslp_and_is_not_stalled():
    vm = small_machine(ram=256, swap=0, seed=7, stall_seconds=2)
    idle = vm.spawn("idled", IdleDaemon(pages=8, touch=1, period=10 * vm.hz))
    seen: list[str] = []

    def killer() -> Generator:
        for _ in range(6):                  # 30 s: many times stall_seconds
            yield vm.tsleep("test-killer", 0, "wait", 5 * vm.hz + 50)  # out of phase with the idler
            td = idle.p_thread
            seen.append(td.td_wmesg if td.td_state == TDS_SLEEP else "runnable")
        vm.killproc(idle, "test over")

    vm.kthread_create(killer, "test-killer")
    vm.run(seconds=40)                      # IdleDaemon never ends by itself: run() needs a limit
    assert vm.ticks == 40 * vm.hz
    assert seen == ["nanslp"] * 6
    assert idle.p_stat == SZOMB
    assert idle.p_refs > 8                  # it woke up and touched pages between sleeps


def test_long_sleeping_process_is_not_stalled():
    """run() without a limit: sleeping in "nanslp" for many times stall_seconds is not a stall."""
    vm = small_machine(ram=256, swap=0, seed=7, stall_seconds=2)
    naps = vm.spawn("napper", Script([[(0, True), (1, False)], 10 * vm.hz, [(2, True)], 10 * vm.hz,
                                      [(0, False), (3, True)]]))
    vm.run()                                # must not raise MachineStalled
    assert vm.ticks >= 20 * vm.hz
    assert naps.p_stat == SZOMB
    assert naps.p_refs == 5


def test_starving_process_next_to_an_idle_one_is_detected():
    """The idle process (asleep in "nanslp") must not hide the one that cannot get memory."""
    vm = small_machine(ram=128, swap=512, seed=8, stall_seconds=2)
    vm.spawn("idler", Script([[(0, True)], 60 * vm.hz, [(0, False)]]))
    vm.spawn("bigproc", Sequential(pages=1000))
    t0 = time.monotonic()
    with pytest.raises(MachineStalled) as info:
        vm.run()
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert "pid 100 (idler) sleeping on nanslp" in msg
    assert "pid 101 (bigproc)" in msg
    assert vm.ticks <= 10 * vm.hz           # well before the idler's 60 s nap ends


def test_stall_is_detected_quickly_without_a_page_daemon():
    vm = Machine(ram=128, swap=512, seed=8, stall_seconds=2, pagedaemon=False)
    vm.spawn("bigproc", Sequential(pages=1000))
    t0 = time.monotonic()
    with pytest.raises(MachineStalled) as info:
        vm.run()
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert "pid 100 (bigproc)" in msg
    assert "page daemon" in msg
    assert vm.ticks <= 10 * vm.hz


def test_same_workload_completes_with_the_page_daemon():
    vm = Machine(ram=128, swap=512, seed=8, stall_seconds=2)
    p = vm.spawn("bigproc", Sequential(pages=1000))
    vm.run()                                # the page daemon frees memory: no stall
    assert p.p_stat == SZOMB and p.p_refs == 1000
    vm.check()


# --- killproc --------------------------------------------------------------------------------------


def test_killproc_logs_and_sleeping_process_exits():
    vm = small_machine(seed=9)
    p = vm.spawn("sleeper", IdleDaemon(pages=8, touch=1, period=1000), uid=42)
    vm.run(until=20)
    vm.killproc(p, "out of swap space")
    assert vm.dmesg()[-1] == "pid 100 (sleeper), uid 42, was killed: out of swap space"
    vm.run(until=vm.ticks + 5)
    assert p.p_stat == SZOMB and p.p_xsig == SIGKILL
    assert p.rss_pages == 0
    assert vm.vmstats.v_free_count == 256
    vm.check()


def test_killproc_faulting_process_exits():
    vm = small_machine(seed=10)
    start_evictor(vm, seed=10)
    p = vm.spawn("pager", UniformRandom(pages=200, count=10**8, writes=0.5))
    vm.run(until=30)
    vm.killproc(p, "test")
    assert vm.dmesg()[-1] == "pid 100 (pager), uid 1001, was killed: test"
    vm.run(until=vm.ticks + 20)
    assert p.p_stat == SZOMB and p.p_xsig == SIGKILL
    vm.run(until=vm.ticks + 5)             # async writes still in flight finish
    assert vm.vmstats.v_free_count == 256 and vm.swap_in_use() == 0
    vm.check()


def test_killproc_running_resident_process_exits():
    vm = small_machine(seed=11)
    p = vm.spawn("spinner", UniformRandom(pages=50, count=10**8))
    vm.run(until=50)                        # all 50 pages resident: no more faults
    assert p.rss_pages == 50
    faults = p.p_minflt + p.p_majflt
    vm.killproc(p, "test")
    assert vm.dmesg()[-1] == "pid 100 (spinner), uid 1001, was killed: test"
    vm.run(until=vm.ticks + 1)              # the signal is acted on at the end of the quantum
    assert p.p_minflt + p.p_majflt == faults
    assert p.p_stat == SZOMB and p.p_xsig == SIGKILL
    assert p.rss_pages == 0
    assert vm.vmstats.v_free_count == 256
    vm.check()


# --- summary ---------------------------------------------------------------------------------------


def test_summary_keys_and_json():
    vm = small_machine(seed=12)
    vm.swapdev.inject(write_error_rate=0.3)
    start_evictor(vm, seed=12)
    p = vm.spawn("a", UniformRandom(pages=200, count=8000, writes=0.5))
    vm.spawn("b", Sequential(pages=100, passes=3, writes=1.0))
    vm.run(until=20)
    vm.killproc(p, "test")
    vm.run()
    s = vm.summary()
    for key in ("ticks", "references", "faults", "counters", "vmstats", "processes", "dmesg", "lost_writes"):
        assert key in s, key
    assert s["ticks"] == vm.ticks
    assert s["faults"] == vm.cnt.v_vm_faults > 0
    assert s["references"] == sum(r["refs"] for r in vm.processes())
    assert s["counters"]["swap_writes"] > 0
    assert s["vmstats"]["v_free_count"] == vm.vmstats.v_free_count
    assert {r["pid"] for r in s["processes"]} == {0, 100, 101}
    assert any("was killed: test" in line for line in s["dmesg"])
    assert s["lost_writes"] == 0
    text = json.dumps(s)
    assert json.loads(text) == s


# --- a large machine -------------------------------------------------------------------------------


def test_four_gigabyte_machine():
    """1,048,576 frames build in seconds; check() is not run here (it walks every page)."""
    vm = Machine(ram="4G", seed=1)
    assert vm.config.ram_pages == 1 << 20
    assert vm.vmstats.v_page_count == 1 << 20
    assert vm.vmstats.v_free_count == 1048576
    assert vm.queue_counts()["free"] == 1048576
    assert len(vm.vm_page_array) == 1048576


# --- page colours ----------------------------------------------------------------------------------


def test_page_colours_with_16_colours():
    vm = small_machine(ram=4096, swap=0, pq_l2_size=16)
    assert vm.PQ_L2_SIZE == 16
    for m in vm.vm_page_array:
        assert m.pc == (m.pfn ^ m.pfn // 16 ^ m.pfn // 256) & 15
        assert m.queue == PQ_FREE + m.pc
    for c in range(16):
        on_queue = {m.pfn for m in vm.vm_page_queues[PQ_FREE + c]}
        assert on_queue == {m.pfn for m in vm.vm_page_array if m.pc == c}
        assert vm.vm_page_queues[PQ_FREE + c].lcnt == len(on_queue)
    for c in range(16, 512):                 # colours beyond PQ_L2_SIZE stay empty
        assert vm.vm_page_queues[PQ_FREE + c].lcnt == 0


def test_queue_numbers_keep_dragonfly_values_with_512_colours():
    assert (PQ_NONE, PQ_FREE, PQ_INACTIVE, PQ_ACTIVE, PQ_CACHE, PQ_HOLD, PQ_COUNT) == (
        0, 1, 513, 1025, 1537, 2049, 2561)
    vm = small_machine(ram=2048, swap=1024, pq_l2_size=512, seed=13)
    assert vm.PQ_L2_SIZE == 512 and len(vm.vm_page_queues) == PQ_COUNT
    for m in vm.vm_page_array:
        assert m.pc == (m.pfn ^ m.pfn // 512 ^ m.pfn // (512 * 512)) & 511
        assert m.queue == PQ_FREE + m.pc
    expect = {PQ_FREE: "v_free_count", PQ_INACTIVE: "v_inactive_count", PQ_ACTIVE: "v_active_count",
              PQ_CACHE: "v_cache_count", PQ_HOLD: "v_active_count"}
    for base, counter in expect.items():
        assert vm.vm_page_queues[base].cnt_offset == counter
        assert vm.vm_page_queues[base + 511].cnt_offset == counter
    p = vm.spawn("a", Sequential(pages=600, writes=0.5))
    vm.run()
    assert p.p_stat == SZOMB
    vm.spawn("b", UniformRandom(pages=600, count=3000, writes=0.5))
    vm.run(until=vm.ticks + 5)
    active = vm.queue_pages(PQ_ACTIVE)
    assert active and all(m.queue == 1025 + m.pc for m in active)
    m = active[0]
    vm.vm_page_deactivate(m)
    assert m.queue == 513 + m.pc
    vm.check()


def test_run_in_thread_returns_the_result_and_stops_a_thread_that_never_ends():
    vm = Machine(ram=256, swap=1024, boot_userland=False, pagedaemon=False)

    def ok(x):
        yield from ()
        return x * 2

    def forever():
        while True:
            yield vm.tsleep(vm, 0, "never", 0)

    assert vm.run_in_thread(ok, 21) == 42
    with pytest.raises(MachineStalled, match="stuck did not finish within 5 ticks"):
        vm.run_in_thread(forever, max_ticks=5, name="stuck")
    with pytest.raises(ValueError, match="max_ticks"):
        vm.run_in_thread(ok, 1, max_ticks=0)


def test_event_counts_agree_with_the_event_log():
    vm = Machine(ram="4M", swap="16M", seed=2)
    vm.spawn("w", Sequential(pages=1500, passes=2, writes=0.5))
    vm.run(until=150)
    ev = vm.events()
    for fn in ("vm_pageout_page", "vm_pageout_scan_active", None):
        sub = ev if fn is None else ev[ev.function == fn]
        for by in ("action", "reason"):
            want = {str(k): int(v) for k, v in sub[by].astype(str).value_counts().items() if v}
            assert vm.event_counts(fn, by=by) == want
    # Several columns, and a thread filter, as groupby gives them.
    for by in (("action", "reason"), ("object", "action"), ("function", "object", "action")):
        for thread in (None, "pagedaemon"):
            sub = ev if thread is None else ev[ev.thread == thread]
            want = {tuple(str(x) for x in k): int(v) for k, v in sub.groupby(list(by), observed=True).size().items()
                    if v}
            assert vm.event_counts(by=by, thread=thread) == want
    assert vm.event_counts(by="object") == {str(k): int(v) for k, v in ev.object.value_counts().items() if v}
    assert vm.event_counts(thread="nobody") == {}
    for bad in ("page", ("action", "tick"), ()):
        with pytest.raises(ValueError, match="by must be one of thread, function, object, action, reason"):
            vm.event_counts(by=bad)


def test_first_event_tick():
    vm = Machine(ram="4M", swap="16M", seed=2)
    assert vm.first_event_tick("vm_pageout_page") is None
    vm.spawn("w", Sequential(pages=1500, passes=2, writes=0.5))
    vm.run(until=150)
    ev = vm.events()
    assert vm.first_event_tick("vm_pageout_page") == int(ev[ev.function == "vm_pageout_page"].tick.min())


def test_event_rows_are_invisible_to_the_garbage_collector():
    """Event rows hold only ints and strings, so the cyclic GC drops them from its lists at once.

    A row holding an object (it once held the thread) stays tracked, and every collection walks all of
    them: with millions of rows that was most of the cost of keeping the event log on.
    """
    import gc

    vm = Machine(ram="4M", swap="16M", seed=2)
    vm.spawn("w", Sequential(pages=1500, passes=2, writes=0.5))
    vm.run(until=150)
    rows = vm._ev_rows
    assert len(rows) > 1000
    assert {type(r[1]) for r in rows} == {str}
    gc.collect()
    assert not any(gc.is_tracked(r) for r in rows)
    assert set(vm.events().thread) <= {"pagedaemon", "emergpager", "vmdaemon", "-"}
