"""Does a second run tell the same story?  The verdicts of two sets of records, claim by claim
(issue 25, item 6: a rerun of the ``real`` profile from an empty cache, on another seed set).

A rerun *disagrees* when a claim that holds in one run is contradicted in the other (a **flip**).
A claim that moves between a verdict and *inconclusive* is a weaker change: the intervals of the two
runs overlap zero differently, which happens by chance near the boundary, so they are counted
apart (to / from inconclusive).  Claims are matched by their section (dataset, loader options and
budget regime: :func:`~altoolkit.drivers.active_learning_benchmark.dataset_key`) and their text;
every verdict is :func:`~altoolkit.drivers.active_learning_benchmark.claim_checks`'s, the one
RESULTS.md prints, and every batch rule's two verdicts against its random-score control
(:func:`rule_verdicts`).  Notebook 09's study (interventions, under-training grid) is paired the same way
from the per-seed files each run keeps in ``<folder>/study`` (:func:`study_agreement`, verdicts
recomputed by :func:`~altoolkit.drivers.why_selections_collapse.study_verdicts`).
``altoolkit agreement FIRST SECOND`` prints :func:`agreement_markdown` of both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

from ..analysis.results import markdown
from ..math.stats import Verdict
from .active_learning_benchmark import Claim, ClaimCheck, claim_checks, dataset_key, summarize

__all__ = ["StudyCheck", "VerdictPair", "Agreement", "claim_verdicts", "rule_verdicts", "rerun_agreement", "study_agreement", "agreement_markdown"]

_DECIDED = ("holds", "contradicted")
_CHECKED = (*_DECIDED, "inconclusive")


@dataclass(frozen=True)
class StudyCheck:
    """A verdict of notebook 09 (its study, or a batch rule against its control) in a
    :class:`ClaimCheck`'s shape (``status``, ``numbers()``)."""

    verdict: Verdict
    scale: float = 1.0  # 100 for accuracies and shares read in points

    @property
    def status(self) -> str:
        return self.verdict.verdict

    def numbers(self) -> str:
        return self.verdict.text(scale=self.scale, digits=3 if self.scale == 1 else 2).split(": ", 1)[1]


Check = Union[ClaimCheck, StudyCheck]


@dataclass(frozen=True)
class VerdictPair:
    """One claim in one section, as each run judged it (``None``: not checked in that run)."""

    section: str
    claim: str
    first: Check | None
    second: Check | None

    @staticmethod
    def _status(check: Check | None) -> str:
        return "not in this run" if check is None else check.status

    @property
    def change(self) -> str:
        """``same``, ``flip`` (holds ↔ contradicted), ``to inconclusive``, ``from inconclusive``,
        ``first run only`` / ``second run only`` (checked in one run: the other has no records of a
        side, or not that section) or ``neither`` (checked in neither run)."""
        a, b = self._status(self.first), self._status(self.second)
        if a not in _CHECKED or b not in _CHECKED:
            return "first run only" if a in _CHECKED else "second run only" if b in _CHECKED else "neither"
        if a == b:
            return "same"
        if a in _DECIDED and b in _DECIDED:
            return "flip"
        return "to inconclusive" if b == "inconclusive" else "from inconclusive"

    def row(self) -> list[str]:
        def cell(check: Check | None) -> str:
            return "not in this run" if check is None else f"{check.status}: {check.numbers()}"

        change = self.change + (" (unequal seeds)" if self.unequal_seeds else "")
        return [self.section, self.claim, cell(self.first), cell(self.second), change]

    @property
    def unequal_seeds(self) -> bool:
        """Checked in both runs on different numbers of seeds (a run still going, or other seed
        lists): its change says less than one between complete runs."""
        a, b = (getattr(c, "verdict", None) for c in (self.first, self.second))
        return a is not None and b is not None and a.n != b.n


@dataclass(frozen=True)
class Agreement:
    """Every claim of either run, paired."""

    pairs: list[VerdictPair]

    def count(self, change: str) -> int:
        return sum(p.change == change for p in self.pairs)

    @property
    def flips(self) -> list[VerdictPair]:
        return [p for p in self.pairs if p.change == "flip"]

    def sentence(self) -> str:
        """The counts in words."""
        both = sum(self.count(c) for c in ("same", "flip", "to inconclusive", "from inconclusive"))
        unequal = sum(p.unequal_seeds for p in self.pairs)
        return (
            f"{both} claims checked in both runs: {self.count('same')} same verdict, {self.count('flip')} flipped "
            f"between holds and contradicted, {self.count('to inconclusive')} moved to inconclusive and "
            f"{self.count('from inconclusive')} from it; {self.count('first run only')} checked in the first run only, "
            f"{self.count('second run only')} in the second only ({self.count('neither')} in neither, left out of the table)."
            + (f" {unequal} of those checked in both rest on unequal seed counts." if unequal else "")
        )


def claim_verdicts(records: Iterable[dict[str, Any]], claims: Sequence[Claim | Sequence[str] | str] | None = None) -> dict[tuple[str, str], ClaimCheck]:
    """Every (section, claim text) of ``records`` and its check, as RESULTS.md has it."""
    checks = claim_checks(summarize(list(records)), claims)
    return {(section, c.claim.text()): c for section, cs in checks.items() for c in cs}


def rule_verdicts(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Check]:
    """Every batch rule's two verdicts against its random-score control (AULC and class share, in
    points; :func:`~altoolkit.drivers.batch_rule_control.batch_rule_controls`, as RESULTS.md's
    batch-rule table has them), per RESULTS.md section that holds runs of a batch rule other than
    top-k (notebook 09's; a section of top-k runs alone has no such table)."""
    from .batch_rule_control import batch_rule_controls

    by_section: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_section.setdefault(dataset_key(r), []).append(r)
    out: dict[tuple[str, str], Check] = {}
    for section, rs in by_section.items():
        if not any((r["config"].get("strategy_options") or {}).get("batch", "topk") != "topk" for r in rs):
            continue
        for row in batch_rule_controls(rs):
            for v in (row.aulc_verdict, row.share_verdict):
                if v is not None:
                    out[(f"{section}: batch rules against their random-score control", v.claim)] = StudyCheck(v, scale=100)
    return out


def rerun_agreement(
    first: Iterable[dict[str, Any]], second: Iterable[dict[str, Any]], claims: Sequence[Claim | Sequence[str] | str] | None = None
) -> Agreement:
    """The verdicts of two runs (their records) paired claim by claim, RESULTS.md's claims and its
    batch rules against their controls; sections and claims in the first run's order, then those
    only the second has."""
    first, second = list(first), list(second)
    a = {**claim_verdicts(first, claims), **rule_verdicts(first)}
    b = {**claim_verdicts(second, claims), **rule_verdicts(second)}
    return _paired(a, b)


def _paired(a: Mapping[tuple[str, str], Check], b: Mapping[tuple[str, str], Check]) -> Agreement:
    keys = list(a) + [k for k in b if k not in a]
    return Agreement([VerdictPair(section, claim, a.get((section, claim)), b.get((section, claim))) for section, claim in keys])


def _study_checks(folder: str | Path) -> dict[tuple[str, str], Check]:
    from .why_selections_collapse import study_verdicts

    return {(section, f"{name}: {v.claim}"): StudyCheck(v) for section, vs in study_verdicts(folder).items() for name, v in vs.items()}


def study_agreement(first: str | Path, second: str | Path) -> Agreement:
    """Notebook 09's study verdicts of two runs, from their per-seed folders (``RESULTS_DIR/study``),
    paired by section (regime or grid, and the data's content) and verdict name."""
    return _paired(_study_checks(first), _study_checks(second))


def agreement_markdown(agreement: Agreement, names: tuple[str, str] = ("first run", "second run")) -> str:
    """The counts, then one row per claim (the flips and moves first)."""
    order = {"flip": 0, "to inconclusive": 1, "from inconclusive": 2, "same": 3, "first run only": 4, "second run only": 5}
    pairs = sorted((p for p in agreement.pairs if p.change != "neither"), key=lambda p: order[p.change])
    table = markdown(["section", "claim", names[0], names[1], "change"], [p.row() for p in pairs])
    return agreement.sentence() + "\n\n" + table
