"""Run every notebook with papermill, with parameters from a YAML profile.

A profile (``altoolkit/profiles/NAME.yaml``) looks like::

    description: one line
    defaults: {SEED: 0}            # parameters given to every notebook that has them
    notebooks:
      01_tracin_to_kl: {EPOCHS: 30}  # per-notebook parameters
    datasets:                      # applied on top when a notebook's DATASET is this one
      svhn:
        defaults: {...}
        notebooks: {06_active_learning_benchmark: {INITIAL_SIZE: 7324}}

A profile sets what it names and nothing else: a parameter it does not name keeps the notebook's
value, and a parameter whose value is a mapping (``STRATEGY_OPTIONS``) is MERGED key by key,
recursively, into the notebook's own value (:func:`merge_parameter`): a profile that sets
``{"isal": {"reference": "test"}}`` keeps the notebook's ``{"bald": {"mc_samples": 10}}`` and
its other ISAL options.  Profiles are layered the same way (:func:`merge_profiles`;
``altoolkit reproduce --profile paper smoke.yaml``): the later one sets what it names.

Each notebook is executed with its own folder as working directory (so a notebook opened in
JupyterLab and one run here behave alike), the executed copy is kept in ``output_dir``, and its
figures go to ``figures_dir``.  A notebook that fails is reported with its name, the cell that
failed and the error; the others still run.

The log of a run holds one line per notebook (and papermill's cell progress): each kernel talks to
papermill over local IPC sockets instead of TCP (ipykernel warns about unencrypted TCP at every
start), and what the kernel process itself writes to its stdout/stderr (for example the
"KeyboardInterrupt caught in kernel" line of jupyter_client's interrupt before every shutdown) goes
to ``output_dir/<notebook>.kernel.log`` instead of the run's log (:func:`quiet_kernel_manager`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PROFILES",
    "load_profile",
    "merge_profiles",
    "merge_parameter",
    "WHOLE_PARAMETERS",
    "notebook_defaults",
    "notebook_parameters",
    "run_notebooks",
    "NotebookRun",
    "write_runtime_table",
    "quiet_kernel_manager",
]

PROFILES: tuple[str, ...] = ("quick", "test", "paper", "full", "real")


def load_profile(name_or_path: str) -> dict[str, Any]:
    """Load a profile by name (``quick``, ``test``, ``paper``, ``full``, ``real``) or from a YAML file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise ValueError(f"profile file {str(p)!r} does not exist")
        text = p.read_text()
    else:
        if name_or_path not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)} or a .yaml path; got {name_or_path!r}")
        text = resources.files("altoolkit").joinpath("profiles", f"{name_or_path}.yaml").read_text()
    try:
        prof = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"profile {name_or_path!r} is not valid YAML: {exc}") from exc
    if not isinstance(prof, dict) or not isinstance(prof.get("notebooks", {}), dict):
        raise ValueError(f"profile {name_or_path!r} must be a mapping with a 'notebooks' mapping")
    prof.setdefault("defaults", {})
    prof.setdefault("notebooks", {})
    _check_sections(prof, repr(name_or_path))
    datasets = prof.setdefault("datasets", {}) or {}
    if not isinstance(datasets, dict):
        raise ValueError(f"profile {name_or_path!r}: 'datasets' must be a mapping of DATASET: {{defaults, notebooks}}, got a {type(datasets).__name__}")
    prof["datasets"] = datasets
    for ds, section in datasets.items():
        if not isinstance(section, dict) or set(section) - {"defaults", "notebooks"}:
            raise ValueError(f"profile {name_or_path!r}: datasets.{ds} must be a mapping with 'defaults' and/or 'notebooks'")
        section.setdefault("defaults", {})
        section.setdefault("notebooks", {})
        _check_sections(section, f"{name_or_path!r}, datasets.{ds}")
    return prof


def _check_sections(prof: dict[str, Any], where: str) -> None:
    if not isinstance(prof["defaults"] or {}, dict):
        raise ValueError(f"profile {where}: 'defaults' must be a mapping of PARAMETER: value, got a {type(prof['defaults']).__name__}")
    if not isinstance(prof["notebooks"] or {}, dict):
        raise ValueError(f"profile {where}: 'notebooks' must be a mapping of NOTEBOOK: {{PARAMETER: value}}")
    for nb, params in (prof["notebooks"] or {}).items():
        if not isinstance(params or {}, dict):
            raise ValueError(f"profile {where}: notebooks.{nb} must be a mapping of PARAMETER: value, got a {type(params).__name__}")


#: parameters a profile replaces whole instead of merging into the notebook's value: the keyword
#: options of one dataset's loader (``DATASET_OPTIONS``) mean nothing to another's.
WHOLE_PARAMETERS = frozenset({"DATASET_OPTIONS"})


def merge_parameter(current: Any, new: Any) -> Any:
    """``new`` over ``current``: two mappings merge key by key (recursively, a copy), anything
    else is replaced by ``new``.

    >>> merge_parameter({"isal": {"depth": 100, "repeats": 2}, "bald": {"mc_samples": 10}}, {"isal": {"reference": "test"}})
    {'isal': {'depth': 100, 'repeats': 2, 'reference': 'test'}, 'bald': {'mc_samples': 10}}
    >>> merge_parameter([0, 1, 2], [0])
    [0]
    """
    if isinstance(current, dict) and isinstance(new, dict):
        out = copy.deepcopy(current)
        for k, v in new.items():
            out[k] = merge_parameter(out.get(k), v)
        return out
    return copy.deepcopy(new)


def merge_profiles(*profiles: str | dict[str, Any]) -> dict[str, Any]:
    """Profiles layered left to right (names, YAML paths or loaded mappings): each later one sets
    what it names, with :func:`merge_parameter` (``--profile paper smoke.yaml``)."""
    if not profiles:
        raise ValueError("merge_profiles needs at least one profile")
    loaded = [load_profile(p) if isinstance(p, str) else p for p in profiles]
    out: dict[str, Any] = {"description": " + ".join(str(p.get("description", "")) for p in loaded), "defaults": {}, "notebooks": {}, "datasets": {}}
    for p in loaded:
        out["defaults"] = merge_parameter(out["defaults"], p.get("defaults") or {})
        out["notebooks"] = merge_parameter(out["notebooks"], p.get("notebooks") or {})
        out["datasets"] = merge_parameter(out["datasets"], p.get("datasets") or {})
    return out


def notebook_defaults(nb_path: Path) -> dict[str, Any]:
    """The notebook's ``parameters`` cell as values (papermill reads the names; each default is
    a Python literal, read with :func:`ast.literal_eval`; one that is not stays its source text)."""
    import ast

    import papermill as pm

    out: dict[str, Any] = {}
    for name, info in pm.inspect_notebook(str(nb_path)).items():
        try:
            out[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            out[name] = info["default"]
    return out


def notebook_parameters(
    profile: dict[str, Any], nb_path: Path, figures_dir: Path, results_dir: Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters a profile gives one notebook (only those the notebook declares).

    Layers, each setting only what it names (:func:`merge_parameter`: a mapping-valued parameter
    is merged into the notebook's own value, except those of :data:`WHOLE_PARAMETERS`, which are
    replaced: a loader's keyword options belong to one dataset, and the scene sizes of notebook 10
    are no options of Cityscapes): the profile's ``defaults``, its ``notebooks`` entry,
    then, when the notebook's ``DATASET`` (after ``overrides``) has an entry in the profile's
    ``datasets``, that entry's ``defaults`` and ``notebooks`` entry.  ``FIGURES_DIR`` and (when
    given) ``RESULTS_DIR``, the cache of AL run records, are set to absolute paths for every
    notebook that declares them.  ``overrides`` (e.g. ``DATASET`` and ``DATA_ROOT`` from
    ``altoolkit reproduce --dataset --root``) win over the profile, for the notebooks that
    declare them."""
    own = notebook_defaults(nb_path)
    declared = set(own)
    params: dict[str, Any] = {}

    def apply(values: dict[str, Any] | None, section: str, strict: bool) -> None:
        values = values or {}
        unknown = sorted(set(values) - declared)
        if strict and unknown:
            raise ValueError(
                f"profile sets parameters {unknown} ({section}) that notebook {nb_path.name} does not declare; its parameters are {sorted(declared)}"
            )
        for k, v in values.items():
            if k in declared:
                params[k] = copy.deepcopy(v) if k in WHOLE_PARAMETERS else merge_parameter(params.get(k, own[k]), v)

    apply(profile.get("defaults"), "defaults", strict=False)
    apply(profile["notebooks"].get(nb_path.stem), f"notebooks.{nb_path.stem}", strict=True)
    over = {k: v for k, v in (overrides or {}).items() if k in declared}
    dataset = over.get("DATASET", params.get("DATASET", own.get("DATASET")))
    section = (profile.get("datasets") or {}).get(dataset) if isinstance(dataset, str) else None
    if section:
        apply(section.get("defaults"), f"datasets.{dataset}.defaults", strict=False)
        apply((section.get("notebooks") or {}).get(nb_path.stem), f"datasets.{dataset}.notebooks.{nb_path.stem}", strict=True)
    if "FIGURES_DIR" in declared:
        params["FIGURES_DIR"] = str(figures_dir.resolve())
    params.update(over)
    if "DATASET_OPTIONS" in declared and "DATASET_OPTIONS" not in params and params.get("DATASET", own.get("DATASET")) != own.get("DATASET"):
        params["DATASET_OPTIONS"] = {}  # the notebook's own options are its own dataset's
    if results_dir is not None and "RESULTS_DIR" in declared:
        params["RESULTS_DIR"] = str(Path(results_dir).resolve())
    return params


@dataclass
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    ok: bool
    seconds: float
    output: str
    parameters: dict[str, Any] = field(default_factory=dict)
    failed_cell: int | None = None
    error: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}  ({self.seconds:.0f} s)"
        return f"FAIL  {self.name}  cell {self.failed_cell}: {self.error}"


def _failed_cell(output: Path) -> int | None:
    try:
        nb = json.loads(output.read_text())
    except Exception:
        return None
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, c in enumerate(code_cells):
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            return i + 1
    return None


def run_notebooks(
    profile: str | dict[str, Any] | list[str | dict[str, Any]] = "quick",
    notebooks_dir: str | Path = "notebooks",
    output_dir: str | Path = "runs/notebooks",
    figures_dir: str | Path = "figures",
    only: list[str] | None = None,
    progress: bool = True,
    kernel_name: str = "python3",
    results_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[NotebookRun]:
    """Execute the notebooks of ``notebooks_dir`` (sorted by name) with a profile's parameters.

    Args:
        profile: profile name, YAML path, an already loaded profile mapping, or a list of
            them layered left to right (:func:`merge_profiles`).
        notebooks_dir: folder with the ``NN_name.ipynb`` notebooks.
        output_dir: where executed copies are written (same file names).
        figures_dir: passed to each notebook as ``FIGURES_DIR``.
        only: notebook stems or number prefixes to run (e.g. ``["01", "02_dynamic_loss"]``).
        progress: papermill's cell progress bar.
        results_dir: cache folder of AL run records, given to notebooks as ``RESULTS_DIR``
            (finished runs are reused by later notebooks and later reproductions).
        overrides: parameters set in every notebook that declares them (``DATASET``,
            ``DATA_ROOT``); notebooks without them (the digits-only derivation) keep theirs.

    Returns:
        One :class:`NotebookRun` per notebook; failures do not stop the others.
    """
    import papermill as pm  # noqa: F401  (fail here, before any work, when papermill is missing)

    if isinstance(profile, (list, tuple)):
        prof = merge_profiles(*profile)
    else:
        prof = load_profile(profile) if isinstance(profile, str) else profile
    nb_dir, out_dir, fig_dir = Path(notebooks_dir), Path(output_dir), Path(figures_dir)
    if not nb_dir.is_dir():
        raise ValueError(f"notebooks_dir {str(nb_dir)!r} is not a folder; run from the repository root or pass --notebooks-dir")
    _check_output_folders(nb_dir, out_dir, fig_dir)
    notebooks = sorted(p for p in nb_dir.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        wanted = set(only)
        notebooks = [p for p in notebooks if p.stem in wanted or p.stem.split("_", 1)[0] in wanted]
        missing = wanted - {p.stem for p in notebooks} - {p.stem.split("_", 1)[0] for p in notebooks}
        if missing:
            raise ValueError(f"no notebook matches {sorted(missing)} in {str(nb_dir)!r}")
    if not notebooks:
        raise ValueError(f"no notebooks found in {str(nb_dir)!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    runs: list[NotebookRun] = []
    # the kernels inherit this process's environment: no tqdm bars in the saved outputs
    saved_env = {k: os.environ.get(k) for k in _KERNEL_ENV}
    os.environ.update(_KERNEL_ENV)
    try:
        _run_each(notebooks, prof, nb_dir, out_dir, fig_dir, results_dir, overrides, kernel_name, progress, runs)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    write_runtime_table(runs, out_dir / "RUNTIMES.md")
    return runs


def _check_output_folders(nb_dir: Path, out_dir: Path, fig_dir: Path) -> None:
    """Refuse, before any notebook runs, an output folder that is the notebooks folder: the
    executed copies (same file names) would replace the source notebooks."""
    from ..engine.record_io import check_output_not_input

    source = [(nb_dir, "the notebooks folder (--notebooks-dir)")]
    check_output_not_input(out_dir, "output_dir (--output-dir)", source)
    check_output_not_input(fig_dir, "figures_dir (--figures-dir)", source)


#: Environment of the papermill kernels: progress bars off (see :mod:`altoolkit.util.progress`).
_KERNEL_ENV = {"ALTOOLKIT_PROGRESS": "0", "TQDM_DISABLE": "1"}


def write_runtime_table(runs: list[NotebookRun], path: str | Path) -> Path:
    """Write the measured wall time of each executed notebook as a Markdown table (the notebook
    headers and the README course outline cite this table instead of quoting invented times).

    Rows of notebooks that were not run this time (``--only``) are kept from the existing table,
    so a partial rerun updates its rows and loses none of the others."""
    import re

    p = Path(path)
    rows = {}
    if p.is_file():
        for line in p.read_text().splitlines():
            m = re.match(r"\|\s*(\S+)\s*\|\s*(ok|FAIL)\s*\|\s*[0-9.]+\s*\|", line)
            if m:
                rows[m.group(1)] = line
    rows.update({r.name: f"| {r.name} | {'ok' if r.ok else 'FAIL'} | {r.seconds:.0f} |" for r in runs})
    lines = ["| notebook | status | seconds |", "|---|---|---:|", *(rows[k] for k in sorted(rows))]
    lines.append(f"\nMeasured on {os.cpu_count()} CPU cores (wall time of papermill's execution).")
    p.write_text("\n".join(lines) + "\n")
    return p


def quiet_kernel_manager(log_path: str | Path) -> type:
    """A jupyter_client kernel manager class for papermill (``kernel_manager_class=``) whose kernel
    uses IPC sockets on POSIX (no "Kernel is running over TCP without encryption" warning; TCP stays
    on other systems) and writes its own stdout/stderr to ``log_path`` (appended), not to the
    terminal of the run.  What the notebook's cells print is unaffected: it reaches papermill as cell
    outputs over the kernel's channels."""
    from jupyter_client.manager import AsyncKernelManager

    log = Path(log_path)

    class QuietKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._ipc_dir: str | None = None
            if os.name == "posix":
                self._ipc_dir = tempfile.mkdtemp(prefix="altoolkit-kernel-")
                self.transport = "ipc"
                self.ip = os.path.join(self._ipc_dir, uuid.uuid4().hex[:8])

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as sink:  # the kernel keeps its own copy of the descriptor
                kw["stdout"] = kw["stderr"] = sink
                await super()._async_launch_kernel(kernel_cmd, **kw)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self._ipc_dir:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return QuietKernelManager


def _run_each(notebooks, prof, nb_dir, out_dir, fig_dir, results_dir, overrides, kernel_name, progress, runs) -> None:
    import papermill as pm

    for nb in notebooks:
        params = notebook_parameters(prof, nb, fig_dir, results_dir, overrides)
        out = out_dir / nb.name
        kernel_log = out_dir / f"{nb.stem}.kernel.log"
        kernel_log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb),
                str(out),
                parameters=params,
                cwd=str(nb_dir),
                kernel_name=kernel_name,
                progress_bar=progress,
                log_output=False,
                kernel_manager_class=quiet_kernel_manager(kernel_log),
            )
            runs.append(NotebookRun(nb.stem, True, time.perf_counter() - t0, str(out), params))
        except pm.PapermillExecutionError as exc:
            runs.append(
                NotebookRun(
                    nb.stem,
                    False,
                    time.perf_counter() - t0,
                    str(out),
                    params,
                    failed_cell=_failed_cell(out) or exc.exec_count,
                    error=f"{exc.ename}: {exc.evalue}",
                )
            )
        except Exception as exc:  # kernel died, bad notebook file, ...
            runs.append(NotebookRun(nb.stem, False, time.perf_counter() - t0, str(out), params, error=f"{type(exc).__name__}: {exc}"))
        print(runs[-1].line(), flush=True)
