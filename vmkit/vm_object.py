"""VM objects: the containers of pages (``vm_object.c``, facts §7).

An object is anonymous memory (``OBJT_DEFAULT``, becoming ``OBJT_SWAP`` the
first time it is paged out) or a file (``OBJT_VNODE``, whose ``handle`` is the
vnode).  It holds its resident pages by index (``rb_memq``), its swap blocks
(``swblock``), a reference count and the flags the daemon tests:
``OBJ_DEAD`` while it is being destroyed and ``OBJ_MIGHTBEDIRTY`` once a page
of it may have been written.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from .constants import (
    OBJ,
    OBJ_DEAD,
    OBJ_MIGHTBEDIRTY,
    OBJ_WRITEABLE,
    OBJT_DEAD,
    OBJT_DEFAULT,
    OBJT_NAMES,
    OBJT_SWAP,
    OBJT_VNODE,
    PQ_PRIME2,
    VM_PROT_NONE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .vm_page import vm_page


class vm_object:
    """``struct vm_object``: pages by index, swap blocks, reference count, flags."""

    __slots__ = (
        "id", "type", "size", "ref_count", "flags", "handle", "rb_memq",
        "resident_page_count", "pg_color", "swblock", "swb_groups",
        "paging_in_progress", "slot_base", "name",
    )

    def __init__(self, oid: int, objtype: int, size: int, slot_base: int, name: str) -> None:
        self.id = oid
        self.type = objtype
        self.size = size
        self.ref_count = 1
        self.flags = 0
        self.handle: Any = None
        self.rb_memq: dict[int, vm_page] = {}
        self.resident_page_count = 0
        self.pg_color = 0
        self.swblock: dict[int, int] = {}       # pindex -> swap block
        self.swb_groups: dict[int, int] = {}    # pindex // SWAP_META_PAGES -> blocks in that group
        self.paging_in_progress = 0
        self.slot_base = slot_base
        self.name = name

    @property
    def swblock_count(self) -> int:
        """Number of ``struct swblock`` (groups of SWAP_META_PAGES=32 pages) holding swap (facts §6)."""
        return len(self.swb_groups)

    def __repr__(self) -> str:
        return (
            f"<vm_object {self.id} {OBJT_NAMES.get(self.type, self.type)} {self.name!r} size={self.size} "
            f"ref={self.ref_count} resident={self.resident_page_count} swap={len(self.swblock)} "
            f"flags={OBJ(self.flags)!r}>"
        )


class VmObjectMixin:
    """Object management of a :class:`~vmkit.machine.Machine`."""

    def _init_vm_object(self) -> None:
        self._objects: dict[int, vm_object] = {}
        self._next_object_id = 1

    def vm_objects(self) -> Iterator[vm_object]:
        """Every live object, oldest first."""
        return iter(list(self._objects.values()))

    def vm_object_allocate(self, objtype: int, size: int, name: str = "", initial: Any = None) -> vm_object:
        """A new object of ``size`` pages with ``ref_count`` 1 and its oracle slots."""
        if objtype not in (OBJT_DEFAULT, OBJT_SWAP, OBJT_VNODE):
            raise ValueError(f"vm_object_allocate: type must be OBJT_DEFAULT, OBJT_SWAP or OBJT_VNODE, got {objtype}")
        if size < 1:
            raise ValueError(f"vm_object_allocate: size must be at least 1 page, got {size}")
        oid = self._next_object_id
        self._next_object_id += 1
        obj = vm_object(oid, objtype, size, self.oracle_alloc(size, initial), name or f"obj{oid}")
        # Spread objects over the colours so that small objects do not all start at colour 0.
        obj.pg_color = (oid * PQ_PRIME2) & self.PQ_L2_MASK
        self._objects[oid] = obj
        return obj

    def vm_object_reference(self, obj: vm_object) -> None:
        obj.ref_count += 1

    def vm_object_deallocate(self, obj: vm_object) -> Generator:
        """Drop a reference (``yield from``); the last reference to anonymous memory destroys it.

        A vnode's object stays with its vnode, pages and all, at
        ``ref_count == 0``: the daemon then ignores its pages' references.
        """
        if obj.ref_count <= 0:
            self.panic(f"vm_object_deallocate: reference count underflow: {obj!r}")
        obj.ref_count -= 1
        if obj.ref_count == 0 and obj.type in (OBJT_DEFAULT, OBJT_SWAP):
            yield from self.vm_object_terminate(obj)

    def vm_object_terminate(self, obj: vm_object) -> Generator:
        """Destroy an object: wait for its I/O, free its pages and its swap (``yield from``)."""
        obj.flags |= OBJ_DEAD
        while obj.paging_in_progress:
            yield self.tsleep(obj, 0, "objtrm", 0)
        while obj.rb_memq:
            for pindex in sorted(obj.rb_memq):
                m = obj.rb_memq.get(pindex)
                if m is None:
                    continue
                yield from self.vm_page_busy_wait(m, True, "objtrm")
                if m.object is not obj:      # freed while we slept
                    self.vm_page_wakeup(m)
                    continue
                self.vm_page_protect(m, VM_PROT_NONE)
                if m.wire_count:
                    self.panic(f"vm_object_terminate: wired page {m!r}")
                self.vm_page_free(m)
        self.swap_pager_freespace_all(obj)
        obj.type = OBJT_DEAD
        del self._objects[obj.id]

    # -- pages in objects --------------------------------------------------------------------------
    def vm_page_insert(self, m: vm_page, obj: vm_object, pindex: int) -> None:
        """Enter ``m`` into ``obj`` at ``pindex``."""
        if pindex in obj.rb_memq:
            self.panic(f"vm_page_insert: {obj!r} already has a page at {pindex}")
        m.object = obj
        m.pindex = pindex
        obj.rb_memq[pindex] = m
        obj.resident_page_count += 1

    def vm_page_remove(self, m: vm_page) -> None:
        """Take ``m`` out of its object."""
        obj = m.object
        del obj.rb_memq[m.pindex]
        obj.resident_page_count -= 1
        m.object = None

    @staticmethod
    def vm_page_lookup(obj: vm_object, pindex: int) -> vm_page | None:
        return obj.rb_memq.get(pindex)

    def vm_page_lookup_busy_try(self, obj: vm_object, pindex: int, also: bool) -> tuple[vm_page | None, bool]:
        """``(page, error)``: None if absent; a page that could not be busied comes with ``error=True`` (facts §4)."""
        m = obj.rb_memq.get(pindex)
        if m is None:
            return None, False
        if self.vm_page_busy_try(m, also):
            return m, True
        return m, False

    # -- paging in progress ------------------------------------------------------------------------
    @staticmethod
    def vm_object_pip_add(obj: vm_object, n: int) -> None:
        obj.paging_in_progress += n

    def vm_object_pip_wakeup(self, obj: vm_object) -> None:
        self.vm_object_pip_wakeupn(obj, 1)

    def vm_object_pip_wakeupn(self, obj: vm_object, n: int) -> None:
        if obj.paging_in_progress < n:
            self.panic(f"vm_object_pip_wakeupn: paging_in_progress underflow: {obj!r}")
        obj.paging_in_progress -= n
        if obj.paging_in_progress == 0:
            self.wakeup(obj)

    # The kernel takes the object's token here; one thread runs at a time in vmkit.
    @staticmethod
    def vm_object_hold(obj: vm_object) -> None:
        pass

    @staticmethod
    def vm_object_drop(obj: vm_object) -> None:
        pass

    def vm_object_set_writeable_dirty(self, obj: vm_object) -> None:
        """Mark ``obj`` OBJ_WRITEABLE and OBJ_MIGHTBEDIRTY, and its vnode dirty for the syncer (facts §4, §7)."""
        obj.flags |= OBJ_WRITEABLE | OBJ_MIGHTBEDIRTY
        vp = obj.handle
        if obj.type == OBJT_VNODE and vp is not None and not vp.v_dirty:
            vp.v_dirty = True
            vp.v_dirty_tick = self.ticks



__all__ = ["vm_object", "VmObjectMixin"]
