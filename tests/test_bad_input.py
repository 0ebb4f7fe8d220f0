"""Every public entry point rejects a bad value with a ValueError naming the argument.

Project rule: a bad value gets an error that names the field and the allowed
range: no deep traceback, no hang, no silent clamping.
"""

from __future__ import annotations

import re
import sys
import threading
import time

import pytest

from vmkit import Anon, HotCold, IdleDaemon, Machine, MapFile, Refs, Script, Sequential, UniformRandom, VMConfig


@pytest.fixture
def m() -> Machine:
    """A small machine without boot daemons, with two files: data (10 pages) and log (5 pages)."""
    vm = Machine(ram=256, swap=1024, boot_userland=False, refs_per_tick=200)
    vm.vfs_create_file("data", 10)
    vm.vfs_create_file("log", 5)
    return vm


def _raises(func, *args, **kwargs) -> str:
    """Call ``func``; it must raise ValueError. Return the message."""
    with pytest.raises(ValueError) as ei:
        func(*args, **kwargs)
    return str(ei.value)


def _mentions(message: str, value: object) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])", message) is not None


# -- Machine.spawn --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", None, 42, b"x"])
def test_spawn_rejects_bad_name(m, name):
    msg = _raises(m.spawn, name, Sequential(pages=10))
    assert msg.startswith("name must be a non-empty string")
    assert repr(name) in msg
    assert m.user_procs() == []


@pytest.mark.parametrize("workload", [None, [1, 2, 3], "seq", Sequential])
def test_spawn_rejects_non_workload(m, workload):
    msg = _raises(m.spawn, "p", workload)
    assert msg.startswith("workload must be a vmkit Workload")
    assert m.user_procs() == []


@pytest.mark.parametrize("rpt", [0, -1, 10_000_001, 10**9, "100", 1.5, True])
def test_spawn_rejects_bad_refs_per_tick(m, rpt):
    msg = _raises(m.spawn, "p", Sequential(pages=10), refs_per_tick=rpt)
    assert msg.startswith("refs_per_tick must be")
    assert _mentions(msg, 1) and _mentions(msg, 10_000_000), msg
    assert m.user_procs() == []


def test_spawn_accepts_refs_per_tick_bounds(m):
    assert m.spawn("a", Sequential(pages=10), refs_per_tick=1).refs_per_tick == 1
    assert m.spawn("b", Sequential(pages=10), refs_per_tick=10_000_000).refs_per_tick == 10_000_000


@pytest.mark.parametrize("limit", ["abc", "8X", "1.5M", 2.5, True, "6000B"])
def test_spawn_rejects_bad_rss_limit(m, limit):
    msg = _raises(m.spawn, "p", Sequential(pages=10), rss_limit=limit)
    assert msg.startswith("rss_limit ")
    assert repr(limit) in msg


def test_spawn_rejects_negative_rss_limit(m):
    msg = _raises(m.spawn, "p", Sequential(pages=10), rss_limit=-1)
    assert msg.startswith("rss_limit must be between 0 and")


def test_spawn_rss_limit_in_bytes_is_converted_to_pages(m):
    m.spawn("p", Sequential(pages=10), rss_limit="8M")
    (row,) = m.processes()[1:]
    assert row["rss_limit_pages"] == 2048


@pytest.mark.parametrize("limit", ["abc", -1])
def test_rejected_rss_limit_starts_no_process(m, limit):
    before = len(list(m.vm_objects()))
    with pytest.raises(ValueError):
        m.spawn("p", Sequential(pages=10), rss_limit=limit)
    assert m.user_procs() == []
    assert len(list(m.vm_objects())) == before
    assert m.spawn("q", Sequential(pages=10)).p_pid == m.config.first_user_pid


@pytest.mark.parametrize("uid", [-1, 65536, "root", None])
def test_spawn_rejects_bad_uid(m, uid):
    msg = _raises(m.spawn, "p", Sequential(pages=10), uid=uid)
    assert msg.startswith("uid must be")
    assert _mentions(msg, 0) and _mentions(msg, 65535)
    assert m.user_procs() == []


def test_spawn_rejects_workload_larger_than_regions(m):
    msg = _raises(m.spawn, "p", Sequential(pages=100), [Anon(10)])
    assert "workload" in msg and "regions" in msg
    assert _mentions(msg, 100) and _mentions(msg, 10), msg
    assert m.user_procs() == []


def test_rejected_spawn_leaks_nothing(m):
    before = len(list(m.vm_objects()))
    with pytest.raises(ValueError):
        m.spawn("p", Sequential(pages=100), [Anon(10)])
    assert len(list(m.vm_objects())) == before
    assert m.spawn("q", Sequential(pages=10)).p_pid == m.config.first_user_pid


# -- regions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("regions", [[], ()])
def test_regions_must_not_be_empty(m, regions):
    msg = _raises(m.spawn, "p", Sequential(pages=10), regions)
    assert msg.startswith("regions must be a non-empty list")
    assert repr(regions) in msg
    assert m.user_procs() == []


@pytest.mark.parametrize(("regions", "field"), [
    ([Anon(0)], "regions[0].pages"),
    ([Anon(-3)], "regions[0].pages"),
    ([Anon(5), Anon(0)], "regions[1].pages"),
    ([Anon(1 << 27)], "regions[0].pages"),
    ([Anon("10")], "regions[0].pages"),
    ([Anon(2.0)], "regions[0].pages"),
])
def test_anon_pages_are_checked(m, regions, field):
    msg = _raises(m.spawn, "p", Sequential(pages=1), regions)
    assert msg.startswith(f"{field} must be")
    assert _mentions(msg, 1) and _mentions(msg, 1 << 26), msg


def test_mapfile_of_unknown_file_lists_the_files(m):
    msg = _raises(m.spawn, "p", Sequential(pages=1), [MapFile("nope")])
    assert "'nope'" in msg
    assert "data" in msg and "log" in msg


def test_mapfile_of_unknown_file_with_no_files():
    vm = Machine(ram=256, swap=0, boot_userland=False)
    msg = _raises(vm.spawn, "p", Sequential(pages=1), [MapFile("nope")])
    assert "'nope'" in msg and "none" in msg


@pytest.mark.parametrize(("region", "field", "hi"), [
    (MapFile("data", offset=10), "regions[0].offset", 9),
    (MapFile("data", offset=-1), "regions[0].offset", 9),
    (MapFile("log", offset=5), "regions[0].offset", 4),
    (MapFile("data", pages=11), "regions[0].pages", 10),
    (MapFile("data", pages=0), "regions[0].pages", 10),
    (MapFile("data", pages=5, offset=6), "regions[0].pages", 4),
])
def test_mapfile_offset_and_pages_are_checked(m, region, field, hi):
    msg = _raises(m.spawn, "p", Sequential(pages=1), [region])
    assert msg.startswith(f"{field} must be")
    assert _mentions(msg, hi), msg


def test_mapfile_region_index_is_named(m):
    msg = _raises(m.spawn, "p", Sequential(pages=1), [Anon(4), MapFile("data", offset=99)])
    assert msg.startswith("regions[1].offset must be")


@pytest.mark.parametrize("region", ["heap", 10, None, ("data", 0)])
def test_region_must_be_anon_or_mapfile(m, region):
    msg = _raises(m.spawn, "p", Sequential(pages=1), [Anon(4), region])
    assert msg.startswith("regions[1] must be Anon(pages) or MapFile(file)")
    assert repr(region) in msg


@pytest.mark.parametrize("file", [42, None, b"data"])
def test_mapfile_file_must_be_a_name_or_vnode(m, file):
    msg = _raises(m.spawn, "p", Sequential(pages=1), [MapFile(file)])
    assert msg.startswith("regions[0].file must be")
    assert repr(file) in msg
    assert m.user_procs() == []


def test_mapfile_vnode_of_another_machine_is_refused(m):
    other = Machine(ram=256, swap=0, boot_userland=False, pagedaemon=False)
    vp = other.vfs_create_file("data", 10)
    msg = _raises(m.spawn, "p", Sequential(pages=1), [MapFile(vp)])
    assert msg.startswith("regions[0].file must be")
    assert m.user_procs() == []


def test_mapfile_accepts_a_vnode_of_this_machine(m):
    p = m.spawn("p", Sequential(pages=10), [MapFile(m.vnodes["data"])])
    assert m.user_procs() == [p]


@pytest.mark.parametrize("regions", [Anon(10), "ab", 42, {"heap": Anon(10)}])
def test_regions_must_be_a_list(m, regions):
    msg = _raises(m.spawn, "p", Sequential(pages=1), regions)
    assert msg.startswith("regions must be a non-empty list")
    assert repr(regions) in msg
    assert m.user_procs() == []


# -- Machine.run --------------------------------------------------------------------------------------

def test_run_until_in_the_past(m):
    m.run(seconds=1)
    assert m.ticks == 100
    msg = _raises(m.run, until=5)
    assert msg.startswith("until must not be in the past")
    assert _mentions(msg, 100) and _mentions(msg, 5)
    assert m.ticks == 100


@pytest.mark.parametrize("until", [-1, "5", 5.0, True, 1 << 63])
def test_run_until_must_be_a_tick(m, until):
    msg = _raises(m.run, until=until)
    assert msg.startswith("until must be")
    assert m.ticks == 0


def test_run_until_and_seconds_together(m):
    msg = _raises(m.run, 10, seconds=1)
    assert "until" in msg and "seconds" in msg
    assert m.ticks == 0


@pytest.mark.parametrize("seconds", [-1, -0.01, 10_000_001, 1e7 + 0.5, 1e10, float("nan"), float("inf"), "1",
                                     True])
def test_run_rejects_bad_seconds(m, seconds):
    msg = _raises(m.run, seconds=seconds)
    assert msg.startswith("seconds must be a number between 0 and 10000000")
    assert repr(seconds) in msg
    assert m.ticks == 0


def test_run_accepts_zero_seconds(m):
    m.run(seconds=0)
    assert m.ticks == 0
    m.run(seconds=0.5)
    assert m.ticks == m.hz // 2


def test_run_with_nothing_spawned(m):
    msg = _raises(m.run)
    assert "spawn" in msg
    assert "until" in msg and "seconds" in msg


@pytest.mark.parametrize("workload", [Sequential(pages=10, passes=0), IdleDaemon(pages=4),
                                      Script([[(0, True)]], linger=True)], ids=repr)
def test_run_without_a_limit_refuses_a_workload_that_never_ends(m, workload):
    m.spawn("done", Sequential(pages=4))
    m.spawn("forever", workload)
    msg = _raises(m.run)
    assert msg.startswith("pid 101 (forever) runs ")
    assert "never ends" in msg
    assert "until" in msg and "seconds" in msg
    assert m.ticks == 0
    m.run(seconds=1)                            # with a limit it runs
    assert m.ticks == m.hz


def test_run_with_nothing_spawned_ignores_boot_daemons():
    vm = Machine(ram=256, swap=1024)        # boot daemons, but no user process
    msg = _raises(vm.run)
    assert msg.startswith("nothing to run")


# -- workloads ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("pages", [0, -1, 1 << 27, "10", 10.0, True])
def test_sequential_pages(pages):
    msg = _raises(Sequential, pages=pages)
    assert msg.startswith("pages must be")
    assert _mentions(msg, 1) and _mentions(msg, 1 << 26)


@pytest.mark.parametrize("cls", [Sequential, UniformRandom, HotCold])
@pytest.mark.parametrize("writes", [1.5, -0.1, 1.0000001, float("nan"), "0.5", True, None])
def test_writes_fraction(cls, writes):
    kwargs = {"pages": 10} if cls is Sequential else {"pages": 10, "count": 5}
    msg = _raises(cls, writes=writes, **kwargs)
    assert msg.startswith("writes must be a number between 0.0 and 1.0")
    assert repr(writes) in msg


def test_sequential_passes():
    assert _raises(Sequential, pages=10, passes=-1).startswith("passes must be")


@pytest.mark.parametrize(("arg", "value"), [("hot", 1.5), ("hot", -0.2), ("hot", "0.2"),
                                            ("p", -0.1), ("p", 1.01), ("p", True)])
def test_hotcold_fractions(arg, value):
    msg = _raises(HotCold, pages=10, count=5, **{arg: value})
    assert msg.startswith(f"{arg} must be a number between 0.0 and 1.0")
    assert repr(value) in msg


def test_hotcold_with_no_cold_pages():
    msg = _raises(HotCold, pages=10, count=5, hot=1.0, p=0.5)
    assert msg.startswith("hot=1.0 leaves no cold pages")
    assert "p=1.0" in msg
    assert HotCold(pages=10, count=5, hot=1.0, p=1.0).nhot == 10


@pytest.mark.parametrize("cls", [UniformRandom, HotCold])
@pytest.mark.parametrize("count", [-1, -100, "5", 5.0])
def test_count(cls, count):
    msg = _raises(cls, pages=10, count=count)
    assert msg.startswith("count must be")


def test_idle_daemon_touch_and_period():
    assert _raises(IdleDaemon, pages=4, touch=5).startswith("touch must be between 1 and 4")
    assert _raises(IdleDaemon, pages=4, period=0).startswith("period must be")


@pytest.mark.parametrize(("args", "index", "value"), [(([(-1, False)],), 0, -1),
                                                     (([3, -2, 5], [False, True, False]), 1, -2)])
def test_refs_with_negative_page(args, index, value):
    msg = _raises(Refs, *args)
    assert msg.startswith("refs must hold virtual pages")
    assert _mentions(msg, 0) and _mentions(msg, (1 << 26) - 1), msg
    assert f"refs[{index}] is {value}" in msg


@pytest.mark.parametrize("args", [([(-1, False)],), ([1 << 30], [True]), ([(1 << 26, True)],), ([True], [True]),
                                  (["3"], [True]), ([[1, 2]], [[True, False]])])
def test_refs_errors_name_refs(args):
    msg = _raises(Refs, *args)
    assert msg.startswith("refs must hold virtual pages, integers from 0 to 67108863; refs[0] is ")


def test_refs_accepts_the_highest_page():
    assert Refs([(1 << 26) - 1], [False]).npages == 1 << 26


@pytest.mark.parametrize(("args", "nrefs", "nwrites"), [(([1, 2], [True]), 2, 1), (([1], [True, False]), 1, 2),
                                                        (([1, 2, 3], []), 3, 0)])
def test_refs_with_mismatched_lengths(args, nrefs, nwrites):
    msg = _raises(Refs, *args)
    assert msg.startswith("writes must have one flag per reference")
    assert f"{nrefs} refs, {nwrites} writes" in msg


def test_refs_rejects_write_flags_that_are_not_flags():
    assert "writes" in _raises(Refs, [1, 2, 3], [[True], [False], [True]])


@pytest.mark.parametrize("refs", [[1, 2, 3], [(1, True, 5)], [(1,)], 5])
def test_refs_without_write_flags(refs):
    msg = _raises(Refs, refs)
    assert msg.startswith("refs must be a list of (vpn, write) pairs")
    assert "writes=" in msg


@pytest.mark.parametrize("count", [-1, -(1 << 40)])
def test_uniform_random_negative_count(count):
    msg = _raises(UniformRandom, pages=10, count=count)
    assert msg.startswith("count must be between 0 and")


def test_references_limit():
    assert _raises(Sequential(pages=10).references, -1).startswith("limit must be")


# -- files and vnode locks ----------------------------------------------------------------------------

def test_vfs_create_file_duplicate(m):
    msg = _raises(m.vfs_create_file, "data", 3)
    assert "'data'" in msg and "already exists" in msg
    assert m.vnodes["data"].v_size == 10


@pytest.mark.parametrize("name", ["", None, 7])
def test_vfs_create_file_bad_name(m, name):
    msg = _raises(m.vfs_create_file, name, 3)
    assert msg.startswith("file name must be a non-empty string")
    assert sorted(m.vnodes) == ["data", "log"]


@pytest.mark.parametrize("npages", [0, -1, 1 << 27, "3", 3.0])
def test_vfs_create_file_bad_size(m, npages):
    msg = _raises(m.vfs_create_file, "new", npages)
    assert "pages must be" in msg
    assert _mentions(msg, 1) and _mentions(msg, 1 << 26)
    assert "new" not in m.vnodes


@pytest.mark.parametrize("ticks", [0, -5, "10", 1.5])
def test_vn_lock_hold_bad_ticks(m, ticks):
    msg = _raises(m.vn_lock_hold, "data", ticks)
    assert msg.startswith("ticks must be")


def test_vn_lock_hold_bad_start(m):
    assert _raises(m.vn_lock_hold, "data", 10, start=-1).startswith("start must be")


def test_vn_lock_hold_unknown_file(m):
    msg = _raises(m.vn_lock_hold, "nope", 10)
    assert "'nope'" in msg
    assert "data" in msg and "log" in msg


@pytest.mark.parametrize("vp", [42, None, b"data"])
def test_vn_lock_hold_non_file(m, vp):
    msg = _raises(m.vn_lock_hold, vp, 10)
    assert msg.startswith("vp must be")
    assert repr(vp) in msg


def test_vn_lock_hold_vnode_of_another_machine(m):
    other = Machine(ram=256, swap=0, boot_userland=False, pagedaemon=False)
    vp = other.vfs_create_file("data", 10)
    assert _raises(m.vn_lock_hold, vp, 10).startswith("vp must be")


# -- fault injection ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dev", ["swapdev", "filedev"])
@pytest.mark.parametrize(("arg", "value"), [
    ("write_error_rate", 2.0), ("write_error_rate", True), ("write_error_rate", -0.1),
    ("read_error_rate", 1.5), ("read_error_rate", True), ("read_error_rate", "0.5"),
    ("read_error_rate", float("nan")),
])
def test_disk_inject_rates(m, dev, arg, value):
    disk = getattr(m, dev)
    msg = _raises(disk.inject, **{arg: value})
    assert msg.startswith(f"{arg} must be a number between 0.0 and 1.0")
    assert getattr(disk, arg) == 0.0


@pytest.mark.parametrize("dev", ["swapdev", "filedev"])
@pytest.mark.parametrize(("arg", "value"), [
    ("fail_next_writes", -1), ("fail_next_writes", 1.5), ("fail_next_writes", True),
    ("fail_next_reads", -1), ("fail_next_reads", "3"), ("fail_next_reads", (1 << 30) + 1),
])
def test_disk_inject_counts(m, dev, arg, value):
    disk = getattr(m, dev)
    msg = _raises(disk.inject, **{arg: value})
    assert msg.startswith(f"{arg} must be")
    assert getattr(disk, arg) == 0


@pytest.mark.parametrize("dev", ["swapdev", "filedev"])
def test_disk_inject_applies_good_values(m, dev):
    disk = getattr(m, dev)
    disk.inject(write_error_rate=0.25, read_error_rate=1, fail_next_writes=3, fail_next_reads=0)
    assert (disk.write_error_rate, disk.read_error_rate) == (0.25, 1.0)
    assert (disk.fail_next_writes, disk.fail_next_reads) == (3, 0)


def test_inject_swap_alloc_failures_applies_good_values(m):
    m.inject_swap_alloc_failures(rate=0.5, next_allocs=2)
    assert m.swap_alloc_fail_rate == 0.5
    assert m.swap_fail_next_allocs == 2


def test_disk_inject_positional_is_refused(m):
    with pytest.raises(TypeError):
        m.swapdev.inject(0.5)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"rate": -0.1}, "rate"), ({"rate": 1.1}, "rate"), ({"rate": True}, "rate"), ({"rate": "0.1"}, "rate"),
    ({"next_allocs": -1}, "next_allocs"), ({"next_allocs": 1.0}, "next_allocs"),
])
def test_inject_swap_alloc_failures(m, kwargs, name):
    msg = _raises(m.inject_swap_alloc_failures, **kwargs)
    assert msg.startswith(f"{name} must be")
    assert m.swap_alloc_fail_rate == 0.0


def test_rejected_inject_changes_nothing(m):
    with pytest.raises(ValueError):
        m.swapdev.inject(write_error_rate=0.5, read_error_rate=0.5, fail_next_reads=2, fail_next_writes=-1)
    with pytest.raises(ValueError):
        m.filedev.inject(write_error_rate=0.5, fail_next_writes=3, read_error_rate=2.0)
    with pytest.raises(ValueError):
        m.inject_swap_alloc_failures(rate=0.5, next_allocs=-1)
    with pytest.raises(ValueError):
        m.inject_swap_alloc_failures(next_allocs=2, rate=1.5)
    for disk in (m.swapdev, m.filedev):
        assert (disk.write_error_rate, disk.read_error_rate) == (0.0, 0.0)
        assert (disk.fail_next_writes, disk.fail_next_reads) == (0, 0)
    assert m.swap_alloc_fail_rate == 0.0
    assert m.swap_fail_next_allocs == 0


# -- tsleep ----------------------------------------------------------------------------------------------

_TIMO_RANGE = re.compile(r"^timo must be (?:an integer )?between 0 and (\d+) ticks, got ")


@pytest.mark.parametrize("timo", [-1, -100])
def test_tsleep_negative_timo(m, timo):
    msg = _raises(m.tsleep, "chan", 0, "wait", timo)
    match = _TIMO_RANGE.match(msg)
    assert match, msg
    assert int(match.group(1)) >= 1 << 31       # any real timeout fits
    assert msg.endswith(f"got {timo} ticks")


@pytest.mark.parametrize("timo", ["5", 1.5, 5.0, True, None])
def test_tsleep_non_integer_timo(m, timo):
    msg = _raises(m.tsleep, "chan", 0, "wait", timo)
    assert msg.startswith("timo must be an integer between 0 and ")
    assert _TIMO_RANGE.match(msg), msg
    assert repr(timo) in msg


# -- no silent clamping --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"ram": "100000000000"}, "ram"),
    ({"ram": 100_000_000_000}, "ram"),
    ({"ram": 10}, "ram"),
    ({"ram": "128K"}, "ram"),
    ({"ram": "64G", "page_size": 512}, "ram"),
    ({"swap": "1000000000000"}, "swap"),
    ({"hz": 5}, "hz"),
    ({"hz": 100_000}, "hz"),
    ({"ncpus": 0}, "ncpus"),
    ({"pq_l2_size": 1024}, "pq_l2_size"),
])
def test_out_of_range_config_raises_rather_than_clamps(kwargs, field):
    msg = _raises(VMConfig, **kwargs)
    assert msg.startswith(f"{field} must be between")


def test_sizes_are_not_rounded():
    assert Machine(ram="16M", swap=0, boot_userland=False).config.ram_pages == 4096
    assert _raises(VMConfig, ram="16386K").startswith("ram must be a whole number of")   # 4096.5 pages


def test_fractions_are_not_clamped(m):
    assert _raises(Sequential, pages=10, writes=1.0000001).startswith("writes")
    assert _raises(m.filedev.inject, write_error_rate=1.01).startswith("write_error_rate")
    assert m.filedev.write_error_rate == 0.0


@pytest.mark.parametrize("args", [([1.5], [True]), ([(1.5, True)],), ([2.0], [False])])
def test_refs_does_not_truncate_fractional_pages(args):
    msg = _raises(Refs, *args)
    assert msg.startswith("refs must hold virtual pages")
    assert "refs[0] is " in msg


@pytest.mark.parametrize("field", ["ram", "swap"])
@pytest.mark.parametrize("value", [
    "\u00b2p",
    "\u0661\u0662\u0668",                       # Arabic-Indic digits: int() takes them, sizes do not
    "\uff11\uff12\uff18M",                      # full-width digits
    "9" * 31,
    pytest.param("9" * 5000 + "M", marks=pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"),
                                                            reason="no int digit limit")),
], ids=repr)
def test_odd_digit_strings_name_the_field(field, value):
    msg = _raises(VMConfig, **{field: value})
    assert msg.startswith(f"{field} must be a number of pages or a size such as '64M'")


def test_thirty_digits_are_parsed_then_range_checked():
    msg = _raises(VMConfig, ram="9" * 30)
    assert msg.startswith("ram must be between 64 and 16777216")


# -- no hang ---------------------------------------------------------------------------------------------

def _bad_calls() -> list:
    vm = Machine(ram=256, swap=1024, boot_userland=False)
    vm.run(seconds=1)
    return [
        lambda: VMConfig(ram="100000000000"),
        lambda: Machine(ram=10),
        lambda: Machine(stall_seconds=0),
        lambda: vm.run(),
        lambda: vm.run(until=5),
        lambda: vm.run(seconds=-1),
        lambda: vm.run(seconds=float("inf")),
        lambda: vm.run(until=1 << 63),
        lambda: vm.spawn("p", Sequential(pages=1 << 20), [Anon(1)]),
        lambda: vm.spawn("p", Sequential(pages=10), refs_per_tick=0),
        lambda: vm.vn_lock_hold("nope", 10),
        lambda: vm.swapdev.inject(fail_next_writes=-1),
        lambda: UniformRandom(pages=10, count=-1),
    ]


def test_bad_values_fail_fast_and_never_hang():
    calls = _bad_calls()
    outcomes: list = [None] * len(calls)

    def worker() -> None:
        for i, call in enumerate(calls):
            t0 = time.monotonic()
            try:
                call()
            except BaseException as exc:  # recorded and checked below
                outcomes[i] = (exc, time.monotonic() - t0)
            else:
                outcomes[i] = (None, time.monotonic() - t0)

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    th.join(timeout=20)
    assert not th.is_alive(), f"a bad value hung: outcomes so far {outcomes}"
    for i, (exc, took) in enumerate(outcomes):
        assert isinstance(exc, ValueError), f"call {i} gave {exc!r}"
        assert took < 2.0, f"call {i} took {took:.1f}s to reject a bad value"
