"""Shared by the task engines' tests: a run interrupted after its second cycle, then finished by a
sweep, as a sweep worker runs it (one torch thread)."""

import json

import pytest
import torch

from altoolkit.engine.loop import run_active_learning
from altoolkit.engine.sweep import record_path, run_sweep


def interrupt_then_resume(cfg, folder):
    """Interrupt ``cfg``'s run when cycle 1 ends (an exception from ``on_cycle_end``), check that
    the record holds two cycles, then finish it with a serial sweep; returns the finished record."""

    class Interrupt(Exception):
        pass

    def stop(entry):
        if entry["cycle"] == 1:
            raise Interrupt

    path = record_path(folder, cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a sweep runs each configuration on one thread
    try:
        with pytest.raises(Interrupt):
            run_active_learning(cfg, out=path, progress=False, on_cycle_end=stop)
    finally:
        torch.set_num_threads(threads)
    assert len(json.loads(path.read_text())["cycles"]) == 2
    (rec,) = run_sweep([cfg], folder, backend="serial", progress=False)
    return rec
