"""The SLURM profile (profiles/slurm) against a real SLURM: a one-node cluster on localhost
(tests/slurm_cluster.py) runs a small study through the profile, and its tables are the bytes a
local run of the same config writes.

Skipped, with the reason, where the cluster cannot run: not root, Debian's slurm-wlm and munge
not installed, the executor plugin not installed (pip install -e '.[slurm]'), too little memory,
or daemons that do not come up within a minute. Every sbatch job costs seconds here, and the
jobs of a group run one after another, so the study is four cells of one chunk, packed two
cells to a group: two group jobs side by side on the node's two CPUs, then one for the tables.
"""

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, run_snakemake
from slurm_cluster import ClusterError, LocalSlurm, missing_requirements

PROFILE = ROOT / "profiles" / "slurm"

STUDY = {
    "base_seed": 13,
    "replications": 20,
    "chunk_size": 20,
    "grid": {
        "balanced": {"J": [3, 5], "sizes": [4], "sigma": [2], "tau": [1]},
        "seed": {"sizes": ["100x6+2x6"], "sigma": [1, 5], "tau": [1]},
    },
}
WORKFLOW_JOBS = 4 * 2 + 1  # simulate and fit per cell (one chunk), aggregate (every summary)
TABLES = ("summary.csv", "summary.md", "summary.tex", "headline.md", "replication.md")
NODE_CPUS = 2
# two group jobs side by side, each with the memory of its largest job (profile: fit 1500 MB)
NODE_MEMORY_MB = 3000
# Command-line settings on top of the profile: two cells to a group job (the node runs two jobs
# at once), and status checks every 2 s instead of 10 (a cluster on localhost answers at once).
OVERRIDES = [
    "--group-components", "cell=2",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
]


@pytest.fixture(scope="session")
def slurm():
    """A running one-node SLURM for the session; stopped at the end even when a test fails."""
    why = missing_requirements()
    if why:
        pytest.skip(f"no local SLURM: {why}")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    # a short path: munged's socket path must stay below the 108-byte limit of Unix sockets
    state = Path(tempfile.mkdtemp(prefix="slurm-"))
    cluster = LocalSlurm(state, cpus=NODE_CPUS)
    if cluster.memory_mb < NODE_MEMORY_MB:
        shutil.rmtree(state, ignore_errors=True)
        pytest.skip(f"{cluster.memory_mb} MB of memory for the node; the jobs need {NODE_MEMORY_MB}")
    try:
        cluster.start(timeout=60)
    except ClusterError as exc:
        shutil.rmtree(state, ignore_errors=True)
        pytest.skip(f"local SLURM did not come up: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(state, ignore_errors=True)


def snakemake(workdir: Path, *args, env=None, timeout=600):
    """The study's tables (``aggregate``) in ``workdir`` on its config.yaml; the caller checks."""
    config = str(workdir / "config.yaml")
    args = ("aggregate", "--configfile", config, *args)
    return run_snakemake(ROOT, workdir, *args, check=False, env=env, timeout=timeout)


def diagnose(cluster: LocalSlurm) -> str:
    queue = cluster.run("squeue", "--states=all", "--format=%i %j %T %C %m %l %r").stdout
    return f"queue:\n{queue}\nslurmctld: {cluster.tail('slurmctld')}\nslurmd: {cluster.tail('slurmd')}"


def test_profile_options_exist(tmp_path):
    """A dry run reads every option of the profile: a misspelt one is an error. No cluster needed."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[slurm]'")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    res = snakemake(tmp_path, "--profile", str(PROFILE), "-n", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "This was a dry-run" in res.stdout + res.stderr


@pytest.mark.slow
def test_slurm_profile_gives_the_local_tables(slurm, tmp_path):
    for name in ("local", "slurm"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))

    res = snakemake(tmp_path / "local", "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]

    start = time.monotonic()
    try:
        res = snakemake(
            tmp_path / "slurm",
            "--profile", str(PROFILE),
            *OVERRIDES,
            env=slurm.env(),
            timeout=420,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the SLURM run did not finish in 420 s\n{diagnose(slurm)}")
    elapsed = time.monotonic() - start
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"{log[-4000:]}\n{diagnose(slurm)}"

    # the jobs went through SLURM, batched: two group jobs of two cells each, then the tables
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == 3 < WORKFLOW_JOBS, log[-4000:]
    assert log.count("Group job cell") == 2, log[-4000:]
    assert "Falling back to 'sacct'" not in log
    states = slurm.run("squeue", "--states=all", "--noheader", "--format=%i %T").stdout.split("\n")
    states = dict(line.split() for line in states if line.strip())
    assert all(states.get(job) == "COMPLETED" for job in submitted), states

    for name in TABLES:
        local = (tmp_path / "local" / "results" / "tables" / name).read_bytes()
        remote = (tmp_path / "slurm" / "results" / "tables" / name).read_bytes()
        assert local, name
        assert remote == local, f"{name} differs between the local and the SLURM run"
    print(f"SLURM run: {len(submitted)} sbatch jobs, {elapsed:.0f} s")
