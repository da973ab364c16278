# ruff: noqa: E501  (the pinned records and options are single-line literals, copied from main)
"""Training settings and strategy options are declared once (issue 13, item 3).

The expected values below were computed on main before ``ALConfig`` held a ``TrainConfig`` and
before the strategies declared their options in one dataclass each: records, sweep hashes and
``options()`` must not change."""

from __future__ import annotations

import dataclasses
import json

import pytest

import altoolkit as alt
from altoolkit.engine.sweep import config_hash

# name -> ALConfig keywords; EXPECTED[name] = (config_hash, json.dumps(to_dict())) on main.
CONFIGS: dict[str, dict] = {
    "defaults": {},
    "disal_opts": dict(strategy="disal", strategy_options={"largest": False}, dynamic_weight=0.5, epochs=5, lr=0.1, seed=3),
    "warm_subset": dict(
        strategy="tod",
        strategy_options={"variant": "published", "consistency_weight": 0.02},
        warm_start=True,
        initial_size=100,
        step_size=50,
        subset_size=500,
        eval_every=2,
        cycles=3,
        model="mlp",
    ),
    "paper_like": dict(
        dataset="cifar10",
        model="resnet18_cifar",
        strategy="isal",
        strategy_options={"reference": "test"},
        epochs=200,
        batch_size=128,
        lr=0.1,
        augment="flip_crop",
        device="cuda",
        initial_size=5000,
        step_size=2500,
        subset_size=25000,
        root="data",
        validation_size=0,
        lr_schedule="cosine",
        momentum=0.8,
        weight_decay=0.0,
    ),
    "entropy_batch": dict(strategy="entropy", strategy_options={"batch": "balanced"}, score_batch_size=64, dynamic_weight=1.0),
}
EXPECTED = {
    "defaults": (
        "f72ffc4022f3cce1",
        '{"dataset": "digits", "strategy": "disal", "strategy_options": {}, "seed": 0, "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": 7, "model": "cnn", "epochs": 30, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "lr_schedule": "step", "augment": "none", "dynamic_weight": null, "validation_size": 0, "score_batch_size": 512, "device": "cpu", "root": null, "download": false, "dataset_options": {}}',
    ),
    "disal_opts": (
        "528badbd2ef928d6",
        '{"dataset": "digits", "strategy": "disal", "strategy_options": {"largest": false}, "seed": 3, "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": 7, "model": "cnn", "epochs": 5, "batch_size": 64, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005, "lr_schedule": "step", "augment": "none", "dynamic_weight": 0.5, "validation_size": 0, "score_batch_size": 512, "device": "cpu", "root": null, "download": false, "dataset_options": {}}',
    ),
    "warm_subset": (
        "64523241abd5453e",
        '{"dataset": "digits", "strategy": "tod", "strategy_options": {"variant": "published", "consistency_weight": 0.02}, "seed": 0, "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": 3, "model": "mlp", "epochs": 30, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "lr_schedule": "step", "augment": "none", "dynamic_weight": null, "validation_size": 0, "score_batch_size": 512, "device": "cpu", "root": null, "download": false, "dataset_options": {}, "initial_size": 100, "step_size": 50, "subset_size": 500, "warm_start": true, "eval_every": 2}',
    ),
    "paper_like": (
        "d020064edb614735",  # was 2f66b4961eaf19bb: the root of MD5-checked files left the hash (engine.loop.run_settings)
        '{"dataset": "cifar10", "strategy": "isal", "strategy_options": {"reference": "test"}, "seed": 0, "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": 7, "model": "resnet18_cifar", "epochs": 200, "batch_size": 128, "lr": 0.1, "momentum": 0.8, "weight_decay": 0.0, "lr_schedule": "cosine", "augment": "flip_crop", "dynamic_weight": null, "validation_size": 0, "score_batch_size": 512, "device": "cuda", "root": "data", "download": false, "dataset_options": {}, "initial_size": 5000, "step_size": 2500, "subset_size": 25000}',
    ),
    "entropy_batch": (
        "40e0bc9697b22863",
        '{"dataset": "digits", "strategy": "entropy", "strategy_options": {"batch": "balanced"}, "seed": 0, "initial_fraction": 0.1, "step_fraction": 0.05, "cycles": 7, "model": "cnn", "epochs": 30, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "lr_schedule": "step", "augment": "none", "dynamic_weight": 1.0, "validation_size": 0, "score_batch_size": 64, "device": "cpu", "root": null, "download": false, "dataset_options": {}}',
    ),
}

# (strategy, options given, json.dumps(options()), repr, peeks_at_labels) on main.
OPTIONS = [
    ("random", {}, "{}", "RandomStrategy()", False),
    ("entropy", {}, "{}", "EntropyStrategy()", False),
    ("margin", {}, "{}", "MarginStrategy()", False),
    ("least_confidence", {}, "{}", "LeastConfidenceStrategy()", False),
    ("disal", {}, '{"largest": true}', "DisalStrategy(largest=True)", False),
    ("disal_no_dynamic", {}, '{"largest": true}', "DisalNoDynamicStrategy(largest=True)", False),
    ("disal_no_selection", {}, "{}", "DisalNoSelectionStrategy()", False),
    ("ce_difference", {}, '{"largest": true}', "CEDifferenceStrategy(largest=True)", True),
    ("bald", {}, '{"mc_samples": 20}', "BaldStrategy(mc_samples=20)", False),
    ("coreset", {}, "{}", "CoresetStrategy()", False),
    ("badge", {}, '{"include_bias": false}', "BadgeStrategy(include_bias=False)", False),
    ("gradnorm", {}, '{"scheme": "expected_loss"}', "GradNormStrategy(scheme='expected_loss')", False),
    ("tod", {}, "{}", "TodStrategy()", False),
    ("tracin", {}, '{"checkpoints": 5, "which": "all", "largest": true}', "TracInStrategy(checkpoints=5, which='all', largest=True)", False),
    (
        "isal",
        {},
        '{"reference": "labeled", "grad_simi": false, "k_classes": 1, "k_weighting": "renormalized", "which": "weights", "depth": 250, "repeats": 4, "damping": 0.01, "scale": 10000.0, "lissa_batch_size": 1, "most_negative": true}',
        "IsalStrategy(reference='labeled', grad_simi=False, k_classes=1, k_weighting='renormalized', which='weights', depth=250, repeats=4, damping=0.01, scale=10000.0, lissa_batch_size=1, most_negative=True)",
        False,
    ),
    (
        "isal",
        {"reference": "test"},
        '{"reference": "test", "grad_simi": false, "k_classes": 1, "k_weighting": "renormalized", "which": "weights", "depth": 250, "repeats": 4, "damping": 0.01, "scale": 10000.0, "lissa_batch_size": 1, "most_negative": true}',
        "IsalStrategy(reference='test', grad_simi=False, k_classes=1, k_weighting='renormalized', which='weights', depth=250, repeats=4, damping=0.01, scale=10000.0, lissa_batch_size=1, most_negative=True)",
        True,
    ),
    (
        "isal",
        {"grad_simi": True, "which": "all"},
        '{"reference": "labeled", "grad_simi": true, "k_classes": 1, "k_weighting": "renormalized", "which": "all", "depth": 250, "repeats": 4, "damping": 0.01, "scale": 10000.0, "lissa_batch_size": 1, "most_negative": true}',
        "IsalStrategy(reference='labeled', grad_simi=True, k_classes=1, k_weighting='renormalized', which='all', depth=250, repeats=4, damping=0.01, scale=10000.0, lissa_batch_size=1, most_negative=True)",
        False,
    ),
    (
        "isal",
        {"k_classes": 3, "k_weighting": "posterior", "depth": 10, "repeats": 1, "damping": 0.1, "scale": 100, "lissa_batch_size": 8, "most_negative": False},
        '{"reference": "labeled", "grad_simi": false, "k_classes": 3, "k_weighting": "posterior", "which": "weights", "depth": 10, "repeats": 1, "damping": 0.1, "scale": 100.0, "lissa_batch_size": 8, "most_negative": false}',
        "IsalStrategy(reference='labeled', grad_simi=False, k_classes=3, k_weighting='posterior', which='weights', depth=10, repeats=1, damping=0.1, scale=100.0, lissa_batch_size=8, most_negative=False)",
        False,
    ),
    ("disal", {"largest": False}, '{"largest": false}', "DisalStrategy(largest=False)", False),
    ("ce_difference", {"largest": False}, '{"largest": false}', "CEDifferenceStrategy(largest=False)", True),
    ("tod", {"variant": "published"}, '{"variant": "published"}', "TodStrategy(variant='published')", False),
    ("tod", {"consistency_weight": 0.02}, '{"consistency_weight": 0.02}', "TodStrategy(consistency_weight=0.02)", False),
    ("bald", {"mc_samples": 10}, '{"mc_samples": 10}', "BaldStrategy(mc_samples=10)", False),
    ("bald", {"head_dropout": 0.5}, '{"mc_samples": 20, "head_dropout": 0.5}', "BaldStrategy(mc_samples=20, head_dropout=0.5)", False),
    ("badge", {"include_bias": True}, '{"include_bias": true}', "BadgeStrategy(include_bias=True)", False),
    ("gradnorm", {"scheme": "entropy"}, '{"scheme": "entropy"}', "GradNormStrategy(scheme='entropy')", False),
    (
        "tracin",
        {"checkpoints": 3, "which": "last_layer", "largest": False},
        '{"checkpoints": 3, "which": "last_layer", "largest": false}',
        "TracInStrategy(checkpoints=3, which='last_layer', largest=False)",
        False,
    ),
    ("entropy", {"batch": "balanced"}, '{"batch": "balanced"}', "EntropyStrategy(batch='balanced')", False),
    ("disal", {"largest": True, "batch": "diverse"}, '{"largest": true, "batch": "diverse"}', "DisalStrategy(largest=True, batch='diverse')", False),
    (
        "isal",
        {"batch": "topk"},
        '{"reference": "labeled", "grad_simi": false, "k_classes": 1, "k_weighting": "renormalized", "which": "weights", "depth": 250, "repeats": 4, "damping": 0.01, "scale": 10000.0, "lissa_batch_size": 1, "most_negative": true}',
        "IsalStrategy(reference='labeled', grad_simi=False, k_classes=1, k_weighting='renormalized', which='weights', depth=250, repeats=4, damping=0.01, scale=10000.0, lissa_batch_size=1, most_negative=True)",
        False,
    ),
    ("tod", {"batch": "balanced"}, '{"batch": "balanced"}', "TodStrategy(batch='balanced')", False),
    (
        "isal",
        {"k_classes": 2.0, "scale": 10000},
        '{"reference": "labeled", "grad_simi": false, "k_classes": 2, "k_weighting": "renormalized", "which": "weights", "depth": 250, "repeats": 4, "damping": 0.01, "scale": 10000.0, "lissa_batch_size": 1, "most_negative": true}',
        "IsalStrategy(reference='labeled', grad_simi=False, k_classes=2, k_weighting='renormalized', which='weights', depth=250, repeats=4, damping=0.01, scale=10000.0, lissa_batch_size=1, most_negative=True)",
        False,
    ),
]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_records_and_hashes_unchanged(name, monkeypatch):
    # the pins were taken at model revision 2; revision 3 (the per-epoch dynamic-loss target) changed
    # the hashes on purpose, not the configuration's content, which these pins guard
    import altoolkit.training.models as models

    cfg = alt.ALConfig(**CONFIGS[name])
    current = config_hash(cfg)
    monkeypatch.setattr(models, "MODEL_REVISION", 2)
    assert (config_hash(cfg), json.dumps(cfg.to_dict())) == EXPECTED[name]
    again = alt.ALConfig.from_dict(json.loads(EXPECTED[name][1]))  # a stored record's config loads back
    assert again == cfg and config_hash(again) == EXPECTED[name][0]
    assert current != EXPECTED[name][0]  # a record of revision 2 is not served for revision 3


def test_alconfig_holds_a_trainconfig():
    cfg = alt.ALConfig(strategy="disal", epochs=5, lr=0.1, device="cpu")
    assert isinstance(cfg.train, alt.TrainConfig)
    assert (cfg.epochs, cfg.lr, cfg.train.epochs, cfg.train.lr) == (5, 0.1, 5, 0.1)
    # the TrainConfig the loop trains with: λ resolved by the strategy's rule (disal: 1)
    assert cfg.train_config() == cfg.train and cfg.train.dynamic_weight == 1.0
    given = alt.ALConfig(strategy="entropy", train=alt.TrainConfig(epochs=5, lr=0.1))
    assert (given.epochs, given.lr, given.train.dynamic_weight) == (5, 0.1, 0.0)
    assert given.to_dict() == alt.ALConfig(strategy="entropy", epochs=5, lr=0.1).to_dict()
    # every training setting is a read of cfg.train
    for f in dataclasses.fields(alt.TrainConfig):
        if f.name != "dynamic_weight":
            assert getattr(cfg, f.name) == getattr(cfg.train, f.name)
    assert cfg.dynamic_weight is None  # ALConfig's own λ: None = the strategy's rule


def test_replace_keeps_and_changes_training_settings():
    cfg = alt.ALConfig(strategy="disal", epochs=5, lr=0.1)
    other = dataclasses.replace(cfg, strategy="entropy")
    assert (other.epochs, other.lr, other.train.dynamic_weight) == (5, 0.1, 0.0)
    shorter = dataclasses.replace(cfg, epochs=3)
    assert (shorter.epochs, shorter.lr, cfg.epochs) == (3, 0.1, 5)
    with pytest.raises(ValueError, match="epochs must be an integer in"):
        dataclasses.replace(cfg, epochs=0)


def test_train_and_flat_keywords_conflict():
    with pytest.raises(ValueError, match=r"train=.*epochs"):
        alt.ALConfig(train=alt.TrainConfig(), epochs=3)
    with pytest.raises(TypeError, match="train must be a TrainConfig"):
        alt.ALConfig(train={"epochs": 3})
    with pytest.raises(ValueError, match="dynamic_weight"):  # λ is ALConfig's own setting
        alt.ALConfig(strategy="entropy", train=alt.TrainConfig(dynamic_weight=0.5))
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        alt.ALConfig(epoch=3)


def test_config_keys_are_the_record_keys():
    keys = alt.ALConfig.keys()
    assert list(alt.ALConfig().to_dict()) == [k for k in keys if k in alt.ALConfig().to_dict()]
    train = {f.name for f in dataclasses.fields(alt.TrainConfig)} - {"dynamic_weight"}
    own = {f.name for f in dataclasses.fields(alt.ALConfig)} - {"train"}
    assert set(keys) == train | own and len(keys) == len(set(keys))


@pytest.mark.parametrize("name, given, options, text, peeks", OPTIONS)
def test_strategy_options_unchanged(name, given, options, text, peeks):
    s = alt.get_strategy(name, **given)
    assert json.dumps(s.options()) == options
    assert repr(s) == text and bool(getattr(s, "peeks_at_labels", False)) is peeks
    for k, v in json.loads(options).items():  # options stay readable as attributes
        assert getattr(s, k) == v


def test_cli_training_flags_come_from_trainconfig():
    from altoolkit.cli import build_parser
    from altoolkit.engine.loop import TRAIN_KEYS

    parser = build_parser()
    args = parser.parse_args(["al", "--out", "x.json", "--epochs", "3", "--weight-decay", "0"])
    assert (args.epochs, args.weight_decay, args.lr) == (3, 0.0, alt.TrainConfig().lr)
    assert set(TRAIN_KEYS) == {f.name for f in dataclasses.fields(alt.TrainConfig)} - {"dynamic_weight"}
    sub = parser._subparsers._group_actions[0].choices["al"]  # the `al` subcommand
    flags = {a.dest: a for a in sub._actions}
    for k in TRAIN_KEYS:
        assert flags[k].default == getattr(alt.TrainConfig(), k)
        assert flags[k].help and "default" in flags[k].help
    assert "flip_crop" in flags["augment"].help and "cosine" in flags["lr_schedule"].help


def test_strategy_options_are_checked_from_their_declaration():
    from altoolkit.strategies import describe_options

    with pytest.raises(TypeError, match="strategy 'isal' takes no option 'deep'; its options: reference, grad_simi"):
        alt.get_strategy("isal", deep=3)
    with pytest.raises(ValueError, match="reference must be one of labeled, initial, validation, test"):
        alt.get_strategy("isal", reference="train")
    with pytest.raises(ValueError, match=r"damping must be in \[0.0, 1.0\), got 1.0"):
        alt.get_strategy("isal", damping=1.0)
    with pytest.raises(TypeError, match="largest must be True or False"):
        alt.get_strategy("tracin", largest="yes")
    with pytest.raises(ValueError, match="takes no options"):
        alt.get_strategy("random", k=3)
    s = alt.get_strategy("isal", grad_simi=True, which="all")
    assert (s.grad_simi, s.which, s.opts.depth) == (True, "all", 250)
    with pytest.raises(AttributeError):
        s.no_such_option  # noqa: B018
    # the help derives from the same fields: every option, its default and what is allowed
    for name in alt.strategy_names():
        cls = alt.get_strategy(name).__class__
        described = describe_options(name)
        assert [d[0] for d in described] == ([f.name for f in dataclasses.fields(cls.Options)] if cls.Options else [])
        for opt, default, allowed, doc in described:
            assert getattr(alt.get_strategy(name), opt) == default and allowed and doc
            if "Options" in vars(cls):  # declared here (not inherited): its docstring lists the option
                assert f"{opt} ({allowed}; default {default!r}): {doc}" in cls.__doc__
    assert ("head_dropout", None, "float in (0.0, 1.0) or None") == describe_options("bald")[1][:3]


def test_a_user_strategy_declares_its_options_once():
    from altoolkit.strategies import Strategy, StrategyOptions, option

    @dataclasses.dataclass(frozen=True)
    class TopOptions(StrategyOptions):
        k: int = option(2, "how many", minimum=1)
        mode: str = option("a", "a or b", choices=("a", "b"), recorded="changed")

    class Top(Strategy):
        name = "top_test_only"  # not registered
        Options = TopOptions

        def score(self, ctx):
            return ctx.pool_x.flatten(1).sum(1)

    s = Top(k=3.0)
    assert (s.k, s.options(), Top(mode="b", batch="balanced").options()) == (3, {"k": 3}, {"k": 2, "mode": "b", "batch": "balanced"})
    assert "k (int in [1, inf]; default 2): how many" in Top.__doc__
    with pytest.raises(ValueError, match="mode must be one of a, b"):
        Top(mode="c")
