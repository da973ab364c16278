"""Sweeps: many active-learning runs (strategies × seeds × datasets × λ), in parallel, cached.

A :class:`SweepSpec` expands a base :class:`~altoolkit.engine.loop.ALConfig` into one configuration per
grid point.  :func:`run_sweep` runs them

- ``backend="serial"``: one after the other in this process;
- ``backend="joblib"``: in ``n_jobs`` local worker processes (joblib's ``loky`` backend);
- ``backend="dask"``: one task per configuration on a ``dask.distributed`` cluster, named by its
  scheduler address (``"tcp://host:8786"``) or given as a ``Client``/``LocalCluster``.

Every run writes ``out_dir/<config_hash>.json`` through
:func:`~altoolkit.engine.loop.run_active_learning`, which rewrites the record atomically after each
cycle and resumes an interrupted one.  A finished record is found by its file name before anything
is dispatched, so a repeated sweep neither loads a dataset nor trains for it.

Each run uses one torch thread (and one BLAS thread): this avoids oversubscribing the cores when
runs go in parallel, and makes a run's arithmetic, hence its selections and accuracies, the same
whichever backend ran it.  The cache key is the configuration only: after changing the code,
start a new ``out_dir``.

Each record is locked by the run writing it (:func:`altoolkit.engine.record_io.lock_file`), so two
sweeps sharing an ``out_dir`` never write one record at once: the second reports that run as
failed, naming the holder's pid.  Workers stop with the sweep's process: a joblib (loky) worker
exits as soon as its parent is gone, and a Dask task on the parent's machine aborts its run when
the parent process is gone (:func:`_watch_parent`), so a killed sweep leaves no worker training
on (``tests/test_sweep_orphans.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import ctypes
import os
import sys
import socket
import threading
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from ..util.progress import tqdm

from .loop import ALConfig, load_record, run_active_learning, run_settings
from ..strategies import TASK_STRATEGIES
from ..util.checks import check_choice, check_float, check_int

__all__ = [
    "BACKENDS",
    "SweepSpec",
    "SweepError",
    "RunFailure",
    "config_hash",
    "check_record_file_name",
    "record_path",
    "run_sweep",
]

BACKENDS: tuple[str, ...] = ("joblib", "dask", "serial")
LAMBDA_TARGETS: tuple[str, ...] = ("dynamic", "all")
HASH_LENGTH = 16


def _canonical(value: Any) -> Any:
    """JSON-ready value in one canonical form: integral floats become ints (``1.0`` → ``1``), so
    ``lr=1`` and ``lr=1.0`` name the same run; dict keys are sorted by :func:`json.dumps`."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"configuration values must be finite numbers, got {value}")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"configuration value {value!r} of type {type(value).__name__} cannot be written to JSON")


def config_hash(config: ALConfig) -> str:
    """Short hex SHA-256 of the canonical JSON of ``config.to_dict()`` (sorted keys), with the
    revision of the built-in networks (:data:`altoolkit.training.models.MODEL_REVISION`) added under the
    key ``"model_revision"`` from revision 2 on.

    The same configuration gives the same hash in any process or machine; a change of any field
    (strategy options, device and dataset options included) gives another, and so does a change
    of the built-in networks (the records of the earlier networks stay on disk, unused).  The
    folder of a dataset checked against its release's MD5 sums is not part of it
    (:func:`~altoolkit.engine.loop.run_settings`).
    """
    from ..training.models import MODEL_REVISION

    if not isinstance(config, ALConfig):
        raise TypeError(f"config must be an ALConfig, got {type(config).__name__}")
    return _settings_hash(config.to_dict(), MODEL_REVISION)


def _settings_hash(settings: Mapping[str, Any], model_revision: Any) -> str:
    """:func:`config_hash` of a configuration's settings (``to_dict()``, or a record's stored
    ``config``) computed with the built-in networks of ``model_revision``."""
    keyed = _canonical(run_settings(dict(settings)))
    if model_revision != 1:
        keyed = {**keyed, "model_revision": model_revision}
    text = json.dumps(keyed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def record_path(out_dir: str | os.PathLike, config: ALConfig) -> Path:
    """Where :func:`run_sweep` keeps the record of ``config``: ``out_dir/<config_hash>.json``."""
    return Path(out_dir) / f"{config_hash(config)}.json"


@dataclass
class SweepSpec:
    """The grid strategies × seeds × datasets × λ on top of ``base``.

    ``base.strategy_options`` go to ``base.strategy`` only (options are strategy-specific); the
    other strategies run with their default options.

    Attributes:
        base: every field not swept comes from here.
        strategies: strategy names (default: ``base.strategy``).
        seeds: seeds (default: ``base.seed``).
        datasets: dataset names (default: ``base.dataset``).
        lambdas: values of λ, DISAL Eq. 14's dynamic-loss weight; ``None`` is the strategy's
            default (1 for strategies trained with the dynamic loss, 0 for the others).
        lambdas_apply_to: ``"dynamic"`` (default): numeric λ values are given only to strategies
            trained with the dynamic loss by default (``disal``, ``disal_no_selection``); the
            others run once with their default, so ``random`` stays the plain baseline.
            ``"all"``: every strategy runs with every λ.
        dataset_overrides: per dataset, fields replaced on top of ``base`` (e.g.
            ``{"cifar10": {"model": "resnet18_cifar", "epochs": 200}}``).
        strategy_options: per strategy, its options (e.g. ``{"isal": {"depth": 100}}``); they
            replace ``base.strategy_options`` for that strategy.
    """

    base: ALConfig = field(default_factory=ALConfig)
    strategies: Sequence[str] | None = None
    seeds: Sequence[int] | None = None
    datasets: Sequence[str] | None = None
    lambdas: Sequence[float | None] = (None,)
    lambdas_apply_to: str = "dynamic"
    dataset_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strategy_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.base, ALConfig):
            raise TypeError(f"base must be an ALConfig, got {type(self.base).__name__}")
        self.strategies = self._names("strategies", self.strategies, self.base.strategy)
        self.datasets = self._names("datasets", self.datasets, self.base.dataset)
        seeds = [self.base.seed] if self.seeds is None else list(self.seeds)
        if not seeds:
            raise ValueError("seeds must list at least one seed (integers ≥ 0)")
        self.seeds = [check_int("seeds[i]", s, 0) for s in seeds]
        lams = [self.lambdas] if self.lambdas is None or isinstance(self.lambdas, (int, float, str)) else list(self.lambdas)
        if not lams:
            raise ValueError("lambdas must list at least one value: None (the strategy's default) or a number ≥ 0")
        self.lambdas = [None if lam is None else check_float("lambdas[i] (λ)", lam, 0.0) for lam in lams]
        check_choice("lambdas_apply_to", self.lambdas_apply_to, LAMBDA_TARGETS)
        if not isinstance(self.dataset_overrides, Mapping):
            raise TypeError(f"dataset_overrides must map a dataset name to a dict of fields, got {type(self.dataset_overrides).__name__}")
        names = set(ALConfig.keys())
        for ds, over in self.dataset_overrides.items():
            if ds not in self.datasets:
                raise ValueError(f"dataset_overrides names {ds!r}, which is not among datasets {list(self.datasets)}")
            bad = sorted(set(over) - names) + sorted(set(over) & {"dataset", "strategy", "seed", "dynamic_weight"})
            if bad:
                raise ValueError(
                    f"dataset_overrides[{ds!r}] sets {bad}; allowed: ALConfig fields other than the swept "
                    f"dataset, strategy, seed and dynamic_weight ({sorted(names - {'dataset', 'strategy', 'seed', 'dynamic_weight'})})"
                )
        if not isinstance(self.strategy_options, Mapping):
            raise TypeError("strategy_options must map a strategy name to a dict of its options")
        extra = sorted(set(self.strategy_options) - set(self.strategies))
        if extra:
            raise ValueError(f"strategy_options names {extra}, which are not among strategies {list(self.strategies)}")
        self.configs()  # validates every grid point now, before anything runs

    @staticmethod
    def _names(param: str, values: Sequence[str] | None, default: str) -> list[str]:
        if values is None:
            return [default]
        if isinstance(values, str):
            values = [values]
        values = list(values)
        if not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{param} must list at least one non-empty name, got {values!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"{param} lists a name twice: {values!r}")
        return values

    def _lambdas_for(self, strategy: str) -> list[float | None]:
        if self.lambdas_apply_to == "all":
            return list(self.lambdas)
        table = TASK_STRATEGIES[self.base.task]  # the strategies of the base configuration's task
        check_choice("strategies[i]", strategy, list(table))
        if table[strategy].dynamic_loss:
            return list(self.lambdas)
        return [None]

    def configs(self) -> list[ALConfig]:
        """One :class:`ALConfig` per grid point (datasets, then strategies, λ, seeds), no repeats."""
        out: list[ALConfig] = []
        seen: set[str] = set()
        for ds in self.datasets:
            over = dict(self.dataset_overrides.get(ds, {}))
            for strategy in self.strategies:
                options = self.base.strategy_options if strategy == self.base.strategy else {}
                options = self.strategy_options.get(strategy, options)
                for lam in self._lambdas_for(strategy):
                    for seed in self.seeds:
                        cfg = dataclasses.replace(
                            self.base, dataset=ds, strategy=strategy, strategy_options=dict(options), seed=seed, dynamic_weight=lam, **over
                        )
                        h = config_hash(cfg)
                        if h not in seen:
                            seen.add(h)
                            out.append(cfg)
        return out

    def __len__(self) -> int:
        return len(self.configs())


@dataclass
class RunFailure:
    """A run of the sweep that raised: its configuration, record path and the error."""

    config: ALConfig
    path: Path
    error: str  # "ExceptionType: message"
    traceback: str = ""

    def line(self) -> str:
        c = self.config
        lam = "" if c.dynamic_weight is None else f" λ={c.dynamic_weight:g}"
        return f"{c.dataset} / {c.strategy}{lam} / seed {c.seed} ({self.path.name}): {self.error}"


class SweepError(RuntimeError):
    """Some runs failed; the others finished and their records are in :attr:`records`."""

    def __init__(self, failures: list[RunFailure], records: list[dict[str, Any]], total: int):
        self.failures = failures
        self.records = records
        lines = "\n".join("  " + f.line() for f in failures)
        super().__init__(
            f"{len(failures)} of {total} runs failed (the other {len(records)} finished and are saved; "
            f"a new run_sweep call retries only the failed ones):\n{lines}"
        )


def _finished_record(path: Path, settings: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The record at ``path`` (``<config_hash>.json``) when it exists and is finished; ``None``
    when it must (re)run.  A file that is not a record, or a record whose stored configuration does
    not hash to its file name (another run's record copied or renamed there), raises
    :class:`~altoolkit.engine.run_checks.RecordMismatchError` naming the file: reported as that
    run's failure, never returned as its result.  (An unfinished record is resumed by
    :func:`~altoolkit.engine.loop.run_active_learning`, which verifies its configuration, data
    fingerprint and model.)"""
    if not path.exists():
        return None
    rec = load_record(path)  # a file that is not a record raises: reported as that run's failure
    check_record_file_name(rec, path)
    if settings is not None and rec.get("finished"):
        check_data_folder(rec, settings, path)
    return rec if rec.get("finished") else None


def check_data_folder(record: dict[str, Any], settings: Mapping[str, Any], path: Path) -> None:
    """A finished record of a dataset's original files (:func:`~altoolkit.engine.loop.run_settings`)
    computed from another folder than the run's ``settings["root"]`` (its ``to_dict()``: a worker
    checks it before the run's plug-ins are installed) is reused only when the files there match
    the release's MD5 sums; otherwise :class:`RecordMismatchError` names the file that differs
    (the record is kept, not rerun over)."""
    from ..data.checksums import original_files_mismatch
    from .run_checks import RecordMismatchError

    stored, root, dataset = record["config"].get("root"), settings.get("root"), str(settings.get("dataset"))
    if root is None or stored is None or Path(stored).resolve() == Path(root).resolve():
        return
    if run_settings(dict(settings)).get("root") is not None:  # a folder that is the data: the hash differs already
        return
    why = original_files_mismatch(dataset, root)
    if why is not None:
        raise RecordMismatchError(
            f"results file {str(path)!r} was computed on the original {dataset} files in {stored!r}; the files under root "
            f"{root!r} are not those ({why}), so it is not reused: point root at the original files, or use another "
            "results folder",
            path,
        )


def check_record_file_name(record: dict[str, Any], path: Path) -> None:
    """Refuse a record whose stored configuration (with its ``model_revision``) does not hash to
    its file name ``<config_hash>.json``."""
    from ..training.models import MODEL_REVISION
    from .run_checks import RecordMismatchError

    settings = record.get("config")
    revision = record.get("model_revision", 1)
    if not isinstance(settings, dict):
        raise RecordMismatchError(f"results file {str(path)!r} has no 'config' mapping; it is not a record of this sweep", path)
    try:
        stored = _settings_hash(settings, revision)
    except (TypeError, ValueError) as exc:
        raise RecordMismatchError(f"results file {str(path)!r}: its stored config cannot be hashed ({exc})", path) from None
    if stored != path.stem:
        seed = f" (seed {settings.get('seed')!r}, strategy {settings.get('strategy')!r})" if "seed" in settings else ""
        why = (
            f"of revision {revision} of the built-in networks (this altoolkit has {MODEL_REVISION})"
            if revision != MODEL_REVISION
            else "of another configuration"
        )
        raise RecordMismatchError(
            f"results file {str(path)!r} holds the record {why}{seed}: its stored config hashes to {stored}, its file name "
            f"says {path.stem}. It was not reused; move or delete it to run this configuration",
            path,
        )


_WARMED_UP = False
# Runs share process-wide torch state (the global RNG that dropout draws from, the thread count):
# two runs in one process at once (a Dask worker with several threads) would change each other's
# numbers, so they take turns.  Parallelism comes from processes.
_RUN_LOCK = threading.Lock()


def _warm_up() -> None:
    """Pay the one-time import costs of this process (torch's optimizer machinery imports
    ``torch._dynamo`` on first use, seconds) before a run, so they do not count in the first
    run's ``train_seconds`` and the seconds table compares strategies fairly."""
    global _WARMED_UP
    if not _WARMED_UP:
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        _WARMED_UP = True


def _plugins(config: ALConfig) -> dict[str, dict[str, Any]]:
    """The registered (user) model and dataset callables ``config`` names, for a worker process
    that does not have them (see :mod:`altoolkit.util.plugins`; import paths need nothing)."""
    from ..data import DATASET_REGISTRY
    from ..training.models import MODEL_REGISTRY

    from ..data.registry import _IMBALANCED_NAME

    match = _IMBALANCED_NAME.match(config.dataset)  # "mine_ir10" needs "mine"
    datasets = [config.dataset] + ([match.group("base")] if match else [])
    return {"model": MODEL_REGISTRY.entries([config.model]), "dataset": DATASET_REGISTRY.entries(datasets)}


def _install_plugins(plugins: dict[str, dict[str, Any]] | None) -> None:
    if plugins:
        from ..data import DATASET_REGISTRY
        from ..training.models import MODEL_REGISTRY

        MODEL_REGISTRY.install(plugins.get("model", {}))
        DATASET_REGISTRY.install(plugins.get("dataset", {}))


def _run_config(config_dict: dict[str, Any], out: str, restore_threads: bool, plugins: dict[str, dict[str, Any]] | None = None) -> tuple[Any, ...]:
    """Run (or resume) one configuration in the current process; never raises.

    Returns ``("ok", record, warnings)`` (the distinct warnings the run issued, as
    ``"Category: message"`` lines, reported once per sweep by :func:`run_sweep`) or
    ``("error", (message, traceback))``.  One torch thread and one
    BLAS thread (see the module docstring).  In worker processes the setting stays (the worker
    only runs sweep tasks); in the caller's process it is restored.  Runs in one process take
    turns (see ``_RUN_LOCK``), so a Dask worker with several threads stays deterministic.
    """
    from threadpoolctl import threadpool_limits

    with _RUN_LOCK:
        previous = torch.get_num_threads()
        limits = threadpool_limits(limits=1)
        try:
            torch.set_num_threads(1)
            path = Path(out)
            rec = _finished_record(path, config_dict)
            notes: list[str] = []
            if rec is None:
                _warm_up()
                _install_plugins(plugins)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rec = run_active_learning(ALConfig.from_dict(config_dict), out=path, progress=False)
                notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
            return "ok", rec, notes
        except Exception as exc:  # reported with the configuration; the other runs go on
            return "error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            if restore_threads:
                torch.set_num_threads(previous)
                limits.restore_original_limits()


def _as_configs(spec_or_configs: SweepSpec | ALConfig | Iterable[ALConfig]) -> list[ALConfig]:
    if isinstance(spec_or_configs, SweepSpec):
        return spec_or_configs.configs()
    if isinstance(spec_or_configs, ALConfig):
        return [spec_or_configs]
    try:
        configs = list(spec_or_configs)
    except TypeError:
        raise TypeError(f"spec_or_configs must be a SweepSpec or ALConfigs, got {type(spec_or_configs).__name__}") from None
    for i, c in enumerate(configs):
        if not isinstance(c, ALConfig):
            raise TypeError(f"spec_or_configs[{i}] must be an ALConfig, got {type(c).__name__}")
    if not configs:
        raise ValueError("spec_or_configs holds no configuration to run")
    return configs


def _dask_client(scheduler: Any):
    """``(client, owned)``: a ``dask.distributed.Client`` from an address, a cluster or a client."""
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise ImportError('backend="dask" needs dask.distributed: pip install "dask[distributed]"') from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, str) or hasattr(scheduler, "scheduler_address"):
        return Client(scheduler), True
    raise TypeError(f"scheduler must be an address string, a Client or a cluster; got {type(scheduler).__name__}")


def run_sweep(
    spec_or_configs: SweepSpec | ALConfig | Iterable[ALConfig],
    out_dir: str | os.PathLike,
    backend: str = "joblib",
    n_jobs: int = -1,
    scheduler: Any = None,
    progress: bool = True,
    raise_errors: bool = True,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Run every configuration of a sweep, skipping finished ones, and return the records.

    Your own models and datasets work in every backend: an import path ``"package.module:function"``
    travels as a string (the module must be importable in the workers, e.g. via ``PYTHONPATH``);
    a name given to ``alt.register_model``/``alt.register_dataset`` in this process is sent with
    each task that uses it (see :mod:`altoolkit.util.plugins`).

    Args:
        spec_or_configs: a :class:`SweepSpec`, one :class:`ALConfig` or a list of them.
        out_dir: folder of the records, one ``<config_hash>.json`` per run (created if missing).
        backend: ``"joblib"`` (local processes), ``"dask"`` (a dask.distributed cluster) or
            ``"serial"`` (this process).
        n_jobs: joblib worker processes (``-1``: one per core).  Ignored by the other backends.
        scheduler: for ``"dask"``: the scheduler's address (``"tcp://host:8786"``), a ``Client``
            or a cluster such as ``LocalCluster``.  A client made here is closed at the end; one
            given is left open.  Use one thread per worker process (``threads_per_worker=1``):
            runs inside one process take turns, because they share torch's global state.  The
            workers need ``altoolkit`` installed and the datasets at the configured ``root``;
            records are written by the workers, so ``out_dir`` must be a folder they share with
            this machine (it is passed to them as an absolute path).
        progress: a tqdm bar that advances as runs finish.
        raise_errors: when some runs fail, raise :class:`SweepError` listing each failed
            configuration and its error once all runs are over (the finished records are saved
            and kept in the exception); ``False``: warn and return the finished records only.
        notes: a list that receives each distinct warning the runs issued, with the number of runs
            (``"2 run(s) warned: UserWarning: ..."``), instead of printing it to stderr: a notebook
            can then show an expected note (TOD selects at random in cycle 0) as text rather than as a
            warning in its saved outputs.

    Returns:
        The records in the order of the configurations (finished ones read from disk).
    """
    configs = _as_configs(spec_or_configs)
    n_jobs = _check_backend(backend, n_jobs, scheduler)
    out = _records_folder(out_dir)
    unique: dict[str, ALConfig] = {}  # one task per distinct configuration (one listed twice runs once)
    for c in configs:
        unique.setdefault(config_hash(c), c)
    runs = _SweepProgress(unique, out, backend, progress)
    todo = runs.read_finished()
    args = {h: (unique[h].to_dict(), str(out / f"{h}.json")) for h in todo}
    plugins = {h: _plugins(unique[h]) for h in todo}  # registered callables travel with the task
    try:
        if todo and backend == "serial":
            for h in todo:
                runs.collect(h, _run_config(*args[h], restore_threads=True, plugins=plugins[h]))
        elif todo and backend == "joblib":
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
            for h, outcome in parallel(delayed(_tagged_run)(h, *args[h], os.getpid(), plugins[h], list(sys.path)) for h in todo):
                runs.collect(h, outcome)
        elif todo and backend == "dask":
            _run_on_dask(scheduler, todo, args, plugins, runs)
    finally:
        runs.bar.close()
    return runs.report([config_hash(c) for c in configs], raise_errors, notes)


def _check_backend(backend: str, n_jobs: int, scheduler: Any) -> int:
    """``n_jobs`` checked with ``backend`` and ``scheduler`` (see :func:`run_sweep`)."""
    check_choice("backend", backend, BACKENDS)
    if backend == "joblib":
        n_jobs = check_int("n_jobs", n_jobs, -1)
        if n_jobs == 0:
            raise ValueError("n_jobs must be a positive number of processes or -1 (one per core), got 0")
    if scheduler is not None and backend != "dask":
        raise ValueError(f'scheduler= is only used with backend="dask" (got backend={backend!r})')
    if backend == "dask" and scheduler is None:
        raise ValueError('backend="dask" needs scheduler=: an address such as "tcp://127.0.0.1:8786", a dask.distributed.Client or a LocalCluster')
    return n_jobs


def _records_folder(out_dir: str | os.PathLike) -> Path:
    """The absolute folder of the records (workers may run in another folder), created if missing."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir (--out-dir) {str(out_dir)!r} is a file, not a folder; give a folder for the records")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out_dir (--out-dir) {str(out_dir)!r} cannot be created ({exc.strerror or exc})") from exc
    return out


class _SweepProgress:
    """The outcomes of a sweep's runs as they arrive (records, failures, the warnings they issued)
    and its progress bar."""

    def __init__(self, unique: dict[str, ALConfig], out: Path, backend: str, progress: bool) -> None:
        self.unique, self.out, self.backend, self.progress = unique, out, backend, progress
        self.results: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, RunFailure] = {}
        self.warned: dict[str, int] = {}
        self.bar: Any = None

    def read_finished(self) -> list[str]:
        """Read the records already finished on disk; opens the bar; returns the hashes to run."""
        todo: list[str] = []
        for h, c in self.unique.items():
            path = self.out / f"{h}.json"
            try:
                rec = _finished_record(path, c.to_dict())
            except ValueError as exc:
                self.failures[h] = RunFailure(c, path, f"ValueError: {exc}")
                continue
            if rec is None:
                todo.append(h)
            else:
                self.results[h] = rec
        self.bar = tqdm(total=len(self.unique), initial=len(self.results), desc=f"sweep ({self.backend})", unit="run", disable=not self.progress)
        if self.results:
            self.bar.set_postfix_str(f"{len(self.results)} cached")
        return todo

    def collect(self, h: str, outcome: tuple[Any, ...]) -> None:
        """Keep the outcome of run ``h`` (``("ok", record, notes)`` or ``("error", (message, traceback))``)."""
        status, value, *rest = outcome
        if status == "ok":
            self.results[h] = value
            for note in rest[0] if rest else []:
                self.warned[note] = self.warned.get(note, 0) + 1
        else:
            message, tb = value
            self.failures[h] = RunFailure(self.unique[h], self.out / f"{h}.json", message, tb)
        c = self.unique[h]
        self.bar.set_postfix_str(f"last: {c.strategy} seed {c.seed}, {len(self.failures)} failed")
        self.bar.update(1)

    def report(self, hashes: list[str], raise_errors: bool, notes: list[str] | None = None) -> list[dict[str, Any]]:
        """The records in the order of ``hashes``; each distinct warning of the runs once, with the
        number of runs that issued it (worker processes would print it once each, with the
        warning's source path), appended to ``notes`` or else printed to stderr; failures raised as
        :class:`SweepError` or warned."""
        for note, n in self.warned.items():
            if notes is not None:
                notes.append(f"{n} run(s) warned: {note}")
            else:
                print(f"altoolkit sweep: {n} run(s) warned: {note}", file=sys.stderr)
        records = [self.results[h] for h in hashes if h in self.results]
        if self.failures:
            err = SweepError(list(self.failures.values()), records, len(self.unique))
            if raise_errors:
                raise err
            warnings.warn(str(err), RuntimeWarning, stacklevel=3)
        return records


def _run_on_dask(scheduler: Any, todo: list[str], args: dict[str, tuple[Any, ...]], plugins: dict[str, Any], runs: _SweepProgress) -> None:
    """Submit the runs ``todo`` to a dask.distributed cluster and collect them as they finish."""
    from dask.distributed import as_completed

    client, owned = _dask_client(scheduler)
    try:
        parent = (socket.gethostname(), os.getpid())
        futures = {client.submit(_run_config_watched, *args[h], parent, plugins[h], key=f"altoolkit-run-{h}-{uuid.uuid4().hex[:8]}"): h for h in todo}
        for fut in as_completed(futures):
            h = futures[fut]
            if fut.status == "error":  # the worker died or the task could not be run
                exc = fut.exception()
                runs.collect(h, ("error", (f"{type(exc).__name__}: {exc}", "")))
            else:
                runs.collect(h, fut.result())
            fut.release()
    finally:
        if owned:
            client.close()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _watch_parent(parent_pid: int, on_gone, stop: threading.Event | None = None, interval: float = 0.5) -> threading.Thread:
    """A daemon thread that calls ``on_gone()`` once process ``parent_pid`` is gone."""

    def watch() -> None:
        while not (stop is not None and stop.is_set()):
            if os.getppid() != parent_pid and not _alive(parent_pid):
                on_gone()
                return
            time.sleep(interval)

    t = threading.Thread(target=watch, name="altoolkit-parent-watch", daemon=True)
    t.start()
    return t


_WATCHED_PARENT: int | None = None


def _tagged_run(
    h: str,
    config_dict: dict[str, Any],
    out: str,
    parent_pid: int | None = None,
    plugins: dict[str, dict[str, Any]] | None = None,
    sys_path: list[str] | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """joblib task: the run's outcome with its hash (results arrive in completion order).

    The worker process exits (``os._exit``) as soon as ``parent_pid``, the sweep's process, is
    gone: a loky worker busy training would otherwise live on for the rest of its run.
    ``sys_path``: the sweep process's ``sys.path``; entries the worker lacks are appended, so an
    import path (``"package.module:function"``) resolves in a reused loky worker started before
    the user's folder was put on the path.
    """
    global _WATCHED_PARENT
    for entry in sys_path or []:
        if entry not in sys.path:
            sys.path.append(entry)
    if parent_pid is not None and _WATCHED_PARENT != parent_pid:
        _WATCHED_PARENT = parent_pid
        _watch_parent(parent_pid, lambda: os._exit(70))
    return h, _run_config(config_dict, out, restore_threads=False, plugins=plugins)


class ParentGone(BaseException):
    """Raised inside a Dask task whose sweep process is gone (see :func:`_run_config_watched`)."""


def _run_config_watched(config_dict: dict[str, Any], out: str, parent: tuple[str, int], plugins: dict[str, dict[str, Any]] | None = None) -> tuple[Any, ...]:
    """Dask task: :func:`_run_config`, aborted when the sweep's process ``parent`` (host, pid) is
    gone.  The worker belongs to the cluster and lives on; only this run stops (its record keeps
    the finished cycles and its lock is released), at the next Python instruction of the run."""
    host, pid = parent
    stop = threading.Event()
    if host == socket.gethostname():
        tid = threading.get_ident()

        def abort() -> None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(ParentGone))

        _watch_parent(pid, abort, stop)
    try:
        return _run_config(config_dict, out, restore_threads=False, plugins=plugins)
    except ParentGone:
        return "error", ("ParentGone: the sweep's process is gone; the run stopped", "")
    finally:
        stop.set()
