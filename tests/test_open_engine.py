"""Your own model and dataset in the engine (issue 13 items 4-6).

A user module written to ``tmp_path`` (outside the package) defines a model without ``embed()``
or ``head`` and a dataset loader; it runs through the loop, the ``altoolkit al`` CLI in a
subprocess, a joblib sweep (import paths and registered callables), and the labelling project.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import altoolkit as alt
from altoolkit.data import DATASET_REGISTRY
from altoolkit.math.influence import select_params
from altoolkit.training.models import MODEL_REGISTRY, penultimate_features
from altoolkit.util.modules import output_layer

REPO = Path(__file__).resolve().parents[1]
MOD = "altoolkit_user_plugin_t13"
USER_MODULE = '''
"""A user's own model and dataset, outside altoolkit."""
import torch
from torch import nn
import altoolkit as alt


class TinyNet(nn.Module):
    """No embed(), no head: the engine finds the last nn.Linear."""

    def __init__(self, d, c):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, 16), nn.ReLU())
        self.out = nn.Linear(16, c)

    def forward(self, x):
        return self.out(self.body(x))


def build(input_shape, num_classes):
    d = 1
    for s in input_shape:
        d *= s
    return TinyNet(d, num_classes)


def load(seed=0):
    ds = alt.load_digits(seed=seed)
    return alt.from_arrays(ds.x_train[:240], ds.y_train[:240], ds.x_test[:80], ds.y_test[:80],
                           name="user_digits")
'''
SMALL = dict(strategy="coreset", cycles=2, epochs=1, batch_size=32, initial_fraction=0.2, step_fraction=0.1)


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / f"{MOD}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop(MOD, None)


@pytest.fixture()
def clean_registries():
    yield
    for reg in (MODEL_REGISTRY, DATASET_REGISTRY):
        for name in list(reg._user):
            reg.unregister(name)


def test_import_paths_run_through_the_loop_and_the_record_stores_them(user_module):
    cfg = alt.ALConfig(model=f"{MOD}:build", dataset=f"{MOD}:load", **SMALL)
    rec = alt.run_active_learning(cfg, progress=False)
    assert rec["config"]["model"] == f"{MOD}:build" and rec["config"]["dataset"] == f"{MOD}:load"
    assert rec["dataset"]["name"] == "user_digits" and rec["finished"] and len(rec["cycles"]) == 2
    assert len(rec["cycles"][0]["selected"]) == rec["budgets"][1] - rec["budgets"][0]


def test_a_dataset_object_is_recorded_by_its_own_name_and_resumes(tmp_path):
    d = alt.load_digits(seed=0)
    ds = alt.from_arrays(d.x_train[:200], d.y_train[:200], d.x_test[:60], d.y_test[:60], name="my_arrays")
    cfg = alt.ALConfig(model="mlp", **SMALL)
    out = tmp_path / "r.json"
    rec = alt.run_active_learning(cfg, out=out, dataset=ds, progress=False)
    assert rec["config"]["dataset"] == "my_arrays" == rec["dataset"]["name"]
    again = alt.run_active_learning(cfg, out=out, dataset=ds, progress=False)  # finished: read back, same record
    assert again["cycles"] == rec["cycles"]


def test_registered_names_and_their_errors(clean_registries):
    alt.register_model("seq_t13", lambda shape, c: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, c)))
    alt.register_dataset("small_t13", lambda seed=0: alt.imbalanced_subset(alt.load_digits(seed=seed), 1, max_per_class=15, seed=seed))
    assert "seq_t13" in alt.training.models.model_names() and "small_t13" in alt.data.dataset_names()
    a = alt.build_model("seq_t13", (1, 8, 8), 10, seed=3)
    b = alt.build_model("seq_t13", (1, 8, 8), 10, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert alt.load_dataset("small_t13_ir2").n_train < alt.load_dataset("small_t13").n_train  # the _ir suffix works
    alt.ALConfig(model="seq_t13", dataset="small_t13")  # validates
    with pytest.raises(ValueError, match="model must be one of mlp, cnn.*seq_t13.*import path"):
        alt.ALConfig(model="seq_t31")
    with pytest.raises(ValueError, match="dataset must be one of digits.*small_t13"):
        alt.ALConfig(dataset="small_t31")
    with pytest.raises(ValueError, match="built in"):
        alt.register_model("cnn", lambda s, c: None)
    with pytest.raises(ValueError, match="model name must be"):
        alt.register_model("a:b", lambda s, c: None)
    with pytest.raises(TypeError, match="must be callable"):
        alt.register_dataset("x_t13", 3)
    alt.register_model("bad_t13", lambda s, c: "not a module")
    with pytest.raises(TypeError, match="'bad_t13'.*not a torch nn.Module"):
        alt.build_model("bad_t13", (1, 8, 8), 10)
    alt.register_dataset("bad_t13", lambda: 3)
    with pytest.raises(TypeError, match="'bad_t13'.*not an altoolkit dataset.*from_arrays"):
        alt.load_dataset("bad_t13")


def test_import_path_errors_say_what_is_missing():
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg_t13.nets'.*PYTHONPATH"):
        alt.ALConfig(model="no_such_pkg_t13.nets:build")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        alt.ALConfig(dataset="altoolkit.data:nope")
    with pytest.raises(TypeError, match="names a tuple, not a function"):
        alt.ALConfig(model="altoolkit.training.models:MODELS")


def test_features_without_embed_come_from_the_last_linear_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 3))
    x = torch.randn(5, 3, 4)
    feats = penultimate_features(net, x)
    assert torch.allclose(feats, net[2](net[1](net[0](x))))
    assert torch.allclose(net[3](feats), net(x))  # forward(x) == head(features), what BADGE needs
    assert output_layer(net)[0] == "3" and set(select_params(net, "last_layer")) == {"3.weight", "3.bias"}

    class Scaled(nn.Module):  # does something after its last linear layer
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return 2 * self.fc(x)

    with pytest.raises(ValueError, match=r"Scaled has no embed\(\).*'fc'.*does not produce the model's output"):
        penultimate_features(Scaled(), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"no embed\(\) method, no 'head' and no nn.Linear"):
        penultimate_features(nn.Sequential(nn.Flatten()), torch.randn(2, 4))


def _env(user_dir: Path) -> dict[str, str]:
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(user_dir), str(REPO)] + ([old] if old else []))}


@pytest.mark.slow
def test_cli_al_runs_a_user_model_and_dataset_by_import_path(user_module):
    out = user_module / "cli.json"
    cmd = [
        sys.executable,
        "-m",
        "altoolkit",
        "al",
        "--model",
        f"{MOD}:build",
        "--dataset",
        f"{MOD}:load",
        "--strategy",
        "badge",
        "--cycles",
        "2",
        "--epochs",
        "1",
        "--initial-fraction",
        "0.2",
        "--step-fraction",
        "0.1",
        "--no-progress",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(user_module), timeout=600)
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())
    assert rec["config"]["model"] == f"{MOD}:build" and rec["dataset"]["name"] == "user_digits"
    assert rec["finished"]
    bad = subprocess.run(
        cmd[:5] + ["nowhere_t13:build"] + cmd[6:-1] + [str(user_module / "bad.json")], capture_output=True, text=True, env=_env(user_module), timeout=600
    )
    assert bad.returncode == 2 and "cannot import module 'nowhere_t13'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_sweep_in_joblib_workers_with_import_paths_and_registered_callables(user_module, tmp_path, clean_registries):
    """Import paths travel as strings (the workers import the module: loky gives them this
    process's sys.path); registered callables, even lambdas, travel with each task."""
    alt.register_model("lam_t13", lambda shape, c: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, c)))
    base = alt.ALConfig(model=f"{MOD}:build", **{**SMALL, "strategy": "random"})
    configs = [
        alt.ALConfig(model=f"{MOD}:build", dataset=f"{MOD}:load", **SMALL),
        alt.ALConfig(model="lam_t13", dataset=f"{MOD}:load", **SMALL),
    ]
    spec = alt.engine.sweep.SweepSpec(base, strategies=["random", "entropy"], seeds=[0], datasets=[f"{MOD}:load"])
    records = alt.engine.sweep.run_sweep(configs + spec.configs(), tmp_path / "sweep", backend="joblib", n_jobs=2, progress=False)
    assert [r["config"]["model"] for r in records] == [f"{MOD}:build", "lam_t13", f"{MOD}:build", f"{MOD}:build"]
    assert all(r["finished"] and r["dataset"]["name"] == "user_digits" for r in records)
    serial = alt.engine.sweep.run_sweep(configs[1], tmp_path / "serial", backend="serial", progress=False)
    assert serial[0]["cycles"][-1]["test_acc"] == records[1]["cycles"][-1]["test_acc"]  # same run, either backend


def test_labelling_project_trains_a_user_model_on_a_user_dataset(user_module, tmp_path):
    ds = alt.load_dataset(f"{MOD}:load")
    project = alt.labelling.project.LabelingProject.from_arrays(
        tmp_path / "proj",
        ds.x_train[:120],
        ds.x_test,
        ds.y_test,
        class_names=ds.class_names,
        model=f"{MOD}:build",
        strategy="entropy",
        config=alt.TrainConfig(epochs=1, batch_size=16),
    )
    truth = {str(i): ds.class_names[int(y)] for i, y in enumerate(ds.y_train[:120])}
    for _ in range(2):
        batch = project.next_batch(10)
        for item in batch.items:
            project.store.label(item, truth[item], batch)
    history = project.history()
    assert history[-1]["strategy"] == "entropy" and history[-1]["test_acc"] is not None
    assert project.store.batches()[-1].info["model"] == f"{MOD}:build"
