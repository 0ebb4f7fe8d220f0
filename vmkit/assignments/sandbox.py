"""Running untrusted student code: a bubblewrap sandbox as a dedicated user, with resource limits.

Both the grading kernel (nbgrader runs the student's notebook in it) and the
verification run (the student's functions against the test batteries) start
through :func:`sandbox_argv`:

``prlimit`` (CPU seconds, address space, processes, open files, file size, no
core) -> ``bwrap`` (new network, PID, IPC, UTS namespaces: no network at all;
only ``/usr``, the Python installation, the virtualenv and vmkit mounted, read
only; a private ``/tmp``; the scratch folder read-write; no course files, no
gradebook, no other submission) -> ``setpriv`` (drop to the unprivileged
user ``vmkit-grader`` with no capabilities and no_new_privs) -> Python.

Dropping to another user needs root, and bwrap needs namespaces: when either
is missing, :func:`check_sandbox` says so and grading refuses to start rather
than run student code unconfined.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

USER = "vmkit-grader"
LIMITS = {"cpu": 900, "as": 3 << 30, "nproc": 64, "nofile": 256, "fsize": 64 << 20}


class SandboxUnavailable(RuntimeError):
    """Grading cannot be made safe on this machine; the message says what is missing."""


def _mounts() -> list[Path]:
    """Read-only trees the sandboxed Python needs: its installation, the virtualenv, vmkit itself."""
    import vmkit

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(vmkit.__file__).resolve().parent}
    for key in ("purelib", "platlib"):
        paths.add(Path(sysconfig.get_paths()[key]).resolve())
    out: list[Path] = []
    for p in sorted(paths, key=lambda p: len(p.parts)):
        if str(p).startswith("/usr/") or any(p.is_relative_to(q) for q in out):
            continue
        out.append(p)
    return out


def check_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` unless student code can be confined here."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise SandboxUnavailable("grading runs student code as the user vmkit-grader, which needs root: "
                                 "run the grader as root (CI does)")
    for tool in ("bwrap", "prlimit", "setpriv"):
        if shutil.which(tool) is None:
            hint = "apt-get install bubblewrap" if tool == "bwrap" else "apt-get install util-linux"
            raise SandboxUnavailable(f"{tool} is missing: {hint}")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SandboxUnavailable(f"could not create the user {USER}: {r.stderr.strip()}") from None
    r = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "/usr/bin/true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SandboxUnavailable("bwrap cannot create namespaces on this machine (no user namespaces?): "
                                 f"{r.stderr.strip()}; grading refuses to run student code unconfined")


def uid_gid() -> tuple[int, int]:
    pw = pwd.getpwnam(USER)
    return pw.pw_uid, pw.pw_gid


def sandbox_argv(command: list[str], scratch: Path, binds: list[Path] = (), cpu: int | None = None) -> list[str]:
    """The command line that runs ``command`` confined, with ``scratch`` as its only writeable folder."""
    uid, gid = uid_gid()
    lim = dict(LIMITS)
    if cpu is not None:
        lim["cpu"] = cpu
    argv = ["prlimit", f"--cpu={lim['cpu']}", f"--as={lim['as']}", f"--nproc={lim['nproc']}",
            f"--nofile={lim['nofile']}", f"--fsize={lim['fsize']}", "--core=0", "--",
            "bwrap", "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try",
            # The private /tmp first: mounted after the binds it would hide any of them under /tmp.
            "--tmpfs", "/tmp",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev"]
    argv += ["--dir", "/etc", "--chmod", "0755", "/etc"]
    for f in ("/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/fonts", "/etc/ssl", "/etc/localtime"):
        if os.path.exists(f):
            argv += ["--ro-bind", f, f]
    made: set[str] = set()
    for p in _mounts():
        argv += _parents(p, made) + ["--ro-bind", str(p), str(p)]
    for p in binds:
        argv += _parents(p, made) + ["--bind", str(p), str(p)]
    argv += ["--bind", str(scratch), "/scratch", "--chdir", "/scratch", "--clearenv",
             "--setenv", "HOME", "/scratch", "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "MPLCONFIGDIR", "/scratch/.mpl", "--setenv", "IPYTHONDIR", "/scratch/.ipython",
             "--setenv", "MPLBACKEND", "module://matplotlib_inline.backend_inline",
             "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "LC_ALL", "C.UTF-8",
             "--setenv", "FONTCONFIG_FILE", "/etc/fonts/fonts.conf",
             "--", "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--"]
    return argv + command


def _parents(p: Path, made: set[str]) -> list[str]:
    """bwrap creates missing parent directories 0700 when run as root: make them 0755 so the user gets in."""
    out: list[str] = []
    for parent in reversed(p.parents):
        s = str(parent)
        if s in ("/", "/usr") or s.startswith("/usr/") or s in made:
            continue
        made.add(s)
        out += ["--dir", s, "--chmod", "0755", s]
    return out


def make_scratch(root: Path, name: str) -> Path:
    """A fresh scratch folder owned by the sandbox user."""
    uid, gid = uid_gid()
    scratch = root / name
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    os.chown(scratch, uid, gid)
    scratch.chmod(0o700)
    return scratch


def kill_leftovers() -> None:
    """Kill every process of the sandbox user (orphaned kernels, forks that outlived their cell)."""
    subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)


WRAPPER = '''#!{python}
"""Start an IPython kernel for nbgrader inside vmkit's sandbox (written by vmkit assignments autograde)."""
import json, os, secrets, shutil, sys
sys.path[:0] = {syspath!r}
from pathlib import Path
from vmkit.assignments import sandbox

cfg = json.loads(Path({config!r}).read_text())
conn = Path(sys.argv[1])
scratch = sandbox.make_scratch(Path(cfg["scratch_root"]), "kernel-" + secrets.token_hex(4))
copy = scratch / "connection.json"
shutil.copyfile(conn, copy)
uid, gid = sandbox.uid_gid()
os.chown(copy, uid, gid)
argv = sandbox.sandbox_argv([sys.executable, "-m", "ipykernel_launcher", "-f", "/scratch/connection.json"],
                            scratch, binds=[Path(cfg["ipc_dir"])], cpu=cfg["cpu"])
os.execvp(argv[0], argv)
'''


def install_kernel(runtime: Path, cpu: int) -> tuple[Path, Path]:
    """Write the sandboxed kernelspec under ``runtime``; return (jupyter data dir, ipc socket dir)."""
    uid, gid = uid_gid()
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o755)
    ipc = runtime / "ipc"
    ipc.mkdir(exist_ok=True)
    os.chown(ipc, 0, gid)
    ipc.chmod(0o1770)
    scratch_root = runtime / "scratch"
    scratch_root.mkdir(exist_ok=True)
    scratch_root.chmod(0o711)
    config = runtime / "sandbox.json"
    config.write_text(json.dumps({"scratch_root": str(scratch_root), "ipc_dir": str(ipc), "cpu": cpu}))
    kdir = runtime / "jupyter" / "kernels" / "vmkit-sandboxed"
    kdir.mkdir(parents=True, exist_ok=True)
    wrapper = kdir / "start-sandboxed-kernel"
    wrapper.write_text(WRAPPER.format(python=sys.executable, config=str(config),
                                      syspath=[p for p in sys.path if p]))
    wrapper.chmod(0o700)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [str(wrapper), "{connection_file}"], "display_name": "Python 3 (vmkit sandbox)",
        "language": "python", "interrupt_mode": "message"}, indent=1))
    return runtime / "jupyter", ipc
