"""The course kit: notebook headers and the README outline agree with ``altoolkit.teaching.course``; the
nbgrader exercises grade full marks on the instructor version and fail on the student version
(offline, notebook 01 with tiny parameters); saved outputs carry no PosixPath, absolute path, CDN
URL, progress bar or repeated warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from altoolkit.teaching import course

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ROOT / "course" / "RUNTIMES.md"
#: tiny parameters for notebook 01 under the autograder (the exercises only need the objects)
TINY_01 = {
    "N_LABELED": 60,
    "EPOCHS": 4,
    "N_TEST": 40,
    "STEP_SIZES": [0.1, 0.01, 0.001],
    "KL_SCALES": [1.0, 0.25, 0.0625],
    "TOP_K": 5,
}


def test_every_notebook_has_its_generated_header():
    rt = course.read_runtimes(RUNTIMES)
    assert rt[1], "course/RUNTIMES.md lists no measured notebook"
    for e in course.COURSE:
        nb = json.loads((ROOT / "notebooks" / f"{e.stem}.ipynb").read_text())
        first = "".join(nb["cells"][0]["source"])
        assert course.render_header(e.stem, rt) in first, f"{e.stem}: header out of date (python -m altoolkit.teaching.course --headers)"


def test_readme_outline_is_generated():
    assert course.render_outline(course.read_runtimes(RUNTIMES)) in (ROOT / "README.md").read_text()


def test_readme_references_are_generated_and_every_header_cites():
    assert course.render_references() in (ROOT / "README.md").read_text()
    for e in course.COURSE:
        assert e.references and set(e.references) <= set(course.REFERENCES), e.stem
        assert {"DISAL", "ISAL"} & set(e.references), f"{e.stem} cites neither paper the course reproduces"
    cited = {k for e in course.COURSE for k in e.references}
    assert {"DISAL", "ISAL", "TracIn", "TOD", "BADGE", "Core-set", "LiSSA"} <= cited
    assert all(r.url is None or r.url.startswith("https://") for r in course.REFERENCES.values())


def test_citation_cff_names_the_project_and_the_papers():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"].startswith("altoolkit") and cff["authors"] and cff["message"]
    titles = {r["title"] for r in cff["references"]}
    assert "Influence Selection for Active Learning" in titles and any("Dynamic Influence" in t for t in titles)


def test_course_lists_every_notebook_and_valid_prerequisites():
    stems = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert [e.stem for e in course.COURSE] == stems
    numbers = {s.split("_", 1)[0] for s in stems}
    for e in course.COURSE:
        assert set(e.before) <= numbers and all(b < e.stem[:2] for b in e.before), e


def test_exercises_have_solutions_and_hidden_tests():
    nbs = course.exercise_notebooks(ROOT / "notebooks")
    assert len(nbs) >= 3
    for p in nbs:
        cells = json.loads(p.read_text())["cells"]
        sols = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        tests = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        assert 2 <= len(tests) <= 3 and len(sols) == len(tests), p.name
        assert all("### BEGIN SOLUTION" in "".join(c["source"]) for c in sols), p.name
        assert all("### BEGIN HIDDEN TESTS" in "".join(c["source"]) for c in tests), p.name


def test_read_runtimes_and_bad_input(tmp_path):
    p = tmp_path / "RUNTIMES.md"
    p.write_text("profile: test\n| notebook | status | seconds |\n|---|---|---:|\n| 01_a | ok | 12 |\n| 02_b | FAIL | 3 |\n")
    assert course.read_runtimes(p) == ("profile: test", {"01_a": 12.0})
    with pytest.raises(ValueError, match="does not exist"):
        course.read_runtimes(tmp_path / "none.md")
    with pytest.raises(ValueError, match="not in altoolkit.teaching.course.COURSE"):
        course.render_header("99_unknown", ("", {}))


def test_output_problems_are_found(tmp_path):
    out = [
        {"output_type": "execute_result", "data": {"text/plain": "PosixPath('/tmp/x/figures/a.png')"}},
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\n"},
        {"output_type": "stream", "name": "stderr", "text": " 40%|####  | 4/10\n"},
        {"output_type": "display_data", "data": {"text/html": "<script src='https://cdnjs.cloudflare.com/x.js'>"}},
        {"output_type": "stream", "name": "stdout", "text": "| a | b |\n|---|---|\n| 1 | 2 |\n"},
        {"output_type": "stream", "name": "stdout", "text": "<!-- results:start -->\n"},
        {"output_type": "stream", "name": "stdout", "text": "{'n_labeled': 20, 'test_acc': 0.6008869179600886}\n"},
    ]
    nb = {"cells": [{"cell_type": "code", "outputs": out, "source": ""}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    found = " ".join(course.output_problems(tmp_path / "n.ipynb"))
    for what in (
        "PosixPath",
        "absolute path",
        "CDN URL",
        "progress bar",
        "warning on stderr",
        "pipe-table text",
        "HTML comment",
        "raw dict",
        "unrounded float",
    ):
        assert what in found, what


def test_rendered_tables_are_not_output_problems(tmp_path):
    from altoolkit.analysis.tables import Table

    t = Table(["strategy", "acc"], [["disal", "0.5"], ["random", "0.6"]])
    out = [{"output_type": "display_data", "data": {"text/html": t.html(), "text/markdown": t.markdown(), "text/plain": t.text()}}]
    nb = {"cells": [{"cell_type": "code", "outputs": out, "source": ""}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    assert course.output_problems(tmp_path / "n.ipynb") == []


@pytest.mark.slow
def test_autograde_full_marks_for_instructor_zero_for_student(tmp_path):
    src = ROOT / "notebooks" / "01_tracin_to_kl.ipynb"
    release = course.build_course(tmp_path / "course", [src], parameters={src.stem: TINY_01}, timeout=300)
    student = json.loads((release / src.name).read_text())
    text = json.dumps(student)
    assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "raise NotImplementedError()" in text
    scores = course.autograde(tmp_path / "course", {"teacher": tmp_path / "course" / "source" / "altoolkit", "student": release}, timeout=600)
    assert scores["teacher"] == (3.0, 3.0), scores
    assert scores["student"] == (0.0, 3.0), scores
    graded = tmp_path / "course" / "autograded" / "teacher" / "altoolkit" / src.name
    assert course.output_problems(graded) == [], "executed notebook 01 has unclean outputs"


@pytest.mark.slow
def test_autograde_gives_every_submission_the_course_record_cache(tmp_path):
    """Issue 28: submissions are graded with the course's parameters and its record cache (an
    absolute path), so the AL runs are computed by the first submission only: the second finds
    every record in the cache (the records' files are not rewritten)."""
    src = ROOT / "notebooks" / "02_dynamic_loss.ipynb"
    tiny = {"LAMBDAS": [0.0, 1.0], "EPOCHS": 2, "AL_SEEDS": [0], "AL_CYCLES": 2, "AL_EPOCHS": 2, "N_JOBS": 1}
    cache = tmp_path / "cache"
    course.build_course(tmp_path / "course", [src], parameters={src.stem: tiny}, record_cache=cache, timeout=300)
    config = json.loads((tmp_path / "course" / course.COURSE_CONFIG).read_text())
    assert config["parameters"][src.stem]["RESULTS_DIR"] == str(cache.resolve()) and config["parameters"][src.stem]["EPOCHS"] == 2
    solutions = tmp_path / "course" / "source" / "altoolkit"
    assert course.autograde(tmp_path / "course", {"first": solutions}, timeout=600)["first"] == (3.0, 3.0)
    records = sorted(cache.glob("*.json"))
    assert len(records) == 3, "disal, disal_no_dynamic and random for one seed"
    stamps = {p: p.stat().st_mtime_ns for p in records}
    assert course.autograde(tmp_path / "course", {"second": solutions}, timeout=600)["second"] == (3.0, 3.0)
    assert {p: p.stat().st_mtime_ns for p in sorted(cache.glob("*.json"))} == stamps, "the second submission reran AL runs"


def test_partial_rerun_keeps_the_other_notebooks_runtimes(tmp_path):
    from altoolkit.teaching.reproduce import NotebookRun, write_runtime_table

    path = tmp_path / "RUNTIMES.md"

    def run(name: str, seconds: float, ok: bool = True) -> NotebookRun:
        return NotebookRun(name=name, ok=ok, seconds=seconds, output=str(tmp_path / f"{name}.ipynb"))

    write_runtime_table([run("01_a", 20), run("02_b", 100), run("03_c", 30, ok=False)], path)
    write_runtime_table([run("02_b", 25)], path)  # `altoolkit reproduce --only 02`
    _, times = course.read_runtimes(path)
    assert times == {"01_a": 20.0, "02_b": 25.0}  # 03_c failed: kept as FAIL, not a time
    assert "| 03_c | FAIL | 30 |" in path.read_text()


def test_student_copies_for_make_lab_hold_no_solution_or_hidden_test(tmp_path):
    """`make lab EDITION=student` opens these: each notebook as nbgrader's release shows it."""
    written = course.write_student_copies(ROOT / "notebooks", tmp_path / "student-notebooks")
    assert [p.name for p in written] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for p in written:
        text = p.read_text()
        assert not [m for m in course.MARKERS if m in text], p.name
        assert "raise NotImplementedError()" in text, p.name
    with pytest.raises(ValueError, match="no notebooks"):
        course.write_student_copies(tmp_path / "empty", tmp_path / "out")
