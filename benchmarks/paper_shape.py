"""DISAL's cost per AL cycle over random's, at the papers' shape (DISAL Table 1: 359 s / 299 s).

    nice -n 10 python benchmarks/paper_shape.py                   # CPU, scaled down (see below)
    python benchmarks/paper_shape.py --device cuda --epochs 200   # the papers' shape on a GPU

One AL cycle of each strategy through :func:`altoolkit.run_active_learning`: the CIFAR ResNet-18
(``resnet18_cifar``) trained on 5,000 labeled 32x32 RGB inputs (DISAL's CIFAR start, xulabs/aitom
``al_gradnorm/config.py``: ``START = 2 * ADDENDUM``), SGD lr 0.1, batch 128, flip + crop, then the
pool scored and a batch selected.  ``random`` trains with cross-entropy and selects at random;
``disal`` trains with the dynamic loss (λ = 1) and scores the pool with two forward passes.
The inputs are random (uniform noise, random labels): the timing does not depend on the pixels.

Scaling for a CPU.  The paper's cycle is 200 epochs on 5,000 labeled, then scoring the rest of
CIFAR-10's 50,000 (45,000) and selecting 2,500.  DISAL's extra cost is a per-epoch share (the
dynamic loss) plus a per-cycle constant (the pool's forward passes); to keep their proportion
when the training work (epochs x labeled) is cut, the pool and the step are cut by the same
factor f = (E x L) / (200 x 5000): the pool defaults to ``45000 f`` and the step to ``2500 f``
(at least 1).  A machine too slow for 5,000 labeled can pass ``--labeled 1000``.  The
ratio printed is the median over ``--repeats`` interleaved pairs (random, then disal, in one
process) of (train + select seconds of disal) / (the same of random), with the range of the
pairs' ratios as its spread.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gpu_cycle import first_cycle  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

PAPER_EPOCHS, PAPER_LABELED, PAPER_POOL, PAPER_STEP = 200, 5_000, 45_000, 2_500


def random_dataset(n_labeled: int, n_pool: int, n_test: int = 256, seed: int = 0) -> alt.ALDataset:
    """Uniform-noise 3x32x32 ``uint8`` images with random labels of 10 classes."""
    gen = torch.Generator().manual_seed(seed)
    n = n_labeled + n_pool
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=gen)
    xt = torch.randint(0, 256, (n_test, 3, 32, 32), generator=gen, dtype=torch.uint8)
    yt = torch.randint(0, 10, (n_test,), generator=gen)
    return alt.from_arrays(x, y, xt, yt, num_classes=10, name="random32")


def cycle_seconds(data: alt.ALDataset, strategy: str, n_labeled: int, step: int, epochs: int, device: str) -> dict:
    """Train + select seconds of cycle 0 of ``strategy`` at this shape."""
    cfg = alt.ALConfig(
        dataset="digits",
        strategy=strategy,
        model="resnet18_cifar",
        epochs=epochs,
        batch_size=128,
        lr=0.1,
        augment="flip_crop",
        cycles=2,
        initial_size=n_labeled,
        step_size=step,
        device=device,
        score_batch_size=512,
    )
    load = os.getloadavg()[0]
    c = first_cycle(cfg, data)  # the loop's cycle 0, without training cycle 1
    return {
        "train": c["train_seconds"],
        "select": c["select_seconds"],
        "total": c["train_seconds"] + c["select_seconds"],
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per cycle (default: 1 on cpu, 200 otherwise)")
    ap.add_argument("--labeled", type=int, default=5000, help="labeled samples (default: 5000)")
    ap.add_argument("--pool", type=int, default=None, help="unlabeled pool scored (default: 45000 * epochs * labeled / (200 * 5000))")
    ap.add_argument("--step", type=int, default=None, help="samples selected (default: 2500 * epochs * labeled / (200 * 5000))")
    ap.add_argument("--test-size", type=int, default=256, help="random test images evaluated after the training (default: 256)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved (random, disal) pairs; the median ratio is kept (default: 3)")
    ap.add_argument("--out", default=str(HERE / "paper_shape.json"), help="JSON file for the result")
    args = ap.parse_args(argv)
    epochs = args.epochs or (1 if args.device == "cpu" else PAPER_EPOCHS)
    factor = epochs * args.labeled / (PAPER_EPOCHS * PAPER_LABELED)
    pool = args.pool or max(2, round(PAPER_POOL * factor))
    step = args.step or max(1, round(PAPER_STEP * factor))
    if not (1 <= step <= pool) or args.labeled < 1 or epochs < 1 or args.repeats < 1:
        raise SystemExit(
            f"need 1 <= step <= pool, labeled >= 1, epochs >= 1, repeats >= 1; got step {step}, "
            f"pool {pool}, labeled {args.labeled}, epochs {epochs}, repeats {args.repeats}"
        )
    torch.manual_seed(0)
    data = random_dataset(args.labeled, pool, n_test=args.test_size)
    t0 = time.perf_counter()
    runs: dict[str, list[dict]] = {"random": [], "disal": []}
    for r in range(args.repeats):
        for name in runs:
            runs[name].append(cycle_seconds(data, name, args.labeled, step, epochs, args.device))
            print(f"repeat {r}: {name:<6} train {runs[name][-1]['train']:8.1f} s  select {runs[name][-1]['select']:7.2f} s", flush=True)
    pair_ratios = [d["total"] / r["total"] for r, d in zip(runs["random"], runs["disal"])]
    ratio = statistics.median(pair_ratios)
    result = {
        "disal_cycle_over_random_cycle": ratio,
        "spread": [min(pair_ratios), max(pair_ratios)],
        "pair_ratios": pair_ratios,
        "paper": 359.0 / 299.0,
        "shape": {
            "model": "resnet18_cifar",
            "input": [3, 32, 32],
            "labeled": args.labeled,
            "pool": pool,
            "step": step,
            "epochs": epochs,
            "batch_size": 128,
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
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(
        f"disal_cycle_over_random_cycle {ratio:.3f} (median of {len(pair_ratios)} pairs, range "
        f"{min(pair_ratios):.3f}-{max(pair_ratios):.3f}; paper, RTX 3090 Ti: {359 / 299:.3f}); written {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
