"""The lock of a killed run is removed only when no live Snakemake process runs in its directory."""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shrinkstudy.store.runlock import _is_snakemake, clear_stale_lock, live_snakemake_pids, lock_files

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc")


def locked(workdir: Path) -> list[Path]:
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    for name in ("0.input.lock", "0.output.lock"):
        (locks / name).write_text("results/tables/summary.csv\n")
    return lock_files(workdir)


def test_stale_lock_is_removed(tmp_path):
    assert len(locked(tmp_path)) == 2
    log = io.StringIO()
    assert clear_stale_lock(tmp_path, log=log)
    assert lock_files(tmp_path) == [] and "Removed the lock of an earlier run" in log.getvalue()
    assert not clear_stale_lock(tmp_path)  # nothing left to remove


def _fake_snakemake(tmp_path: Path) -> Path:
    fake = tmp_path / "bin" / "snakemake"  # a process whose command line is snakemake's
    fake.parent.mkdir(exist_ok=True)
    if not fake.exists():
        fake.symlink_to(shutil.which("sleep"))
    return fake


def _wait_for_exec(pid: int, fake: Path) -> None:
    """Until it has exec'ed, a child's command line is still its parent's."""
    deadline = time.time() + 10
    cmdline = Path(f"/proc/{pid}/cmdline")
    while time.time() < deadline and not cmdline.read_bytes().startswith(str(fake).encode()):
        time.sleep(0.01)


def test_lock_of_a_live_snakemake_is_kept(tmp_path):
    """Another run in the directory (here a process of its own, not this one's child) keeps the
    lock, and the message names it."""
    locked(tmp_path)
    fake = _fake_snakemake(tmp_path)
    # started by a shell that exits at once: the process is no descendant of this one
    out = subprocess.run(["sh", "-c", f"'{fake}' 60 >/dev/null 2>&1 & echo $!"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    pid = int(out.stdout.strip())
    try:
        _wait_for_exec(pid, fake)
        assert live_snakemake_pids(tmp_path) == [pid]
        log = io.StringIO()
        assert not clear_stale_lock(tmp_path, log=log)
        assert len(lock_files(tmp_path)) == 2
        assert f"Snakemake runs here as process {pid} ({fake} 60; parent" in log.getvalue()
        assert live_snakemake_pids(tmp_path / "bin") == []  # another directory: not this run's
    finally:
        os.kill(pid, 9)
    deadline = time.time() + 10
    while time.time() < deadline and live_snakemake_pids(tmp_path):
        time.sleep(0.05)
    assert clear_stale_lock(tmp_path, log=io.StringIO())


def test_a_process_this_run_forked_is_not_another_run(tmp_path):
    """Snakemake forks a process for every job, which bears Snakemake's command line until it
    runs its own program: a descendant of the process that clears the lock is part of its run
    (a resumed run once kept the lock of a killed one for a job it was starting itself)."""
    locked(tmp_path)
    fake = _fake_snakemake(tmp_path)
    proc = subprocess.Popen([str(fake), "60"], cwd=tmp_path)  # this process's child
    try:
        _wait_for_exec(proc.pid, fake)
        assert live_snakemake_pids(tmp_path) == []
        assert clear_stale_lock(tmp_path, log=io.StringIO())
    finally:
        proc.kill()
        proc.wait()


def test_command_lines():
    assert _is_snakemake(["/x/.venv/bin/snakemake", "--cores", "2"])
    assert _is_snakemake(["/usr/bin/python3", "/x/.venv/bin/snakemake", "-n"])
    assert _is_snakemake([sys.executable, "-m", "snakemake", "-n"])
    assert not _is_snakemake([sys.executable, "/x/.snakemake/scripts/tmp1.fit.py"])
    assert not _is_snakemake(["make", "study"])
    assert os.getpid() not in (live_snakemake_pids(Path.cwd()) or [])
