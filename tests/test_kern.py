"""Behaviour tests of the kernel core (vmkit/kern.py, Machine.run): clock, tsleep/wakeup, scheduler, log.

Facts §8: tsleep sleeps at most ``timo`` ticks (0: forever), returns 0 when
woken and EWOULDBLOCK on timeout; wakeup wakes every thread sleeping on the
ident.
"""

from __future__ import annotations

import pytest
from helpers import small_machine

from vmkit import KernelThreadError, VMConfig
from vmkit.constants import EWOULDBLOCK
from vmkit.kern import TDS_RUN, TDS_SLEEP


def machine(**kw):
    """``small_machine`` without the page-out daemon (where the config has one): these tests drive
    the subsystems by hand, and the daemon's thresholds and scans would change what they look at."""
    if "pagedaemon" in VMConfig.field_names():
        kw.setdefault("pagedaemon", False)
    return small_machine(**kw)


def sleeper(vm, log, ident, timo, name):
    """A kernel thread body: sleep once on ``ident`` and record (name, tick slept, tick resumed, error)."""

    def main():
        start = vm.ticks
        err = yield vm.tsleep(ident, 0, "tsleep", timo)
        log.append((name, start, vm.ticks, err))

    return main


# -- tsleep / wakeup -------------------------------------------------------------------------------

def test_tsleep_times_out_at_exactly_start_plus_timo():
    vm = machine()
    log = []
    vm.run(until=37)
    vm.kthread_create(sleeper(vm, log, "nobody-wakes-this", 25, "t"), "t")
    vm.run(until=37 + 25)
    # The thread first runs at tick 38, so it times out at 38 + 25 = 63.
    assert log == []
    vm.run(until=38 + 25)
    assert log == [("t", 38, 63, EWOULDBLOCK)]


@pytest.mark.parametrize("timo", [1, 2, 10, 100])
def test_tsleep_timeout_for_various_timos(timo):
    vm = machine()
    log = []
    vm.kthread_create(sleeper(vm, log, "chan", timo, "t"), "t")
    vm.run(until=1 + timo - 1)
    assert log == []
    vm.run(until=1 + timo)
    assert log == [("t", 1, 1 + timo, EWOULDBLOCK)]


def test_tsleep_returns_zero_when_woken_before_timeout():
    vm = machine()
    log = []
    vm.kthread_create(sleeper(vm, log, "chan", 50, "s"), "s")

    def waker():
        yield vm.tsleep("waker-delay", 0, "delay", 9)
        vm.wakeup("chan")

    vm.kthread_create(waker, "w")
    vm.run(until=200)
    # The sleeper is runnable in the same tick as the wakeup (tick 1 + 9).
    assert log == [("s", 1, 10, 0)]


def test_stale_timeout_does_not_wake_a_later_sleep():
    """A thread woken early and then sleeping forever must not be woken by its old timeout."""
    vm = machine()
    log = []

    def main():
        err = yield vm.tsleep("a", 0, "first", 20)
        log.append((vm.ticks, err))
        err = yield vm.tsleep("b", 0, "second", 0)
        log.append((vm.ticks, err))

    td = vm.kthread_create(main, "t")

    def waker():
        yield vm.tsleep("delay", 0, "delay", 5)
        vm.wakeup("a")

    vm.kthread_create(waker, "w")
    vm.run(until=500)
    assert log == [(6, 0)]
    assert td.td_state == TDS_SLEEP and td.td_wmesg == "second"
    vm.wakeup("b")
    vm.run(until=501)
    assert log == [(6, 0), (501, 0)]


def test_timo_zero_sleeps_forever_until_wakeup():
    vm = machine()
    log = []
    td = vm.kthread_create(sleeper(vm, log, "forever", 0, "f"), "f")
    vm.run(until=100_000)
    assert log == []
    assert td.td_state == TDS_SLEEP
    assert td.td_wchan == "forever" and td.td_wmesg == "tsleep"
    assert vm.sleeping_on("forever") == [td]
    vm.wakeup("forever")            # from "interrupt context", between ticks
    vm.run(until=100_001)
    assert log == [("f", 1, 100_001, 0)]
    assert vm.sleeping_on("forever") == []


def test_wakeup_wakes_every_sleeper_in_sleep_order_and_no_other_ident():
    vm = machine()
    log = []
    # Sleep order is c, a, b (creation order is not alphabetical on purpose).
    for name in ("c", "a", "b"):
        vm.kthread_create(sleeper(vm, log, "chan", 0, name), name)
    other = vm.kthread_create(sleeper(vm, log, "other-chan", 0, "o"), "o")
    vm.run(until=3)
    assert [td.td_name for td in vm.sleeping_on("chan")] == ["c", "a", "b"]

    def waker():
        yield vm.tsleep("delay", 0, "delay", 4)      # tick 4 + 4 = 8
        vm.wakeup("chan")
        log.append(("waker-done", vm.ticks))

    vm.kthread_create(waker, "w")
    vm.run(until=50)
    assert log == [
        ("waker-done", 8),
        ("c", 1, 8, 0),
        ("a", 1, 8, 0),
        ("b", 1, 8, 0),
    ]
    assert other.td_state == TDS_SLEEP
    assert vm.sleeping_on("chan") == []
    assert vm.sleeping_on("other-chan") == [other]


def test_wakeup_of_an_ident_nobody_sleeps_on_is_harmless():
    vm = machine()
    vm.wakeup("nobody")
    log = []
    vm.kthread_create(sleeper(vm, log, "x", 3, "x"), "x")
    vm.run(until=10)
    assert log == [("x", 1, 4, EWOULDBLOCK)]


def test_wakeup_only_wakes_current_sleepers_not_later_ones():
    """wakeup() is not remembered: a thread that sleeps after it keeps sleeping."""
    vm = machine()
    log = []
    vm.wakeup("chan")
    vm.kthread_create(sleeper(vm, log, "chan", 0, "late"), "late")
    vm.run(until=20)
    assert log == []


def test_negative_timo_is_rejected():
    vm = machine()
    with pytest.raises(ValueError):
        vm.tsleep("x", 0, "bad", -1)


# -- lwkt_yield and kernel CPU time --------------------------------------------------------------

def test_lwkt_yield_lets_other_threads_run_in_the_same_tick():
    vm = machine()
    log = []

    def worker(name, n):
        def main():
            for i in range(n):
                log.append((name, i, vm.ticks))
                yield vm.lwkt_yield()
        return main

    vm.kthread_create(worker("a", 3), "a")
    vm.kthread_create(worker("b", 3), "b")
    vm.run(until=1)
    assert log == [
        ("a", 0, 1), ("b", 0, 1),
        ("a", 1, 1), ("b", 1, 1),
        ("a", 2, 1), ("b", 2, 1),
    ]


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_yield_limit_per_tick_moves_the_rest_of_the_work_to_the_next_tick(limit):
    """A kernel thread may make ``kthread_yields_per_tick`` yields in one tick; its next yield is next tick."""
    vm = machine(kthread_yields_per_tick=limit)
    calls = []

    def main():
        for _ in range(3 * limit + 1):
            calls.append(vm.ticks)          # the tick in which this yield call is made
            yield vm.lwkt_yield()

    vm.kthread_create(main, "spin")
    vm.run(until=10)
    assert calls == [1] * limit + [2] * limit + [3] * limit + [4]


def test_thread_over_its_yield_limit_runs_after_the_others_of_the_next_tick():
    vm = machine(kthread_yields_per_tick=2)
    log = []

    def spinner():
        for i in range(4):
            log.append(("spin", i, vm.ticks))
            yield vm.lwkt_yield()

    def ticker():
        for _ in range(3):
            log.append(("tick", vm.ticks))
            yield vm.tsleep("ticker", 0, "tick", 1)

    vm.kthread_create(spinner, "spin")
    vm.kthread_create(ticker, "ticker")
    vm.run(until=3)
    assert [e for e in log if e[0] == "spin"] == [("spin", 0, 1), ("spin", 1, 1), ("spin", 2, 2), ("spin", 3, 2)]
    assert [e for e in log if e[0] == "tick"] == [("tick", 1), ("tick", 2), ("tick", 3)]


# -- errors in kernel threads ----------------------------------------------------------------------

def test_kernel_thread_that_raises_gives_kernel_thread_error_naming_it():
    vm = machine()

    def buggy():
        yield vm.tsleep("x", 0, "wait", 4)
        raise ZeroDivisionError("division by zero in test")

    vm.kthread_create(buggy, "my-buggy-thread")
    with pytest.raises(KernelThreadError) as ei:
        vm.run(until=100)
    msg = str(ei.value)
    assert "my-buggy-thread" in msg
    assert "ZeroDivisionError" in msg
    assert "tick 5" in msg
    assert isinstance(ei.value.__cause__, ZeroDivisionError)
    assert vm.ticks == 5


def test_yielding_something_that_is_not_a_sleep_request_raises():
    vm = machine()

    def wrong():
        yield vm.tsleep("x", 0, "wait", 2)
        yield "not a request"

    vm.kthread_create(wrong, "wrong-yielder")
    with pytest.raises(KernelThreadError) as ei:
        vm.run(until=100)
    assert "wrong-yielder" in str(ei.value)
    assert vm.ticks == 3


def test_forgetting_yield_from_is_caught():
    """Yielding a blocking kernel function's generator instead of ``yield from`` is an error."""
    vm = machine()
    vp = vm.vfs_create_file("f", 2)

    def wrong():
        yield vm.vget(vp, 0)

    vm.kthread_create(wrong, "forgot-yield-from")
    with pytest.raises(KernelThreadError, match="forgot-yield-from"):
        vm.run(until=10)


# -- the clock -------------------------------------------------------------------------------------

def test_run_until_leaves_ticks_at_until_even_when_idle():
    vm = machine()
    vm.run(until=0)
    assert vm.ticks == 0
    vm.run(until=1)
    assert vm.ticks == 1
    vm.run(until=123_456)
    assert vm.ticks == 123_456
    vm.run(until=123_456)
    assert vm.ticks == 123_456


def test_run_until_in_the_past_is_rejected():
    vm = machine()
    vm.run(until=10)
    with pytest.raises(ValueError):
        vm.run(until=9)
    assert vm.ticks == 10


def test_run_seconds_advances_hz_ticks_per_second():
    vm = machine()
    vm.run(seconds=3)
    assert vm.ticks == 300
    vm.run(seconds=0.5)
    assert vm.ticks == 350
    vm2 = machine(hz=20)
    vm2.run(seconds=3)
    assert vm2.ticks == 60


def test_timeouts_fire_at_the_right_tick_after_a_clock_jump():
    vm = machine()
    vm.run(until=10_000)                    # idle: the clock jumps
    assert vm.ticks == 10_000
    log = []
    vm.kthread_create(sleeper(vm, log, "a", 777, "a"), "a")
    vm.kthread_create(sleeper(vm, log, "b", 5000, "b"), "b")
    vm.run(until=10_777)
    assert log == []
    vm.run(until=20_000)
    assert log == [("a", 10_001, 10_778, EWOULDBLOCK), ("b", 10_001, 15_001, EWOULDBLOCK)]
    assert vm.ticks == 20_000


def test_timeout_at_exactly_until_fires_within_that_run():
    vm = machine()
    log = []
    vm.kthread_create(sleeper(vm, log, "a", 99, "a"), "a")
    vm.run(until=100)
    assert log == [("a", 1, 100, EWOULDBLOCK)]


def test_time_uptime_is_ticks_div_hz():
    vm = machine()
    for t in (0, 1, 99, 100, 101, 199, 200, 12_345):
        vm.run(until=t)
        assert vm.time_uptime == t // 100
    vm2 = machine(hz=20)
    vm2.run(until=59)
    assert vm2.time_uptime == 2
    vm2.run(until=60)
    assert vm2.time_uptime == 3


# -- kprintf / dmesg -------------------------------------------------------------------------------

def test_kprintf_records_lines_and_their_ticks():
    vm = machine()
    vm.kprintf("first line\n")
    vm.run(until=42)

    def logger():
        vm.kprintf("from a thread")
        yield vm.tsleep("x", 0, "x", 8)
        vm.kprintf("later")

    vm.kthread_create(logger, "logger")
    vm.run(until=100)
    assert vm.dmesg() == ["first line", "from a thread", "later"]
    assert vm.dmesg_ticks == [0, 43, 51]
    # dmesg() is a copy: changing it does not change the log.
    d = vm.dmesg()
    d.append("junk")
    assert vm.dmesg() == ["first line", "from a thread", "later"]


# -- callouts --------------------------------------------------------------------------------------

def test_callout_reset_runs_at_ticks_plus_delay():
    vm = machine()
    vm.run(until=10)
    fired = []
    vm.callout_reset(5, lambda tag: fired.append((tag, vm.ticks)), "five")
    vm.callout_reset(1, lambda tag: fired.append((tag, vm.ticks)), "one")
    vm.callout_reset(2000, lambda tag: fired.append((tag, vm.ticks)), "far")
    vm.run(until=14)
    assert fired == [("one", 11)]
    vm.run(until=15)
    assert fired == [("one", 11), ("five", 15)]
    vm.run(until=5000)                   # the clock jumps to the far callout
    assert fired == [("one", 11), ("five", 15), ("far", 2010)]
    assert vm.ticks == 5000


def test_callout_delay_zero_runs_next_tick():
    vm = machine()
    fired = []
    vm.callout_reset(0, lambda: fired.append(vm.ticks))
    vm.run(until=5)
    assert fired == [1]


def test_callouts_with_the_same_tick_run_in_order_and_before_threads():
    vm = machine()
    order = []
    vm.callout_reset(3, lambda: order.append("c1"))
    vm.callout_reset(3, lambda: order.append("c2"))

    def main():
        yield vm.tsleep("x", 0, "x", 2)     # wakes at tick 3
        order.append(("thread", vm.ticks))

    vm.kthread_create(main, "t")
    vm.run(until=5)
    assert order == ["c1", "c2", ("thread", 3)]


def test_callout_can_wake_a_sleeping_thread():
    vm = machine()
    log = []
    vm.kthread_create(sleeper(vm, log, "irq", 0, "s"), "s")
    vm.callout_reset(30, vm.wakeup, "irq")
    vm.run(until=100)
    assert log == [("s", 1, 30, 0)]


def test_new_thread_is_runnable_and_first_runs_next_tick():
    vm = machine()
    vm.run(until=7)
    ran = []

    def main():
        ran.append(vm.ticks)
        yield vm.tsleep("x", 0, "x", 0)

    td = vm.kthread_create(main, "t")
    assert td.td_state == TDS_RUN
    vm.run(until=8)
    assert ran == [8]


def test_user_process_that_wakes_a_kernel_thread_is_preempted_after_the_fault():
    """Kernel threads run first; a process whose fault wakes the page daemon lets it run before continuing."""
    from vmkit import Sequential
    from vmkit.kern import VM_PAGES_NEEDED

    vm = machine()
    p = vm.spawn("toucher", Sequential(pages=5, writes=1.0))
    seen = []

    def fake_daemon():
        while True:
            yield vm.tsleep(VM_PAGES_NEEDED, 0, "psleep", 0)
            seen.append((vm.ticks, p.p_refs))

    vm.kthread_create(fake_daemon, "fake-pagedaemon")
    vm.vmstats.v_free_min = vm.vmstats.v_page_count + 1     # every allocation wants the daemon
    vm.run(until=1)
    # Woken by the first fault's allocation; ran before the process's second reference.
    assert seen == [(1, 1)]
    assert vm.vm_pages_needed > 1        # later allocations counted more requests (daemon asleep again)
    assert p.p_refs == 5


def test_pcatch_sleep_is_interrupted_with_eintr_and_plain_sleep_is_not():
    from vmkit.constants import EINTR
    from vmkit.kern import PCATCH

    vm = machine()
    log = []

    def catcher():
        err = yield vm.tsleep("sig", PCATCH, "catch", 0)
        log.append(("catch", vm.ticks, err))

    def plain():
        err = yield vm.tsleep("sig", 0, "plain", 50)
        log.append(("plain", vm.ticks, err))

    td_c = vm.kthread_create(catcher, "catcher")
    td_p = vm.kthread_create(plain, "plain")
    vm.run(until=10)
    assert vm.tsleep_interrupt(td_c) is True
    assert vm.tsleep_interrupt(td_p) is False
    assert vm.sleeping_on("sig") == [td_p]
    vm.run(until=100)
    assert log == [("catch", 11, EINTR), ("plain", 51, EWOULDBLOCK)]
