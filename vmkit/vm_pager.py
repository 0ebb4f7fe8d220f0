"""Pager dispatch (``vm_pager.c``): send a put or get to the pager of the object's type (facts §7)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .constants import OBJT_DEFAULT, OBJT_SWAP, OBJT_VNODE, VM_PAGER_FAIL

if TYPE_CHECKING:  # pragma: no cover
    from .vm_object import vm_object
    from .vm_page import vm_page


class VmPagerMixin:
    """``vm_pager_put_pages`` and friends of a :class:`~vmkit.machine.Machine`."""

    def vm_pager_put_pages(self, obj: vm_object, m: list, count: int, flags: int, rtvals: list) -> Generator:
        """Write ``m[0:count]`` through ``obj``'s pager, filling ``rtvals`` (``yield from``).

        OBJT_DEFAULT goes to the swap pager, as the default pager does (facts §6).
        """
        if obj.type == OBJT_DEFAULT or obj.type == OBJT_SWAP:
            yield from self.swap_pager_putpages(obj, m, count, flags, rtvals)
        elif obj.type == OBJT_VNODE:
            yield from self.vnode_pager_putpages(obj, m, count, flags, rtvals)
        else:
            self.panic(f"vm_pager_put_pages: no pager for object type {obj.type}")

    def vm_pager_get_page(self, obj: vm_object, m: vm_page) -> Generator:
        """Fill busied page ``m`` from ``obj``'s backing store (``yield from``); return a VM_PAGER_ code."""
        if obj.type == OBJT_VNODE:
            return (yield from self.vnode_pager_getpage(obj, m))
        if obj.type == OBJT_SWAP:
            return (yield from self.swap_pager_getpage(obj, m))
        return VM_PAGER_FAIL

    def vm_pager_has_page(self, obj: vm_object, pindex: int) -> bool:
        """True if ``obj``'s backing store holds a copy of page ``pindex``."""
        if obj.type == OBJT_VNODE:
            return pindex < obj.handle.v_size
        return pindex in obj.swblock
