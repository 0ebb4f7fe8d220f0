"""Address spaces: vmspace, vm_map and its entries, and the sizes the daemon reads (``vm_map.c``).

A process's address space is a list of regions laid out from virtual page 0
upward, each mapping an object:

* :class:`Anon` - anonymous memory (a new ``OBJT_DEFAULT`` object);
* :class:`MapFile` - a file mapped shared (``MAP_SHARED``), read-only or
  read-write, so writes reach the file's object and, through the vnode pager,
  the file.

``vmspace_anonymous_count`` and ``vmspace_swap_count`` give the process size
the OOM killer compares (facts §6).
"""

from __future__ import annotations

import bisect
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import check_int
from .constants import (
    OBJT_DEFAULT,
    OBJT_SWAP,
    SWAP_META_PAGES,
    VM_MAPTYPE_NORMAL,
    VM_MAPTYPE_VPAGETABLE,
    VM_PROT_READ,
    VM_PROT_WRITE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .pmap import pmap
    from .vm_object import vm_object
    from .vnode_pager import vnode


@dataclass(frozen=True)
class Anon:
    """An anonymous, read-write region of ``pages`` pages."""

    pages: int
    name: str = "anon"


@dataclass(frozen=True)
class MapFile:
    """A shared mapping of ``pages`` pages of ``file`` (a name or vnode) from page ``offset``.

    ``pages=None`` maps the rest of the file.
    """

    file: Any
    pages: int | None = None
    offset: int = 0
    writable: bool = True


class vm_map_entry:
    """One region: virtual pages ``[start, end)`` map ``object`` from page ``offset``."""

    __slots__ = ("start", "end", "object", "offset", "protection", "maptype", "name")

    def __init__(self, start: int, end: int, obj: vm_object, offset: int, protection: int, name: str) -> None:
        self.start = start
        self.end = end
        self.object = obj
        self.offset = offset
        self.protection = protection
        self.maptype = VM_MAPTYPE_NORMAL
        self.name = name

    def __repr__(self) -> str:
        prot = ("r" if self.protection & VM_PROT_READ else "-") + ("w" if self.protection & VM_PROT_WRITE else "-")
        return f"<vm_map_entry [{self.start},{self.end}) {prot} {self.name} obj{self.object.id}+{self.offset}>"


class vm_map:
    """The ordered entries of an address space, and where the RSS scan left off (``pgout_offset``)."""

    __slots__ = ("entries", "starts", "pmap", "pgout_offset")

    def __init__(self, pm: pmap) -> None:
        self.entries: list[vm_map_entry] = []
        self.starts: list[int] = []
        self.pmap = pm
        self.pgout_offset = 0


class vmspace:
    """``struct vmspace``: the map, the page table, and the oracle slot of every virtual page."""

    __slots__ = ("vm_map", "vm_pmap", "vm_slot", "vm_slot_mv", "vm_npages")

    def __init__(self, vmap: vm_map, pm: pmap, slots: np.ndarray) -> None:
        self.vm_map = vmap
        self.vm_pmap = pm
        self.vm_slot = slots
        self.vm_slot_mv = memoryview(slots)
        self.vm_npages = len(slots)


class VmMapMixin:
    """Address-space construction and accounting of a :class:`~vmkit.machine.Machine`."""

    def vmspace_plan(self, regions: list) -> list[tuple[int, int, Any]]:
        """Check ``regions`` and lay them out: ``[(first page, pages, region), ...]``.  Creates nothing."""
        if not isinstance(regions, (list, tuple)) or not regions:
            raise ValueError(
                f"regions must be a non-empty list of Anon(pages) / MapFile(file) regions, got {regions!r}")
        plan = []
        start = 0
        for i, r in enumerate(regions):
            if isinstance(r, Anon):
                n = check_int(r.pages, f"regions[{i}].pages", 1, 1 << 26)
                plan.append((start, n, r))
            elif isinstance(r, MapFile):
                if isinstance(r.file, str):
                    vp = self.vfs_lookup(r.file)
                elif getattr(r.file, "v_name", None) is not None and self.vnodes.get(r.file.v_name) is r.file:
                    vp = r.file
                else:
                    raise ValueError(f"regions[{i}].file must be the name of a file of this machine, got {r.file!r}")
                off = check_int(r.offset, f"regions[{i}].offset", 0, vp.v_size - 1)
                n = vp.v_size - off if r.pages is None else check_int(
                    r.pages, f"regions[{i}].pages", 1, vp.v_size - off)
                plan.append((start, n, MapFile(vp, n, off, r.writable)))
            else:
                raise ValueError(f"regions[{i}] must be Anon(pages) or MapFile(file), got {r!r}")
            start += n
        if start > 1 << 27:
            raise ValueError(f"an address space may have at most {1 << 27} pages, got {start}")
        return plan

    def vmspace_alloc(self, regions: list, proc: Any = None) -> vmspace:
        """Build an address space from ``regions`` (:class:`Anon` / :class:`MapFile`), laid out from page 0."""
        plan = self.vmspace_plan(regions)
        start = sum(n for _, n, _ in plan)
        npages = start
        pm = self.pmap_create(npages, proc)
        vmap = vm_map(pm)
        slots = np.empty(npages, dtype=np.int64)
        for start, n, r in plan:
            if isinstance(r, Anon):
                obj = self.vm_object_allocate(OBJT_DEFAULT, n, name=r.name)
                entry = vm_map_entry(start, start + n, obj, 0, VM_PROT_READ | VM_PROT_WRITE, r.name)
            else:
                vp: vnode = r.file
                obj = vp.v_object
                self.vm_object_reference(obj)
                prot = VM_PROT_READ | (VM_PROT_WRITE if r.writable else 0)
                entry = vm_map_entry(start, start + n, obj, r.offset, prot, vp.v_name)
            slots[start:start + n] = obj.slot_base + entry.offset + np.arange(n, dtype=np.int64)
            vmap.entries.append(entry)
            vmap.starts.append(start)
        return vmspace(vmap, pm, slots)

    @staticmethod
    def vm_map_lookup_entry(vmap: vm_map, vpn: int) -> vm_map_entry | None:
        """The entry containing virtual page ``vpn``, or None."""
        i = bisect.bisect_right(vmap.starts, vpn) - 1
        if i < 0:
            return None
        e = vmap.entries[i]
        return e if vpn < e.end else None

    @staticmethod
    def vm_map_pmap(vmap: vm_map) -> pmap:
        return vmap.pmap

    def vmspace_free(self, vm: vmspace) -> Generator:
        """Tear down an address space (``yield from``): unmap everything, drop the objects."""
        for e in vm.vm_map.entries:
            self.pmap_remove(vm.vm_pmap, e.start, e.end)
        for e in vm.vm_map.entries:
            yield from self.vm_object_deallocate(e.object)
        vm.vm_map.entries.clear()
        vm.vm_map.starts.clear()

    @staticmethod
    def vmspace_anonymous_count(vm: vmspace) -> int:
        """Resident pages of the anonymous objects of the map's NORMAL/VPAGETABLE entries (facts §6)."""
        count = 0
        for e in vm.vm_map.entries:
            if e.maptype in (VM_MAPTYPE_NORMAL, VM_MAPTYPE_VPAGETABLE) and e.object.type in (OBJT_DEFAULT, OBJT_SWAP):
                count += e.object.resident_page_count
        return count

    @staticmethod
    def vmspace_swap_count(vm: vmspace) -> int:
        """Estimated swap pages: ``swblock_count*32*entry_pages/object_size + 1`` per entry with swap (facts §6)."""
        count = 0
        for e in vm.vm_map.entries:
            if e.maptype in (VM_MAPTYPE_NORMAL, VM_MAPTYPE_VPAGETABLE) and e.object.type in (OBJT_DEFAULT, OBJT_SWAP):
                obj = e.object
                if obj.swblock_count > 0:
                    n = e.end - e.start
                    count += obj.swblock_count * SWAP_META_PAGES * n // obj.size + 1
        return count
