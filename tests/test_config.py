"""VMConfig: sizes, ranges, types and defaults of every machine setting.

Project rule: a bad value gets a ``ValueError`` that names the field and the
allowed range: no deep traceback, no hang, no silent clamping.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from vmkit import Machine, VMConfig, parse_size
from vmkit.config import RAM_MAX_PAGES, RAM_MIN_PAGES, SWAP_MAX_PAGES


def _mentions(message: str, value: object) -> bool:
    """True if ``value`` appears in ``message`` as a whole number (so 1 does not match 10)."""
    return re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])", message) is not None


# -- sizes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "pages"),
    [
        (100, 100),
        (np.int64(100), 100),
        ("100", 100),
        (" 100 ", 100),
        ("512p", 512),
        ("512P", 512),
        ("512 pages", 512),
        ("64 page", 64),
        ("64M", 16384),
        ("64m", 16384),
        ("64MB", 16384),
        ("64MiB", 16384),
        ("64 M", 16384),
        ("1G", 262144),
        ("1GB", 262144),
        ("512K", 128),
        ("256KiB", 64),
        ("2GiB", 524288),
        ("2gib", 524288),
        ("8192B", 2),
        ("8192", 8192),
    ],
)
def test_parse_size_accepts_pages_and_binary_units(value, pages):
    got = parse_size(value, "ram")
    assert got == pages
    assert type(got) is int


@pytest.mark.parametrize(
    ("ram", "pages"),
    [(64, 64), ("128", 128), ("512p", 512), ("512K", 128), ("64M", 16384), ("1G", 262144), ("2GiB", 524288)],
)
def test_ram_converts_to_pages(ram, pages):
    cfg = VMConfig(ram=ram)
    assert cfg.ram_pages == pages
    assert cfg.ram == pages
    assert cfg.ram_bytes == pages * 4096


@pytest.mark.parametrize(
    ("swap", "pages"),
    [(0, 0), ("0", 0), ("0M", 0), (1000, 1000), ("4096p", 4096), ("128M", 32768), ("1G", 262144)],
)
def test_swap_converts_to_pages(swap, pages):
    cfg = VMConfig(swap=swap)
    assert cfg.swap_pages == pages
    assert cfg.swap == pages
    assert cfg.swap_bytes == pages * 4096


def test_sizes_in_bytes_use_the_configured_page_size():
    cfg = VMConfig(ram="64M", swap="128M", page_size=8192)
    assert cfg.ram_pages == 8192
    assert cfg.swap_pages == 16384
    assert cfg.ram_bytes == 64 << 20
    assert cfg.page_shift == 13


def test_sizes_in_pages_do_not_depend_on_the_page_size():
    cfg = VMConfig(ram=1000, swap="2000p", page_size=16384)
    assert (cfg.ram_pages, cfg.swap_pages) == (1000, 2000)


@pytest.mark.parametrize("field", ["ram", "swap"])
@pytest.mark.parametrize("value", ["6000B", "4097B", "1K", "2K", "3K", "1025K"])
def test_byte_sizes_must_be_whole_pages(field, value):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} ")
    assert "whole number of" in msg
    assert "4096-byte pages" in msg
    assert repr(value) in msg


def test_whole_pages_check_uses_the_configured_page_size():
    assert VMConfig(ram="1M", page_size=512).ram_pages == 2048
    with pytest.raises(ValueError, match=r"^ram must be a whole number of 8192-byte pages"):
        VMConfig(ram="1028K", page_size=8192)


@pytest.mark.parametrize("field", ["ram", "swap"])
@pytest.mark.parametrize(("value", "unit"), [("64X", "X"), ("1PB", "PB"), ("64Q", "Q"), ("3 bits", "bits"),
                                             ("1E", "E"), ("2Mi", "Mi")])
def test_unknown_units_are_rejected(field, value, unit):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} ")
    assert "unknown unit" in msg
    assert repr(unit) in msg
    assert repr(value) in msg


@pytest.mark.parametrize("field", ["ram", "swap"])
@pytest.mark.parametrize("value", ["", "M", "64.5M", "-5", "0x40", "1,024", "64 M B", "p"])
def test_malformed_sizes_are_rejected(field, value):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be a number of pages or a size such as '64M'")
    assert repr(value) in msg


@pytest.mark.parametrize("value", [True, False, None, 64.0, 1.5, [64], b"64M"])
def test_parse_size_rejects_other_types_naming_the_field(value):
    with pytest.raises(ValueError) as ei:
        parse_size(value, "my_size")
    assert str(ei.value).startswith("my_size must be a number of pages")
    assert repr(value) in str(ei.value)


# -- every field: one value below its range, one above, one of the wrong type ----------------------

# field: (lowest allowed, highest allowed, wrong-type values)
INT_FIELDS: dict[str, tuple[int, int, tuple]] = {
    "ram": (RAM_MIN_PAGES, RAM_MAX_PAGES, (64.0, True, None, [64])),
    "swap": (0, SWAP_MAX_PAGES, (1.5, False, None)),
    "page_size": (512, 65536, ("4096", 4096.0, True)),
    "ncpus": (1, 256, ("1", 1.0, True)),
    "hz": (10, 10000, ("100", 100.0, True)),
    "pq_l2_size": (2, 512, ("16", 16.0, True)),
    "seed": (0, (1 << 63) - 1, ("1", 1.0, True, None)),
    "swap_read_latency": (1, 10000, ("1", 1.5, True)),
    "swap_write_latency": (1, 10000, ("2", 2.0, True)),
    "file_read_latency": (1, 10000, ("1", 1.0, True)),
    "file_write_latency": (1, 10000, ("2", 2.0, False)),
    "swap_bandwidth": (0, 1 << 30, ("0", 0.5, True)),
    "file_bandwidth": (0, 1 << 30, ("0", 0.5, True)),
    "vnode_lk_timo": (0, 100000, ("0", 10.0, True)),
    "kthread_yields_per_tick": (1, 10_000_000, ("10", 10.0, True)),
    "refs_per_tick": (1, 10_000_000, ("5000", 5000.0, True, None)),
    "first_user_pid": (2, 999_999, ("100", 100.0, True)),
    "stall_seconds": (1, 10_000_000, ("120", 1.5, True)),
}
BOOL_FIELDS: dict[str, tuple] = {
    "pagedaemon": (1, 0, "off", "False", None, np.bool_(True)),
    "boot_userland": (1, 0, "yes", "True", None, np.int64(1)),
    "check_reads": (1, 0, "no", None, 1.0),
}


def test_tables_cover_every_vmconfig_field():
    names = {f.name for f in dataclasses.fields(VMConfig)}
    assert names == set(INT_FIELDS) | set(BOOL_FIELDS)
    assert not set(INT_FIELDS) & set(BOOL_FIELDS)
    assert VMConfig.field_names() == [f.name for f in dataclasses.fields(VMConfig)]


@pytest.mark.parametrize("field", sorted(INT_FIELDS))
def test_below_range_is_rejected_naming_field_and_range(field):
    lo, hi, _ = INT_FIELDS[field]
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: lo - 1})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be ")
    assert _mentions(msg, lo) and _mentions(msg, hi), msg
    assert _mentions(msg, lo - 1), msg


@pytest.mark.parametrize("field", sorted(INT_FIELDS))
def test_above_range_is_rejected_naming_field_and_range(field):
    lo, hi, _ = INT_FIELDS[field]
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: hi + 1})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be ")
    assert _mentions(msg, lo) and _mentions(msg, hi), msg
    assert _mentions(msg, hi + 1), msg


@pytest.mark.parametrize("field", sorted(INT_FIELDS))
def test_both_bounds_are_allowed(field):
    lo, hi, _ = INT_FIELDS[field]
    if field in ("page_size", "pq_l2_size"):
        assert lo & (lo - 1) == 0 and hi & (hi - 1) == 0
    assert getattr(VMConfig(**{field: lo}), field) == lo
    assert getattr(VMConfig(**{field: hi}), field) == hi


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, (_, _, vals) in INT_FIELDS.items() for v in vals],
                         ids=repr)
def test_wrong_type_is_rejected_naming_field(field, value):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be ")
    assert repr(value) in msg


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vals in BOOL_FIELDS.items() for v in vals], ids=repr)
def test_bool_fields_reject_non_bools(field, value):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be True or False")
    assert repr(value) in msg


@pytest.mark.parametrize("field", sorted(BOOL_FIELDS))
@pytest.mark.parametrize("value", [True, False])
def test_bool_fields_accept_bools(field, value):
    assert getattr(VMConfig(**{field: value}), field) is value


@pytest.mark.parametrize(("field", "value"), [("page_size", v) for v in (513, 1000, 3000, 4095, 4097, 6144, 65535)]
                         + [("pq_l2_size", v) for v in (3, 5, 6, 7, 12, 100, 511)])
def test_power_of_two_fields_reject_non_powers(field, value):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: value})
    msg = str(ei.value)
    assert msg.startswith(f"{field} must be a power of two")
    lo, hi, _ = INT_FIELDS[field]
    assert _mentions(msg, lo) and _mentions(msg, hi) and _mentions(msg, value), msg


@pytest.mark.parametrize(("field", "value"), [("page_size", 1 << k) for k in range(9, 17)]
                         + [("pq_l2_size", 1 << k) for k in range(1, 10)])
def test_power_of_two_fields_accept_powers(field, value):
    assert getattr(VMConfig(**{field: value}), field) == value


def test_pq_l2_size_of_one_is_rejected():
    # PQAVERAGE divides by PQ_L2_SIZE / 2 (facts §0), so one colour would divide by zero.
    with pytest.raises(ValueError) as ei:
        VMConfig(pq_l2_size=1)
    assert str(ei.value) == "pq_l2_size must be between 2 and 512, got 1"


@pytest.mark.parametrize("field", ["swap_read_latency", "swap_write_latency", "file_read_latency",
                                   "file_write_latency"])
def test_io_latency_of_zero_ticks_is_rejected(field):
    with pytest.raises(ValueError) as ei:
        VMConfig(**{field: 0})
    assert str(ei.value) == f"{field} must be between 1 and 10000 ticks, got 0 ticks"


def test_ram_range_message_gives_bytes_at_the_page_size():
    with pytest.raises(ValueError) as ei:
        VMConfig(ram=10)
    assert str(ei.value) == ("ram must be between 64 and 16777216 pages (256K to 64G at 4096-byte pages), "
                             "got 10 pages")
    with pytest.raises(ValueError, match=r"\(512K to 128G at 8192-byte pages\)"):
        VMConfig(ram=10, page_size=8192)


def test_page_size_error_comes_before_size_parsing():
    # A bad page size must be reported as such, not as a confusing ram/swap error.
    with pytest.raises(ValueError, match=r"^page_size "):
        VMConfig(ram="64M", page_size=3000)


# -- defaults, immutability, replace -------------------------------------------------------------

def test_defaults():
    cfg = VMConfig()
    assert cfg.hz == 100
    assert cfg.pq_l2_size == 16
    assert cfg.page_size == 4096
    assert cfg.ncpus == 1
    assert cfg.ram_pages == (64 << 20) // 4096
    assert cfg.swap_pages == (128 << 20) // 4096
    assert cfg.pagedaemon is True
    assert cfg.boot_userland is True
    assert cfg.check_reads is True
    assert (cfg.swap_read_latency, cfg.swap_write_latency, cfg.file_read_latency, cfg.file_write_latency) == (
        1, 2, 1, 2)


def test_config_is_frozen():
    cfg = VMConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hz = 1000  # type: ignore[misc]


def test_replace_validates_again():
    cfg = VMConfig(hz=200)
    assert cfg.replace(ncpus=4).ncpus == 4
    assert cfg.replace(ncpus=4).hz == 200
    with pytest.raises(ValueError, match=r"^hz must be between 10 and 10000"):
        cfg.replace(hz=5)
    with pytest.raises(ValueError, match=r"unknown machine setting 'hzz'"):
        cfg.replace(hzz=5)


def test_describe_adds_readable_sizes():
    d = VMConfig(ram="16M", swap=0).describe()
    assert d["ram"] == 4096
    assert d["ram_bytes"] == "16M"
    assert d["swap"] == 0
    assert d["swap_bytes"] == "0"
    assert set(VMConfig.field_names()) <= set(d)


# -- from_kwargs and Machine ----------------------------------------------------------------------

@pytest.mark.parametrize("key", ["rma", "memory", "HZ", "page-size", "boot"])
def test_from_kwargs_rejects_unknown_setting(key):
    with pytest.raises(ValueError) as ei:
        VMConfig.from_kwargs(**{key: 1})
    msg = str(ei.value)
    assert f"unknown machine setting {key!r}" in msg
    assert "valid settings:" in msg
    listed = msg.split("valid settings:", 1)[1]
    for name in VMConfig.field_names():
        assert re.search(rf"\b{name}\b", listed), name


@pytest.mark.parametrize(("key", "close"), [("ramm", "ram"), ("pagedaemn", "pagedaemon"), ("page_sise", "page_size"),
                                           ("stall_second", "stall_seconds")])
def test_from_kwargs_suggests_a_close_name(key, close):
    with pytest.raises(ValueError, match=rf"^unknown machine setting {key!r} \(did you mean {close!r}\?\)"):
        VMConfig.from_kwargs(**{key: 1})


def test_from_kwargs_suggests_nothing_for_a_distant_name():
    with pytest.raises(ValueError) as ei:
        VMConfig.from_kwargs(xyzzy=1)
    assert "did you mean" not in str(ei.value)


def test_from_kwargs_builds_a_valid_config():
    cfg = VMConfig.from_kwargs(ram="16M", hz=250)
    assert (cfg.ram_pages, cfg.hz) == (4096, 250)


def test_machine_rejects_unknown_setting():
    with pytest.raises(ValueError, match=r"^unknown machine setting 'rma' \(did you mean 'ram'\?\)"):
        Machine(rma=1)


@pytest.mark.parametrize("pagedaemon", [True, False])
def test_machine_starts_the_page_daemon_unless_told_not_to(pagedaemon):
    m = Machine(ram=256, swap=0, boot_userland=False, pagedaemon=pagedaemon)
    assert m.config.pagedaemon is pagedaemon
    names = {td.td_name for td in m.allthreads}
    daemons = {"pagedaemon", "emergpager", "vmdaemon"}
    if pagedaemon:
        assert daemons <= names
    else:
        assert not names & daemons


def test_machine_rejects_unknown_setting_with_a_config():
    with pytest.raises(ValueError, match=r"unknown machine setting 'rma'"):
        Machine(VMConfig(), rma=1)


def test_machine_applies_overrides_to_a_config():
    m = Machine(VMConfig(hz=200, boot_userland=False), ram=128)
    assert m.config.ram_pages == 128
    assert m.config.hz == 200
    assert m.config.boot_userland is False


def test_machine_validates_overrides():
    with pytest.raises(ValueError, match=r"^ram must be between 64 and 16777216"):
        Machine(VMConfig(), ram=10)


@pytest.mark.parametrize("config", ["x", {"ram": 128}, 128])
def test_machine_rejects_a_config_that_is_not_a_vmconfig(config):
    with pytest.raises(ValueError) as ei:
        Machine(config=config)
    assert str(ei.value).startswith("config must be a VMConfig")
    assert type(config).__name__ in str(ei.value)


def test_machine_keyword_settings_are_validated():
    with pytest.raises(ValueError, match=r"^hz must be between 10 and 10000, got 5$"):
        Machine(hz=5)
