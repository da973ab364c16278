"""The papers' protocols as options (issue 11): candidate subset, warm start with resumable
sidecars, TOD as published, BALD with TiDAL's head dropout, ISAL's test-set reference and K > 1
weighting, pretrained ResNet-18 and Caltech101's crop, absolute budgets, reported accuracies.

Each test checks the option against what the cited public code does, on small synthetic cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import altoolkit as alt
from altoolkit.engine import loop
from altoolkit.engine.loop import ALConfig, budget_schedule, candidate_subset, run_active_learning
from altoolkit.training.models import ResNet18CIFAR, TorchvisionResNet18, build_model, load_pretrained_backbone
from altoolkit.strategies import SelectionContext, get_strategy
from altoolkit.strategies.bald import ConstantScoresError, bald_scores
from altoolkit.strategies.tod import freshly_initialised, output_discrepancy
from test_resume import _strip as _strip_timings  # tests/ is on sys.path (pytest's default import mode)


def _strip(rec):
    """The record without timings (as test_resume compares; it also drops the sidecar references,
    which only unfinished records carry)."""
    return _strip_timings(rec)


class NotWeights:
    """A pickled object that ``torch.load(weights_only=True)`` must refuse to build."""


def _small(**kw):
    base = dict(dataset="digits", strategy="entropy", model="mlp", epochs=2, cycles=3, seed=1)
    base.update(kw)
    return ALConfig(**base)


@pytest.fixture(scope="module")
def small_digits():
    d = alt.load_digits(seed=0)
    return alt.from_arrays(d.x_train[:300], d.y_train[:300], d.x_test[:100], d.y_test[:100], name="digits300")


# 1. candidate subset ---------------------------------------------------------------------------


def test_candidate_subset_seeded_uniform_and_whole_pool_when_off():
    pool = torch.arange(100, 1100)
    a = candidate_subset(pool, 200, seed=3, cycle=2)
    assert a.shape == (200,) and torch.equal(a, candidate_subset(pool, 200, seed=3, cycle=2))
    assert bool((a[1:] > a[:-1]).all()) and set(a.tolist()) <= set(pool.tolist())
    assert not torch.equal(a, candidate_subset(pool, 200, seed=3, cycle=3))  # a new draw each cycle
    for off in (None, 0, 1000, 5000):
        assert candidate_subset(pool, off, 3, 2) is pool
    # uniform over the pool, like random.shuffle(unlabeled_set)[:SUBSET] (TOD/TiDAL/aitom)
    counts = np.zeros(1000)
    for c in range(200):
        counts[(candidate_subset(pool, 100, 0, c) - 100).numpy()] += 1
    assert counts.mean() == pytest.approx(20.0) and counts.std() < 6


def test_subset_is_recorded_and_selections_come_from_it(small_digits):
    rec = run_active_learning(_small(subset_size=40), dataset=small_digits, progress=False)
    assert rec["config"]["subset_size"] == 40
    for c, entry in enumerate(rec["cycles"][:-1]):
        assert entry["n_candidates"] == 40
        lab = torch.tensor(rec["initial_labeled"] + [i for e in rec["cycles"][:c] for i in e["selected"]])
        mask = torch.ones(small_digits.n_train, dtype=torch.bool)
        mask[lab] = False
        cand = candidate_subset(torch.nonzero(mask).flatten(), 40, 1, c)
        assert set(entry["selected"]) <= set(cand.tolist())
    again = run_active_learning(_small(subset_size=40), dataset=small_digits, progress=False)
    assert _strip(again) == _strip(rec)


def test_subset_smaller_than_step_is_refused():
    with pytest.raises(ValueError, match="subset_size"):
        _small(subset_size=5, step_size=10)


# 2. warm start and its sidecar -----------------------------------------------------------------


def test_warm_start_continues_from_the_previous_final_weights(small_digits, tmp_path):
    cfg = _small(warm_start=True)
    seen = []
    orig = loop.train_cycle

    def spy(config, dataset, labeled, cycle, strategy, progress=False, init_state=None):
        seen.append(None if init_state is None else {k: v.clone() for k, v in init_state.items()})
        res = orig(config, dataset, labeled, cycle, strategy, progress, init_state=init_state)
        seen.append({k: v.clone() for k, v in res.model.state_dict().items()})
        return res

    out = tmp_path / "warm.json"
    try:
        loop.train_cycle = spy
        rec = run_active_learning(cfg, out, dataset=small_digits, progress=False)
    finally:
        loop.train_cycle = orig
    assert seen[0] is None  # cycle 0: fresh initialisation
    for c in (1, 2):  # cycle c starts from cycle c-1's final weights
        start, prev_final = seen[2 * c], seen[2 * c - 1]
        assert all(torch.equal(start[k], prev_final[k]) for k in start)
    assert "sidecars" not in rec  # a finished run names no weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warm.json"]  # a finished run needs no weights
    cold = run_active_learning(_small(), dataset=small_digits, progress=False)
    assert [e["selected"] for e in cold["cycles"]] != [e["selected"] for e in rec["cycles"]]


def test_warm_start_resume_after_a_kill_ends_with_the_uninterrupted_record(small_digits, tmp_path, monkeypatch):
    cfg = _small(warm_start=True, cycles=4)
    full = run_active_learning(cfg, tmp_path / "full.json", dataset=small_digits, progress=False)

    # killed after cycle 1's record is written
    out = tmp_path / "k1.json"

    def stop(entry):
        if entry["cycle"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_active_learning(cfg, out, dataset=small_digits, progress=False, on_cycle_end=stop)
    assert len(json.loads(out.read_text())["cycles"]) == 2
    ref = json.loads(out.read_text())["sidecars"]["model"]  # cycle 1's final weights, named with their hash
    assert ref["cycle"] == 1 and len(ref["sha256"]) == 64
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("k1.json")) == sorted(["k1.json", ref["file"]])
    assert _strip(run_active_learning(cfg, out, dataset=small_digits, progress=False)) == _strip(full)

    # killed between cycle 2's sidecar and cycle 2's record (the sidecar is written first)
    out2 = tmp_path / "k2.json"
    real = loop.write_json
    calls = {"n": 0}

    def write_then_die(path, obj):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(path, obj)

    monkeypatch.setattr(loop, "write_json", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_active_learning(cfg, out2, dataset=small_digits, progress=False)
    monkeypatch.setattr(loop, "write_json", real)
    assert len(json.loads(out2.read_text())["cycles"]) == 2
    assert len(list(tmp_path.glob("k2.json.model.*.pt"))) == 2  # cycle 1's (named) and cycle 2's (not yet)
    assert _strip(run_active_learning(cfg, out2, dataset=small_digits, progress=False)) == _strip(full)
    assert not list(tmp_path.glob("k2.json.model.*.pt"))


def test_a_changed_sidecar_is_refused_on_resume(small_digits, tmp_path):
    cfg = _small(warm_start=True)
    out = tmp_path / "r.json"

    def stop(entry):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_active_learning(cfg, out, dataset=small_digits, progress=False, on_cycle_end=stop)
    side = tmp_path / json.loads(out.read_text())["sidecars"]["model"]["file"]
    state = torch.load(side, weights_only=True)
    state[next(iter(state))].add_(1.0)
    torch.save(state, side)
    with pytest.raises(ValueError, match="corrupt.*warm-started run cannot rebuild"):
        run_active_learning(cfg, out, dataset=small_digits, progress=False)
    side.unlink()
    with pytest.raises(ValueError, match=f"cannot be read.*{side.name}|{side.name}.*cannot be read"):
        run_active_learning(cfg, out, dataset=small_digits, progress=False)


# 3. TOD as published ---------------------------------------------------------------------------


def _ctx(data, model, n_pool=60, prev=None, seed=0):
    return SelectionContext(
        dataset=data, model=model.eval(), labeled=torch.arange(20), unlabeled=torch.arange(20, 20 + n_pool), previous_cycle_model=prev, seed=seed
    )


def test_tod_published_needs_warm_start():
    with pytest.raises(ValueError, match="warm_start"):
        _small(strategy="tod", strategy_options={"variant": "published"})
    cfg = _small(strategy="tod", strategy_options={"variant": "published"}, warm_start=True)
    assert cfg.to_dict()["strategy_options"] == {"variant": "published"}
    with pytest.raises(ValueError, match="variant"):
        get_strategy("tod", variant="paper")


def test_tod_published_cycle0_takes_the_smallest_discrepancy_to_a_fresh_network(digits):
    """main_TOD.py: cycle 0 compares with the untrained, separately initialised cod_model and
    takes arg[:ADDENDUM] (ascending, i.e. the SMALLEST); later cycles arg[-ADDENDUM:]."""
    model = build_model("cnn", digits.input_shape, 10, seed=4)
    strat = get_strategy("tod", variant="published")
    ctx = _ctx(digits, model, seed=9)
    cod = freshly_initialised(model, 9)
    assert not all(torch.equal(a, b) for a, b in zip(cod.parameters(), model.parameters()))
    x = digits.to_input(ctx.pool_x)
    with torch.no_grad():
        ref = output_discrepancy(model(x), cod(x))
    scores = strat.score(ctx)
    torch.testing.assert_close(scores, ref)
    picked = strat.select(ctx, 7)
    assert set(picked.tolist()) == set(torch.argsort(ref)[:7].tolist())  # smallest in cycle 0
    prev = build_model("cnn", digits.input_shape, 10, seed=5).eval()
    later = _ctx(digits, model, prev=prev)
    with torch.no_grad():
        ref2 = output_discrepancy(model(x), prev(x))
    assert set(strat.select(later, 7).tolist()) == set(torch.argsort(ref2, descending=True)[:7].tolist())
    # the default variant keeps the earlier behaviour: random in cycle 0
    with pytest.warns(UserWarning, match="random"):
        get_strategy("tod").select(ctx, 7)


def test_tod_published_runs_in_the_loop_on_one_trajectory(small_digits, tmp_path):
    cfg = _small(strategy="tod", strategy_options={"variant": "published"}, warm_start=True, model="cnn")
    rec = run_active_learning(cfg, tmp_path / "tod.json", dataset=small_digits, progress=False)
    assert rec["strategy"]["options"] == {"variant": "published"} and rec["finished"]


# 4. BALD on models without dropout -------------------------------------------------------------


def test_bald_on_a_resnet_uses_tidal_head_dropout_and_is_never_constant():
    torch.manual_seed(0)
    model = ResNet18CIFAR(3, 10).eval()
    x = torch.rand(12, 3, 32, 32)
    s = bald_scores(model, x, mc_samples=10, seed=3, batch_size=12)
    assert s.shape == (12,) and bool((s > 0).all()) and float(s.max() - s.min()) > 0
    # reference: TiDAL models/resnet.py forward(method='BALD'): dropout(0.5) on the pooled features, then linear
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(3)
        feats = model.embed(x)
        p = torch.stack([torch.softmax(model.head(F.dropout(feats, 0.5, training=True)).double(), 1) for _ in range(10)])
    pb = p.mean(0)
    ref = -(pb * pb.log()).sum(1) - (-(p * p.log()).sum(2)).mean(0)  # selection_methods.py entropy1 - entropy2
    torch.testing.assert_close(s, ref.float(), rtol=1e-5, atol=1e-7)
    assert all(not m.training for m in model.modules())  # modes restored


def test_bald_refuses_constant_scores_and_models_it_cannot_sample():
    data = alt.from_arrays(torch.rand(40, 3, 8, 8), torch.arange(40) % 4, torch.rand(8, 3, 8, 8), torch.arange(8) % 4)
    model = build_model("cnn", (3, 8, 8), 4, seed=0)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)  # every pass gives the uniform distribution: BALD = 0 everywhere
    ctx = SelectionContext(dataset=data, model=model.eval(), labeled=torch.arange(5), unlabeled=torch.arange(5, 40))
    with pytest.raises(ConstantScoresError, match="same score"):
        get_strategy("bald", mc_samples=3).select(ctx, 4)
    plain = nn.Sequential(nn.Flatten(), nn.Linear(192, 4))
    with pytest.raises(ValueError, match="no dropout layers"):
        bald_scores(plain, data.x_train[:5], mc_samples=3)
    assert get_strategy("bald", head_dropout=0.5).options() == {"mc_samples": 20, "head_dropout": 0.5}
    with pytest.raises(ValueError, match="head_dropout"):
        get_strategy("bald", head_dropout=1.0)


# 5. ISAL's reference set and K > 1 -------------------------------------------------------------


def test_isal_test_reference_is_the_summed_test_gradient_and_is_flagged(small_digits):
    from altoolkit.math.influence import loss_grad
    from altoolkit.strategies.isal import TABLE3_NAMES, reference_set

    model = build_model("mlp", small_digits.input_shape, 10, seed=0).eval()
    ctx = SelectionContext(dataset=small_digits, model=model, labeled=torch.arange(30), unlabeled=torch.arange(30, 90))
    x, y = reference_set(ctx, "test")
    assert torch.equal(x, small_digits.x_test) and torch.equal(y, small_digits.y_test)
    # test_calc_val_grad.py: batch size 1, eval mode, sum over images of grad(loss, weights)
    v = loss_grad(model, x, y, "weights", "sum", 7, small_digits.to_input, "cpu")
    params = {n: p for n, p in model.named_parameters() if p.dim() != 1}
    ref = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(x.shape[0]):
        loss = F.cross_entropy(model(small_digits.to_input(x[i : i + 1])), y[i : i + 1])
        for n, g in zip(params, torch.autograd.grad(loss, list(params.values()))):
            ref[n] += g
    for n in ref:
        torch.testing.assert_close(v[n], ref[n], rtol=1e-4, atol=1e-5)
    strat = get_strategy("isal", reference="test")
    assert strat.peeks_at_labels and strat.peeks_at_test_data
    assert not get_strategy("isal").peeks_at_labels
    assert set(TABLE3_NAMES) == {"test", "validation", "initial", "labeled"}
    rec = run_active_learning(
        _small(strategy="isal", cycles=2, strategy_options={"reference": "test", "depth": 2, "repeats": 1}), dataset=small_digits, progress=False
    )
    assert rec["strategy"]["peeks_at_test_data"] is True and rec["strategy"]["peeks_at_labels"] is True
    plain = run_active_learning(_small(cycles=2), dataset=small_digits, progress=False)
    assert "peeks_at_test_data" not in plain["strategy"]


def test_isal_k_posterior_weighting_matches_the_public_expectation_code(small_digits):
    """utils.py calc_influence_funtion_expectation: loss = Σ_{label in top-K} CE(preds, label)·softmax(preds)[label],
    influence = −grad(loss)·s_test / n."""
    from altoolkit.strategies.isal import isal_influence

    model = build_model("mlp", small_digits.input_shape, 10, seed=2).eval()
    params = {n: p for n, p in model.named_parameters() if p.dim() != 1}
    gen = torch.Generator().manual_seed(0)
    s_test = {n: torch.randn(p.shape, generator=gen) for n, p in params.items()}
    pool = small_digits.x_train[:6]
    got = isal_influence(model, pool, s_test, 50, k_classes=3, k_weighting="posterior", batch_size=4)
    for i in range(6):
        preds = model(small_digits.to_input(pool[i : i + 1]))
        w = torch.softmax(preds, 1).detach()
        top = torch.topk(w, 3)[1][0]
        loss = sum(F.cross_entropy(preds, t.view(1)) * w[0, t] for t in top)
        g = torch.autograd.grad(loss, list(params.values()))
        ref = -sum((gi * s_test[n]).sum() for n, gi in zip(params, g)) / 50
        assert float(got[i]) == pytest.approx(float(ref), rel=1e-4, abs=1e-7)


# 6. pretrained ResNet-18 and Caltech101's crop -------------------------------------------------


def test_pretrained_weights_load_a_local_torchvision_state_dict(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(123)
    src = resnet18(weights=None, num_classes=1000)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(src.state_dict(), path)
    model = build_model("resnet18", (3, 32, 32), 7, seed=0, pretrained_weights=str(path))
    own = model.backbone.state_dict()
    assert all(torch.equal(own[k], v) for k, v in src.state_dict().items() if not k.startswith("fc."))
    assert model.head.weight.shape == (7, 512)  # the classifier stays fresh
    tod_like = load_pretrained_backbone(TorchvisionResNet18(3, 7), path, fresh=("layer4.",))
    assert not torch.equal(tod_like.backbone.layer4[0].conv1.weight, src.layer4[0].conv1.weight)
    assert torch.equal(tod_like.backbone.layer3[0].conv1.weight, src.layer3[0].conv1.weight)
    with pytest.raises(FileNotFoundError, match="download.pytorch.org"):
        build_model("resnet18", (3, 32, 32), 7, pretrained_weights=str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="missing"):
        build_model("resnet18", (3, 32, 32), 7, pretrained_weights=str(tmp_path / "bad.pth"))

    torch.save({"x": NotWeights()}, tmp_path / "code.pth")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        build_model("resnet18", (3, 32, 32), 7, pretrained_weights=str(tmp_path / "code.pth"))
    with pytest.raises(ValueError, match="resnet18"):
        ALConfig(model="cnn", pretrained_weights=str(path))


def test_caltech101_resize_then_center_crop(tmp_path):
    from PIL import Image

    from altoolkit.data import load_caltech101

    cats = tmp_path / "caltech101" / "101_ObjectCategories"
    (cats / "BACKGROUND_Google").mkdir(parents=True)
    Image.new("RGB", (10, 10)).save(cats / "BACKGROUND_Google" / "image_0001.jpg")
    rng = np.random.default_rng(0)
    for c in ("ant", "bee"):
        (cats / c).mkdir()
        for i in range(1, 5):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(cats / c / f"image_{i:04d}.png")
            (cats / c / f"image_{i:04d}.png").rename(cats / c / f"image_{i:04d}.jpg")
    plain = load_caltech101(root=tmp_path, image_size=16, test_fraction=0.25, progress=False)
    crop = load_caltech101(root=tmp_path, image_size=16, test_fraction=0.25, progress=False, resize_to=20)
    big = load_caltech101(root=tmp_path, image_size=20, test_fraction=0.25, progress=False)
    assert crop.x_train.shape == plain.x_train.shape == (6, 3, 16, 16)
    assert torch.equal(crop.x_train, big.x_train[:, :, 2:18, 2:18])  # torchvision's CenterCrop offsets
    with pytest.raises(ValueError, match="resize_to"):
        load_caltech101(root=tmp_path, image_size=16, progress=False, resize_to=8)


def test_flip_augmentation_flips_only():
    from altoolkit.training.train import _augment_batch

    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = _augment_batch(x, torch.Generator().manual_seed(0), crop=False)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))


# 7. absolute budgets ---------------------------------------------------------------------------


def test_absolute_budgets():
    assert budget_schedule(1000, 0.1, 0.05, 4, initial_size=100, step_size=50) == [100, 150, 200, 250]
    assert budget_schedule(1000, 0.1, 0.05, 3, step_size=7) == [100, 107, 114]
    with pytest.raises(ValueError, match="initial_size=100 \\+ step_size=500"):
        budget_schedule(1000, 0.1, 0.05, 3, initial_size=100, step_size=500)
    for bad in (0, -5):
        with pytest.raises(ValueError, match="initial_size"):
            _small(initial_size=bad)
    with pytest.raises(TypeError, match="step_size"):
        _small(step_size=2.5)
    # sizes replace the fractions' "at most the whole pool" check (the pool size is known later)
    assert _small(initial_size=10, step_size=10, cycles=50).budgets(1000)[-1] == 500


def test_absolute_budgets_in_the_loop(small_digits):
    rec = run_active_learning(_small(initial_size=20, step_size=15), dataset=small_digits, progress=False)
    assert rec["budgets"] == [20, 35, 50] and [len(e["selected"]) for e in rec["cycles"]] == [15, 15, 0]


# 9. reported accuracy --------------------------------------------------------------------------


def test_final_and_best_epoch_accuracy_are_recorded_and_labelled(small_digits):
    rec = run_active_learning(_small(eval_every=1, epochs=3, cycles=2), dataset=small_digits, progress=False)
    assert "final epoch" in rec["accuracy"]["test_acc"] and "best epoch" in rec["accuracy"]["best_epoch_test_acc"]
    for e in rec["cycles"]:
        assert e["best_epoch_test_acc"] >= e["test_acc"] and 1 <= e["best_epoch"] <= 3
    # evaluation every epoch reads the test set but changes no training result
    plain = run_active_learning(_small(epochs=3, cycles=2), dataset=small_digits, progress=False)
    assert [e["test_acc"] for e in plain["cycles"]] == [e["test_acc"] for e in rec["cycles"]]
    assert "best_epoch_test_acc" not in plain["cycles"][0]


# defaults unchanged ------------------------------------------------------------------------------


def test_new_options_leave_default_configs_and_hashes_unchanged():
    from altoolkit.engine.sweep import config_hash

    d = ALConfig().to_dict()
    assert not set(loop._OPTIONAL_DEFAULTS) & set(d)
    cfg = ALConfig(subset_size=10, warm_start=True, initial_size=5, step_size=5, eval_every=2)
    again = ALConfig.from_dict(cfg.to_dict())
    assert again == cfg and config_hash(again) == config_hash(cfg) != config_hash(ALConfig())


def test_cli_flags_reach_the_config():
    from altoolkit.cli import _run_fields, build_parser

    args = build_parser().parse_args(
        [
            "al",
            "--out",
            "x.json",
            "--subset-size",
            "25000",
            "--warm-start",
            "--initial-size",
            "5000",
            "--step-size",
            "2500",
            "--eval-every",
            "1",
            "--model",
            "resnet18",
            "--pretrained-weights",
            "w.pth",
        ]
    )
    f = _run_fields(args)
    assert (f["subset_size"], f["warm_start"], f["initial_size"], f["step_size"], f["eval_every"], f["pretrained_weights"]) == (
        25000,
        True,
        5000,
        2500,
        1,
        "w.pth",
    )
    d = _run_fields(build_parser().parse_args(["al", "--out", "x.json"]))
    assert ALConfig(**d).to_dict() == ALConfig().to_dict() | {k: d[k] for k in ("root", "download")}
