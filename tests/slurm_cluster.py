"""A throwaway one-node SLURM cluster on localhost, for testing the SLURM profile.

Debian's packages (``apt-get install slurm-wlm munge``) and root are needed: ``munged``,
``slurmctld -D`` and ``slurmd -D`` run as children of this process, with every file they write
(config, munge key and socket, state, spool, pid files, logs) in one directory, on free ports.
Nothing under /etc or /run is touched. ``stop()`` cancels the jobs and ends the daemons; they
also get SIGTERM from the kernel when the process that started them dies, even by SIGKILL.

The daemons read ``<dir>/etc/slurm.conf``. The client commands (sbatch, squeue, scontrol, srun)
find it through wrappers in ``<dir>/bin`` that set ``SLURM_CONF``: put that directory first on
``PATH`` (``cluster.env()`` does). An exported ``SLURM_CONF`` alone is not enough, because the
executor plugin's job step removes every ``SLURM_*`` variable before it calls ``srun`` inside
the allocation.

By hand::

    python tests/slurm_cluster.py /tmp/slurm      # starts, prints the PATH to use, Ctrl-C stops
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sinfo", "scancel", "sacct", "sacctmgr", "sshare")
DAEMONS = ("munged", "slurmctld", "slurmd")


class ClusterError(RuntimeError):
    """The cluster could not be set up or did not come up."""


def missing_requirements() -> str | None:
    """Why a local cluster cannot run here (None when it can)."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "not a POSIX system"
    if os.geteuid() != 0:
        return "the SLURM daemons need root"
    for prog in (*DAEMONS, "sbatch", "squeue", "srun", "scontrol", "sinfo"):
        if shutil.which(prog) is None:
            return f"{prog} not found (apt-get install slurm-wlm munge)"
    return None


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise ClusterError("no MemTotal in /proc/meminfo")


def _die_with_parent():
    """In the child before exec: get SIGTERM when the process that started it dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    os.setpgrp()  # own process group: a Ctrl-C in the terminal reaches only us, we stop them


class LocalSlurm:
    """One node (this host, ``cpus`` CPUs), one partition ``debug``; state under ``root``."""

    def __init__(self, root: Path, cpus: int = 2, memory_mb: int | None = None, min_job_age: int = 600):
        self.root = Path(root).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus
        # slurmd drains a node that has less memory than configured: stay below the total
        self.memory_mb = memory_mb or max(1000, int(_memory_mb() * 0.8))
        self.min_job_age = min_job_age
        self.conf = self.root / "etc" / "slurm.conf"
        self.bin = self.root / "bin"
        self.procs: dict[str, subprocess.Popen] = {}

    # -- files ---------------------------------------------------------------------------
    def _write_files(self):
        r = self.root
        for sub in ("etc", "bin", "munge", "ctld", "spool", "log", "run"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses directories that others can write to
        for sub in (r, r / "munge", r / "etc"):
            sub.chmod(0o700)
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld_port, d_port = _free_ports(2)
        self.conf.write_text(
            "\n".join(
                [
                    "# Throwaway one-node cluster (tests/slurm_cluster.py)",
                    "ClusterName=localtest",
                    f"SlurmctldHost={self.host}(127.0.0.1)",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={d_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
                    f"StateSaveLocation={r / 'ctld'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
                    f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
                    f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    # finished jobs stay visible to squeue this long (the profile polls squeue)
                    f"MinJobAge={self.min_job_age}",
                    f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                    f"RealMemory={self.memory_mb} State=UNKNOWN",
                    f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        for prog in CLIENTS:
            real = shutil.which(prog)
            if real is None:
                continue
            wrapper = self.bin / prog
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real}" "$@"\n')
            wrapper.chmod(0o755)

    # -- processes -----------------------------------------------------------------------
    def env(self, base: dict | None = None) -> dict:
        """Environment in which the client commands talk to this cluster."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["SLURM_CONF"] = str(self.conf)
        return env

    def _spawn(self, name: str, cmd: list[str]):
        log = open(self.root / "log" / f"{name}.out", "ab")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(), preexec_fn=_die_with_parent
        )
        log.close()

    def _wait(self, what: str, check, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            if check():
                return
            time.sleep(0.3)
        logs = f"{self.tail('slurmctld')} {self.tail('slurmd')}"
        raise ClusterError(f"{what} not up within {timeout:.0f} s: {logs}")

    def tail(self, name: str) -> str:
        """The end of a daemon's logs, for error messages."""
        texts = []
        for path in (self.root / "log" / f"{name}.out", self.root / "log" / f"{name}.log"):
            if path.exists():
                texts.append(path.read_text(errors="replace")[-600:])
        return " | ".join(t.strip() for t in texts if t.strip())

    def run(self, *cmd) -> subprocess.CompletedProcess:
        """Run a client command (squeue, scontrol, ...) against this cluster."""
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=20)

    def start(self, timeout: float = 60) -> "LocalSlurm":
        try:
            self._write_files()
            m = self.root / "munge"
            self._spawn(
                "munged",
                [
                    shutil.which("munged"),
                    "--foreground",
                    "--force",
                    f"--key-file={m / 'munge.key'}",
                    f"--socket={m / 'munge.socket'}",
                    f"--pid-file={m / 'munged.pid'}",
                    f"--log-file={m / 'munged.log'}",
                    f"--seed-file={m / 'munged.seed'}",
                ],
            )
            self._wait("munged", lambda: (m / "munge.socket").exists(), timeout)
            self._spawn("slurmctld", [shutil.which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._wait("slurmctld", lambda: self.run("scontrol", "ping").stdout.count("UP") > 0, timeout)
            self._spawn("slurmd", [shutil.which("slurmd"), "-D", "-N", self.host, "-f", str(self.conf)])
            self._wait("slurmd", self._node_idle, timeout)
        except (ClusterError, OSError, subprocess.SubprocessError) as exc:
            self.stop()
            raise ClusterError(str(exc)) from exc
        return self

    def _node_idle(self) -> bool:
        res = self.run("sinfo", "--noheader", "--Node", "--format=%t")
        return res.returncode == 0 and res.stdout.strip().rstrip("*") == "idle"

    def stop(self):
        """Cancel what is left in the queue, then stop the daemons (SIGTERM, then SIGKILL)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "--user=root")
                # let slurmd's job step daemons end their jobs before slurmd goes
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    active = self.run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING")
                    if active.returncode != 0 or not active.stdout.strip():
                        break
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    why = missing_requirements()
    if why:
        print(f"cannot start a local SLURM: {why}", file=sys.stderr)
        return 1
    cluster = LocalSlurm(Path(argv[0]))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with cluster:
        print(f"SLURM up: export PATH={cluster.bin}:$PATH   (Ctrl-C stops it)", flush=True)
        try:
            while all(p.poll() is None for p in cluster.procs.values()):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
