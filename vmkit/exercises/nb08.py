"""Exercises of notebook 08: the emergency pager.

The expected answers come from running the notebook's stalled machine (the
same one, built by :func:`stall_machine`) or from a fresh machine's sysctls.
"""

from __future__ import annotations

from functools import lru_cache

from . import exercise

WHO_KILLS = {
    "primary": "pagedaemon", "the primary": "pagedaemon", "primary pager": "pagedaemon",
    "the primary pager": "pagedaemon", "primary daemon": "pagedaemon", "the primary daemon": "pagedaemon",
    "primary pageout daemon": "pagedaemon", "page daemon": "pagedaemon", "the page daemon": "pagedaemon",
    "pageout daemon": "pagedaemon", "vm pageout": "pagedaemon", "pagethread": "pagedaemon",
    "emergency pager": "emergpager", "the emergency pager": "emergpager", "emergency": "emergpager",
    "isep": "emergpager", "both": "both", "either": "both", "neither": "neither", "none": "neither",
}
YES_NO = {"yes": "yes", "y": "yes", "true": "yes", "1": "yes", "it starts": "yes",
          "no": "no", "n": "no", "false": "no", "0": "no", "never": "no", "it does not start": "no"}


@lru_cache(maxsize=4)
def stall_machine(lk_timo: int = 500, hold_s: int = 12, swap: str | int = "16M", seed: int = 0):
    """The notebook's machine: a file's dirty pages, its lock held ``hold_s`` s from 1 s, anonymous pressure.

    4 MB of RAM, ``swap`` of swap.  ``dbwriter`` dirties all 700 pages of file
    ``db`` through a shared mapping in the first second; then a kernel
    thread holds ``db``'s vnode lock for ``hold_s`` seconds while ``anon``
    writes 1500 anonymous pages twice.  ``lk_timo`` is the lock's timeout
    in ticks (how long one ``vget(LK_TIMELOCK)`` may sleep).
    """
    from vmkit import Machine, Sequential
    from vmkit.vm_map import MapFile

    vm = Machine(ram="4M", swap=swap, seed=seed, vnode_lk_timo=lk_timo, boot_userland=False)
    vm.vfs_create_file("db", 700)
    vm.spawn("dbwriter", Sequential(pages=700, passes=1, writes=1.0), [MapFile("db")], refs_per_tick=1000)
    vm.run(seconds=1)
    vm.vn_lock_hold("db", hold_s * vm.hz)
    vm.spawn("anon", Sequential(pages=1500, passes=2, writes=0.7), refs_per_tick=300)
    vm.run()
    return vm


@exercise("nb08.vnode_skips",
          hint="Filter vm.events() for thread == 'emergpager', function == 'vm_pageout_scan_inactive' and "
               "action == 'skip' (vm_pageout.c:840-847), and count the rows of the stalled machine.",
          kind="number")
def vnode_skips() -> int:
    ev = stall_machine().events()
    sel = ev[(ev.thread == "emergpager") & (ev.function == "vm_pageout_scan_inactive") & (ev.action == "skip")]
    return len(sel)


@exercise("nb08.starts_with_short_timeout",
          hint="Build stall_machine(lk_timo=10) and look for 'Emergency pager running' in vm.dmesg(). "
               "How long is one vget() wait, and when does the primary set vm_pagedaemon_time "
               "(vm_pageout.c:2121-2122)?",
          kind="choice", synonyms=YES_NO)
def starts_with_short_timeout() -> str:
    vm = stall_machine(lk_timo=10)
    return "yes" if "Emergency pager running" in vm.dmesg() else "no"


@exercise("nb08.who_kills",
          hint="Read the conditions before kprintf('Warning: system low on memory+swap ...') and before the "
               "kill at vm_pageout.c:1594-1615: which thread do they exclude?",
          kind="choice", synonyms=WHO_KILLS)
def who_kills() -> str:
    return "pagedaemon"


@exercise("nb08.emerg_inactive_shortage",
          hint="vm_pageout.c:2192-2193 raise the emergency pager's inactive_shortage to vm.emerg_launder when it "
               "is smaller. Read the sysctl on a machine: vm.sysctl('vm.emerg_launder').",
          kind="number")
def emerg_inactive_shortage() -> int:
    from vmkit import Machine

    vm = Machine(ram="4M", swap=0, seed=0, pagedaemon=False, boot_userland=False)
    shortage = 40
    return max(shortage, vm.sysctl("vm.emerg_launder"))
