"""One DISAL cycle and one random cycle of the CIFAR-10 protocol, timed, beside DISAL Table 1.

    bash benchmarks/gpu_cycle.sh DATA_ROOT                                   # the one command (GPU)
    python benchmarks/gpu_cycle.py --root DATA_ROOT --device cuda             # this script alone
    python benchmarks/gpu_cycle.py --root DATA_ROOT --device cuda --epochs 20 # a stated fraction: 20/200

DISAL Table 1 reports one AL cycle on CIFAR-10 of 359 s for DISAL and 299 s for random on an RTX
3090 Ti: a ratio of 1.20.  This script runs that cycle with the ``paper`` profile's CIFAR-10 settings
(siyuhuang/TOD ``config/cifar10.py`` and xulabs/aitom ``al_gradnorm/config.py``, as
:data:`altoolkit.engine.protocol.TOD_CONFIGS` holds them): the real CIFAR-10 files under ``--root``,
the CIFAR ResNet-18, 5,000 labeled, SGD lr 0.1 (x0.1 at 80% of the epochs), batch 128, flip + crop,
200 epochs (or ``--epochs E``, the fraction E/200 of the paper's training), then a selection of
2,500 from a random subset of 25,000 unlabeled.  ``random`` trains with cross-entropy and selects at
random; ``disal`` trains with the dynamic loss (λ = 1) and scores the subset with two forward
passes.  Each is cycle 0 of :func:`altoolkit.run_active_learning` (stopped after it), run ``--repeats`` times in
alternation (random, then DISAL); the ratio is the median over the pairs of
(train + select seconds of DISAL) / (the same of random).  The result goes to ``--out`` (default
``benchmarks/gpu_cycle.json``), which ``benchmarks/readme_table.py`` puts in the README's benchmark
block; ``--smoke`` shrinks every size for a CPU check (tests/test_paper_profile.py runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import altoolkit as alt
from altoolkit.engine.protocol import TOD_CONFIGS

HERE = Path(__file__).resolve().parent
PAPER_SECONDS = {"disal": 359.0, "random": 299.0}  # DISAL Table 1, RTX 3090 Ti


def protocol_config(strategy: str, root: str, device: str, epochs: int, labeled: int, step: int, subset: int) -> alt.ALConfig:
    """Cycle 0 of the paper profile's CIFAR-10 run of ``strategy`` (two cycles: one training, one selection)."""
    c = TOD_CONFIGS["cifar10"]
    return alt.ALConfig(
        dataset="cifar10",
        root=root,
        strategy=strategy,
        model="resnet18_cifar",
        epochs=epochs,
        batch_size=c.batch,
        lr=c.lr,
        augment="flip_crop",
        cycles=2,
        initial_size=labeled,
        step_size=step,
        subset_size=subset,
        warm_start=True,
        device=device,
    )


class _FirstCycleDone(Exception):
    pass


def first_cycle(config: alt.ALConfig, dataset: alt.ALDataset) -> dict:
    """Cycle 0's entry of :func:`altoolkit.run_active_learning` (its training, test accuracy and
    selection), stopping the run there: the next cycle's training is not part of the measurement."""

    def stop(entry: dict) -> None:
        raise _FirstCycleDone(entry)

    if config.cycles < 2:
        raise ValueError("a cycle with a selection needs cycles >= 2")
    try:
        alt.run_active_learning(config, dataset=dataset, progress=False, on_cycle_end=stop)
    except _FirstCycleDone as done:
        return done.args[0]
    raise RuntimeError("run_active_learning returned without finishing a cycle")


def cycle_seconds(config: alt.ALConfig, dataset: alt.ALDataset) -> dict:
    if config.device.startswith("cuda"):
        torch.cuda.synchronize()
    c = first_cycle(config, dataset)
    return {"train": c["train_seconds"], "select": c["select_seconds"], "total": c["train_seconds"] + c["select_seconds"], "test_acc": c["test_acc"]}


def main(argv: list[str] | None = None) -> int:
    c = TOD_CONFIGS["cifar10"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="folder holding cifar-10-batches-py (the real CIFAR-10 files)")
    ap.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    ap.add_argument("--epochs", type=int, default=c.epochs, help=f"epochs of the cycle's training (default: {c.epochs}, the paper's)")
    ap.add_argument("--labeled", type=int, default=c.start, help=f"labeled samples (default: {c.start:,})")
    ap.add_argument("--step", type=int, default=c.addendum, help=f"samples selected (default: {c.addendum:,})")
    ap.add_argument("--subset", type=int, default=c.subset, help=f"unlabeled samples scored (default: {c.subset:,})")
    ap.add_argument("--repeats", type=int, default=1, help="(random, disal) pairs in alternation; the median ratio is kept (default: 1)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes for a CPU check of the script (not a measurement)")
    ap.add_argument("--out", default=str(HERE / "gpu_cycle.json"), help="JSON file for the result")
    args = ap.parse_args(argv)
    if args.smoke:
        args.epochs, args.labeled, args.step, args.subset = 1, 4, 2, 4
    if min(args.epochs, args.labeled, args.step, args.subset, args.repeats) < 1 or args.subset < args.step:
        raise SystemExit("epochs, labeled, step, subset and repeats must be at least 1, and subset at least step")
    data = alt.load_dataset("cifar10", root=args.root, seed=0)
    t0 = time.perf_counter()
    runs: dict[str, list[dict]] = {"random": [], "disal": []}
    for r in range(args.repeats):
        for name in runs:
            cfg = protocol_config(name, args.root, args.device, args.epochs, args.labeled, args.step, args.subset)
            runs[name].append(cycle_seconds(cfg, data))
            print(f"pair {r}: {name:<6} train {runs[name][-1]['train']:8.1f} s  select {runs[name][-1]['select']:7.2f} s", flush=True)
    ratios = [d["total"] / r["total"] for r, d in zip(runs["random"], runs["disal"])]
    ratio = statistics.median(ratios)
    paper = PAPER_SECONDS["disal"] / PAPER_SECONDS["random"]
    result = {
        "disal_cycle_over_random_cycle": ratio,
        "pair_ratios": ratios,
        "paper": paper,
        "paper_seconds": PAPER_SECONDS,
        "smoke": args.smoke,
        "shape": {
            "dataset": "cifar10",
            "model": "resnet18_cifar",
            "labeled": args.labeled,
            "step": args.step,
            "subset": args.subset,
            "epochs": args.epochs,
            "fraction_of_paper_epochs": args.epochs / c.epochs,
            "batch_size": c.batch,
            "augment": "flip_crop",
            "device": args.device,
            "repeats": args.repeats,
        },
        "seconds": runs,
        "bench_seconds": time.perf_counter() - t0,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"disal_cycle_over_random_cycle {ratio:.3f} ({args.epochs}/{c.epochs} epochs; DISAL Table 1, RTX 3090 Ti: {paper:.2f}); written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
