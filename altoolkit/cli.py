"""The ``altoolkit`` command line.

altoolkit al --dataset digits --strategy disal --seed 0 --out results.json
altoolkit strategies
altoolkit reproduce --profile quick
altoolkit sweep --strategies disal random --seeds 0 1 2 --lams none 0.5 --out-dir runs/sweep --jobs 2
altoolkit summarize runs/sweep --out figures/RESULTS.md
altoolkit agreement results/real results/real-rerun
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .engine.record_io import atomic_write, check_output_file, check_output_outside_records

__all__ = ["main", "build_parser"]


def _key_value(flag: str):
    """An argparse type for ``flag KEY=VALUE``: VALUE read as JSON, else kept as a string."""

    def parse(text: str) -> tuple[str, Any]:
        if "=" not in text:
            raise argparse.ArgumentTypeError(f"{flag} must look like KEY=VALUE, got {text!r}")
        key, raw = text.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        return key.strip(), value

    return parse


_parse_option = _key_value("--strategy-option")


def _parse_parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``reproduce --set``: VALUE read as JSON, else kept as a string."""
    key, _, raw = text.partition("=")
    if not _ or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"--set must look like NAME=VALUE with a parameter NAME, got {text!r}")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def _parse_lambda(text: str) -> float | None:
    """``none``/``default`` (the strategy's default λ) or a number ≥ 0."""
    if text.strip().lower() in ("none", "default"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lams takes numbers ≥ 0 or 'none' (the strategy's default), got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--lams takes numbers ≥ 0 or 'none' (the strategy's default), got {text!r}")
    return value


def _add_sweep_parsers(sub: Any, d: Any) -> None:
    """The ``sweep`` and ``summarize`` subcommands."""
    from .engine.sweep import BACKENDS, LAMBDA_TARGETS

    sw = sub.add_parser("sweep", help="run strategies × seeds × datasets × λ in parallel, cached by configuration hash")
    sw.add_argument("--strategies", nargs="+", required=True, help="strategy names (see `altoolkit strategies`)")
    sw.add_argument("--seeds", nargs="+", type=int, default=[d.seed], help="seeds (default: %(default)s)")
    sw.add_argument("--datasets", nargs="+", default=[d.dataset], help="dataset names or import paths package.module:function (default: %(default)s)")
    sw.add_argument(
        "--lams",
        nargs="+",
        type=_parse_lambda,
        default=[None],
        metavar="LAM",
        help="values of λ (DISAL Eq. 14); 'none' is the strategy's default (default: none)",
    )
    sw.add_argument(
        "--lams-for",
        choices=LAMBDA_TARGETS,
        default="dynamic",
        help="numeric λ for strategies trained with the dynamic loss only (dynamic; default) or for all",
    )
    _add_run_options(sw, d)
    sw.add_argument("--out-dir", required=True, help="folder of the records, one <config hash>.json per run; finished runs are skipped")
    sw.add_argument("--backend", choices=BACKENDS, default=None, help="joblib (local processes), dask or serial (default: dask with --scheduler, else joblib)")
    sw.add_argument("--jobs", type=int, default=-1, help="joblib worker processes (default: -1, one per core)")
    sw.add_argument("--scheduler", default=None, help="dask.distributed scheduler address, e.g. tcp://host:8786 (implies --backend dask)")
    sw.add_argument("--summary", default=None, help="also write this RESULTS.md from the records of --out-dir")
    sw.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sm = sub.add_parser("summarize", help="write RESULTS.md (accuracy, AULC, labels saved, paired tests, claims) from a folder of records")
    sm.add_argument("folder", help="folder of JSON records (e.g. the --out-dir of `altoolkit sweep`)")
    sm.add_argument("--out", default="figures/RESULTS.md", help="markdown file to write (default: %(default)s)")
    sm.add_argument("--title", default="Results", help="title of the document (default: %(default)s)")
    sm.add_argument("--note", action="append", default=[], help="a paragraph under the title (repeatable)")
    sm.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="DATASET",
        help="a dataset the records should cover (repeatable): the coverage table names it when it has none",
    )
    sm.add_argument("--reference", default="random", help="the baseline of labels saved and paired tests (default: %(default)s)")
    sm.add_argument(
        "--root", default=None, help="folder the records' datasets were read from: adds a section with every file's MD5 against torchvision's (real images)"
    )
    sm.add_argument(
        "--claim",
        action="append",
        default=None,
        metavar="'A > B[:final]'",
        help="a claim to check (repeatable; replaces the papers' default claims), e.g. 'disal > random'",
    )
    ag = sub.add_parser("agreement", help="do two runs' records give the same verdicts? flips between holds and contradicted, moves to or from inconclusive")
    ag.add_argument("first", help="folder of the first run's JSON records")
    ag.add_argument("second", help="folder of the second run's JSON records (e.g. a rerun from an empty cache on other seeds)")
    ag.add_argument("--out", default=None, help="also write the table to this markdown file")


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{name: text}`` from the ``Attributes:`` section of ``cls``'s docstring (Google style), as one
    line of plain text each (reST roles and literals unwrapped, ``%`` escaped for argparse)."""
    import inspect
    import re

    docs: dict[str, str] = {}
    names: list[str] = []
    inside = False
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        m = re.match(r"^    (\w+(?:, \w+)*): (.*)$", line)
        if inside and m:
            names = m.group(1).split(", ")
            for n in names:
                docs[n] = m.group(2)
        elif inside and line.startswith("        "):
            for n in names:
                docs[n] += " " + line.strip()
    plain = {k: re.sub(r":\w+:`~?([^`]+)`", r"\1", v).replace("``", "") for k, v in docs.items()}
    return {k: v.replace("%", "%%") for k, v in plain.items()}


def _add_train_options(p: argparse.ArgumentParser, d: Any) -> None:
    """One flag per training setting of :class:`~altoolkit.training.train.TrainConfig` (:data:`TRAIN_KEYS`),
    its type, help and default taken from TrainConfig's fields and docstring."""
    import dataclasses
    import typing

    from .engine.loop import TRAIN_KEYS
    from .training.train import TrainConfig

    docs = _attribute_docs(TrainConfig)
    types = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in TRAIN_KEYS:
            kind = types[f.name]
            p.add_argument(
                "--" + f.name.replace("_", "-"),
                type=kind if kind in (int, float) else str,
                default=getattr(d, f.name),
                help=f"{docs[f.name].rstrip('.')} (default: %(default)s)",
            )


def _run_keys() -> tuple[str, ...]:
    """Options shared by `al` and `sweep`: the ALConfig settings that are not swept or set apart."""
    from .engine.loop import ALConfig

    return tuple(
        k for k in ALConfig.keys() if k not in ("dataset", "strategy", "strategy_options", "seed", "dynamic_weight", "score_batch_size", "dataset_options")
    )


def _add_run_options(p: argparse.ArgumentParser, d) -> None:
    from .engine.tasks import task_names

    p.add_argument(
        "--task",
        choices=task_names(),
        default=d.task,
        help="classification (default), segmentation or detection: what a label is, the trainer, the metric, the strategies "
        "and the annotation cost (detection: boxes, recorded per cycle; budgets stay in images); the other defaults shown here are the task's",
    )
    p.add_argument("--root", default=None, help="folder of the torchvision datasets")
    p.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        type=_key_value("--dataset-option"),
        metavar="KEY=VALUE",
        help="option of the dataset loader, JSON value (repeatable), e.g. pool_size=10000 (a fixed stratified pool of that many train images)",
    )
    p.add_argument("--download", action="store_true", help="download a torchvision dataset if missing (needs internet)")
    p.add_argument("--initial-fraction", type=float, default=d.initial_fraction, help="labeled share at the start (default: %(default)s)")
    p.add_argument("--step-fraction", type=float, default=d.step_fraction, help="share added per cycle (default: %(default)s)")
    p.add_argument("--cycles", type=int, default=d.cycles, help="number of trainings (default: %(default)s, i.e. 10%%→40%%)")
    p.add_argument(
        "--model",
        default=d.model,
        help="model name, or import path package.module:function of function(input_shape, num_classes) -> "
        "nn.Module (the module on PYTHONPATH; default: %(default)s)",
    )
    _add_train_options(p, d)
    p.add_argument(
        "--validation-size",
        type=int,
        default=d.validation_size,
        help="pool samples held out as a labeled validation set (ISAL's reference set; default: %(default)s)",
    )
    p.add_argument("--initial-size", type=int, default=d.initial_size, help="labeled samples at the start, instead of --initial-fraction (e.g. 5000)")
    p.add_argument("--step-size", type=int, default=d.step_size, help="samples added per cycle, instead of --step-fraction (e.g. 2500)")
    p.add_argument(
        "--subset-size",
        type=int,
        default=d.subset_size,
        help="score a seeded random subset of this many unlabeled samples per cycle (TOD/aitom 25000, TiDAL 10000; default: the whole pool)",
    )
    p.add_argument(
        "--warm-start", action="store_true", help="continue each cycle from the previous cycle's weights, fresh optimiser and schedule (TOD, aitom, TiDAL)"
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=d.eval_every,
        help="evaluate every N epochs and record the best-epoch accuracy as ISAL reports (default: 0, final epoch only)",
    )
    p.add_argument(
        "--pretrained-weights",
        default=d.pretrained_weights,
        metavar="PATH",
        help="local torchvision ResNet-18 state dict for --model resnet18 (ImageNet weights, TOD's Caltech101)",
    )
    p.add_argument(
        "--pretrained-load",
        choices=("backbone", "tod"),
        default=d.pretrained_load,
        help="what --pretrained-weights loads: backbone (every backbone tensor) or tod (conv1..layer3, as siyuhuang/TOD main_TOD.py; default: %(default)s)",
    )


def _run_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {**{k: getattr(args, k) for k in _run_keys()}, "dataset_options": dict(args.dataset_option)}


def _task_of(argv: Sequence[str] | None) -> str:
    """The ``--task`` of a command line (classification when absent), read before the parser is
    built so that its defaults and help are the task's."""
    from .engine.tasks import task_names

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", default="classification")
    task = pre.parse_known_args(argv)[0].task
    return task if task in task_names() else "classification"  # argparse then names the bad choice


def build_parser(task: str = "classification") -> argparse.ArgumentParser:
    from .engine.loop import ALConfig
    from .engine.tasks import task_names
    from .util.checks import check_choice

    d = ALConfig(task=check_choice("--task", task, task_names()))
    p = argparse.ArgumentParser(prog="altoolkit", description="Influence-based active learning toolkit.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)

    al = sub.add_parser("al", help="run (or resume) an active-learning experiment and write a JSON record")
    al.add_argument(
        "--dataset",
        default=d.dataset,
        help="dataset name, or import path package.module:function returning an altoolkit ALDataset (the module on PYTHONPATH; default: %(default)s)",
    )
    al.add_argument("--strategy", default=d.strategy, help="selection strategy (see `altoolkit strategies`; default: %(default)s)")
    al.add_argument(
        "--strategy-option",
        action="append",
        default=[],
        type=_parse_option,
        metavar="KEY=VALUE",
        help="strategy option, JSON value (repeatable), e.g. largest=false",
    )
    al.add_argument(
        "--batch",
        choices=("topk", "balanced", "diverse", "topm"),
        default=None,
        help="batch rule of a per-sample strategy: topk (default, as the papers), balanced "
        "(per pseudo-class top-k), diverse (rank-weighted k-means++: diversity sampling that barely reads the score) "
        "or topm (k-means++ within the top prefilter·budget by score); "
        "`altoolkit strategies` marks the strategies that take it",
    )
    al.add_argument(
        "--prefilter",
        type=float,
        default=None,
        help="β of --batch topm: candidates per batch seat, a number >= 1 (default: altoolkit.strategies.batch_rules.DEFAULT_PREFILTER)",
    )
    al.add_argument("--seed", type=int, default=d.seed, help="seed of the initial pool, inits, training and selection")
    al.add_argument("--lam", type=float, default=None, help="λ, weight of DISAL's dynamic loss (default: 1 for disal/disal_no_selection, 0 otherwise)")
    _add_run_options(al, d)
    al.add_argument("--out", required=True, help="JSON record; an existing record of the same run is resumed")
    al.add_argument("--no-progress", action="store_true", help="hide progress bars")

    st = sub.add_parser("strategies", help="list the selection strategies with a one-line description")
    st.add_argument("--task", choices=task_names(), default=d.task, help="the task whose strategies are listed (default: %(default)s)")

    rp = sub.add_parser("reproduce", help="execute every notebook with papermill and write figures/")
    rp.add_argument(
        "--profile",
        nargs="+",
        default=["quick"],
        help="quick, test, paper, full, or a YAML file; several are layered left to right, each setting what it names "
        "(e.g. --profile paper smoke.yaml; default: quick)",
    )
    rp.add_argument("--notebooks-dir", default="notebooks", help="folder of the notebooks (default: %(default)s)")
    rp.add_argument("--output-dir", default=None, help="executed notebooks (default: runs/<profile>)")
    rp.add_argument("--figures-dir", default="figures", help="where figures are written (default: %(default)s)")
    rp.add_argument("--dataset", default=None, help="run the notebooks that take a DATASET on this one (e.g. cifar10; default: the profile's)")
    rp.add_argument("--root", default=None, help="folder of that torchvision dataset (DATA_ROOT)")
    rp.add_argument(
        "--set",
        action="append",
        default=[],
        type=_parse_parameter,
        metavar="NAME=VALUE",
        help="set a parameter (JSON value) in every notebook that declares it, over the profile (repeatable), "
        "e.g. PRETRAINED_WEIGHTS=/data/resnet18-5c106cde.pth",
    )
    rp.add_argument("--results-dir", default="runs/records", help="cache of AL run records shared by the notebooks (default: %(default)s)")
    rp.add_argument("--only", nargs="*", default=None, help="notebook names or numbers to run, e.g. 01 02")
    rp.add_argument("--no-progress", action="store_true", help="hide progress bars")

    _add_sweep_parsers(sub, d)
    return p


def _cmd_al(args: argparse.Namespace) -> int:
    from .engine.loop import ALConfig, run_active_learning

    config = ALConfig(
        dataset=args.dataset,
        strategy=args.strategy,
        strategy_options={
            **dict(args.strategy_option),
            **({"batch": args.batch} if args.batch else {}),
            **({"prefilter": args.prefilter} if args.prefilter is not None else {}),
        },
        seed=args.seed,
        dynamic_weight=args.lam,
        **_run_fields(args),
    )
    rec = run_active_learning(config, out=args.out, progress=not args.no_progress)
    metric = rec.get("metric", "test_acc")
    print(f"{'cycle':>5} {'labeled':>8} {metric.replace('_', ' '):>9} {'train s':>8} {'select s':>9}")
    for c in rec["cycles"]:
        print(f"{c['cycle']:>5} {c['n_labeled']:>8} {c[metric]:>9.4f} {c['train_seconds']:>8.2f} {c['select_seconds']:>9.3f}")
    print(f"record: {args.out}")
    return 0


def _cmd_strategies(args: argparse.Namespace) -> int:
    from .strategies import TASK_STRATEGIES, describe_options

    table = TASK_STRATEGIES[args.task]
    width = max(len(n) for n in table)
    for name, cls in table.items():
        print(f"{name:<{width}}  {cls.description}{'  [--batch]' if cls.takes_batch() else ''}")
        for opt, default, allowed, doc in describe_options(cls):
            print(f"{'':<{width}}    {opt}={default!r} ({allowed}): {doc}")
    print(
        "Options: --strategy-option KEY=VALUE (repeatable); [--batch]: takes the batch option topk|balanced|diverse|topm "
        "and, with topm, --prefilter β (altoolkit.strategies.batch_rules); random with --batch RULE is the random-score control of RULE"
    )
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .teaching.reproduce import run_notebooks

    profiles = list(args.profile)
    profile: Any = profiles[0] if len(profiles) == 1 else profiles
    out = args.output_dir or str(Path("runs") / "+".join(Path(p).stem for p in profiles))
    overrides: dict[str, Any] = dict(args.set)
    if args.dataset is not None:
        from .data import check_dataset_name

        overrides["DATASET"] = check_dataset_name(args.dataset)
    if args.root is not None:
        overrides["DATA_ROOT"] = str(Path(args.root).resolve())
    runs = run_notebooks(
        profile, args.notebooks_dir, out, args.figures_dir, only=args.only, progress=not args.no_progress, results_dir=args.results_dir, overrides=overrides
    )
    failed = [r for r in runs if not r.ok]
    print(f"\n{len(runs) - len(failed)} notebooks ok, {len(failed)} failed; executed copies in {out}, figures in {args.figures_dir}")
    for r in failed:
        print(r.line())
    return 1 if failed else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .engine.loop import ALConfig
    from .analysis.results import record_label
    from .drivers.active_learning_benchmark import summarize_folder, write_results_markdown
    from .engine.sweep import SweepError, SweepSpec, config_hash, run_sweep

    backend = args.backend or ("dask" if args.scheduler else "joblib")
    base = ALConfig(dataset=args.datasets[0], strategy=args.strategies[0], **_run_fields(args))
    spec = SweepSpec(base, strategies=args.strategies, seeds=args.seeds, datasets=args.datasets, lambdas=args.lams, lambdas_apply_to=args.lams_for)
    configs = spec.configs()
    if args.summary:
        check_output_outside_records(args.summary, "--summary", args.out_dir, "--out-dir")
        check_output_file(args.summary, "--summary")
    print(f"{len(configs)} runs, backend {backend}, records in {args.out_dir}")
    failed = 0
    try:
        records = run_sweep(configs, args.out_dir, backend=backend, n_jobs=args.jobs, scheduler=args.scheduler, progress=not args.no_progress)
    except SweepError as exc:
        records, failed = exc.records, len(exc.failures)
        print(str(exc), file=sys.stderr)
    print(f"{'dataset':<12} {'strategy':<24} {'seed':>4} {'final':>9}  record (final: test accuracy, or the task's metric)")
    for r in records:
        cfg = ALConfig.from_dict(r["config"])
        final = r["cycles"][-1][r.get("metric", "test_acc")]
        print(f"{cfg.dataset:<12} {record_label(r):<24} {cfg.seed:>4} {final:>9.4f}  {config_hash(cfg)}.json")
    if args.summary:
        path = write_results_markdown(summarize_folder(args.out_dir), args.summary, title="Sweep results")
        print(f"summary: {path}")
    return 1 if failed else 0


def _cmd_summarize(args: argparse.Namespace) -> int:
    from .drivers.active_learning_benchmark import write_results_markdown

    from .data import dataset_names
    from .util.checks import check_choice

    check_output_outside_records(args.out, "--out", args.folder, "the records folder")
    check_output_file(args.out, "--out")
    for name in args.expect:
        check_choice("--expect", name, dataset_names())
    if args.root is not None and not Path(args.root).is_dir():
        raise ValueError(f"--root {args.root!r} is not a folder: give the folder the records' datasets were read from")
    records = _folder_records(args.folder)
    notes = list(args.note)
    if args.expect:
        from .drivers.active_learning_benchmark import coverage_markdown

        notes.append(coverage_markdown(records, args.expect))
    notes = ["\n\n".join(notes)] if notes else []  # one paragraph per note
    appendix = []
    if args.root is not None:
        from .data.checksums import data_files_markdown

        appendix.append(data_files_markdown([r["config"]["dataset"] for r in records], args.root))
    path = write_results_markdown(records, args.out, title=args.title, notes=notes or None, claims=args.claim, reference=args.reference, appendix=appendix)
    print(f"{len(records)} records summarised in {path}")
    return 0


def _folder_records(folder: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every record in ``folder`` (:func:`~altoolkit.drivers.active_learning_benchmark.summarize_folder`);
    a folder without any is an error (``prefix`` names the argument)."""
    from .drivers.active_learning_benchmark import summarize_folder

    records = summarize_folder(folder)
    if not records:
        raise ValueError(f"{prefix}no altoolkit records (*.json) in {folder!r}")
    return records


def _cmd_agreement(args: argparse.Namespace) -> int:
    from .drivers.rerun_agreement import agreement_markdown, rerun_agreement, study_agreement

    if args.out is not None:
        check_output_file(args.out, "--out")
    runs = [_folder_records(getattr(args, name), f"{name}: ") for name in ("first", "second")]
    text = agreement_markdown(rerun_agreement(runs[0], runs[1]), names=(args.first, args.second))
    study = study_agreement(Path(args.first) / "study", Path(args.second) / "study")
    if study.pairs:  # notebook 09's per-seed study files, in either run
        text += "\n\n## Notebook 09's study (interventions, under-training grid)\n\n" + agreement_markdown(study, names=(args.first, args.second))
    print(text)
    if args.out is not None:  # a file read later says what it compares and how to regenerate it
        command = f"altoolkit agreement {args.first} {args.second}"
        head = f"# Rerun agreement: {args.first} against {args.second}\n\nWritten by `{command}` from the two folders' records and their `study/` files.\n\n"
        atomic_write(Path(args.out), head + text + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``altoolkit`` console script."""
    parser = build_parser(_task_of(argv))
    args = parser.parse_args(argv)
    handlers = {
        "al": _cmd_al,
        "strategies": _cmd_strategies,
        "reproduce": _cmd_reproduce,
        "sweep": _cmd_sweep,
        "summarize": _cmd_summarize,
        "agreement": _cmd_agreement,
    }
    try:
        return handlers[args.command](args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # one line per user error; --debug shows the traceback
        if getattr(args, "debug", False):
            raise
        print(f"altoolkit {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line (its class name when it says nothing else)."""
    text = " ".join(str(exc).split())
    known = (ValueError, TypeError, FileNotFoundError, RuntimeError, OSError)
    if not text or not isinstance(exc, known):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
