"""Issue 12 finding 8: a sweep's workers stop with their parent.  A real sweep runs in a
subprocess (joblib/loky workers, or a Dask LocalCluster's worker processes); once both runs are
training (their record lock files name the worker pids), the parent is SIGKILLed and every
worker must be gone within a bounded wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = r"""
import sys
from altoolkit.engine.loop import ALConfig
from altoolkit.engine.sweep import run_sweep

backend, out = sys.argv[1], sys.argv[2]
cfgs = [ALConfig(strategy="random", seed=s, model="mlp", epochs=5000, cycles=2) for s in (0, 1)]
if backend == "joblib":
    run_sweep(cfgs, out, backend="joblib", n_jobs=2, progress=False)
else:
    from dask.distributed import LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    run_sweep(cfgs, out, backend="dask", scheduler=cluster, progress=False)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["joblib", "dask"])
def test_workers_stop_when_the_sweep_parent_is_killed(backend, tmp_path):
    out = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, backend, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids: set[int] = set()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(pids) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            for lock in out.glob("*.json.lock") if out.exists() else ():
                text = lock.read_text().strip() if lock.exists() else ""
                if text:
                    pids.add(int(text))
            time.sleep(0.1)
        assert len(pids) == 2, f"both runs should be training (lock files with pids), saw {pids}"
        assert proc.pid not in pids  # the runs are in worker processes
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 30
        while time.time() < deadline and not all(_gone(p) for p in pids):
            time.sleep(0.2)
        alive = [p for p in pids if not _gone(p)]
        assert not alive, f"workers {alive} outlived the killed sweep parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in pids:
            if not _gone(p):
                os.kill(p, signal.SIGKILL)


CLUSTER = r"""
import time
from dask.distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
print(cluster.scheduler_address, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_dask_run_on_an_outside_cluster_stops_with_the_sweep(tmp_path):
    """A cluster that outlives the sweep (started by someone else) keeps its worker, but the run
    the killed sweep had sent there stops: its record lock (held by the worker) is released."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cluster = subprocess.Popen([sys.executable, "-c", CLUSTER], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sweep = None
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        script = SCRIPT.replace("cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)", f"cluster = {address!r}")
        assert address in script
        out = tmp_path / "sweep"
        sweep = subprocess.Popen([sys.executable, "-c", script, "dask", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        locks: list[Path] = []
        while time.time() < deadline and not locks:
            assert sweep.poll() is None, "the sweep ended before it could be killed"
            locks = [p for p in out.glob("*.json.lock") if p.exists() and p.read_text().strip()] if out.exists() else []
            time.sleep(0.1)
        assert locks, "the run never started on the cluster"
        worker = int(locks[0].read_text())
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=10)
        deadline = time.time() + 30
        while time.time() < deadline and any(p.exists() for p in locks):
            time.sleep(0.2)
        assert not any(p.exists() for p in locks), "the run went on training after its sweep was killed"
        assert not _gone(worker)  # the cluster's worker itself lives on
    finally:
        for p in (sweep, cluster):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
