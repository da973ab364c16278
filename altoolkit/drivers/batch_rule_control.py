"""Does the score decide the batch?  Every batch rule against the same rule fed a random score
(issue 25, item 3; the batch-rule section of notebook 09 and of RESULTS.md).

A batch rule (:mod:`altoolkit.strategies.batch_rules`) turns a strategy's per-sample scores into a
batch.  Two numbers say whether the score, not the rule, chose it:

- the **overlap** of the batch with the score's own top-``budget`` (``topk_overlap`` in the run
  records; 1 for ``topk`` by definition, about ``budget/N`` for a rule that ignores the score);
- the **random-score control**: the same rule, the same training (the same λ of DISAL Eq. 14) and
  the same seeds, with the strategy's score replaced by a seeded uniform one
  (:func:`control_config`: ``random`` for strategies trained without the dynamic loss,
  ``disal_no_selection``, DISAL w/o S of Table 2, for those trained with it).  Paired by seed, a
  verdict says whether the score beats its control (AULC) and whether its batches are more
  one-class than the control's (largest-class share).

:func:`rule_configs` builds the sweep (every strategy × rule, and each control),
:func:`batch_rule_controls` reads the records into one row per (strategy, rule) and
:func:`batch_rule_markdown` prints them.  :func:`prefilter_scan` is the measurement behind the
default β of the ``topm`` rule: one selection per seed and labeled-set size, every rule with the
real and with a random score, without running whole AL runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from ..analysis.selection_balance import largest_class_share, class_counts, record_batch_balance
from ..data import ALDataset
from ..engine.loop import ALConfig, derive_seed, plan_pool, train_cycle
from ..engine.sweep import config_hash
from ..math.stats import Verdict, area_under_curve, compare
from ..strategies import SelectionContext, get_strategy
from ..strategies.base import batch_rule_inputs
from ..strategies.batch_rules import BATCH_RULES, DEFAULT_PREFILTER, topk_overlap
from ..training.fresh_model import default_dynamic_weight
from ..util.progress import tqdm

__all__ = [
    "MEASURED_STRATEGIES",
    "control_config",
    "rule_configs",
    "rule_label",
    "RuleControl",
    "batch_rule_controls",
    "batch_rule_markdown",
    "prefilter_scan",
    "prefilter_summary",
    "prefilter_markdown",
]

#: The per-sample strategies whose batch rules notebook 09 measures.
MEASURED_STRATEGIES: tuple[str, ...] = ("disal", "disal_no_dynamic", "entropy", "margin")


def control_config(config: ALConfig) -> ALConfig:
    """The random-score control of ``config``: the same run with the strategy's score replaced by
    a seeded uniform one and everything else kept (the batch rule and its ``prefilter``, λ, the
    seeds, the budgets).  The control strategy is ``random`` when the run trains with λ = 0 and
    ``disal_no_selection`` (DISAL w/o S) when λ > 0, each with its own default λ where that is the
    run's, so the control shares its records with those baselines.

    Raises ``ValueError`` for a strategy that changes training beyond λ (TOD's consistency loss):
    its control would not train the same way."""
    strategy = get_strategy(config.strategy, **config.strategy_options)
    if strategy.training_loss() is not None:
        raise ValueError(
            f"strategy {config.strategy!r} with options {strategy.options()} adds a training loss; its random-score control would train differently"
        )
    if not type(strategy).takes_batch():
        raise ValueError(f"strategy {config.strategy!r} selects its batch jointly (no batch rule); it has no random-score control")
    lam = config.effective_dynamic_weight()
    name = "disal_no_selection" if lam > 0 else "random"
    options = {k: v for k, v in config.strategy_options.items() if k in ("batch", "prefilter")}
    same_lambda = default_dynamic_weight(get_strategy(name)) == lam
    return dataclasses.replace(config, strategy=name, strategy_options=options, dynamic_weight=None if same_lambda else lam)


def rule_configs(
    base: ALConfig,
    seeds: Sequence[int],
    strategies: Sequence[str] = MEASURED_STRATEGIES,
    rules: Sequence[str] = BATCH_RULES,
    prefilter: float = DEFAULT_PREFILTER,
) -> list[ALConfig]:
    """Every ``strategy`` with every batch ``rule`` and seed on top of ``base``, then the random-score
    control of each (:func:`control_config`), no configuration twice, for
    :func:`altoolkit.engine.sweep.run_sweep`.  ``topk`` runs carry no option (they share records
    with the plain runs); ``topm`` carries ``prefilter`` explicitly, so that a record's
    configuration (and cache hash) names its β even if the default changes."""
    out: dict[str, ALConfig] = {}
    controls: dict[str, ALConfig] = {}
    for name in strategies:
        for rule in rules:
            options: dict[str, Any] = {} if rule == "topk" else {"batch": rule}
            if rule == "topm":
                options["prefilter"] = float(prefilter)
            for seed in seeds:
                cfg = dataclasses.replace(base, strategy=name, strategy_options=dict(options), seed=seed, dynamic_weight=None)
                out.setdefault(config_hash(cfg), cfg)
                ctrl = control_config(cfg)
                controls.setdefault(config_hash(ctrl), ctrl)
    for h, ctrl in controls.items():
        out.setdefault(h, ctrl)
    return list(out.values())


def rule_label(options: Mapping[str, Any]) -> str:
    """``topk``, ``balanced``, ``diverse`` or ``topm β=2`` from a run's strategy options."""
    rule = options.get("batch", "topk")
    if rule != "topm":
        return str(rule)
    beta = options.get("prefilter")
    return "topm" if beta is None else f"topm β={float(beta):g}"


@dataclass
class RuleControl:
    """One strategy with one batch rule against its random-score control (seeds paired).

    ``overlap``: mean share of a batch in the score's own top-k (``nan`` where the records predate
    ``topk_overlap``; 1 for ``topk``); ``share``: mean largest-class share of a batch (true labels);
    ``aulc``: mean area under the learning curve; ``control_*`` the same for the control, whose
    overlap is with its own (random) score's top-k.  ``aulc_verdict``: "score + rule > random score
    + rule" on AULC; ``share_verdict``: "the score's batches are more one-class than the
    control's"; ``None`` without shared seeds."""

    strategy: str
    rule: str
    control: str
    seeds: int
    overlap: float
    share: float
    aulc: float
    control_overlap: float
    control_share: float
    control_aulc: float
    aulc_verdict: Verdict | None
    share_verdict: Verdict | None


def _per_seed(records: Sequence[Mapping[str, Any]], y_train: Any) -> dict[str, dict[int, float]]:
    """``{"overlap"|"share"|"aulc": {seed: value}}`` of one grid point's records."""
    out: dict[str, dict[int, float]] = {"overlap": {}, "share": {}, "aulc": {}}
    for r in records:
        seed = int(r["config"]["seed"])
        picks = [c for c in r["cycles"] if c.get("selected")]
        if rule_label(r["config"].get("strategy_options") or {}) == "topk":
            out["overlap"][seed] = 1.0
        else:
            vals = [c["topk_overlap"] for c in picks if "topk_overlap" in c]
            out["overlap"][seed] = float(np.mean(vals)) if len(vals) == len(picks) and vals else float("nan")
        shares = [b["largest_share"] for b in record_batch_balance(dict(r), y_train)]
        out["share"][seed] = float(np.mean(shares)) if shares else float("nan")
        curve = [(c["fraction_labeled"], c["test_acc"]) for c in r["cycles"]]
        out["aulc"][seed] = float(area_under_curve([f for f, _ in curve], [a for _, a in curve]))
    return out


def _mean(values: Mapping[int, float]) -> float:
    return float(np.mean(list(values.values()))) if values else float("nan")


def _paired(a: Mapping[int, float], b: Mapping[int, float], claim: str) -> Verdict | None:
    if not set(a) & set(b) or any(math.isnan(v) for v in list(a.values()) + list(b.values())):
        return None
    return compare(a, b, claim)


def batch_rule_controls(records: Iterable[Mapping[str, Any]], y_train: Sequence[int] | np.ndarray | None = None) -> list[RuleControl]:
    """One :class:`RuleControl` per (strategy, batch rule) found in finished ``records`` whose
    strategy has a random-score control (:func:`control_config`), the control strategies
    themselves left out; rows sorted by strategy (:data:`MEASURED_STRATEGIES` first), then rule
    (in :data:`~altoolkit.strategies.batch_rules.BATCH_RULES` order, ``topm`` by β).  ``y_train``:
    the dataset's training labels, needed only for records without per-batch class counts."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    configs: dict[str, ALConfig] = {}
    for r in records:
        if not r.get("finished"):
            continue
        cfg = ALConfig.from_dict(dict(r["config"]))
        key = config_hash(dataclasses.replace(cfg, seed=0))
        groups.setdefault(key, []).append(r)
        configs.setdefault(key, cfg)
    rows = []
    for key, cfg in configs.items():
        if cfg.strategy in ("random", "disal_no_selection"):
            continue
        try:
            ctrl = control_config(cfg)
        except ValueError:
            continue
        ctrl_records = groups.get(config_hash(dataclasses.replace(ctrl, seed=0)), [])
        mine, theirs = _per_seed(groups[key], y_train), _per_seed(ctrl_records, y_train)
        rule = rule_label(cfg.strategy_options)
        control = ctrl.strategy + ("" if rule == "topk" else f"+{rule}")
        rows.append(
            RuleControl(
                strategy=cfg.strategy + ("" if cfg.dynamic_weight is None else f" (λ={cfg.dynamic_weight:g})"),
                rule=rule,
                control=control + ("" if ctrl.dynamic_weight is None else f" (λ={ctrl.dynamic_weight:g})"),
                seeds=len(mine["aulc"]),
                overlap=_mean(mine["overlap"]),
                share=_mean(mine["share"]),
                aulc=_mean(mine["aulc"]),
                control_overlap=_mean(theirs["overlap"]),
                control_share=_mean(theirs["share"]),
                control_aulc=_mean(theirs["aulc"]),
                aulc_verdict=_paired(mine["aulc"], theirs["aulc"], f"{cfg.strategy}+{rule} > {control} (AULC)"),
                share_verdict=_paired(mine["share"], theirs["share"], f"{cfg.strategy}+{rule}'s batches more one-class than {control}'s"),
            )
        )
    _check_one_setting(rows, configs)
    return sorted(rows, key=_row_order)


def _check_one_setting(rows: Sequence[RuleControl], configs: Mapping[str, ALConfig]) -> None:
    """Raise when two grid points share a row's label: the records mix other settings."""
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        seen[(r.strategy, r.rule)] = seen.get((r.strategy, r.rule), 0) + 1
    twice = [k for k, n in seen.items() if n > 1]
    if twice:
        dicts = [c.to_dict() for c in configs.values()]
        varied = sorted(k for k in dicts[0] if k not in ("strategy", "strategy_options", "seed", "dynamic_weight") and len({repr(d.get(k)) for d in dicts}) > 1)
        raise ValueError(
            f"the records hold {twice[0][0]} + {twice[0][1]} under more than one setting (they differ in {', '.join(varied) or 'other keys'}); "
            "pass the records of one dataset and budget regime"
        )


def _row_order(row: RuleControl) -> tuple[Any, ...]:
    name = row.strategy.split(" ")[0]
    rank = MEASURED_STRATEGIES.index(name) if name in MEASURED_STRATEGIES else len(MEASURED_STRATEGIES)
    rule, _, beta = row.rule.partition(" β=")
    return (rank, row.strategy, BATCH_RULES.index(rule) if rule in BATCH_RULES else len(BATCH_RULES), float(beta or 0))


def _verdict_cell(v: Verdict | None, scale: float) -> str:
    return "no paired seeds" if v is None else f"{v.verdict} {v.interval_text(scale=scale)} ({v.n} seeds)"


def batch_rule_markdown(rows: Sequence[RuleControl]) -> str:
    """The rows of :func:`batch_rule_controls` as a Markdown table: per strategy and rule, the
    overlap with the score's top-k, the largest-class share and the AULC (%), each beside its
    random-score control's, and the two paired verdicts (AULC in points, share in points of share)."""
    head = (
        "| strategy | rule | seeds | overlap with the score's top-k | largest-class share | AULC (%) "
        "| control (random score, same rule) | control: overlap | control: share | control: AULC (%) "
        "| score > control (AULC, points) | score's batches more one-class (share × 100) |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r.strategy} | {r.rule} | {r.seeds} | {r.overlap:.2f} | {r.share:.2f} | {100 * r.aulc:.2f} | {r.control} | "
            f"{r.control_overlap:.2f} | {r.control_share:.2f} | {100 * r.control_aulc:.2f} | "
            f"{_verdict_cell(r.aulc_verdict, 100)} | {_verdict_cell(r.share_verdict, 100)} |"
        )
    return "\n".join(lines)


# ---- the β measurement of the topm rule: one selection per seed and labeled-set size ----------


def _scan_rules(rules: Sequence[str], prefilters: Sequence[float]) -> list[dict[str, Any]]:
    """Strategy options of every rule of the scan: ``topm`` once per β, the others once."""
    out = [{"batch": r} for r in rules if r != "topm"]
    return out + [{"batch": "topm", "prefilter": float(b)} for b in prefilters]


def _scan_selection(ctx: SelectionContext, name: str, rules: list[dict[str, Any]], budget: int, control: str) -> list[dict[str, Any]]:
    """Rows of one strategy on one trained model: each rule with the real score and with a random one."""
    strategy = get_strategy(name)
    scores = strategy.score(ctx)
    order = strategy.select_from_scores(scores, int(scores.shape[0]))
    random_scores = get_strategy(control).score(ctx)
    inputs = batch_rule_inputs(ctx)  # pseudo-labels and features once for every rule
    y = ctx.dataset.y_train[ctx.unlabeled].numpy()
    c = int(ctx.dataset.num_classes)
    rows = []
    for opts in rules:
        real = get_strategy(name, **opts).select_batch(ctx, scores, budget, inputs)
        ctrl = get_strategy(control, **opts).select_batch(ctx, random_scores, budget, inputs)
        rows.append(
            {
                "strategy": name,
                "rule": rule_label(opts),
                "overlap": topk_overlap(real, order, budget),
                "control_overlap": topk_overlap(ctrl, order, budget),  # with the REAL score's top-k
                "share": largest_class_share(class_counts(y[real.numpy()], c)),
                "control_share": largest_class_share(class_counts(y[ctrl.numpy()], c)),
            }
        )
    return rows


def prefilter_scan(
    dataset: ALDataset,
    base: ALConfig,
    seeds: Sequence[int],
    prefilters: Sequence[float] = (1.5, 2.0, 3.0, 4.0, 6.0),
    strategies: Sequence[str] = MEASURED_STRATEGIES,
    rules: Sequence[str] = BATCH_RULES,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The measurement behind the default β of ``topm``: for every seed and every labeled-set size
    of ``base``'s run but the last (a seeded random labeled set of that size, nested across sizes,
    the budget the run would select next), a model trained as the AL loop trains that cycle (once
    per λ), then every strategy with every rule (``topm`` once per β in ``prefilters``), each with
    its real score and with the seeded random score of its control strategy
    (:func:`control_config`).  One row per (seed, labeled-set size, strategy, rule): ``overlap``
    (the batch's share in the score's top-k), ``control_overlap`` (the random-score batch's share
    in the REAL score's top-k: what the rule takes of it by chance), ``share`` and
    ``control_share`` (largest true-class share of each batch), ``seed``, ``n_labeled``, ``budget``."""
    scan_rules = _scan_rules(rules, prefilters)
    sizes = plan_pool(base, dataset.n_train).budgets
    out: list[dict[str, Any]] = []
    steps = [(s, c) for s in seeds for c in range(len(sizes) - 1)]
    for seed, cycle in tqdm(steps, desc="prefilter scan", disable=not progress):
        cfg = dataclasses.replace(base, seed=seed, initial_size=sizes[cycle], step_size=1, cycles=1)
        plan = plan_pool(cfg, dataset.n_train)
        labeled = torch.tensor(plan.initial, dtype=torch.long)
        models: dict[float, Any] = {}
        for name in strategies:
            run = dataclasses.replace(base, strategy=name, strategy_options={}, seed=seed, dynamic_weight=None)
            lam = run.effective_dynamic_weight()
            if lam not in models:
                models[lam] = train_cycle(run, dataset, labeled, cycle, get_strategy(name))
            result = models[lam]
            ctx = SelectionContext(
                dataset=dataset,
                model=result.model,
                labeled=labeled,
                unlabeled=plan.unlabeled(dataset.n_train, labeled),
                train_result=result,
                initial_labeled=labeled,
                seed=derive_seed(seed, cycle, 3),
                batch_size=base.score_batch_size,
                device=base.device,
            )
            rows = _scan_selection(ctx, name, scan_rules, sizes[cycle + 1] - sizes[cycle], control_config(run).strategy)
            out += [{"seed": seed, "n_labeled": sizes[cycle], "budget": sizes[cycle + 1] - sizes[cycle], **row} for row in rows]
    return out


def prefilter_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (strategy, rule) of :func:`prefilter_scan`'s rows (sizes averaged per seed, then seeds):
    mean ``overlap``, ``control_overlap``, ``decided`` (= overlap − control_overlap: the share of the
    batch the score put there beyond what the rule takes of the top-k by chance), ``share``,
    ``control_share``, and ``share_verdict`` ("the score's batches are more one-class than the
    random score's under the same rule", paired by seed)."""
    keys: list[tuple[str, str]] = []
    per_seed: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = {}
    for r in rows:
        k = (r["strategy"], r["rule"])
        if k not in per_seed:
            keys.append(k)
            per_seed[k] = {f: {} for f in ("overlap", "control_overlap", "share", "control_share")}
        for f in per_seed[k]:
            per_seed[k][f].setdefault(int(r["seed"]), []).append(float(r[f]))
    out = []
    for k in keys:
        m = {f: {s: float(np.mean(v)) for s, v in d.items()} for f, d in per_seed[k].items()}
        row: dict[str, Any] = {"strategy": k[0], "rule": k[1], "seeds": len(m["share"])}
        row.update({f: _mean(m[f]) for f in m})
        row["decided"] = row["overlap"] - row["control_overlap"]
        row["share_verdict"] = compare(m["share"], m["control_share"], f"{k[0]}+{k[1]}: batches more one-class than with a random score")
        out.append(row)
    return out


def prefilter_markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    """:func:`prefilter_summary` as a Markdown table."""
    lines = [
        "| strategy | rule | seeds | overlap with top-k | random score's overlap with it | decided by the score "
        "| largest-class share | with a random score | score − random (share × 100) |",
        "|" + "---|" * 9,
    ]
    for r in summary:
        v = r["share_verdict"]
        lines.append(
            f"| {r['strategy']} | {r['rule']} | {r['seeds']} | {r['overlap']:.2f} | {r['control_overlap']:.2f} | {r['decided']:.2f} | "
            f"{r['share']:.2f} | {r['control_share']:.2f} | {v.verdict} {v.interval_text(scale=100)} |"
        )
    return "\n".join(lines)
