"""Exercises of notebook 07: the out-of-memory killer.

Every expected answer is computed by running vmkit's own code (the swap
pager's watermarks, the OOM killer's victim scan on a small machine, a short
run that fills swap), so the answers follow vmkit if it changes.
"""

from __future__ import annotations

from . import exercise

#: The victim-choice machine of the notebook: name -> pages it writes.  Pids start at 46, so the
#: first two processes have pids below 48.
VICTIMS = (("db", 1500), ("logger", 40), ("web", 600), ("batch", 1000))
FIRST_PID = 46

#: The notebook's small OOM run: 4 MB of RAM, 2 MB of swap, two hogs and an editor, 3 simulated seconds.
OOM_RUN = {"ram": "4M", "swap": "2M", "seconds": 3.0}


def victim_machine(swap: str | int = "16M", seed: int = 1):
    """A machine running the :data:`VICTIMS` (pids 46, 47, 48, 49), each having written all its pages."""
    from vmkit import IdleDaemon, Machine

    vm = Machine(ram="24M", swap=swap, seed=seed, first_user_pid=FIRST_PID)
    for name, pages in VICTIMS:
        vm.spawn(name, IdleDaemon(pages, touch=1, period=100_000), refs_per_tick=2000)
    vm.run(seconds=1)
    return vm


def oom_choice(vm) -> int | None:
    """The pid vmkit's vm_pageout_scan_callback would choose now (None: no candidate)."""
    from vmkit.vm_pageout import vm_pageout_scan_info

    info = vm_pageout_scan_info()
    for _ in vm.allproc_scan(vm.vm_pageout_scan_callback, info):
        pass                                  # the callback's lwkt_yield() requests; nothing to wait for
    return None if info.bigproc is None else info.bigproc.p_pid


def oom_run(seed: int = 1):
    """The notebook's small OOM run: return the finished machine."""
    from vmkit import Machine, MemoryHog, UniformRandom

    r = OOM_RUN
    vm = Machine(ram=r["ram"], swap=r["swap"], seed=seed)
    vm.spawn("hog-a", MemoryHog(pages=4000, rate=64, retouch=0.1))
    vm.spawn("hog-b", MemoryHog(pages=3000, rate=32, retouch=0.1))
    vm.spawn("editor", UniformRandom(pages=200, count=10**6, writes=0.2), refs_per_tick=100)
    vm.run(seconds=r["seconds"], stop_when_done=True)
    return vm


@exercise("nb07.lowat_16M",
          hint="swp_sizecheck() sets swap_pager_almost_full when the free swap falls below nswap_lowat; "
               "_swap_watermarks() computes it from the swap size in pages (16 MB = 4096 pages). Or build "
               "Machine(ram='8M', swap='16M'), run a tick, and read vm.nswap_lowat.",
          kind="number")
def lowat_16M() -> int:
    from vmkit import Machine

    vm = Machine(ram="8M", swap="16M", seed=0, boot_userland=False)
    vm.run(until=2)                  # the page daemon has called swap_pager_swap_init()
    return vm.nswap_lowat


@exercise("nb07.victim_pid",
          hint="Size is anonymous + swap pages (vm_pageout.c:1670-1671), but some pids are skipped first "
               "(vm_pageout.c:1648-1651). Is swap configured here? Or try it: oom_choice(victim_machine()).",
          kind="number")
def victim_pid() -> int:
    pid = oom_choice(victim_machine("16M"))
    if pid is None:
        raise RuntimeError("no OOM candidate")
    return pid


@exercise("nb07.victim_pid_no_swap",
          hint="vm_swap_size is the free swap, in pages. With no swap device at all it is 0: which of the "
               "three tests at vm_pageout.c:1648-1651 still holds? Or try: oom_choice(victim_machine(0)).",
          kind="number")
def victim_pid_no_swap() -> int:
    pid = oom_choice(victim_machine(0))
    if pid is None:
        raise RuntimeError("no OOM candidate")
    return pid


@exercise("nb07.kill_pass",
          hint="vm.passes() has one row per daemon pass with its pass number; find the pagedaemon pass that "
               "ended at or after the first kill's tick. The kill test (vm_pageout.c:1610-1615) needs "
               "pass > 1.",
          kind="number")
def kill_pass() -> int:
    vm = oom_run()
    if not vm.oom_kills:
        raise RuntimeError("the OOM run killed nothing")
    tick = vm.oom_kills[0]["tick"]
    ps = vm.passes()
    ps = ps[(ps.thread == "pagedaemon") & (ps.tick >= tick)]
    return int(ps["pass"].iloc[0])
