"""The measurement behind the default β (``prefilter``) of the ``topm`` batch rule.

    python benchmarks/batch_rule_prefilter.py                       # low budget: 1% -> 6% of the pool
    python benchmarks/batch_rule_prefilter.py --regime ten_to_forty # 10% -> 40% (notebook 06's quick grid)
    python benchmarks/batch_rule_prefilter.py --al-runs             # whole AL runs at the default β, with records


For 10 seeds and every labeled-set size of the regime's AL run but the last (a seeded random
labeled set of that size, the budget the run would select next), one model is trained as the AL
loop trains that cycle (once per λ), and DISAL, DISAL w/o D, entropy and margin each select a batch
with every rule (``topm`` once per β) from their real score and from a seeded random score
(:func:`altoolkit.drivers.batch_rule_control.prefilter_scan`).  It prints, per strategy and rule:
the batch's overlap with the score's top-k, the random-score batch's overlap with that same top-k,
their difference (how much of the batch the score decided), the largest true-class share of both
batches, and the paired verdict "the score's batches are more one-class than the random score's".
The rows are written to ``runs/scratch/batch_rule_prefilter_<regime>.json`` (not committed).

``--al-runs`` runs whole AL runs instead (:func:`altoolkit.drivers.batch_rule_control.rule_configs`:
the four strategies with every rule at the default β, and each rule's random-score control, one
after the other in this process, records cached in ``--records``) and prints
:func:`~altoolkit.drivers.batch_rule_control.batch_rule_markdown`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import altoolkit as alt
from altoolkit.drivers.batch_rule_control import (
    batch_rule_controls,
    batch_rule_markdown,
    prefilter_markdown,
    prefilter_scan,
    prefilter_summary,
    rule_configs,
)

REGIMES = {
    "low": {"initial_fraction": 0.01, "step_fraction": 0.01, "cycles": 6, "epochs": 20},  # notebook 06's LOW_* settings
    "ten_to_forty": {"initial_fraction": 0.10, "step_fraction": 0.15, "cycles": 3, "epochs": 20},  # notebook 06's quick grid
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--regime", choices=sorted(REGIMES), default="low")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--prefilters", type=float, nargs="+", default=[1.5, 2, 3, 4, 6, 10, 20])
    p.add_argument("--out-dir", default="runs/scratch")
    p.add_argument("--al-runs", action="store_true", help="whole AL runs with records instead of the selection-level scan")
    p.add_argument("--records", default="runs/scratch/records_batch_rules", help="record cache of --al-runs")
    args = p.parse_args()
    torch.set_num_threads(1)  # the machine is shared: one core
    ds = alt.load_dataset("digits")
    base = alt.ALConfig(dataset="digits", model="cnn", **REGIMES[args.regime])
    if args.al_runs:
        t0 = time.perf_counter()
        records = alt.engine.sweep.run_sweep(rule_configs(base, args.seeds), args.records, backend="serial")
        print(f"digits, regime {args.regime} {REGIMES[args.regime]}: {len(records)} AL runs, {len(args.seeds)} seeds; {time.perf_counter() - t0:.0f} s")
        print(batch_rule_markdown(batch_rule_controls(records)))
        return
    t0 = time.perf_counter()
    rows = prefilter_scan(ds, base, args.seeds, prefilters=args.prefilters)
    seconds = time.perf_counter() - t0
    out = Path(args.out_dir) / f"batch_rule_prefilter_{args.regime}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"regime": REGIMES[args.regime], "seeds": args.seeds, "rows": rows}, indent=1))
    sizes = sorted({(r["n_labeled"], r["budget"]) for r in rows})
    print(f"digits, regime {args.regime} {REGIMES[args.regime]}: {len(args.seeds)} seeds, (labeled, budget) = {sizes}; {seconds:.0f} s")
    print(prefilter_markdown(prefilter_summary(rows)))
    print(f"rows: {out}")


if __name__ == "__main__":
    main()
