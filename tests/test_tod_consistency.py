"""TOD's unsupervised training loss as the opt-in option ``consistency_weight`` (issue 11 item 3).

Reference: siyuhuang/TOD ``main_TOD.py`` ``train_epoch`` (``AUXILIARY == 'TOD'``) and
``update_ema_variables``, ``models/resnet.py`` (``linear1``), ``config/cifar10.py`` (``WEIGHT = 0.02``).
Tiny networks on a few dozen samples: every test runs in about a second."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import altoolkit as alt
from altoolkit.training import fresh_model
from altoolkit.engine import loop
from altoolkit.engine.loop import ALConfig, run_active_learning, train_cycle
from altoolkit.training.models import build_model, forward_with_features
from altoolkit.strategies import get_strategy
from altoolkit.strategies.tod import TOD_CONSISTENCY_WEIGHT, ConsistencyLoss, ema_decay
from altoolkit.engine.sweep import _canonical
from altoolkit.training.train import TrainConfig, train_model
from test_resume import _strip  # tests/ is on sys.path (pytest's default import mode)

pytestmark = pytest.mark.filterwarnings("ignore:tod. no previous cycle:UserWarning")


@pytest.fixture(scope="module")
def tiny():
    d = alt.load_digits(seed=0)
    return alt.from_arrays(d.x_train[:120], d.y_train[:120], d.x_test[:60], d.y_test[:60], name="digits120")


def _cfg(**kw):
    base = dict(dataset="digits", strategy="tod", model="mlp", epochs=2, cycles=2, seed=3, batch_size=16, initial_size=24, step_size=12)
    base.update(kw)
    return ALConfig(**base)


def _net(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))  # no dropout


def test_the_option_is_validated_and_recorded_only_when_on():
    with pytest.raises(ValueError, match="consistency_weight"):
        get_strategy("tod", consistency_weight=-0.02)
    with pytest.raises(ValueError, match="consistency_weight"):
        _cfg(strategy_options={"consistency_weight": -1})
    with pytest.raises(TypeError, match="consistency_weight"):
        get_strategy("tod", consistency_weight="0.02")
    with pytest.raises(ValueError, match="consistency_weight"):
        ConsistencyLoss(0.0)  # 0 means off: the strategy then asks for no loss at all
    assert TOD_CONSISTENCY_WEIGHT == 0.02 and ConsistencyLoss().weight == 0.02
    assert get_strategy("tod").training_loss() is None
    assert get_strategy("tod", consistency_weight=0.0).options() == {}
    on = get_strategy("tod", variant="published", consistency_weight=0.02)
    assert on.options() == {"variant": "published", "consistency_weight": 0.02}
    assert isinstance(on.training_loss(), ConsistencyLoss) and on.training_loss().weight == 0.02
    assert all(get_strategy(n).training_loss() is None for n in alt.strategy_names() if n != "tod")


def _config_digest(cfg: ALConfig) -> str:
    """What altoolkit.engine.sweep.config_hash digests of a configuration: the canonical JSON of
    ``to_dict()`` (config_hash may add keys of its own, e.g. a model revision; not this option's)."""
    text = json.dumps(_canonical(cfg.to_dict()), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_the_cache_keys_of_existing_configurations_are_unchanged():
    # config_hash of these configurations at main 8103831, before this option existed
    assert _config_digest(ALConfig()) == "d8f8777aa60eed2f"
    assert _config_digest(ALConfig(strategy="tod")) == "b2c0082fe93c30c6"
    assert _config_digest(ALConfig(strategy="tod", strategy_options={"variant": "published"}, warm_start=True)) == "0d1206029b8ac05f"
    assert "consistency_weight" not in json.dumps(ALConfig(strategy="tod").to_dict())


def test_the_strategies_listing_names_the_option(capsys):
    from altoolkit.cli import main

    assert main(["strategies"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("tod "))
    assert "consistency_weight" in line and "0.02" in line


def test_forward_with_features_is_one_pass_of_head_on_embed(digits):
    net = build_model("cnn", digits.input_shape, 10, seed=1).eval()
    x = digits.to_input(digits.x_train[:5])
    out, feats = forward_with_features(net, x)
    torch.testing.assert_close(out, net(x), rtol=0, atol=0)
    torch.testing.assert_close(feats, net.embed(x), rtol=0, atol=0)


def test_loss_and_ema_update_follow_main_TOD_by_hand():
    """One step by hand: loss = w·(mse(f,g)(x) + mse(f,g)(u) + mse(g, f_ema)(x) + mse(g, f_ema)(u)),
    then ema ← a·ema + (1 − a)·θ with a = min(1 − 1/(step + 1), 0.999)."""
    net = _net()
    run = ConsistencyLoss(0.02).begin(net, seed=5, device=torch.device("cpu"))
    assert run.head.in_features == 16 and run.head.out_features == 10 and run.step == 0
    assert not any(p.requires_grad for p in run.ema.parameters())
    theta0 = [p.detach().clone() for p in net.parameters()]
    g = torch.Generator().manual_seed(0)
    xb, ub = torch.rand(8, 64, generator=g), torch.rand(8, 64, generator=g)
    scores, term = run.loss(net, xb, ub)

    f, head = net[:-1], net[-1]
    fx, fu = f(xb), f(ub)
    with torch.no_grad():
        ex, eu = run.ema(xb), run.ema(ub)
    gx, gu = run.head(fx), run.head(fu)
    by_hand = 0.02 * (F.mse_loss(head(fx), gx) + F.mse_loss(head(fu), gu) + F.mse_loss(gx, ex) + F.mse_loss(gu, eu))
    torch.testing.assert_close(scores, net(xb))
    torch.testing.assert_close(term, by_hand)

    opt = torch.optim.SGD(list(net.parameters()) + run.parameters(), lr=0.5)
    head0 = run.head.weight.detach().clone()
    (F.cross_entropy(scores, torch.arange(8)) + term).backward()
    opt.step()
    run.after_step(net)
    assert run.step == 1 and ema_decay(1) == 0.5
    for e, p0, p1 in zip(run.ema.parameters(), theta0, net.parameters()):
        torch.testing.assert_close(e, 0.5 * p0 + 0.5 * p1.detach())
    assert not torch.equal(run.head.weight, head0)  # the second head is trained with the model
    ema1 = [e.clone() for e in run.ema.parameters()]
    run.after_step(net)  # second step: a = 2/3
    for e, e1, p in zip(run.ema.parameters(), ema1, net.parameters()):
        torch.testing.assert_close(e, (2 / 3) * e1 + (1 / 3) * p.detach())
    assert ema_decay(999) == 0.999 and ema_decay(5000) == 0.999


def test_training_with_the_loss_changes_the_weights_and_is_seeded(digits):
    x, y, pool = digits.x_train[:40], digits.y_train[:40], digits.x_train[40:140]
    cfg = TrainConfig(epochs=2, batch_size=16)

    def train(aux, seed=0):
        net = build_model("mlp", digits.input_shape, 10, seed=1)
        kw = {} if aux is None else {"auxiliary": aux, "unlabeled_x": pool}
        return train_model(net, x, y, cfg, seed=seed, to_input=digits.to_input, progress=False, **kw)

    plain, a, b = train(None), train(ConsistencyLoss(0.02)), train(ConsistencyLoss(0.02))
    assert plain.auxiliary is None and "auxiliary_loss" not in plain.history
    assert not torch.equal(plain.model.head.weight, a.model.head.weight)
    assert all(v > 0 for v in a.history["auxiliary_loss"])
    for ta, tb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(ta, tb)
    assert torch.equal(a.auxiliary.head.weight, b.auxiliary.head.weight)
    assert all(torch.equal(p, q) for p, q in zip(a.auxiliary.ema.parameters(), b.auxiliary.ema.parameters()))
    assert a.auxiliary.step == 2 * 3  # 40 samples in batches of 16, 2 epochs: one EMA update per step
    c = train(ConsistencyLoss(0.02), seed=1)
    assert not torch.equal(a.model.head.weight, c.model.head.weight)
    with pytest.raises(ValueError, match="unlabeled_x"):
        train_model(build_model("mlp", digits.input_shape, 10, seed=1), x, y, cfg, auxiliary=ConsistencyLoss(), progress=False)


def test_weight_zero_trains_bit_for_bit_as_a_strategy_without_the_option(tiny):
    lab = torch.arange(24)
    models = [
        train_cycle(_cfg(strategy=s, strategy_options=o), tiny, lab, 1, get_strategy(s, **o)).model
        for s, o in (("entropy", {}), ("tod", {}), ("tod", {"consistency_weight": 0.0}))
    ]
    for m in models[1:]:
        for ta, tb in zip(models[0].state_dict().values(), m.state_dict().values()):
            assert torch.equal(ta, tb)


def test_the_loop_passes_the_pool_only_when_asked_and_records_the_option(tiny, monkeypatch):
    seen = []
    real = fresh_model.train_model

    def spy(*args, **kw):
        seen.append(kw.get("unlabeled_x"))
        return real(*args, **kw)

    monkeypatch.setattr(fresh_model, "train_model", spy)
    off = run_active_learning(_cfg(strategy="entropy"), dataset=tiny, progress=False)
    assert seen == [None, None]
    seen.clear()
    cfg = _cfg(strategy_options={"consistency_weight": 0.02}, validation_size=10)
    on = run_active_learning(cfg, dataset=tiny, progress=False)
    held = set(on["validation_indices"])
    assert [u.shape[0] for u in seen] == [120 - 10 - 24, 120 - 10 - 36]  # neither labeled nor held out
    labeled0 = set(on["initial_labeled"])
    pool0 = loop.plan_pool(cfg, 120).unlabeled(120, torch.tensor(sorted(labeled0)))
    assert torch.equal(seen[0], tiny.x_train[pool0]) and not (set(pool0.tolist()) & (held | labeled0))
    assert on["strategy"]["options"] == {"consistency_weight": 0.02}
    assert on["config"]["strategy_options"] == {"consistency_weight": 0.02}
    assert json.loads(json.dumps(on)) == on and off["strategy"]["options"] == {}


def _kill_after_cycle_1(entry):
    if entry["cycle"] == 1:
        raise KeyboardInterrupt


def test_a_run_with_the_loss_is_deterministic_and_resumes_to_the_same_record(tiny, tmp_path):
    cfg = _cfg(strategy_options={"consistency_weight": 0.02}, cycles=3)
    full = run_active_learning(cfg, tmp_path / "full.json", dataset=tiny, progress=False)
    again = run_active_learning(cfg, dataset=tiny, progress=False)
    assert _strip(again) == _strip(full)
    plain = run_active_learning(_cfg(cycles=3), dataset=tiny, progress=False)
    assert [e["final_train_loss"] for e in plain["cycles"]] != [e["final_train_loss"] for e in full["cycles"]]

    out = tmp_path / "killed.json"
    with pytest.raises(KeyboardInterrupt):  # killed after cycle 1's record is written
        run_active_learning(cfg, out, dataset=tiny, progress=False, on_cycle_end=_kill_after_cycle_1)
    assert len(json.loads(out.read_text())["cycles"]) == 2
    assert _strip(run_active_learning(cfg, out, dataset=tiny, progress=False)) == _strip(full)


def test_the_teacher_runs_in_train_mode_and_takes_no_gradient():
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    run = ConsistencyLoss().begin(net, seed=0, device=torch.device("cpu"))
    run.ema.eval()
    before = run.ema[2].running_mean.clone()
    _, term = run.loss(net, torch.rand(8, 64), None)  # an empty pool: the labeled terms only
    assert run.ema.training and not torch.equal(run.ema[2].running_mean, before)  # BatchNorm in train mode
    term.backward()
    assert all(p.grad is None for p in run.ema.parameters())
    assert run.head.weight.grad is not None


def test_labelling_project_refuses_the_consistency_loss(tmp_path):
    """A labelling project trains without the loop's auxiliary hook: it refuses the option
    instead of silently training without the loss."""
    import numpy as np

    from altoolkit.labelling.project import LabelingProject

    x = np.zeros((6, 1, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="consistency_weight"):
        LabelingProject(tmp_path, [f"i{k}" for k in range(6)], x, classes=["a", "b"], strategy="tod", strategy_options={"consistency_weight": 0.02})
    LabelingProject(tmp_path / "ok", [f"i{k}" for k in range(6)], x, classes=["a", "b"], strategy="tod")
