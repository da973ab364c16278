"""Tables that notebooks display (altoolkit.analysis.tables) and the seconds-ratio reading of
notebook 06 (issue 28: tables as tables; a direction only where the interval gives one)."""

from __future__ import annotations

import numpy as np
import pytest

from altoolkit.analysis import narrate, results, tables
from altoolkit.math.stats import compare


def test_table_renders_html_markdown_and_plain_text():
    t = tables.Table(["strategy", "acc (%)", "note"], [["disal", "85.2 ± 1.0", "**contradicted**"], ["random", "88.0 ± 0.5", "`x`"]], caption="accuracy")
    assert t.align == "lrl", "numeric columns are right-aligned"
    h = t.html()
    assert "<caption>accuracy</caption>" in h and '<td style="text-align:right">85.2 ± 1.0</td>' in h
    assert "<strong>contradicted</strong>" in h and "<code>x</code>" in h and "|" not in h
    assert t.markdown().splitlines()[3] == "|---|---:|---|"
    plain = t.text()
    assert "|" not in plain and "**" not in plain and "contradicted" in plain
    assert repr(t) == plain and t._repr_html_() == h
    with pytest.raises(ValueError, match="row"):
        tables.Table(["a", "b"], [["1"]])
    with pytest.raises(ValueError, match="align"):
        tables.Table(["a"], [["1"]], align="x")


def test_from_markdown_keeps_caption_cells_alignment_and_notes():
    md = "mlp:\n| labeled | acc |\n|---|---:|\n| 54 | 80.1 |\n| 67 | 51.5 |\n\na note"
    t = tables.Table.from_markdown(md)
    assert t.caption == "mlp:" and t.header == ["labeled", "acc"] and t.rows == [["54", "80.1"], ["67", "51.5"]]
    assert t.align == "lr" and t.notes == ["a note"]
    assert tables.is_pipe_table(md) and not tables.is_pipe_table("| just a bar |")
    with pytest.raises(ValueError, match="pipe table"):
        tables.Table.from_markdown("no table")


def test_show_prints_plain_text_outside_ipython(capsys):
    tables.show("| a | b |\n|---|---|\n| 1 | 2 |")
    out = capsys.readouterr().out
    assert "|" not in out and "a" in out and "2" in out
    tables.show("**bold** <!-- hidden -->")
    assert capsys.readouterr().out.strip() == "bold"


def test_verdict_table_has_one_row_per_claim():
    v = compare({0: 0.1, 1: 0.2, 2: 0.3}, {0: 0.0, 1: 0.0, 2: 0.0}, "a > b")
    t = tables.verdict_table([v])
    assert t.rows[0][0] == "a > b" and t.rows[0][1] == f"**{v.verdict}**" and t.rows[0][4] == "3"


def _record(strategy: str, seed: int, seconds: float) -> dict:
    cycles = [{"train_seconds": seconds, "select_seconds": 0.0, "n_labeled": 10, "test_acc": 0.5}] * 2 + [{"train_seconds": 1, "select_seconds": 0}]
    return {"config": {"strategy": strategy, "seed": seed, "dynamic_weight": None}, "cycles": cycles}


def test_seconds_ratio_gives_a_direction_only_with_an_interval_that_says_it():
    recs = [_record("random", s, 10.0) for s in range(5)] + [_record("disal", s, 8.0 + 0.1 * s) for s in range(5)]
    v = results.seconds_ratio(recs, "disal", "random")
    assert v.verdict == "contradicted", "every seed's disal cycle is shorter"
    assert results.ratio_text(v).startswith(f"{np.exp(v.mean):.2f}×")
    assert "shorter than random's" in narrate.cost_reading(v, "disal", "random")
    noisy = [_record("random", s, 10.0) for s in range(4)] + [_record("disal", s, x) for s, x in enumerate((8.0, 12.0, 9.0, 11.5))]
    w = results.seconds_ratio(noisy, "disal", "random")
    assert w.verdict == "inconclusive" and "no difference from random's shown" in narrate.cost_reading(w, "disal", "random")
    table = results.seconds_table(recs)
    assert [r[0] for r in table.rows] == ["disal", "random"] and table.rows[1][-1] == "1"


def test_curve_table_and_markdown_table_agree():
    cs = results.CurveSummary(label="x", n_labeled=np.array([10, 20]), fraction=np.array([0.1, 0.2]), acc=np.array([[0.5, 0.6], [0.7, 0.8]]), seeds=[0, 1])
    t = results.curve_table({"disal": cs})
    assert t.header == ["strategy", "seeds", "10 (10%)", "20 (20%)"] and t.rows == [["disal", "2", "60.0 ± 14.1", "70.0 ± 14.1"]]
    assert results.markdown_table({"disal": cs}).startswith("| strategy | seeds |")
