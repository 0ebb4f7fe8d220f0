"""Exercises of notebook 06: RSS enforcement by vm_daemon (RLIMIT_RSS, vm.pageout_memuse_mode).

Every expected answer is computed by running vmkit's own code (the daemon's
callbacks on a small machine), so the answers follow vmkit if it changes.
"""

from __future__ import annotations

from . import exercise

#: The RSS run of the notebook: a 20 MB machine and a runaway process (a memory hog writing 64 new pages
#: a tick, wrapping at 6000 pages) with RLIMIT_RSS of 500 pages, for 2 simulated seconds.
RSS_RUN = {"ram": "20M", "swap": "32M", "pages": 6000, "rate": 64, "retouch": 0.1, "limit": 500,
           "seconds": 2.0}


def rss_run(mode: int, seed: int = 1):
    """The notebook's RSS run in memuse mode ``mode``: return the finished machine."""
    from vmkit import Machine, MemoryHog

    r = RSS_RUN
    vm = Machine(ram=r["ram"], swap=r["swap"], seed=seed, boot_userland=False)
    vm.sysctl("vm.pageout_memuse_mode", mode)
    vm.spawn("limited", MemoryHog(pages=r["pages"], rate=r["rate"], retouch=r["retouch"]), rss_limit=r["limit"])
    vm.run(seconds=r["seconds"])
    return vm


def daemon_would_trim(size: int, limit: int, mode: int = 1) -> bool:
    """Does vmkit's vm_daemon_callback trim a process with ``size`` resident pages and RLIMIT_RSS ``limit``?

    Calls the real callback on a fresh process, with the resident count
    replaced by ``size`` and the trim itself replaced by a recorder.
    """
    from vmkit import Machine, Sequential

    vm = Machine(ram="8M", swap="8M", seed=0, boot_userland=False)
    vm.sysctl("vm.pageout_memuse_mode", mode)
    p = vm.spawn("probe", Sequential(pages=16), rss_limit=limit)
    trimmed: list[int] = []

    def recorder(map_, lim):
        trimmed.append(lim)
        yield from ()

    vm.pmap_resident_tlnw_count = lambda pmap: size
    vm.vm_pageout_map_deactivate_pages = recorder
    for _ in vm.vm_daemon_callback(p, None):
        pass
    return bool(trimmed)


@exercise("nb06.trim_threshold",
          hint="Read the condition at vm_pageout.c:2418-2419 (vm_daemon_callback): two tests on size must "
               "both hold. Or try it: daemon_would_trim(size, 1000) from vmkit.exercises.nb06.",
          kind="number")
def trim_threshold() -> int:
    limit = 1000
    lo, hi = 0, 1 << 16            # binary search: the callback's test is monotonic in size
    while lo < hi:
        mid = (lo + hi) // 2
        if daemon_would_trim(mid, limit):
            hi = mid
        else:
            lo = mid + 1
    return lo


@exercise("nb06.swapout_action",
          hint="Look at vm_pageout.c:2359-2365: which variable is passed to swapout_procs, and what did the "
               "line before it store there? Or record it: replace vm.swapout_procs by a function that "
               "remembers its argument, then wake vm_daemon.",
          kind="number")
def swapout_action() -> int:
    from vmkit import Machine
    from vmkit.constants import VM_SWAP_NORMAL
    from vmkit.kern import VM_DAEMON_NEEDED

    vm = Machine(ram="8M", swap="8M", seed=0, boot_userland=False)
    vm.run(until=2)                                   # vm_daemon is asleep on vm_daemon_needed
    seen: list[int] = []

    def recorder(action):
        seen.append(action)
        yield from ()

    vm.swapout_procs = recorder
    vm.vm_pageout_req_swapout = VM_SWAP_NORMAL        # what vm_pageout_scan_cache sets when short
    vm.wakeup(VM_DAEMON_NEEDED)
    vm.run(until=vm.ticks + 2)
    if not seen:
        raise RuntimeError("vm_daemon did not call swapout_procs")
    return seen[0]


@exercise("nb06.removed_queue",
          hint="Look at vm_pageout.c:602-609: after pmap_remove_specific, what happens to a page that no "
               "other process maps? Or count: the queue_after column of the vm_pageout_mdp_callback events "
               "with action 'remove' in the mode 1 run.",
          kind="choice",
          synonyms={"pq inactive": "inactive", "inactive queue": "inactive", "the inactive queue": "inactive",
                    "pq active": "active", "active queue": "active", "pq cache": "cache", "pq free": "free"})
def removed_queue() -> str:
    vm = rss_run(1)
    ev = vm.events()
    removed = ev[(ev.function == "vm_pageout_mdp_callback") & (ev.action == "remove")]
    if removed.empty:
        raise RuntimeError("the mode 1 run trimmed nothing")
    return str(removed.queue_after.astype(str).value_counts().idxmax())


@exercise("nb06.slower_mode",
          hint="Compare the RSS curves of modes 1 and 2 after the first trim (the comparison plot), or the "
               "lowest rss_pages of 'limited' after its first vm_pageout_mdp_callback event.",
          kind="choice", synonyms={"mode 1": "1", "mode 2": "2", "one": "1", "two": "2", "mode one": "1",
                                   "mode two": "2"})
def slower_mode() -> str:
    """The memuse mode (1 or 2) whose RSS stays further above the limit after vm_daemon first trims."""
    lows = {}
    for mode in (1, 2):
        vm = rss_run(mode)
        ev = vm.events()
        mdp = ev[ev.function == "vm_pageout_mdp_callback"]
        rss = vm.rss_timeseries()
        rss = rss[rss.name == "limited"]
        first = int(mdp.tick.min()) if len(mdp) else 0
        lows[mode] = int(rss[rss.tick >= first].rss_pages.min())
    return "2" if lows[2] > lows[1] else "1"
