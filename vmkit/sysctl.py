"""The sysctl table: every tunable of the seed, and the thresholds it computes, by their sysctl(8) names.

Each entry says where the value lives, its default, the one-line description
the kernel gives it (``SYSCTL_INT(..., "description")``), whether it is
read-only, the range vmkit accepts, and the file that declares it.  Values
are read and set on a running machine::

    vm.sysctl("vm.max_launder")            # -> 4096
    vm.sysctl("vm.max_launder", 32)        # set; validated
    vm.sysctl_table()                      # a DataFrame of all of them

The kernel accepts any int for most of these; vmkit refuses values outside a
sensible range (named in the error) rather than letting a notebook wedge
the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

BIG = 1 << 30


@dataclass(frozen=True)
class SysctlEntry:
    """One sysctl: its name, where the value lives (``attr`` on the machine, or ``vmstats.<field>``)."""

    name: str
    attr: str
    default: Any
    description: str
    readonly: bool = False
    lo: int = 0
    hi: int | str = BIG          # an int, or "pages" for v_page_count
    source: str = "vm_pageout.c"
    computed: bool = False       # set by the daemon at start-up (default shown is the seed's initial value)


SYSCTLS: tuple[SysctlEntry, ...] = (
    # -- vm_pageout.c:155-204 ----------------------------------------------------------------------
    SysctlEntry("vm.anonmem_decline", "vm_anonmem_decline", 1, "active->inactive anon memory", hi=255),
    SysctlEntry("vm.filemem_decline", "vm_filemem_decline", 2, "active->inactive file cache", hi=255),
    SysctlEntry("vm.page_free_hysteresis", "vm_page_free_hysteresis", 16,
                "Free more pages than the minimum required", hi="pages"),
    SysctlEntry("vm.max_launder", "vm_max_launder", 4096, "Limit dirty flushes in pageout"),
    SysctlEntry("vm.emerg_launder", "vm_emerg_launder", 100, "Emergency pager minimum"),
    SysctlEntry("vm.pageout_stats_max", "vm_pageout_stats_max", 0, "Max pageout stats scan length",
                computed=True),
    SysctlEntry("vm.pageout_full_stats_interval", "vm_pageout_full_stats_interval", 0,
                "Interval for full stats scan", hi=86400, computed=True),
    SysctlEntry("vm.pageout_stats_interval", "vm_pageout_stats_interval", 0, "Interval for partial stats scan",
                hi=86400, computed=True),
    SysctlEntry("vm.pageout_stats_free_max", "vm_pageout_stats_free_max", 0, "Not implemented", computed=True),
    SysctlEntry("vm.pageout_memuse_mode", "vm_pageout_memuse_mode", 1, "memoryuse resource mode", hi=2),
    SysctlEntry("vm.swap_enabled", "vm_swap_enabled", 1, "Enable entire process swapout", hi=1),
    SysctlEntry("vm.swap_idle_enabled", "vm_swap_idle_enabled", 0, "Allow swapout on idle criteria", hi=1),
    SysctlEntry("vm.defer_swapspace_pageouts", "defer_swap_pageouts", 0, "Give preference to dirty pages in mem",
                hi=1),
    SysctlEntry("vm.disable_swapspace_pageouts", "disable_swap_pageouts", 0, "Disallow swapout of dirty pages",
                hi=1),
    SysctlEntry("vm.pageout_lock_miss", "pageout_lock_miss", 0, "vget() lock misses during pageout",
                readonly=True),
    # The seed declares vm_page_max_wired (vm_pageout.c:206) without a sysctl; shown under FreeBSD's name.
    SysctlEntry("vm.max_wired", "vm_page_max_wired", 0, "System-wide limit to wired page count", hi="pages",
                computed=True),
    # -- vm_meter.c: the thresholds on vmstats, computed when the page daemon starts ------------------
    SysctlEntry("vm.v_free_min", "vmstats.v_free_min", 0, "Minimum free pages (normal allocations)",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_free_reserved", "vmstats.v_free_reserved", 0, "Free pages reserved for system allocations",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_free_severe", "vmstats.v_free_severe", 0, "Severe page depletion point",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_free_target", "vmstats.v_free_target", 0, "Desired free+cache pages",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_cache_min", "vmstats.v_cache_min", 0, "Minimum cache pages (paging hysteresis)",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_cache_max", "vmstats.v_cache_max", 0, "Maximum cache pages", hi="pages",
                source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_inactive_target", "vmstats.v_inactive_target", 0, "Desired inactive pages",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_pageout_free_min", "vmstats.v_pageout_free_min", 0, "Free pages reserved for the daemon",
                hi="pages", source="vm_meter.c", computed=True),
    SysctlEntry("vm.v_interrupt_free_min", "vmstats.v_interrupt_free_min", 0,
                "Free pages reserved for interrupt-time allocations", hi="pages", source="vm_meter.c",
                computed=True),
    # -- vm_glue.c and swap_pager.c (facts §6, §8) ------------------------------------------------------
    SysctlEntry("vm.swap_idle_threshold1", "swap_idle_threshold1", 15,
                "Guaranteed process resident time (sec)", hi=86400, source="vm_glue.c"),
    SysctlEntry("vm.swap_idle_threshold2", "swap_idle_threshold2", 60,
                "Time before a process will be swapped out (sec)", hi=86400, source="vm_glue.c"),
    SysctlEntry("vm.swap_async_max", "swap_async_max", 4, "Maximum running async swap ops", lo=1, hi=1024,
                source="swap_pager.c"),
    SysctlEntry("vm.swap_user_async", "swap_user_async", 0, "Allow async user swap write I/O", hi=1,
                source="swap_pager.c"),
    SysctlEntry("kern.hz", "hz", 100, "Number of clock ticks per second", readonly=True, source="subr_param.c"),
)

#: Read-only statistics, ``vm.stats.vm.*`` as in DragonFly's vm_meter.c.
STAT_SYSCTLS: tuple[str, ...] = (
    "v_page_count", "v_free_count", "v_cache_count", "v_inactive_count", "v_active_count", "v_wire_count",
)
COUNTER_SYSCTLS: tuple[str, ...] = (
    "v_vm_faults", "v_zfod", "v_reactivated", "v_pdwakeups", "v_pdpages", "v_dfree", "v_tfree",
    "v_swapin", "v_swapout", "v_swappgsin", "v_swappgsout", "v_vnodein", "v_vnodeout",
    "v_vnodepgsin", "v_vnodepgsout", "v_intrans",
)

_BY_NAME = {e.name: e for e in SYSCTLS}


class SysctlMixin:
    """``sysctl`` for a :class:`~vmkit.machine.Machine`."""

    def _sysctl_entry(self, name: str) -> SysctlEntry | None:
        return _BY_NAME.get(name)

    def _sysctl_get(self, attr: str) -> Any:
        if attr.startswith("vmstats."):
            return getattr(self.vmstats, attr[8:])
        return getattr(self, attr)

    def sysctl(self, name: str, value: Any = None) -> Any:
        """Read sysctl ``name``; with ``value``, set it first (validated) and return the new value."""
        if not isinstance(name, str):
            raise ValueError(f"sysctl name must be a string such as 'vm.max_launder', got {name!r}")
        e = _BY_NAME.get(name)
        if e is None:
            if name.startswith("vm.stats.vm."):
                field = name[len("vm.stats.vm."):]
                if value is not None:
                    raise ValueError(f"{name} is read-only")
                if field in STAT_SYSCTLS:
                    return getattr(self.vmstats, field)
                if field in COUNTER_SYSCTLS:
                    return getattr(self.cnt, field)
            import difflib

            close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown sysctl {name!r}{hint}; vm.sysctl_names() lists them")
        if value is None:
            return self._sysctl_get(e.attr)
        if e.readonly:
            raise ValueError(f"{name} is read-only")
        hi = self.vmstats.v_page_count if e.hi == "pages" else e.hi
        if isinstance(value, bool) or not isinstance(value, int) or not e.lo <= value <= hi:
            raise ValueError(f"{name} must be an integer between {e.lo} and {hi}, got {value!r}")
        hook = getattr(self, f"_sysctl_set_{e.attr}", None)
        if hook is not None:          # a tunable whose change needs more than a store
            hook(int(value))
        elif e.attr.startswith("vmstats."):
            setattr(self.vmstats, e.attr[8:], int(value))
        else:
            setattr(self, e.attr, int(value))
        return int(value)

    @staticmethod
    def sysctl_names() -> list[str]:
        """The names of every settable or readable tunable (statistics under ``vm.stats.vm.*`` too)."""
        return [e.name for e in SYSCTLS] + [f"vm.stats.vm.{f}" for f in STAT_SYSCTLS + COUNTER_SYSCTLS]

    def sysctl_all(self) -> dict[str, Any]:
        """Every tunable and threshold: ``{name: value}``, in table order."""
        return {e.name: self._sysctl_get(e.attr) for e in SYSCTLS}

    def sysctl_table(self) -> pd.DataFrame:
        """The sysctl table as a DataFrame: name, value, default, description, readonly, range, source."""
        import pandas as pd

        rows = []
        for e in SYSCTLS:
            hi = self.vmstats.v_page_count if e.hi == "pages" else e.hi
            rows.append({
                "name": e.name, "value": self._sysctl_get(e.attr),
                "default": "computed at start-up" if e.computed else e.default,
                "description": e.description, "readonly": e.readonly,
                "range": "" if e.readonly else f"{e.lo}..{hi}", "source": e.source,
            })
        return pd.DataFrame(rows)
