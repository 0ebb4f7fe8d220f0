"""vmkit: DragonFly BSD's page-out daemon, re-implemented on an emulated machine, for teaching.

Start with :class:`Machine` (the emulated computer), :class:`VMConfig` (its
settings) and the workloads in :mod:`vmkit.workload`.
"""

from .check import InvariantError
from .config import VMConfig, parse_size
from .kern import KernelPanic, KernelThreadError
from .machine import Machine, MachineStalled
from .vm_map import Anon, MapFile
from .workload import (
    FileStream,
    FileWrite,
    HotCold,
    IdleDaemon,
    Loop,
    MemoryHog,
    Phases,
    Refs,
    Script,
    Sequential,
    UniformRandom,
    Workload,
    parse_workload_spec,
)

__version__ = "0.1.0"

__all__ = [
    "Anon", "FileStream", "FileWrite", "HotCold", "IdleDaemon", "InvariantError", "KernelPanic",
    "KernelThreadError", "Loop", "Machine", "MachineStalled", "MapFile", "MemoryHog", "Phases", "Refs",
    "Script", "Sequential", "UniformRandom", "VMConfig", "Workload", "parse_size", "parse_workload_spec",
    "__version__",
]
