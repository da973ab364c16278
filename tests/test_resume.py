"""A run killed in the middle of a cycle resumes from the last finished cycle and ends with exactly
the record of an uninterrupted run (timings aside), for every task: classification (DISAL on
digits), segmentation (DISAL per pixel on small digit scenes) and detection (ISAL on the scenes'
boxes).  Uses a real subprocess and SIGKILL; the killed run's lock file (with its dead pid) is taken
over by the resumed run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

#: small scenes for the segmentation and detection runs, as an importable loader (``pkg:fn``)
LOADER = """
import altoolkit as alt

def masks(seed=0):
    return alt.load_digit_scenes(seed=seed, n_train=24, n_test=8, size=32, digit_size=(10, 14))

def boxes(seed=0):
    return alt.load_digit_scene_boxes(seed=seed, n_train=30, n_test=10, size=32, digit_size=(10, 14))
"""
TASK_ARGS = {
    "classification": ["--dataset", "digits", "--strategy", "disal", "--seed", "3", "--epochs", "12"],
    "segmentation": ["--task", "segmentation", "--dataset", "scenes_kill_t30:masks", "--strategy", "disal", "--seed", "2", "--epochs", "3"]
    + ["--initial-size", "6", "--step-size", "6", "--batch-size", "4"],
    "detection": ["--task", "detection", "--dataset", "scenes_kill_t30:boxes", "--strategy", "isal", "--seed", "2", "--epochs", "3"]
    + ["--initial-size", "6", "--step-size", "6", "--batch-size", "4"]
    + [f"--strategy-option={k}={v}" for k, v in {"depth": 3, "repeats": 1, "score_threshold": 0.05}.items()],
}
TIMING = {"train_seconds", "select_seconds"}


def _cmd(task, out):
    return [sys.executable, "-m", "altoolkit", "al", *TASK_ARGS[task], "--cycles", "4", "--no-progress", "--out", str(out)]


def _strip(rec):
    rec = json.loads(json.dumps(rec))
    rec.pop("environment", None)
    for c in rec["cycles"]:
        for k in TIMING:
            c.pop(k)
    return rec


@pytest.mark.slow
@pytest.mark.parametrize("task", list(TASK_ARGS))
def test_killed_run_resumes_to_the_same_record(task, tmp_path):
    (tmp_path / "scenes_kill_t30.py").write_text(LOADER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    full = tmp_path / "full.json"
    subprocess.run(_cmd(task, full), check=True, capture_output=True, env=env, timeout=600)

    out = tmp_path / "killed.json"
    proc = subprocess.Popen(_cmd(task, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if out.exists():
                rec = json.loads(out.read_text())  # always complete JSON: written atomically
                if len(rec["cycles"]) >= 1:
                    break
            if proc.poll() is not None:
                pytest.fail("the run finished before it could be killed")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # mid-way through the next cycle
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = json.loads(out.read_text())
    assert 1 <= len(partial["cycles"]) < 4 and not partial["finished"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or p.name == "__pycache__"]
    leftovers = [n for n in leftovers if n != "__pycache__"]
    assert leftovers == [] or all(p.startswith("killed.json.") for p in leftovers)
    # the lock of the killed run is left behind with its pid; the resumed run takes it over
    lock = tmp_path / "killed.json.lock"
    assert lock.read_text().strip() == str(proc.pid)

    r = subprocess.run(_cmd(task, out), check=True, capture_output=True, text=True, env=env, timeout=600)
    assert "record:" in r.stdout
    resumed = json.loads(out.read_text())
    assert resumed["finished"]
    assert not lock.exists()
    assert _strip(resumed) == _strip(json.loads(full.read_text()))
    # the finished cycles were not recomputed: their timings are the ones written before the kill
    for before, after in zip(partial["cycles"], resumed["cycles"]):
        assert before == after
