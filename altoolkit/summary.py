"""The summary of a sweep: per dataset and strategy, the numbers the papers report, and a
``RESULTS.md`` that checks the papers' claims on our runs.

For each dataset and strategy (and λ when it was set, see :func:`~altoolkit.results.record_label`):

- test accuracy at each budget, mean ± sample std (ddof=1) over seeds, with the number of seeds;
- the area under the learning curve (AULC) over the labeled fraction, normalised to [0, 1];
- ISAL's measure (Sec. 4.1): the labels the strategy's mean curve needs to reach random's final
  mean accuracy (linear between budgets), and the labels it saves against random's final budget;
- a paired comparison with random over matched seeds: mean ± std of the AULC and final-accuracy
  differences, wins, and a paired t-test p-value (with three seeds such a test has little power:
  p < 0.05 needs a large, very consistent difference, and p ≥ 0.05 does not show equality);
- seconds per cycle for training and selection (DISAL Table 1 compares them).

Claims such as ``("disal", ">", "random")`` are checked from these numbers, never written in:
a claim holds when the mean paired difference has the claimed sign.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .loop import load_record
from .results import CurveSummary, area_under_curve, cycle_seconds, labels_to_reach, learning_curves, markdown_table, record_label
from .validation import check_choice

__all__ = [
    "Claim",
    "ClaimCheck",
    "DEFAULT_CLAIMS",
    "DatasetSummary",
    "PairedStats",
    "StrategySummary",
    "Summary",
    "check_claim",
    "dataset_key",
    "lambda_claims",
    "summary_label",
    "summarize",
    "summarize_folder",
    "write_results_markdown",
]

#: Configuration fields that may differ inside one dataset section: what is compared (strategy,
#: its options, λ), the seed, and where the run was computed.  Any other difference (epochs,
#: model, budgets...) means the runs are not comparable, and :func:`summarize` says so.
COMPARED_FIELDS = frozenset({"strategy", "strategy_options", "seed", "dynamic_weight", "device", "score_batch_size", "root", "download"})
METRICS: tuple[str, ...] = ("aulc", "final")
OPERATORS: tuple[str, ...] = (">", "<")


def summary_label(record: dict[str, Any]) -> str:
    """:func:`~altoolkit.results.record_label` plus the strategy options when some were set."""
    label = record_label(record)
    opts = record["config"].get("strategy_options") or {}
    if opts:
        label += " [" + ", ".join(f"{k}={v}" for k, v in sorted(opts.items())) + "]"
    return label


def dataset_key(record: dict[str, Any]) -> str:
    """The dataset name, plus its loader options when some were set (e.g. an imbalance ratio)."""
    cfg = record["config"]
    opts = cfg.get("dataset_options") or {}
    if not opts:
        return cfg["dataset"]
    return cfg["dataset"] + " (" + ", ".join(f"{k}={v}" for k, v in sorted(opts.items())) + ")"


@dataclass(frozen=True)
class Claim:
    """``a op b`` on a metric: ``"aulc"`` (area under the learning curve) or ``"final"``
    (accuracy at the last budget), checked on the paired differences over matched seeds."""

    a: str
    op: str
    b: str
    metric: str = "aulc"
    source: str = ""

    def __post_init__(self) -> None:
        check_choice("claim operator", self.op, OPERATORS)
        check_choice("claim metric", self.metric, METRICS)
        if not (isinstance(self.a, str) and self.a and isinstance(self.b, str) and self.b):
            raise ValueError(f"a claim compares two non-empty labels, got {self.a!r} and {self.b!r}")

    @classmethod
    def parse(cls, claim: "Claim | Sequence[str] | str") -> "Claim":
        """From a :class:`Claim`, a tuple ``(a, op, b[, metric[, source]])`` or a string
        ``"a > b"`` / ``"a > b : final"``."""
        if isinstance(claim, Claim):
            return claim
        if isinstance(claim, str):
            text, _, metric = claim.partition(":")
            for op in OPERATORS:
                if op in text:
                    a, b = (t.strip() for t in text.split(op, 1))
                    return cls(a, op, b, metric.strip() or "aulc")
            raise ValueError(f"a claim string looks like 'disal > random' (operators {OPERATORS}); got {claim!r}")
        parts = tuple(claim)
        if not 3 <= len(parts) <= 5:
            raise ValueError(f"a claim tuple is (a, op, b[, metric[, source]]), got {claim!r}")
        return cls(*parts)

    def text(self) -> str:
        metric = "AULC" if self.metric == "aulc" else "final accuracy"
        return f"{self.a} {self.op} {self.b} ({metric})"


#: The papers' claims that a sweep of these strategies can check.
DEFAULT_CLAIMS: tuple[Claim, ...] = (
    Claim("disal", ">", "random", source="DISAL Fig. 3 and Table 2"),
    Claim("disal", ">", "disal_no_dynamic", source="DISAL Table 2, Sec. 4.5.1: the dynamic loss helps"),
    Claim("disal", ">", "disal_no_selection", source="DISAL Table 2: the KL selection helps"),
    Claim("disal_no_dynamic", ">", "random", source="DISAL Table 2: the KL score alone beats random"),
    Claim("disal", ">", "ce_difference", source="DISAL Fig. 7: the KL score beats the label-peeking CE difference"),
    Claim("isal", ">", "random", source="ISAL Fig. 3: ISAL needs fewer labels than random"),
)


@dataclass
class PairedStats:
    """``a − b`` seed by seed (seeds both have), for the AULC and the final accuracy."""

    a: str
    b: str
    seeds: list[int]
    aulc_diff: np.ndarray  # (S,)
    final_diff: np.ndarray  # (S,)

    def diff(self, metric: str) -> np.ndarray:
        return self.aulc_diff if check_choice("metric", metric, METRICS) == "aulc" else self.final_diff

    def mean(self, metric: str = "aulc") -> float:
        return float(self.diff(metric).mean())

    def std(self, metric: str = "aulc") -> float:
        """Sample std (ddof=1) of the per-seed differences; 0 with one seed."""
        d = self.diff(metric)
        return float(d.std(ddof=1)) if len(d) > 1 else 0.0

    def wins(self, metric: str = "aulc") -> int:
        """Seeds where ``a`` is strictly above ``b``."""
        return int((self.diff(metric) > 0).sum())

    def losses(self, metric: str = "aulc") -> int:
        return int((self.diff(metric) < 0).sum())

    def p_value(self, metric: str = "aulc") -> float | None:
        """Two-sided paired t-test (``scipy.stats.ttest_rel``); ``None`` with fewer than two seeds
        or when every difference is the same (the t statistic is undefined)."""
        d = self.diff(metric)
        if len(d) < 2 or np.allclose(d, d[0], rtol=0.0, atol=1e-15):
            return None
        from scipy.stats import ttest_1samp

        # The paired t-test of a and b (scipy.stats.ttest_rel) is the one-sample test of a − b against 0.
        return float(ttest_1samp(d, 0.0).pvalue)


@dataclass
class StrategySummary:
    """One strategy (one label) on one dataset, over its seeds."""

    label: str
    curve: CurveSummary
    aulc: np.ndarray  # (S,)
    dynamic_weight: float  # the λ the runs trained with (the strategy's default when not set)
    train_seconds: float | None  # mean per cycle with a selection; None with one cycle
    select_seconds: float | None
    labels_to_reach_reference: float | None = None  # None: never reaches it (or no reference)
    reference_final_budget: int | None = None

    @property
    def seeds(self) -> list[int]:
        return self.curve.seeds

    @property
    def final(self) -> np.ndarray:
        return self.curve.acc[:, -1]

    @property
    def aulc_mean(self) -> float:
        return float(self.aulc.mean())

    @property
    def aulc_std(self) -> float:
        return float(self.aulc.std(ddof=1)) if len(self.aulc) > 1 else 0.0

    @property
    def labels_saved(self) -> float | None:
        """Reference's final budget minus the labels this strategy needs to reach its final
        accuracy (ISAL Sec. 4.1); ``None`` when it never does or there is no reference."""
        if self.labels_to_reach_reference is None or self.reference_final_budget is None:
            return None
        return self.reference_final_budget - self.labels_to_reach_reference


@dataclass
class DatasetSummary:
    """Every strategy on one dataset, and their comparisons with the reference (random)."""

    dataset: str
    reference: str
    settings: dict[str, Any]
    n_labeled: np.ndarray
    fraction: np.ndarray
    strategies: dict[str, StrategySummary]
    comparisons: dict[str, PairedStats]  # label -> label − reference
    unfinished: int = 0
    threads: list[str] = field(default_factory=list)  # torch threads the runs used (from the records)

    @property
    def has_reference(self) -> bool:
        return self.reference in self.strategies

    @property
    def reference_final_accuracy(self) -> float | None:
        ref = self.strategies.get(self.reference)
        return float(ref.curve.mean[-1]) if ref is not None else None

    def compare(self, a: str, b: str) -> PairedStats:
        """``a − b`` over the seeds both have."""
        for name in (a, b):
            if name not in self.strategies:
                raise ValueError(f"no records labelled {name!r} on {self.dataset}; available: {sorted(self.strategies)}")
        sa, sb = self.strategies[a], self.strategies[b]
        common = sorted(set(sa.seeds) & set(sb.seeds))
        if not common:
            raise ValueError(f"{a!r} and {b!r} share no seed on {self.dataset}; a paired comparison needs matched seeds")
        ia = [sa.seeds.index(s) for s in common]
        ib = [sb.seeds.index(s) for s in common]
        return PairedStats(a, b, common, sa.aulc[ia] - sb.aulc[ib], sa.final[ia] - sb.final[ib])

    def check_claims(self, claims: Iterable[Claim | Sequence[str] | str]) -> list["ClaimCheck"]:
        return [check_claim(self, Claim.parse(c)) for c in claims]


@dataclass
class Summary:
    """Per dataset summaries of finished records (unfinished ones are counted, not used)."""

    datasets: dict[str, DatasetSummary]
    n_records: int
    n_unfinished: int
    reference: str = "random"


@dataclass
class ClaimCheck:
    """The verdict on one claim for one dataset, with the numbers behind it."""

    claim: Claim
    dataset: str
    status: str  # "holds", "does not hold", "cannot be checked"
    stats: PairedStats | None = None
    reason: str = ""

    @property
    def holds(self) -> bool | None:
        return None if self.status == "cannot be checked" else self.status == "holds"

    def numbers(self) -> str:
        """``+1.23 ± 0.40 points over 3 seeds, disal ahead on 3/3, paired t-test p = 0.031``."""
        if self.stats is None:
            return self.reason
        m = self.claim.metric
        sign = 1 if self.claim.op == ">" else -1
        ahead = self.stats.wins(m) if sign > 0 else self.stats.losses(m)
        p = self.stats.p_value(m)
        p_text = f"paired t-test p = {p:.3f}" if p is not None else "paired t-test undefined (fewer than 2 seeds or identical differences)"
        name = "AULC" if m == "aulc" else "final accuracy"
        n = len(self.stats.seeds)
        return (f"mean {name} difference {self.claim.a} − {self.claim.b} = {100 * self.stats.mean(m):+.2f} ± "
                f"{100 * self.stats.std(m):.2f} points over {n} seed{'s' if n != 1 else ''}; "
                f"claim direction on {ahead}/{n} seeds; {p_text}")

    def line(self) -> str:
        src = f" ({self.claim.source})" if self.claim.source else ""
        return f"**{self.claim.text()}**{src}: **{self.status}**: {self.numbers()}."


def check_claim(ds: DatasetSummary, claim: Claim) -> ClaimCheck:
    """A claim holds when the mean paired difference over matched seeds has the claimed sign."""
    missing = [n for n in (claim.a, claim.b) if n not in ds.strategies]
    if missing:
        return ClaimCheck(claim, ds.dataset, "cannot be checked", reason=f"no records of {', '.join(missing)}")
    try:
        stats = ds.compare(claim.a, claim.b)
    except ValueError as exc:
        return ClaimCheck(claim, ds.dataset, "cannot be checked", reason=str(exc))
    mean = stats.mean(claim.metric)
    ok = mean > 0 if claim.op == ">" else mean < 0
    return ClaimCheck(claim, ds.dataset, "holds" if ok else "does not hold", stats)


def lambda_claims(ds: DatasetSummary, strategy: str = "disal") -> list[Claim]:
    """DISAL Table 3 (λ = 1 is best): the default-λ group against each other λ in the records."""
    if strategy not in ds.strategies:
        return []
    default = ds.strategies[strategy].dynamic_weight
    return [
        Claim(strategy, ">", label, source=f"DISAL Table 3: λ = {default:g} (the default) is best")
        for label, s in ds.strategies.items()
        if label.startswith(f"{strategy} (λ=") and not label.endswith("]") and s.dynamic_weight != default
    ]


def _settings_of(records: list[dict[str, Any]], dataset: str) -> dict[str, Any]:
    """The configuration fields shared by all records of a dataset; different ones raise."""
    first = records[0]["config"]
    for r in records[1:]:
        diff = sorted(k for k in set(first) | set(r["config"]) if k not in COMPARED_FIELDS and first.get(k) != r["config"].get(k))
        if diff:
            show = ", ".join(f"{k}: {first.get(k)!r} vs {r['config'].get(k)!r}" for k in diff)
            raise ValueError(
                f"records of {dataset} differ in {diff} ({show}); they come from different experiments and "
                "cannot be summarised together: keep each sweep in its own folder"
            )
    return {k: v for k, v in first.items() if k not in COMPARED_FIELDS}


def summarize(records: Iterable[dict[str, Any]], reference: str = "random") -> Summary:
    """Group finished records by dataset and label and compute the summary (see the module doc).

    Unfinished records are counted and left out.  Records of one dataset must share every
    configuration field except the strategy, its options, λ, the seed and the device.
    """
    records = list(records)
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "config" not in r or "cycles" not in r:
            raise TypeError(f"records[{i}] is not an altoolkit record (a dict with 'config' and 'cycles')")
    finished = [r for r in records if r.get("finished")]
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unfinished: dict[str, int] = defaultdict(int)
    for r in records:
        if r.get("finished"):
            by_dataset[dataset_key(r)].append(r)
        else:
            unfinished[dataset_key(r)] += 1
    out: dict[str, DatasetSummary] = {}
    for ds_name in sorted(set(by_dataset) | set(unfinished)):
        recs = by_dataset.get(ds_name, [])
        if not recs:
            continue
        settings = _settings_of(recs, ds_name)
        seen: set[tuple[str, int]] = set()
        for r in recs:
            key = (summary_label(r), r["config"]["seed"])
            if key in seen:
                raise ValueError(f"two records of {key[0]} seed {key[1]} on {ds_name}; keep one (e.g. one folder per sweep)")
            seen.add(key)
        curves = learning_curves(recs, label=summary_label)
        seconds = cycle_seconds(recs, label=summary_label)
        first = next(iter(curves.values()))
        strategies: dict[str, StrategySummary] = {}
        lam = {summary_label(r): float(r["strategy"]["dynamic_weight"]) for r in recs}
        for label in sorted(curves, key=lambda lab: (lab != reference, lab)):
            cs = curves[label]
            tr, se = seconds.get(label, (None, None))
            strategies[label] = StrategySummary(label, cs, area_under_curve(cs.fraction, cs.acc), lam[label], tr, se)
        threads = sorted({str(r.get("environment", {}).get("threads", "?")) for r in recs})
        ds = DatasetSummary(ds_name, reference, settings, first.n_labeled, first.fraction, strategies, {},
                            unfinished.get(ds_name, 0), threads)
        if ds.has_reference:
            ref = strategies[reference]
            target = float(ref.curve.mean[-1])
            for s in strategies.values():
                s.reference_final_budget = int(ref.curve.n_labeled[-1])
                s.labels_to_reach_reference = labels_to_reach(s.curve.n_labeled, s.curve.mean, target)
                if s.label != reference:
                    try:
                        ds.comparisons[s.label] = ds.compare(s.label, reference)
                    except ValueError:
                        pass  # no common seed: the table says so
        out[ds_name] = ds
    return Summary(out, len(finished), len(records) - len(finished), reference)


def summarize_folder(folder: str | Path, pattern: str = "*.json") -> list[dict[str, Any]]:
    """Every record in ``folder`` (files matching ``pattern``, sorted); files that are not
    altoolkit records are skipped with a warning naming them."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"folder {str(root)!r} is not a folder of records (e.g. the --out-dir of `altoolkit sweep`)")
    records = []
    for path in sorted(root.glob(pattern)):
        try:
            records.append(load_record(path))
        except ValueError as exc:
            warnings.warn(f"skipping {path.name}: {exc}", UserWarning, stacklevel=2)
    return records


# ----------------------------------------------------------------------------------------- markdown


def _pm(values: np.ndarray, scale: float = 100.0, digits: int = 1, signed: bool = False) -> str:
    v = np.asarray(values, dtype=float) * scale
    std = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():{'+' if signed else ''}.{digits}f} ± {std:.{digits}f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _settings_text(ds: DatasetSummary) -> str:
    s = ds.settings
    seeds = sorted({seed for st in ds.strategies.values() for seed in st.seeds})
    pct = ", ".join(f"{n} ({f:.0%})" for n, f in zip(ds.n_labeled, ds.fraction))
    return (f"Model `{s.get('model')}`, {s.get('epochs')} epochs per cycle, batch {s.get('batch_size')}, lr {s.get('lr')} "
            f"({s.get('lr_schedule')}), augment `{s.get('augment')}`, {s.get('cycles')} cycles; labeled-set sizes "
            f"{pct}; validation set {s.get('validation_size')}. Seeds: {', '.join(map(str, seeds))}.")


def _comparison_table(ds: DatasetSummary) -> str:
    ref = ds.reference
    head = ["strategy", "seeds", "AULC (%)", "final acc (%)", f"labels to reach {ref}'s final",
            "labels saved", f"ΔAULC vs {ref} (points)", f"Δfinal vs {ref} (points)", "wins (AULC)", "p (paired t, AULC)"]
    rows = []
    for label, s in ds.strategies.items():
        row = [label, str(len(s.seeds)), _pm(s.aulc), _pm(s.final)]
        if not ds.has_reference:
            row += ["—"] * 6
        else:
            reach = s.labels_to_reach_reference
            row.append("not reached" if reach is None else f"{reach:.0f}")
            saved = s.labels_saved
            row.append("—" if saved is None else f"{saved:+.0f} ({saved / s.reference_final_budget:+.1%})")
            if label == ref:
                row += ["(reference)", "", "", ""]
            elif label not in ds.comparisons:
                row += ["no common seed", "", "", ""]
            else:
                c = ds.comparisons[label]
                p = c.p_value("aulc")
                row += [_pm(c.aulc_diff, digits=2, signed=True), _pm(c.final_diff, digits=2, signed=True),
                        f"{c.wins('aulc')}/{len(c.seeds)}", "—" if p is None else f"{p:.3f}"]
        rows.append(row)
    return _table(head, rows)


def _seconds_table(ds: DatasetSummary) -> str:
    ref = ds.strategies.get(ds.reference)
    ref_total = None if ref is None or ref.train_seconds is None else ref.train_seconds + ref.select_seconds
    head = ["strategy", "runs", "train s / cycle", "select s / cycle", "train + select s", f"× {ds.reference}"]
    rows = []
    for label, s in ds.strategies.items():
        if s.train_seconds is None:
            rows.append([label, str(len(s.seeds)), "—", "—", "—", "—"])
            continue
        total = s.train_seconds + s.select_seconds
        ratio = "—" if not ref_total else f"{total / ref_total:.2f}"
        rows.append([label, str(len(s.seeds)), f"{s.train_seconds:.2f}", f"{s.select_seconds:.3f}", f"{total:.2f}", ratio])
    return _table(head, rows)


def _claims_for(ds: DatasetSummary, claims: Sequence[Claim]) -> list[Claim]:
    out = list(claims)
    names = {(c.a, c.b) for c in out}
    out += [c for c in lambda_claims(ds) if (c.a, c.b) not in names]
    return out


def write_results_markdown(
    records: Iterable[dict[str, Any]],
    path: str | Path,
    title: str = "Results",
    notes: str | Sequence[str] | None = None,
    claims: Iterable[Claim | Sequence[str] | str] | None = None,
    reference: str = "random",
) -> Path:
    """Write a readable ``RESULTS.md`` from records and return its path.

    One section per dataset: the accuracy table (mean ± std over seeds per budget), the AULC /
    labels-saved / paired-comparison table against ``reference``, the seconds table, and the
    claims section, where each claim is checked on these runs with its numbers.  ``claims=None``
    checks :data:`DEFAULT_CLAIMS` plus DISAL Table 3's "the default λ is best" against every
    other λ found in the records; a list checks exactly those claims.
    """
    auto_lambda = claims is None
    claim_list = [Claim.parse(c) for c in (DEFAULT_CLAIMS if claims is None else claims)]
    summary = summarize(records, reference=reference)
    out: list[str] = [f"# {title}", ""]
    if notes:
        out += ([notes] if isinstance(notes, str) else list(notes)) + [""]
    out += [
        f"Summary of {summary.n_records} finished runs"
        + (f" ({summary.n_unfinished} unfinished runs left out)" if summary.n_unfinished else "")
        + ", written by `altoolkit summarize` from the run records; every number below is computed from them.",
        "",
        "How to read it:",
        "",
        "- Accuracies are test accuracies in %, mean ± sample standard deviation (ddof = 1) over seeds; "
        "a seed fixes the initial labeled pool, the initialisations, the training order and the selection.",
        "- AULC: area under the learning curve over the labeled fraction (trapezoid), divided by the "
        "fraction range, so it is an average accuracy over the budgets (in %).",
        f"- Labels to reach {reference}'s final (ISAL Sec. 4.1): the smallest number of labels at which the "
        f"strategy's mean curve reaches {reference}'s final mean accuracy, linear between budgets; labels saved = "
        f"{reference}'s final budget − that number (and its share of that budget); \"not reached\" when the "
        "curve never gets there.",
        f"- Paired comparison: differences strategy − {reference} seed by seed (same initial pool); mean ± std, "
        "the seeds where the strategy is ahead, and a two-sided paired t-test. With three seeds such a test has "
        "little power: only a large and very consistent difference gets p < 0.05, and p ≥ 0.05 does not mean "
        "the strategies are equal.",
        "- A claim holds in these runs when the mean paired difference has the claimed sign; the numbers say "
        "how firmly.",
        "",
    ]
    # At a glance: the verdict on every claim, per dataset.
    checks_by_ds = {name: ds.check_claims(_claims_for(ds, claim_list) if auto_lambda else claim_list)
                    for name, ds in summary.datasets.items()}
    glance = [[c.claim.text(), name, c.status,
               "" if c.stats is None else f"{100 * c.stats.mean(c.claim.metric):+.2f} ± {100 * c.stats.std(c.claim.metric):.2f}",
               "" if c.stats is None else f"{(c.stats.wins if c.claim.op == '>' else c.stats.losses)(c.claim.metric)}/{len(c.stats.seeds)}"]
              for name, checks in checks_by_ds.items() for c in checks if c.status != "cannot be checked"]
    if glance:
        out += ["## Claims at a glance", "",
                _table(["claim", "dataset", "in these runs", "mean difference (points)", "seeds in claim direction"], glance),
                ""]
        failing = [g for g in glance if g[2] == "does not hold"]
        if failing:
            out += [f"{len(failing)} of {len(glance)} checked claims do **not** hold in these runs; "
                    "the dataset sections give the numbers.", ""]
    if not summary.datasets:
        out += ["No finished runs to summarise.", ""]
    for name, ds in summary.datasets.items():
        out += [f"## {name}", "", _settings_text(ds), ""]
        if ds.unfinished:
            out += [f"{ds.unfinished} unfinished run(s) of this dataset are left out.", ""]
        if not ds.has_reference:
            out += [f"**Missing:** no finished records of `{reference}` on {name}, so labels saved, the paired "
                    f"comparisons with {reference} and the claims about {reference} cannot be computed.", ""]
        out += ["### Test accuracy (%) at each labeled-set size", "",
                "Columns: labeled samples (share of the pool); cells: mean ± std over seeds.", "",
                markdown_table({k: s.curve for k, s in ds.strategies.items()}), ""]
        out += [f"### Area under the learning curve, labels saved, and paired comparison with {reference}", "",
                _comparison_table(ds), ""]
        out += ["### Seconds per cycle", "",
                "Mean over cycles that end with a selection (the last training has none). "
                f"torch threads per run: {', '.join(ds.threads)}; runs in parallel share the machine, so compare "
                "ratios rather than absolute times (DISAL Table 1 reports one cycle on CIFAR as 359 s for DISAL "
                "against 299 s for random on a GPU).", "",
                _seconds_table(ds), ""]
        out += ["### Claims of the papers, checked on these runs", ""]
        checks = checks_by_ds[name]
        checkable = [c for c in checks if not (c.status == "cannot be checked" and c.claim.a not in ds.strategies
                                               and c.claim.b not in ds.strategies)]
        unchecked = [c for c in checks if c not in checkable]
        out += [f"- {c.line()}" for c in checkable] or ["- No claim compares strategies present here."]
        if unchecked:
            out += [f"- Not checked (neither side was run): {', '.join(c.claim.text() for c in unchecked)}."]
        n = sorted({len(st.seeds) for st in ds.strategies.values()})
        out += ["", f"Seeds per strategy: {', '.join(map(str, n))}. With this few seeds, a claim that holds on "
                "average may not hold on every seed, and the paired tests have little power.", ""]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(out).rstrip() + "\n", encoding="utf-8")
    return p
