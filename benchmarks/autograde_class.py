"""Time ``altoolkit.teaching.course.autograde`` for a class: one course, N submissions.

The course gives every submission its parameters (a profile's) and its record cache, an absolute
path (``altoolkit_course.json``), so the first submission computes the AL runs a notebook sweeps and
the others read them.  This script builds the course, grades the first submission alone (cold
cache), then the other N - 1 in one ``nbgrader autograde`` call (warm cache), and prints the seconds,
the seconds per warm submission, how many records the cache holds after each step and whether the
warm step rewrote any of them.  Half of the submissions are the instructor's solutions (full
marks), half the student versions as released (no marks).

    python benchmarks/autograde_class.py --notebooks 01 06 --profile test --submissions 10
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from altoolkit.teaching import course

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", nargs="+", default=["01", "06"], help="notebook numbers of the assignment")
    ap.add_argument("--profile", default="test", help="profile the grader gives every submission")
    ap.add_argument("--submissions", type=int, default=10)
    ap.add_argument("--keep", default=None, help="course folder to keep (default: a temporary one)")
    args = ap.parse_args(argv)
    nbs = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if p.stem[:2] in args.notebooks]
    where = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="altoolkit-class-"))
    try:
        t0 = time.perf_counter()
        release = course.build_course(where / "course", nbs, profile=args.profile, record_cache=where / "records", timeout=600)
        solutions = where / "course" / "source" / course.ASSIGNMENT
        built = time.perf_counter() - t0
        subs = {f"s{i:02d}": (solutions if i % 2 == 0 else release) for i in range(args.submissions)}
        first = dict(list(subs.items())[:1])
        rest = dict(list(subs.items())[1:])
        t0 = time.perf_counter()
        scores = course.autograde(where / "course", first, timeout=3600)
        cold = time.perf_counter() - t0
        records = {p: p.stat().st_mtime_ns for p in (where / "records").glob("*.json")}
        t0 = time.perf_counter()
        scores.update(course.autograde(where / "course", rest, timeout=3600))
        warm = time.perf_counter() - t0
        rewritten = [p.name for p, t in records.items() if p.stat().st_mtime_ns != t]
        after = len(list((where / "records").glob("*.json")))
        print(f"notebooks {', '.join(p.stem for p in nbs)}; profile {args.profile}; {args.submissions} submissions")
        print(f"course built in {built:.0f} s")
        print(f"first submission (cold record cache): {cold:.0f} s; {len(records)} records in the cache")
        print(f"other {len(rest)} submissions (warm cache): {warm:.0f} s, {warm / max(1, len(rest)):.0f} s each; {after} records, {len(rewritten)} rewritten")
        print(f"all {args.submissions}: {cold + warm:.0f} s")
        print("scores:", {s: f"{a:g}/{b:g}" for s, (a, b) in sorted(scores.items())})
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
