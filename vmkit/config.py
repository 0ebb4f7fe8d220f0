"""Machine configuration: one validated object.

``VMConfig`` holds everything fixed when a machine is built: memory and swap
size, page size, CPUs, clock rate, page colours, device latencies, seed.
Every field is checked when the object is made; a bad value raises
``ValueError`` naming the field and its allowed range, e.g.::

    >>> VMConfig(ram=10)
    Traceback (most recent call last):
    ValueError: ram must be between 64 and 16777216 pages (256K to 64G at 4096-byte pages), got 10 pages

Sizes (``ram``, ``swap``) are given in pages (an ``int``, or a string of
digits) or in bytes with a binary unit: ``"64M"``, ``"1G"``, ``"512K"``,
``"2GiB"`` (1K = 1024 bytes).  A size in bytes must be a whole number of
pages: nothing is rounded silently.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import re
from typing import Any

_UNITS = {
    "": 1, "B": 1,
    "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
    "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
    "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
    "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*([0-9]{1,30})\s*([A-Za-z]*)\s*$", re.ASCII)
_PAGES_RE = re.compile(r"^\s*([0-9]{1,30})\s*(?:pages|page|p)\s*$", re.ASCII | re.IGNORECASE)


def format_bytes(n: int) -> str:
    """Render a byte count with the largest binary unit that divides it, e.g. ``64M``."""
    for unit, mult in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return f"{n}B"


def parse_size(value: Any, field: str, page_size: int = 4096) -> int:
    """Return a size in pages.

    ``value`` is an int (pages), a string of digits (pages, or with a trailing
    ``p``/``pages``), or a string with a binary byte unit (``64M``).  Raises
    ``ValueError`` naming ``field`` for anything else, and for byte sizes that
    are not a whole number of pages.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number of pages or a size such as '64M', got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a number of pages or a size such as '64M', got {value!r}")
    text = value.strip()
    m = _PAGES_RE.match(text)
    if m:
        return int(m.group(1))
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(
            f"{field} must be a number of pages or a size such as '64M', '1G' or '512K', got {value!r}"
        )
    number, unit = int(m.group(1)), m.group(2).upper()
    if unit == "":
        return number
    if unit not in _UNITS:
        raise ValueError(
            f"{field} has an unknown unit {m.group(2)!r}; use K, M, G or T (binary: 1K = 1024 bytes), got {value!r}"
        )
    nbytes = number * _UNITS[unit]
    if nbytes % page_size:
        raise ValueError(
            f"{field} must be a whole number of {page_size}-byte pages, got {value!r} ({nbytes} bytes)"
        )
    return nbytes // page_size


def check_int(value: Any, field: str, lo: int, hi: int, unit: str = "") -> int:
    """Return ``value`` as an int if ``lo <= value <= hi``, else raise ``ValueError`` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{field} must be an integer between {lo} and {hi}{unit}, got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{field} must be between {lo} and {hi}{unit}, got {v}{unit}")
    return v


def check_power_of_two(value: Any, field: str, lo: int, hi: int) -> int:
    """Like :func:`check_int`, and the value must also be a power of two."""
    v = check_int(value, field, lo, hi)
    if v & (v - 1):
        raise ValueError(f"{field} must be a power of two between {lo} and {hi}, got {v}")
    return v


def check_bool(value: Any, field: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``ValueError`` naming ``field``."""
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be True or False, got {value!r}")
    return value


RAM_MIN_PAGES = 64
RAM_MAX_PAGES = 1 << 24
SWAP_MAX_PAGES = 1 << 26


@dataclasses.dataclass(frozen=True)
class VMConfig:
    """Everything fixed when a :class:`~vmkit.machine.Machine` is built.

    Parameters
    ----------
    ram, swap:
        Physical memory and swap size, in pages or with a unit (``"64M"``).
        After construction both are page counts.
    page_size:
        Bytes per page, a power of two from 512 to 65536 (DragonFly: 4096).
    ncpus:
        CPUs the kernel believes it has (1-256).  The simulation runs one
        thread at a time; ``ncpus`` sets the per-CPU parts of the daemon's
        thresholds, e.g. ``VMMETER_SLOP_COUNT * ncpus * 10`` (facts §3).
    hz:
        Clock ticks per simulated second (DragonFly's ``kern.hz``, 100).
    pq_l2_size:
        Page colours per queue, a power of two from 2 to 512 (DragonFly: 512;
        the teaching default 16 keeps the colour sub-queues visible).
    seed:
        Seed of the machine's random generator (workloads, fault injection).
    swap_read_latency, swap_write_latency, file_read_latency, file_write_latency:
        Ticks from the start of an I/O to its completion (1-10000).
    swap_bandwidth, file_bandwidth:
        Pages the device transfers per tick; 0 means unlimited.  With a
        bandwidth, I/Os queue behind each other.
    vnode_lk_timo:
        ``lk_timo`` of vnode locks in ticks; 0 means ``hz/10`` as HAMMER
        passes (facts §7).
    kthread_yields_per_tick:
        How many ``lwkt_yield()`` calls a kernel thread may make in one tick
        before the rest of its work moves to the next tick: the cost of kernel
        CPU time (one yield is about one page examined).
    refs_per_tick:
        Default number of memory references a process issues per tick.
    pagedaemon:
        Start the page-out daemon's threads (``pagedaemon``, ``emergpager``,
        ``vmdaemon``) at boot.  Off only to study the machine without it.
    boot_userland:
        Start ``init`` (pid 1) and a few small system daemons at boot, so that
        user processes get the higher pids of a booted system.
    first_user_pid:
        First pid given to a process started with :meth:`Machine.spawn`.
    check_reads:
        Check every read against the data-integrity oracle (costs a few
        percent on the reference path).
    stall_seconds:
        ``run()`` without ``until`` raises ``MachineStalled`` after this many
        simulated seconds in which no process issued a reference.
    """

    ram: int | str = "64M"
    swap: int | str = "128M"
    page_size: int = 4096
    ncpus: int = 1
    hz: int = 100
    pq_l2_size: int = 16
    seed: int = 0
    swap_read_latency: int = 1
    swap_write_latency: int = 2
    file_read_latency: int = 1
    file_write_latency: int = 2
    swap_bandwidth: int = 0
    file_bandwidth: int = 0
    vnode_lk_timo: int = 0
    kthread_yields_per_tick: int = 10000
    refs_per_tick: int = 5000
    pagedaemon: bool = True
    boot_userland: bool = True
    first_user_pid: int = 100
    check_reads: bool = True
    stall_seconds: int = 120

    def __post_init__(self) -> None:
        ps = check_power_of_two(self.page_size, "page_size", 512, 65536)
        ram = parse_size(self.ram, "ram", ps)
        unit_hint = (
            f" pages ({format_bytes(RAM_MIN_PAGES * ps)} to {format_bytes(RAM_MAX_PAGES * ps)}"
            f" at {ps}-byte pages)"
        )
        if not RAM_MIN_PAGES <= ram <= RAM_MAX_PAGES:
            raise ValueError(
                f"ram must be between {RAM_MIN_PAGES} and {RAM_MAX_PAGES}{unit_hint}, got {ram} pages"
            )
        swap = parse_size(self.swap, "swap", ps)
        if not 0 <= swap <= SWAP_MAX_PAGES:
            raise ValueError(
                f"swap must be between 0 and {SWAP_MAX_PAGES} pages "
                f"(0 to {format_bytes(SWAP_MAX_PAGES * ps)} at {ps}-byte pages), got {swap} pages"
            )
        object.__setattr__(self, "ram", ram)
        object.__setattr__(self, "swap", swap)
        check_int(self.ncpus, "ncpus", 1, 256)
        check_int(self.hz, "hz", 10, 10000)
        # PQAVERAGE divides by PQ_L2_SIZE / 2, so at least 2 colours.
        check_power_of_two(self.pq_l2_size, "pq_l2_size", 2, 512)
        check_int(self.seed, "seed", 0, (1 << 63) - 1)
        for name in ("swap_read_latency", "swap_write_latency", "file_read_latency", "file_write_latency"):
            check_int(getattr(self, name), name, 1, 10000, " ticks")
        for name in ("swap_bandwidth", "file_bandwidth"):
            check_int(getattr(self, name), name, 0, 1 << 30, " pages per tick")
        check_int(self.vnode_lk_timo, "vnode_lk_timo", 0, 100000, " ticks")
        check_int(self.kthread_yields_per_tick, "kthread_yields_per_tick", 1, 10_000_000)
        check_int(self.refs_per_tick, "refs_per_tick", 1, 10_000_000)
        check_bool(self.pagedaemon, "pagedaemon")
        check_bool(self.boot_userland, "boot_userland")
        check_int(self.first_user_pid, "first_user_pid", 2, 999_999)
        check_bool(self.check_reads, "check_reads")
        check_int(self.stall_seconds, "stall_seconds", 1, 10_000_000, " s")

    # -- derived values ----------------------------------------------------------------------------
    @property
    def ram_pages(self) -> int:
        """Physical memory in pages."""
        return self.ram  # type: ignore[return-value]

    @property
    def swap_pages(self) -> int:
        """Swap space in pages."""
        return self.swap  # type: ignore[return-value]

    @property
    def ram_bytes(self) -> int:
        return self.ram_pages * self.page_size

    @property
    def swap_bytes(self) -> int:
        return self.swap_pages * self.page_size

    @property
    def page_shift(self) -> int:
        return self.page_size.bit_length() - 1

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "VMConfig":
        """Build a config, turning an unknown setting into a clear ``ValueError``."""
        valid = cls.field_names()
        for key in kwargs:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown machine setting {key!r}{hint}; valid settings: {', '.join(valid)}")
        return cls(**kwargs)

    def replace(self, **kwargs: Any) -> "VMConfig":
        """A copy with some fields changed (validated again).

        ``ram`` and ``swap`` are page counts by then: changing ``page_size``
        keeps the number of pages, not the number of bytes.
        """
        base = dataclasses.asdict(self)
        base.update(kwargs)
        return VMConfig.from_kwargs(**base)

    def describe(self) -> dict[str, Any]:
        """The configuration as a plain dict, with human-readable sizes added."""
        d = dataclasses.asdict(self)
        d["ram_bytes"] = format_bytes(self.ram_bytes)
        d["swap_bytes"] = format_bytes(self.swap_bytes) if self.swap_pages else "0"
        return d
