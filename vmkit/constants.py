"""Kernel constants, spelled as in DragonFly BSD's headers.

Values come from ../shared/reference/dragonfly-vm-facts.md (cited as "facts
§N").  Plain ``int`` constants are what the simulator uses on its hot paths;
the ``enum.IntFlag`` classes (:class:`PG`, :class:`OBJ`, :class:`P`) exist so
that a notebook can print ``PG(m.flags)`` and read flag names.

Queue numbers keep DragonFly's values (``PQ_INACTIVE == 513`` and so on): a
queue is ``base + colour`` with the bases 512 apart, whatever
``PQ_L2_SIZE`` the machine uses.  A machine configured with fewer colours
(the teaching default is 16) simply leaves the upper colours of every block
empty, so ``m.queue - m.pc == PQ_INACTIVE`` reads exactly as in the seed.
"""

from __future__ import annotations

import enum

# --- vm_page.h: activity counts (facts §1) --------------------------------------------------------
ACT_DECLINE = 1
ACT_ADVANCE = 3
ACT_INIT = 5
ACT_MAX = 64

# --- vm_page.h: queues (facts §1) -----------------------------------------------------------------
PQ_PRIME1 = 31
PQ_PRIME2 = 23
PQ_MAXL2_SIZE = 512          # DragonFly's PQ_L2_SIZE at REF: the spacing of queue bases
PQ_NONE = 0
PQ_FREE = 1
PQ_INACTIVE = 1 + 1 * PQ_MAXL2_SIZE     # 513
PQ_ACTIVE = 1 + 2 * PQ_MAXL2_SIZE       # 1025
PQ_CACHE = 1 + 3 * PQ_MAXL2_SIZE        # 1537
PQ_HOLD = 1 + 4 * PQ_MAXL2_SIZE         # 2049
PQ_COUNT = 1 + 5 * PQ_MAXL2_SIZE        # 2561
PQ_SET_ASSOC = 16

#: Queue base -> short name, for tables and plots.
PQ_NAMES = {
    PQ_NONE: "NONE",
    PQ_FREE: "FREE",
    PQ_INACTIVE: "INACTIVE",
    PQ_ACTIVE: "ACTIVE",
    PQ_CACHE: "CACHE",
    PQ_HOLD: "HOLD",
}

VMMETER_SLOP_COUNT = 128
VM_PAGE_BITS_ALL = 0xFF


# --- vm_page.h: page flags (facts §2) -------------------------------------------------------------
class PG(enum.IntFlag):
    """``vm_page.flags`` bits (facts §2)."""

    PG_BUSY = 0x1
    PG_WANTED = 0x2
    PG_WINATCFLS = 0x4
    PG_FICTITIOUS = 0x8
    PG_WRITEABLE = 0x10
    PG_MAPPED = 0x20
    PG_REFERENCED = 0x80
    PG_CLEANCHK = 0x100
    PG_SWAPINPROG = 0x200
    PG_NOSYNC = 0x400
    PG_UNMANAGED = 0x800
    PG_MARKER = 0x1000
    PG_RAM = 0x2000
    PG_SWAPPED = 0x4000
    PG_NOTMETA = 0x8000
    PG_ACTIONLIST = 0x10000
    PG_SBUSY = 0x20000
    PG_NEED_COMMIT = 0x40000


PG_BUSY = 0x1
PG_WANTED = 0x2
PG_WINATCFLS = 0x4
PG_FICTITIOUS = 0x8
PG_WRITEABLE = 0x10
PG_MAPPED = 0x20
PG_REFERENCED = 0x80
PG_CLEANCHK = 0x100
PG_SWAPINPROG = 0x200
PG_NOSYNC = 0x400
PG_UNMANAGED = 0x800
PG_MARKER = 0x1000
PG_RAM = 0x2000
PG_SWAPPED = 0x4000
PG_NOTMETA = 0x8000
PG_ACTIONLIST = 0x10000
PG_SBUSY = 0x20000
PG_NEED_COMMIT = 0x40000

#: Flags vm_page_alloc() keeps; it clears all the others (facts §2).
PG_ALLOC_KEEP = PG_BUSY | PG_SBUSY | PG_WANTED | PG_ACTIONLIST

# --- vm_page.h: allocation classes ----------------------------------------------------------------
VM_ALLOC_NORMAL = 0x01
VM_ALLOC_QUICK = 0x02
VM_ALLOC_SYSTEM = 0x04
VM_ALLOC_INTERRUPT = 0x08

# --- vm.h: protections ----------------------------------------------------------------------------
VM_PROT_NONE = 0x0
VM_PROT_READ = 0x1
VM_PROT_WRITE = 0x2
VM_PROT_EXECUTE = 0x4
VM_PROT_ALL = VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE

# --- vm_pager.h: results and put flags (facts §6) -------------------------------------------------
VM_PAGER_OK = 0
VM_PAGER_BAD = 1
VM_PAGER_FAIL = 2
VM_PAGER_PEND = 3
VM_PAGER_ERROR = 4
VM_PAGER_AGAIN = 5
VM_PAGER_NAMES = {
    VM_PAGER_OK: "OK",
    VM_PAGER_BAD: "BAD",
    VM_PAGER_FAIL: "FAIL",
    VM_PAGER_PEND: "PEND",
    VM_PAGER_ERROR: "ERROR",
    VM_PAGER_AGAIN: "AGAIN",
}

VM_PAGER_PUT_SYNC = 0x1
VM_PAGER_PUT_INVAL = 0x2
VM_PAGER_IGNORE_CLEANCHK = 0x4
VM_PAGER_CLUSTER_OK = 0x8
VM_PAGER_TRY_TO_CACHE = 0x10
VM_PAGER_ALLOW_ACTIVE = 0x20

# --- blist.h / swap_pager.h (facts §1) ------------------------------------------------------------
BLIST_MAX_ALLOC = 64
SWB_NPAGES = 16
SWAP_META_PAGES = 32
SWB_DMMAX = 64
SWAPBLK_NONE = -1
MAXPHYS = 128 * 1024

# --- vm_object.h (facts §7) -----------------------------------------------------------------------
OBJT_DEFAULT = 0
OBJT_SWAP = 1
OBJT_VNODE = 2
OBJT_DEVICE = 3
OBJT_MGTDEVICE = 4
OBJT_PHYS = 5
OBJT_DEAD = 6
OBJT_MARKER = 7
OBJT_NAMES = {
    OBJT_DEFAULT: "DEFAULT",
    OBJT_SWAP: "SWAP",
    OBJT_VNODE: "VNODE",
    OBJT_DEVICE: "DEVICE",
    OBJT_MGTDEVICE: "MGTDEVICE",
    OBJT_PHYS: "PHYS",
    OBJT_DEAD: "DEAD",
    OBJT_MARKER: "MARKER",
}


class OBJ(enum.IntFlag):
    """``vm_object.flags`` bits used by the seed (facts §7)."""

    OBJ_DEAD = 0x8
    OBJ_WRITEABLE = 0x80
    OBJ_MIGHTBEDIRTY = 0x100


OBJ_DEAD = 0x8
OBJ_WRITEABLE = 0x80
OBJ_MIGHTBEDIRTY = 0x100


# --- proc.h (facts §1) ----------------------------------------------------------------------------
class P(enum.IntFlag):
    """``proc.p_flags`` bits the seed reads (facts §1)."""

    P_SWAPPEDOUT = 0x4
    P_SYSTEM = 0x200
    P_WEXIT = 0x2000
    P_LOWMEMKILL = 0x10000


P_SWAPPEDOUT = 0x4
P_SYSTEM = 0x200
P_WEXIT = 0x2000
P_LOWMEMKILL = 0x10000

# Process states (proc.h p_stat).
SIDL = 1
SACTIVE = 2
SSTOP = 3
SZOMB = 4
SCORE = 5
SSTAT_NAMES = {SIDL: "SIDL", SACTIVE: "SACTIVE", SSTOP: "SSTOP", SZOMB: "SZOMB", SCORE: "SCORE"}

RLIMIT_RSS = 5
RLIM_INFINITY = (1 << 63) - 1
PRIO_MIN = -20
VM_SWAP_NORMAL = 1
VM_SWAP_IDLE = 2

# Signals.
SIGKILL = 9
SIGBUS = 10
SIGSEGV = 11

# --- thread flags ---------------------------------------------------------------------------------
TDF_SYSTHREAD = 0x100

# --- errno.h --------------------------------------------------------------------------------------
ENOENT = 2
EINTR = 4
EIO = 5
EBUSY = 16
EWOULDBLOCK = 35
ERESTART = -1

# --- lockmgr (sys/lock.h) -------------------------------------------------------------------------
LK_SHARED = 0x1
LK_EXCLUSIVE = 0x2
LK_NOWAIT = 0x10
LK_TIMELOCK = 0x200000

# --- vmparam.h (facts §1) -------------------------------------------------------------------------
VM_MIN_USER_ADDRESS = 0
VM_MAX_USER_ADDRESS = 0x7FFFFFE00000

# --- vm_map.h -------------------------------------------------------------------------------------
VM_MAPTYPE_NORMAL = 1
VM_MAPTYPE_VPAGETABLE = 2

# --- x86_64 PTE bits (the simulated MMU keeps them per virtual page) ------------------------------
PG_V = 0x001      # present
PG_RW = 0x002     # writeable
PG_A = 0x020      # accessed (the "A" bit)
PG_M = 0x040      # modified (the "M" bit)
