"""Stepping the daemon one decision or one pass at a time, as the notebooks do, changes nothing."""

from __future__ import annotations

import pytest

from vmkit import Machine, Sequential


def machine():
    vm = Machine(ram="16M", swap="64M", seed=1, boot_userland=False)
    vm.spawn("w", Sequential(pages=6000, writes=0.5, passes=2))
    return vm


def test_step_stops_right_after_the_requested_decisions():
    vm = machine()
    assert vm.step(1) == 1 and vm.event_count() == 1
    assert vm.step(25) == 25 and vm.event_count() == 26
    vm.check()                            # consistent even in the middle of a scan


def test_step_pass_stops_after_one_pass():
    vm = machine()
    assert vm.step_pass()
    assert len(vm.passes()) == 1
    assert vm.step_pass()
    assert len(vm.passes()) == 2
    vm.check()


def test_stepping_gives_the_same_run_as_running():
    a = machine()
    for _ in range(40):
        a.step(53)
    for _ in range(3):
        a.step_pass()
    a.run()
    b = machine()
    b.run()
    assert a.state_digest() == b.state_digest()
    assert a.events().equals(b.events())


def test_step_pass_reports_no_pass_when_nothing_pages():
    vm = Machine(ram="16M", swap="64M", seed=1, boot_userland=False)
    assert vm.step_pass(max_seconds=2) is False
    assert vm.ticks == 200


def test_step_validates_its_argument():
    with pytest.raises(ValueError, match="decisions must be between 1 and"):
        machine().step(0)
