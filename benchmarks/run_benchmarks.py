"""Speed and memory benchmarks: ratios measured in ONE run on this machine.

    python benchmarks/run_benchmarks.py            # all, writes benchmarks/results.json
    python benchmarks/run_benchmarks.py --only vmap_speedup_over_loop

Every number is a ratio of two timings (or memory peaks) taken in the same process, one right
after the other, each the minimum over a few repeats, so that the noise of a shared machine
cancels as far as it can.  Goals come from the project's issue on benchmarks.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

import altoolkit as alt
from altoolkit.inference import predict_logits
from altoolkit.influence import flatten, per_sample_grads
from altoolkit.strategies import SelectionContext, get_strategy

HERE = Path(__file__).resolve().parent

GOALS = {
    "disal_scoring_over_inference": ("<=", 2.2),
    "dynamic_loss_epoch_overhead": ("<=", 1.05),
    "disal_cycle_over_random_cycle": ("<=", 1.10),
    "vmap_speedup_over_loop": (">=", 10.0),
    "tracin_speedup_over_captum": (">=", 3.0),
    "scoring_peak_memory_10k_over_1k": ("<=", 1.2),
    "isal_samples_per_second": (None, None),
}


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Minimum wall time of ``fn`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _trained(data, n_labeled=300, epochs=4, seed=0, model="cnn", checkpoint_epochs=()):
    net = alt.build_model(model, data.input_shape, data.num_classes, seed=seed)
    return alt.train_model(net, data.x_train[:n_labeled], data.y_train[:n_labeled], alt.TrainConfig(epochs=epochs),
                           seed=seed, checkpoint_epochs=checkpoint_epochs, progress=False)


def _big_pool(data, n: int) -> alt.ALDataset:
    reps = -(-n // data.n_train)
    x = data.x_train.repeat(reps, 1, 1, 1)[:n] if data.x_train.dim() == 4 else data.x_train.repeat(reps, 1)[:n]
    y = data.y_train.repeat(reps)[:n]
    return alt.ALDataset("digits_x", x.contiguous(), y.contiguous(), data.x_test, data.y_test, data.num_classes)


def bench_disal_scoring_over_inference(data) -> dict:
    pool = _big_pool(data, 30000)
    res = _trained(data)
    lab = torch.arange(300)
    ctx = SelectionContext(pool, res.model, lab, torch.arange(300, pool.n_train), train_result=res, batch_size=1024)
    disal = get_strategy("disal")
    t_inf = best_of(lambda: predict_logits(res.model, ctx.pool_x, pool.to_input, 1024))
    t_disal = best_of(lambda: disal.score(ctx))
    return {"value": t_disal / t_inf, "disal_seconds": t_disal, "inference_seconds": t_inf, "pool": int(len(ctx.unlabeled)),
            "note": "DISAL = pool gather + θ_{T-1} copy + 2 forward passes in one loop + KL; inference = 1 forward pass"}


def bench_dynamic_loss_epoch_overhead(data) -> dict:
    x, y = data.x_train[:1000], data.y_train[:1000]
    base = alt.build_model("cnn", data.input_shape, 10, seed=0)

    def epoch_time(lam: float) -> float:
        per_epoch = []
        for rep in range(3):
            m = copy.deepcopy(base)
            r = alt.train_model(m, x, y, alt.TrainConfig(epochs=6, dynamic_weight=lam), seed=rep, progress=False)
            per_epoch.append(r.seconds / 6)
        return min(per_epoch)

    epoch_time(0.0)  # warm-up
    # interleave to share the machine's drift between both settings
    t0s, t1s = [], []
    for _ in range(5):
        t0s.append(epoch_time(0.0))
        t1s.append(epoch_time(1.0))
    t0, t1 = min(t0s), min(t1s)
    return {"value": t1 / t0, "epoch_seconds_with": t1, "epoch_seconds_without": t0, "labeled": 1000}


def bench_disal_cycle_over_random_cycle(data) -> dict:
    # The paper's protocol for one cycle: 200 epochs, 10% labeled, +5% selected (Sec. 4.1).  With
    # few epochs on a small labeled set the two forward passes over the pool weigh more (e.g. 20
    # epochs on 30% of digits: about 1.12), which the note below records.
    def cycle(strategy: str) -> float:
        cfg = alt.ALConfig(strategy=strategy, epochs=200, cycles=2, initial_fraction=0.1, step_fraction=0.05)
        rec = alt.run_active_learning(cfg, dataset=data, progress=False)
        c = rec["cycles"][0]
        return c["train_seconds"] + c["select_seconds"]

    cycle("random")
    tr, td = [], []
    for _ in range(5):
        tr.append(cycle("random"))
        td.append(cycle("disal"))
    return {"value": min(td) / min(tr), "disal_cycle_seconds": min(td), "random_cycle_seconds": min(tr),
            "paper": 359.0 / 299.0, "protocol": "digits, cnn, 200 epochs on 10% labeled, select 5%",
            "note": "DISAL's extra cost = dynamic loss (~4% per epoch) + 2 forward passes over the pool; "
                    "the latter is fixed per cycle, so its share shrinks as epochs x labeled grows"}


def bench_vmap_speedup_over_loop(data) -> dict:
    res = _trained(data)
    m = res.model
    x, y = data.x_train[:256], data.y_train[:256]

    def loop():
        rows = []
        for i in range(x.shape[0]):
            m.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(m(x[i : i + 1]), y[i : i + 1]).backward()
            rows.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
        return torch.stack(rows)

    m.eval()
    t_loop = best_of(loop, 2)
    t_vmap = best_of(lambda: flatten(per_sample_grads(m, x, y, batch_size=256), batched=True), 3)
    # correctness in float64 (float32 conv gradients differ by rounding, up to ~1% of the largest entry)
    m64, x64 = copy.deepcopy(m).double(), x[:32].double()
    loop64 = []
    for i in range(32):
        m64.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(m64(x64[i : i + 1]), y[i : i + 1]).backward()
        loop64.append(torch.cat([p.grad.reshape(-1) for p in m64.parameters()]))
    diff64 = float((torch.stack(loop64) - flatten(per_sample_grads(m64, x64, y[:32], to_input=lambda t: t), batched=True)).abs().max())
    # the same comparison on the MLP (linear layers only: vmap's per-sample matmuls batch well)
    mlp = alt.build_model("mlp", data.input_shape, data.num_classes, seed=0).eval()

    def loop_mlp():
        for i in range(x.shape[0]):
            mlp.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(mlp(x[i : i + 1]), y[i : i + 1]).backward()

    t_loop_mlp = best_of(loop_mlp, 2)
    t_vmap_mlp = best_of(lambda: per_sample_grads(mlp, x, y, batch_size=256), 3)
    return {"value": t_loop / t_vmap, "loop_seconds": t_loop, "vmap_seconds": t_vmap, "samples": 256, "model": "cnn",
            "max_abs_diff_float64": diff64, "mlp_ratio": t_loop_mlp / t_vmap_mlp,
            "note": "tiny digits models: one per-sample backward costs ~0.2-0.5 ms, so the loop is overhead-bound "
                    "and vmap's conv becomes a grouped conv that CPUs run slowly"}


def bench_tracin_speedup_over_captum(data, tmpdir: Path) -> dict:
    from captum.influence import TracInCP

    from altoolkit.influence import tracin_scores

    res = _trained(data, epochs=4, checkpoint_epochs=[2, 3, 4])
    model = res.model.eval()
    paths = []
    for ep, (state, lr) in sorted(res.checkpoints.items()):
        p = tmpdir / f"ck{ep}.pt"
        torch.save({"model_state_dict": state, "learning_rate": lr}, p)
        paths.append(str(p))
    x_ref, y_ref = data.x_train[:300], data.y_train[:300]
    x_pool = data.x_train[300:1300]

    def load(net, path):
        ck = torch.load(path, weights_only=True)
        net.load_state_dict(ck["model_state_dict"])
        net.eval()
        return ck["learning_rate"]

    def ours():
        return tracin_scores(model, res.checkpoints, x_pool, None, x_ref, y_ref, batch_size=500)

    def captum(sample_wise: bool):
        # captum: influence of each "train" example (the pool, with each checkpoint's own top-1
        # pseudo-labels, so one TracInCP per checkpoint) on every reference example, summed over
        # the reference set.  The custom loader calls .eval(): captum does not.
        total = torch.zeros(x_pool.shape[0], dtype=torch.float64)
        for p in paths:
            net = copy.deepcopy(model)
            load(net, p)
            with torch.no_grad():
                yp = net(x_pool).argmax(1)
            ds = torch.utils.data.TensorDataset(x_pool, yp)
            tr = TracInCP(net, ds, checkpoints=[p], checkpoints_load_func=load,
                          loss_fn=torch.nn.CrossEntropyLoss(reduction="sum" if sample_wise else "none"),
                          batch_size=500, sample_wise_grads_per_batch=sample_wise)
            total += tr.influence((x_ref, y_ref)).double().sum(0)
        return total

    a = ours()
    # captum's fastest mode that runs on this model is the fair comparison
    modes = {}
    for sample_wise in (True, False):
        try:
            b = captum(sample_wise)
        except Exception as exc:  # e.g. layers captum's per-sample hooks do not support
            modes[f"sample_wise_grads_per_batch={sample_wise}"] = f"unavailable: {type(exc).__name__}"
            continue
        rel = float((a - b).abs().max() / b.abs().max())
        t0 = time.perf_counter()
        captum(sample_wise)  # the warm-up was the call above
        modes[f"sample_wise_grads_per_batch={sample_wise}"] = {"seconds": time.perf_counter() - t0, "max_rel_diff": rel}
    # The goal compares with captum computing the SAME scores (to 1e-4): captum's per-sample
    # hooks skip BatchNorm parameters, so that mode's scores differ; it is reported, not used.
    timed = {k: v for k, v in modes.items() if isinstance(v, dict) and v["max_rel_diff"] < 1e-4}
    if not timed:
        return {"value": None, "captum_modes": modes, "note": "no captum mode reproduced our scores to 1e-4"}
    best = min(timed, key=lambda k: timed[k]["seconds"])
    t_ours = best_of(ours, 2)
    t_captum = timed[best]["seconds"]
    return {"value": t_captum / t_ours, "ours_seconds": t_ours, "captum_seconds": t_captum, "captum_mode": best,
            "max_rel_diff": timed[best]["max_rel_diff"], "scores_equal_1e-4": timed[best]["max_rel_diff"] < 1e-4,
            "captum_modes": modes, "pool": int(x_pool.shape[0]), "reference": 300, "checkpoints": len(paths)}


_MEM_CHILD = r"""
import json, sys, torch, altoolkit as alt
from altoolkit.strategies import SelectionContext, get_strategy
torch.set_num_threads(1)
n = int(sys.argv[1])
data = alt.load_digits()
res = alt.train_model(alt.build_model("cnn", data.input_shape, 10, seed=0), data.x_train[:300], data.y_train[:300],
                      alt.TrainConfig(epochs=2), progress=False)
reps = -(-n // data.n_train)
x = data.x_train.repeat(reps, 1, 1, 1)[:n].contiguous()
y = data.y_train.repeat(reps)[:n].contiguous()
pool = alt.ALDataset("p", x, y, data.x_test, data.y_test, 10)
ctx = SelectionContext(pool, res.model, torch.arange(0), torch.arange(n), train_result=res, batch_size=512)
s = get_strategy("disal")
s.score(SelectionContext(pool, res.model, torch.arange(0), torch.arange(8), train_result=res, batch_size=512))  # warm-up

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])  # kB

open("/proc/self/clear_refs", "w").write("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
base = status("VmRSS:")
out = s.score(ctx)
peak = status("VmHWM:")
print(json.dumps({"extra_kib": peak - base, "pool_kib": (x.numel() * x.element_size()) // 1024}))
"""


def bench_scoring_peak_memory_10k_over_1k(data) -> dict:
    res = {}
    for n in (1000, 10000):
        out = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(n)], capture_output=True, text=True, check=True)
        res[n] = json.loads(out.stdout.strip().splitlines()[-1])
    # The pool gather (ctx.pool_x copies the unlabeled rows) is pool storage, not scoring memory.
    extra = {n: max(1, r["extra_kib"] - r["pool_kib"]) for n, r in res.items()}
    return {"value": extra[10000] / extra[1000], "extra_kib_1k": extra[1000], "extra_kib_10k": extra[10000],
            "raw": {str(k): v for k, v in res.items()},
            "note": "peak RSS growth (VmHWM after /proc/self/clear_refs) during DISAL scoring minus the "
                    "gathered pool copy, batch 512"}


def bench_isal_samples_per_second(data) -> dict:
    try:
        strat = get_strategy("isal")
    except ValueError as exc:
        return {"value": None, "skipped": str(exc)}
    res = _trained(data)
    lab = torch.arange(300)
    unl = torch.arange(300, data.n_train)
    ctx = SelectionContext(data, res.model, lab, unl, train_result=res, initial_labeled=lab, batch_size=512)
    t = best_of(lambda: strat.score(ctx), 1)
    return {"value": len(unl) / t, "seconds": t, "pool": int(len(unl)), "options": strat.options()}


BENCHES = {
    "disal_scoring_over_inference": bench_disal_scoring_over_inference,
    "dynamic_loss_epoch_overhead": bench_dynamic_loss_epoch_overhead,
    "disal_cycle_over_random_cycle": bench_disal_cycle_over_random_cycle,
    "vmap_speedup_over_loop": bench_vmap_speedup_over_loop,
    "tracin_speedup_over_captum": bench_tracin_speedup_over_captum,
    "scoring_peak_memory_10k_over_1k": bench_scoring_peak_memory_10k_over_1k,
    "isal_samples_per_second": bench_isal_samples_per_second,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=list(BENCHES), help="run only these benchmarks")
    ap.add_argument("--out", default=str(HERE / "results.json"), help="JSON file for the results")
    args = ap.parse_args(argv)
    import tempfile

    torch.manual_seed(0)
    data = alt.load_digits(seed=0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(BENCHES):
            t0 = time.perf_counter()
            fn = BENCHES[name]
            out = fn(data, Path(tmp)) if name == "tracin_speedup_over_captum" else fn(data)
            op, goal = GOALS[name]
            v = out["value"]
            if op is not None and v is not None:
                out["goal"] = f"{op} {goal}"
                out["meets_goal"] = bool(v <= goal if op == "<=" else v >= goal)
            out["bench_seconds"] = time.perf_counter() - t0
            results[name] = out
            verdict = "" if "meets_goal" not in out else ("  meets goal" if out["meets_goal"] else "  MISSES goal")
            shown = "n/a" if v is None else f"{v:.3f}"
            print(f"{name:<36} {shown:>10}  {out.get('goal', '')}{verdict}", flush=True)
    payload = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    Path(args.out).write_text(json.dumps(payload, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
