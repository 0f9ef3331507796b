"""The lock of a killed run is removed only when no live Snakemake process runs in its directory."""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shrinkstudy.runlock import _is_snakemake, clear_stale_lock, live_snakemake_pids, lock_files

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


def test_lock_of_a_live_snakemake_is_kept(tmp_path):
    locked(tmp_path)
    fake = tmp_path / "bin" / "snakemake"  # a process whose command line is snakemake's
    fake.parent.mkdir()
    fake.symlink_to(shutil.which("sleep"))
    proc = subprocess.Popen([str(fake), "60"], cwd=tmp_path)
    try:
        # until it has exec'ed, the child's command line is still this process's (pytest's)
        deadline = time.time() + 10
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        while time.time() < deadline and not cmdline.read_bytes().startswith(str(fake).encode()):
            time.sleep(0.01)
        assert live_snakemake_pids(tmp_path) == [proc.pid]
        assert not clear_stale_lock(tmp_path, log=io.StringIO())
        assert len(lock_files(tmp_path)) == 2
        assert live_snakemake_pids(tmp_path / "bin") == []  # another directory: not this run's
    finally:
        proc.kill()
        proc.wait()
    assert clear_stale_lock(tmp_path, log=io.StringIO())


def test_command_lines():
    assert _is_snakemake(["/x/.venv/bin/snakemake", "--cores", "2"])
    assert _is_snakemake(["/usr/bin/python3", "/x/.venv/bin/snakemake", "-n"])
    assert _is_snakemake([sys.executable, "-m", "snakemake", "-n"])
    assert not _is_snakemake([sys.executable, "/x/.snakemake/scripts/tmp1.fit.py"])
    assert not _is_snakemake(["make", "study"])
    assert os.getpid() not in (live_snakemake_pids(Path.cwd()) or [])
