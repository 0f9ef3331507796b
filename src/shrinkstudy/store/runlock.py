"""A stale Snakemake lock: left by a run that was killed, held by no live process.

Snakemake locks a working directory with files in ``.snakemake/locks/`` (``0.input.lock``,
``0.output.lock``: the run's input and output paths, no process id) and removes them when it
ends. A run killed with ``kill -9`` (or interrupted while cleaning up) leaves them behind, and
every later run stops with a LockException until ``snakemake --unlock``.

``clear_stale_lock(workdir)`` removes them when no live Snakemake process of this machine has
``workdir`` as its working directory (a Snakemake run changes to its directory, ``-d``), the
calling process and its ancestors aside. It looks at ``/proc`` (Linux); elsewhere, or where a
Snakemake process's directory cannot be read, it leaves the lock alone. A run on another machine
sharing the directory is not visible here: do not start runs of one directory from two machines.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["clear_stale_lock", "live_snakemake_pids", "lock_files"]

PROC = Path("/proc")


def lock_files(workdir) -> list[Path]:
    """Snakemake's lock files of ``workdir`` (``.snakemake/locks/<n>.<input|output>.lock``)."""
    locks = Path(workdir) / ".snakemake" / "locks"
    if not locks.is_dir():
        return []
    return sorted(
        p
        for p in locks.iterdir()
        if p.name.endswith((".input.lock", ".output.lock")) and p.name.split(".")[0].isdigit()
    )


def _parent_pid(pid: int) -> int | None:
    """A process's parent (None where it cannot be read)."""
    try:
        return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _ancestors(pid: int) -> set[int]:
    out = {pid}
    while pid > 1:
        pid = _parent_pid(pid)
        if pid is None:
            break
        out.add(pid)
    return out


def _is_snakemake(argv: list[str]) -> bool:
    """A Snakemake command line: ``snakemake ...``, ``python .../snakemake ...``, ``python -m snakemake``."""
    head = argv[:3]
    if any(os.path.basename(a) == "snakemake" for a in head):
        return True
    return any(a == "-m" and b == "snakemake" for a, b in zip(argv, argv[1:]))


def live_snakemake_pids(workdir) -> list[int] | None:
    """Live Snakemake processes running in ``workdir``, this one, its ancestors and its
    descendants aside (a process this run forks has its command line until it runs its own
    program: Snakemake forks one for every job); a process whose directory cannot be read counts
    as running there. None without ``/proc``."""
    if not PROC.is_dir():
        return None
    here = Path(workdir).resolve()
    me = os.getpid()
    mine = _ancestors(me)
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone
        argv = [a.decode(errors="replace") for a in argv if a]
        if not argv or not _is_snakemake(argv) or me in _ancestors(int(entry.name)):
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except FileNotFoundError:
            continue  # ended meanwhile
        except OSError:
            found.append(int(entry.name))  # cannot tell: assume it runs here
            continue
        if cwd == here:
            found.append(int(entry.name))
    return sorted(found)


def _command(pid: int) -> str:
    """A process's command line, shortened, for messages."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "ended"
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    return text if len(text) <= 120 else text[:117] + "..."


def _parent(pid: int) -> str:
    """A process's parent, its id and command, for messages."""
    ppid = _parent_pid(pid)
    return "unknown" if ppid is None else f"{ppid}: {_command(ppid)[:60]}"


def clear_stale_lock(workdir, *, log=sys.stderr) -> bool:
    """Remove ``workdir``'s Snakemake lock files when no live Snakemake process holds them.

    Returns True when files were removed (and says so on ``log``)."""
    files = lock_files(workdir)
    if not files:
        return False
    live = live_snakemake_pids(workdir)
    if live:
        log.write(
            "The lock of this directory (.snakemake/locks) is kept: Snakemake runs here as process "
            + ", ".join(f"{pid} ({_command(pid)}; parent {_parent(pid)})" for pid in live)
            + ".\n"
        )
    if live is None or live:
        return False
    for f in files:
        try:
            f.unlink()
        except FileNotFoundError:
            pass
    log.write(
        f"Removed the lock of an earlier run of this directory that was killed ({len(files)} files in "
        ".snakemake/locks; no Snakemake process runs here); its unfinished jobs are rerun.\n"
    )
    return True
