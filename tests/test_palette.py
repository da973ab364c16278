"""The palette rule (issue 28): every public ``plot_*`` function of altoolkit.plotting is drawn with
series that a notebook can give it, including several variants of one strategy (the λ sweep, the
DISAL ablations and batch rules, ISAL's variants), and no two series of one axes share colour and
marker (line style for lines without markers, hatch for bars); strategy series use at most
:data:`MAX_HUES` hues per axes, all Okabe-Ito or grey."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from altoolkit.analysis import stopping  # noqa: E402
from altoolkit.analysis.results import CurveSummary  # noqa: E402
from altoolkit.math.stats import compare  # noqa: E402
from altoolkit.plotting import collapse, curves, detection, isal, labelling, maps, palette, segmentation  # noqa: E402
from altoolkit.strategies import strategy_names  # noqa: E402

MODULES = (curves, maps, collapse, isal, labelling, segmentation, detection)
PALETTE = {c.lower() for c in palette.OKABE_ITO.values()} | {palette.GREY.lower()}


def _curve(offset: float, label: str = "x") -> CurveSummary:
    frac = np.array([0.1, 0.25, 0.4])
    acc = np.stack([0.5 + offset + frac, 0.52 + offset + frac, 0.49 + offset + frac])
    return CurveSummary(label=label, n_labeled=np.array([10, 25, 40]), fraction=frac, acc=acc, seeds=[0, 1, 2])


def _digits():
    from altoolkit.data import load_dataset

    return load_dataset("digits", seed=0)


def _record(strategy: str, seed: int, counts: list[int], **options) -> dict:
    cfg = {"strategy": strategy, "seed": seed, "strategy_options": options, "dynamic_weight": None}
    cycles = [{"n_labeled": 10, "selected_class_counts": counts, "test_acc": 0.5}]
    return {"config": cfg, "strategy": {"name": strategy}, "cycles": cycles, "finished": True, "dataset": {"num_classes": len(counts)}}


def _stop_record(seed: int, offset: float) -> dict:
    preds = [[(i * (k + 1)) % 3 for i in range(30)] for k in range(3)] + [[i % 3 for i in range(30)]] * 2
    cycles = [
        {
            "n_labeled": 10 * (k + 1),
            "test_acc": 0.5 + offset + 0.05 * k,
            "stop_set_predictions": preds[k],
            "stop_set_entropy": 0.5 - 0.1 * k,
            "selected_confidence": 0.5 + 0.1 * k,
        }
        for k in range(5)
    ]
    return {"config": {"seed": seed, "strategy": "x"}, "finished": True, "cycles": cycles}


def _verdicts():
    return {
        ("disal", "random"): compare({0: 0.1, 1: 0.2, 2: 0.15}, {0: 0.0, 1: 0.1, 2: 0.1}, "a"),
        ("disal+balanced", "random"): compare({0: 0.0, 1: -0.2, 2: 0.1}, {0: 0.0, 1: 0.0, 2: 0.0}, "b"),
    }


def _cases():
    """One call per public plot_* function: {qualified name: zero-argument callable}."""
    from altoolkit.drivers.active_learning_benchmark import BatchSplitStudy
    from altoolkit.drivers.checkpoint_fluctuation import OverlapCurve
    from altoolkit.drivers.isal_influence_functions import LissaConvergence, ScoreAgreement, UpweightingCheck
    from altoolkit.analysis.pool_maps import PoolMap
    from altoolkit.drivers.batch_rule_control import RuleControl

    from altoolkit.analysis.annotation_cost import CostCurves
    from altoolkit.data import load_digit_scene_boxes, load_digit_scenes
    from altoolkit.drivers.segmentation import TimeRatio

    rng = np.random.default_rng(0)
    data = _digits()
    scenes = load_digit_scenes(seed=0, n_train=4, n_test=2, size=32, digit_size=(10, 14))
    boxes = load_digit_scene_boxes(seed=0, n_train=4, n_test=2, size=32, digit_size=(10, 14))
    cost_names = ["random", "entropy", "coreset", "isal", "disal"]
    lam = {f"disal (λ={x:g})": _curve(0.01 * i) for i, x in enumerate((0.1, 0.5, 1.0))}
    disal_family = {n: _curve(0.01 * i) for i, n in enumerate(["disal", "disal_no_dynamic", "disal_no_selection", "ce_difference", "random"])}
    rules = {n: _curve(0.01 * i) for i, n in enumerate(["disal", "disal+balanced", "disal+diverse", "random", "entropy", "disal_no_dynamic"])}
    isal_variants = {n: _curve(0.01 * i) for i, n in enumerate(["ISAL", "ISAL K=2", "Grad-Simi", "ISAL_v2 (L1)", "ISAL_v3 (Li)", "random"])}
    histories = {
        f"λ={x:g}": {"epoch": [1, 2, 3, 4], "loss": [1.0, 0.8, 0.6, 0.5], "dynamic_loss": [0, 0.1, 0.1, 0.05], "test_acc": [0.5, 0.6, 0.7, 0.72]}
        for x in (0, 0.1, 0.5, 1)
    }
    study = BatchSplitStudy(
        sizes=[54, 67],
        seeds=[0, 1],
        batch_size=64,
        accuracy={s: {n: {0: 0.8 + d, 1: 0.82 + d} for n in (54, 67)} for s, d in (("fixed", 0.0), ("even", 0.02))},
    )
    overlap = {
        n: OverlapCurve(
            epochs=[1, 2],
            rates=np.array([0.05, 0.1]),
            sizes=np.array([5, 10]),
            mean_jaccard=np.array([0.3, 0.4]) + d,
            min_jaccard=np.array([0.2, 0.3]),
            max_jaccard=np.array([0.5, 0.6]),
            random_jaccard=np.array([0.03, 0.05]),
        )
        for d, n in ((0.0, "entropy"), (0.05, "margin"), (0.1, "disal_no_dynamic"), (0.15, "disal (λ = 1, second run)"))
    }
    idx = np.arange(40)
    pool_map = PoolMap(indices=idx, coords=rng.normal(size=(40, 2)), labels=idx % 10)
    geometry = {n: [{"spread": 1.0 + d, "boundary_ratio": 1.1 + d}] * 2 for d, n in ((0, "disal"), (0.1, "disal_no_dynamic"), (0.2, "entropy"))}
    records = [
        _record(s, seed, counts, **opts)
        for seed in (0, 1)
        for s, counts, opts in (
            ("disal", [9, 1, 0], {}),
            ("disal", [5, 3, 2], {"batch": "balanced"}),
            ("random", [4, 3, 3], {}),
            ("disal_no_dynamic", [7, 2, 1], {}),
        )
    ]
    rows = [{"share_disal": 0.8, "share_no_bn": 0.7, "share_random": 0.3}, {"share_disal": 0.9, "share_no_bn": 0.6, "share_random": 0.35}]
    conv = LissaConvergence(
        scales=[30.0, 1e4],
        depths=[1, 10],
        damping=0.01,
        batch_size=1,
        repeats=1,
        rel_error=np.array([[0.5, 0.1], [0.9, 0.2]]),
        cos_to_v=np.array([[0.9, 0.95], [0.99, 0.999]]),
        fixed_point_cos_to_v=np.array([0.9, 0.999]),
        eigenvalues=rng.normal(size=50),
        n_params=50,
    )
    agreement = ScoreAgreement(
        scales=[1e4], spearman=[0.99], top_overlap=[0.9], cos_s_test_v=[0.99], slope=[92.0], budget=5, isal={1e4: torch.randn(30)}, grad_simi=torch.randn(30)
    )
    up = UpweightingCheck(predicted=rng.normal(size=6), actual=rng.normal(size=6), ridge=0.01, eps=0.01, n_labeled=50)
    project = SimpleNamespace(
        history=lambda: [{"n_labeled": 20, "test_acc": 0.5}, {"n_labeled": 40, "test_acc": 0.7}],
        strategy=SimpleNamespace(name="disal"),
        store=SimpleNamespace(counts=lambda: {"0": 3, "1": 5}, labels=lambda: {"a.png": "0"}, skipped=lambda: set()),
        item_image=lambda item: np.zeros((8, 8)),
    )
    batch = SimpleNamespace(id=1, cycle=0, strategy="disal", items=["a.png", "b.png"], scores=[0.3, None], __len__=lambda self=None: 2)
    batch_obj = type("B", (), {"id": 1, "cycle": 0, "strategy": "disal", "items": ["a.png", "b.png"], "scores": [0.3, None], "__len__": lambda self: 2})()
    del batch
    sel = {n: list(range(i, i + 6)) for i, n in enumerate(["disal", "disal_no_dynamic", "entropy"])}
    return {
        "curves.plot_training_curves": lambda: curves.plot_training_curves(histories),
        "curves.plot_score_histograms": lambda: curves.plot_score_histograms({f"λ={x:g}": torch.rand(100) + 0.01 for x in (0, 0.5, 1)}),
        "curves.plot_learning_curves": [
            lambda: curves.plot_learning_curves(lam),
            lambda: curves.plot_learning_curves(disal_family),
            lambda: curves.plot_learning_curves(rules),
            lambda: curves.plot_learning_curves(isal_variants),
            lambda: curves.plot_learning_curves({n: _curve(0.01 * i) for i, n in enumerate(strategy_names())}),
        ],
        "curves.plot_rank_correlation": lambda: curves.plot_rank_correlation(["a", "b"], np.eye(2)),
        "curves.plot_selection_gallery": lambda: curves.plot_selection_gallery(data, sel, n=3),
        "curves.plot_class_histograms": lambda: curves.plot_class_histograms(data, sel),
        "curves.plot_seconds": lambda: curves.plot_seconds({n: 1.0 + i for i, n in enumerate(strategy_names())}),
        "curves.plot_batch_split_study": lambda: curves.plot_batch_split_study({"mlp": study, "cnn": study}),
        "curves.plot_stopping": lambda: curves.plot_stopping(
            {n: _curve(0.01 * i) for i, n in enumerate(["disal", "disal_no_dynamic", "random"])},
            {n: [_stop_record(0, 0.01 * i), _stop_record(1, 0.02 * i)] for i, n in enumerate(["disal", "disal_no_dynamic", "random"])},
            stopping.criteria(kappa=0.9, window=1, entropy=0.35, confidence=0.7),
            thresholds={"kappa": 0.9, "stop-set entropy": 0.35, "selected-batch confidence": 0.7},
        ),
        "maps.plot_selection_map": lambda: maps.plot_selection_map(pool_map, {"epoch 1": idx[:5], "epoch 2": idx[3:8]}),
        "maps.plot_selection_maps": lambda: maps.plot_selection_maps(pool_map, {"epoch 1": idx[:5], "epoch 2": idx[3:8]}),
        "maps.plot_jaccard_matrix": lambda: maps.plot_jaccard_matrix([1, 2], np.eye(2)),
        "maps.plot_overlap_vs_rate": lambda: maps.plot_overlap_vs_rate(overlap),
        "maps.plot_selection_geometry": lambda: maps.plot_selection_geometry(geometry),
        "collapse.plot_selection_balance": lambda: collapse.plot_selection_balance(records),
        "collapse.plot_study_shares": lambda: collapse.plot_study_shares(rows, ["disal", "no_bn"]),
        "collapse.plot_verdicts": lambda: collapse.plot_verdicts(_verdicts()),
        "collapse.plot_share_vs_accuracy": lambda: collapse.plot_share_vs_accuracy(
            [
                {"seed": k, "strategy": s, "test_acc": 0.4 + 0.1 * k + 0.01 * i, "share": 0.9 - 0.1 * k - 0.05 * i}
                for k in range(3)
                for i, s in enumerate(["disal", "disal_no_dynamic", "tod", "margin", "entropy", "random"])
            ]
        ),
        "collapse.plot_batch_rule_control": lambda: collapse.plot_batch_rule_control(
            [
                RuleControl(s, r, "random", 2, 0.5 + d, 0.6, 0.8, 0.1, 0.3, 0.78, _verdicts()[("disal", "random")], None)
                for d, (s, r) in enumerate([("disal", "topk"), ("disal", "topm β=2"), ("margin", "balanced")])
            ]
        ),
        "isal.plot_upweighting": lambda: isal.plot_upweighting(up),
        "isal.plot_lissa_convergence": lambda: isal.plot_lissa_convergence(conv),
        "isal.plot_score_agreement": lambda: isal.plot_score_agreement(agreement),
        "labelling.plot_history": lambda: labelling.plot_history(project, (50, 0.8)),
        "labelling.plot_batch": lambda: labelling.plot_batch(project, batch_obj, n=2),
        "segmentation.plot_scenes": lambda: segmentation.plot_scenes(scenes, [0, 1, 2]),
        "segmentation.plot_selected_scenes": lambda: segmentation.plot_selected_scenes(scenes, {"disal": [0, 1], "random": [2, 3]}, n=2),
        "segmentation.plot_kl_maps": lambda: segmentation.plot_kl_maps(scenes, [0, 1], torch.rand(2, 32, 32)),
        "segmentation.plot_time_ratios": lambda: segmentation.plot_time_ratios(
            {n: TimeRatio(1.0 + 0.05 * i, 0.95, 1.2, 3, None) for i, n in enumerate(["random", "disal_no_dynamic", "disal"])}
        ),
        "detection.plot_detections": lambda: detection.plot_detections(boxes, [0, 1]),
        "detection.plot_selected_boxes": lambda: detection.plot_selected_boxes(boxes, {"isal": [0, 1], "random": [2, 3]}, n=2),
        "detection.plot_cost_curves": lambda: detection.plot_cost_curves(
            {n: _curve(0.01 * i, n) for i, n in enumerate(cost_names)},
            {
                n: CostCurves(np.arange(3), np.array([10, 25, 40]), rng.uniform(10, 90, (3, 3)).cumsum(1), _curve(0.01 * i).acc, "boxes", "test AP")
                for i, n in enumerate(cost_names)
            },
        ),
    }


def _plot_functions() -> set[str]:
    out = set()
    for mod in MODULES:
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("plot_") and fn.__module__ == mod.__name__:
                out.add(f"{mod.__name__.rsplit('.', 1)[-1]}.{name}")
    return out


def _series(ax) -> list[tuple[str, tuple]]:
    """(label, key) of every legend entry of ``ax``: lines by colour and marker (line style when they
    have no marker), bars and histograms by colour, hatch and line style, scatters by colour and marker."""
    out = []
    handles, labels = ax.get_legend_handles_labels()
    for h, lab in zip(handles, labels):
        if isinstance(h, Line2D):
            marker = h.get_marker()
            shape = ("marker", marker) if marker not in (None, "None", "", " ", "none") else ("line", str(h.get_linestyle()))
            out.append((lab, (to_hex(h.get_color()),) + shape))
        elif isinstance(h, Patch):
            face = h.get_facecolor() if h.get_fill() else h.get_edgecolor()
            out.append((lab, (to_hex(face), h.get_hatch() or "", str(h.get_linestyle()))))
        elif isinstance(h, PathCollection):
            fc = h.get_facecolor()
            colour = to_hex(fc[0]) if len(fc) else "none"
            out.append((lab, (colour, str(h.get_paths()[0].vertices.round(3).tolist()))))
        else:  # a BarContainer's first patch stands for the container
            patch = h.patches[0] if hasattr(h, "patches") else h
            out.append((lab, (to_hex(patch.get_facecolor()), patch.get_hatch() or "")))
    return out


def test_every_plot_function_has_a_case():
    assert set(_cases()) == _plot_functions()


@pytest.mark.parametrize("name", sorted(_plot_functions()))
def test_no_two_series_of_one_axes_share_colour_and_marker(name):
    calls = _cases()[name]
    for call in calls if isinstance(calls, list) else [calls]:
        fig = call()
        try:
            for ax in fig.axes:
                series = _series(ax)
                keys = [k for _, k in series]
                clash = [(a, b) for i, (a, ka) in enumerate(series) for b, kb in series[i + 1 :] if ka == kb]
                assert not clash, f"{name}: series with the same colour and marker on one axes: {clash}"
                hues = {k[0] for lab, k in series if palette.parse_label(lab)[0] is not None}
                assert len(hues) <= palette.MAX_HUES, f"{name}: {len(hues)} hues on one axes"
                assert hues <= PALETTE, f"{name}: strategy colours outside the palette: {hues - PALETTE}"
                assert len(keys) == len(set(keys))
        finally:
            plt.close(fig)


def test_families_share_a_hue_and_members_differ_in_marker():
    names = strategy_names()
    assert set(names) <= set(palette.STRATEGY_STYLE), set(names) - set(palette.STRATEGY_STYLE)
    pairs = [(palette.STRATEGY_STYLE[n]["color"], palette.STRATEGY_STYLE[n]["marker"]) for n in names]
    assert len(set(pairs)) == len(pairs), "two strategies share colour and marker"
    assert len({palette.STRATEGY_STYLE[n]["color"] for n in names}) <= palette.MAX_HUES
    for _, (hue, members) in palette.FAMILIES.items():
        assert {palette.STRATEGY_STYLE[m]["color"] for m in members} == {hue}
    assert palette.STRATEGY_STYLE["disal_no_dynamic"]["color"] == palette.STRATEGY_STYLE["disal"]["color"]


def test_variants_keep_the_hue_and_get_their_own_marker_and_line():
    labels = ["disal (λ=0.1)", "disal (λ=0.5)", "disal (λ=1)", "disal", "disal+balanced"]
    st = palette.series_styles(labels)
    assert {s["color"] for s in st.values()} == {palette.STRATEGY_STYLE["disal"]["color"]}
    assert len({s["marker"] for s in st.values()}) == len(labels)
    assert st["disal"]["marker"] == palette.STRATEGY_STYLE["disal"]["marker"], "the plain strategy keeps its own marker"
    assert len({str(s["linestyle"]) for s in st.values()}) == len(labels)
    assert palette.parse_label("ISAL_v2 (L1) (n=5)") == ("isal", "_v2 (L1)")
    assert palette.parse_label("Grad-Simi")[0] == "isal"
    assert palette.parse_label("disal_no_dynamic") == ("disal_no_dynamic", "")
    assert palette.parse_label("λ=0.5") == (None, "λ=0.5")
    with pytest.raises(ValueError, match="hues"):
        palette.series_styles([f"series {i}" for i in range(palette.MAX_HUES + 1)])


def test_bars_of_one_family_differ_in_hatch():
    fig = curves.plot_seconds({"entropy": 1.0, "margin": 2.0, "least_confidence": 3.0, "random": 0.5})
    bars = fig.axes[0].patches
    keys = [(to_hex(b.get_facecolor()), b.get_hatch() or "") for b in bars]
    assert len(set(keys)) == len(keys), keys
    plt.close(fig)
