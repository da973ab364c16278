"""The widgets build and work headless (no browser): labelling buttons, λ slider, epoch slider,
strategy picker.  The buttons are pressed with ``Button.click()``, which runs the same handlers
a click in JupyterLab runs."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

import altoolkit as alt
from altoolkit import widgets
from altoolkit.labelling.project import LabelingProject
from altoolkit.labelling.store import LabelStore

TINY = alt.TrainConfig(epochs=2, batch_size=32)


def _png_size(data) -> tuple[int, int]:
    return Image.open(io.BytesIO(bytes(data))).size


@pytest.fixture(scope="module")
def small(digits):
    return alt.from_arrays(
        digits.x_train[:300], digits.y_train[:300], digits.x_test[:100], digits.y_test[:100], class_names=digits.class_names, name="digits300"
    )


@pytest.fixture
def project(tmp_path, digits):
    x = digits.x_train[:60].numpy()
    return LabelingProject.from_arrays(
        tmp_path / "p", x, digits.x_test[:50], digits.y_test[:50], class_names=digits.class_names, model="mlp", strategy="entropy", config=TINY, annotator="me"
    )


def test_labeling_widget_buttons_commit_to_the_store(project, digits):
    w = widgets.labeling_widget(project, top_k=5, image_px=64)
    assert set(w.buttons) == set(project.classes) and len(w.batch) == 5
    assert w.progress.max == 5 and w.progress.value == 0 and w.next_button.disabled
    assert _png_size(w.image.value) == (64, 64)
    assert "LabelingWidget(batch 1" in repr(w) and len(repr(w)) < 300  # no image bytes in the text repr
    first, second = w.batch.items[:2]
    assert w.current_item == first and first in w.caption.value
    w.buttons["3"].click()
    assert project.store.labels() == {first: "3"} and w.current_item == second and w.progress.value == 1
    w.skip_button.click()
    assert project.store.skipped() == {second} and w.progress.value == 2
    w.undo_button.click()  # the skip comes back
    assert project.store.skipped() == set() and w.current_item == second and w.progress.value == 1
    w.undo_button.click()
    assert project.store.labels() == {} and w.current_item == first
    w.undo_button.click()
    assert w.last_error is None and "nothing to undo" in w.status.value
    w.next_button.click()  # not done yet: reported in the widget, nothing raised, nothing written
    assert "remaining image" in w.last_error and "remaining image" in w.status.value
    assert len(project.store.events()) == 4
    with pytest.raises(ValueError, match="unknown class 'x'"):
        w.click_label("x")


def test_labeling_widget_lets_a_colleague_win_the_race(project):
    w = widgets.labeling_widget(project, top_k=4)
    item = w.current_item
    with LabelStore(project.store.path, annotator="colleague") as other:
        other.label(item, "7")
    assert w.click_label("1") is False, "the image was labelled meanwhile: the click must not overwrite it"
    assert project.store.labels() == {item: "7"} and w.clicks["lost_race"] == 1
    assert w.current_item == w.batch.items[1]


def test_simulated_user_labels_batches_through_the_buttons(project, digits):
    oracle = {str(i): digits.class_names[int(digits.y_train[i])] for i in range(60)}
    w = widgets.labeling_widget(project, top_k=6)
    clicks = widgets.simulate_clicks(w, oracle, batches=3, mistake_every=4, skip_every=5)
    labels = project.store.labels()
    assert all(oracle[i] == c for i, c in labels.items()), "undone mistakes must not stay"
    assert len(labels) == clicks["label"] - clicks["undo"] and clicks["undo"] >= 2 and clicks["skip"] >= 2
    assert len(labels) + clicks["skip"] == 18 and w.batch.cycle == 2 and w.done
    assert [b.strategy for b in project.store.batches()] == ["random (cold start)", "entropy", "entropy"]
    assert not w.next_button.disabled and all(b.disabled for b in w.buttons.values())
    with pytest.raises(KeyError, match="no label"):
        w.next_button.click()
        widgets.simulate_clicks(w, {}, batches=1)


def test_lambda_explorer_retrains_on_release_and_caches(small):
    digits = small
    kw = dict(labeled_fraction=0.2, config=TINY, model="mlp", seed=0)
    ex = widgets.lambda_explorer(digits, lambdas=[0.0, 0.5, 1.0], draw=False, **kw)
    assert ex.slider.continuous_update is False and ex.trainings == 0 and ex.figure is None
    assert [v for _, v in ex.slider.options] == [0.0, 0.5, 1.0]
    ex.slider.value = 0.5  # what releasing the slider does
    assert ex.trainings == 2 and ex.shown == 0.5  # the reference λ=0 and λ=0.5
    ref = alt.drivers.dynamic_loss.compare_dynamic_weights(digits, [0.5], progress=False, **kw)[0.5]
    assert torch.equal(ex.runs[0.5].kl_scores, ref.kl_scores)
    labels = [t.get_text() for t in ex.figure.axes[0].get_legend().get_texts()]
    assert labels == ["λ=0 (reference)", "λ=0.5"] and len(bytes(ex.image.value)) > 1000
    assert "test accuracy" in ex.status.value
    ex.slider.value = 0.0
    ex.slider.value = 0.5
    assert ex.trainings == 2, "λ values already trained are not trained again"
    runs = {1.0: ref}  # runs a notebook computed are reused
    ex2 = widgets.lambda_explorer(digits, lambdas=[0.0], runs={0.0: ex.runs[0.0], **runs}, value=1.0, **kw)
    assert ex2.trainings == 0 and ex2.shown == 1.0
    with pytest.raises(ValueError, match="value must be one of"):
        widgets.lambda_explorer(digits, lambdas=[0.0, 1.0], value=0.3, draw=False)
    plt.close("all")


def test_epoch_explorer_draws_each_epoch_once():
    calls = []

    def draw(epoch):
        calls.append(epoch)
        fig, ax = plt.subplots(figsize=(2 + epoch, 2))
        ax.plot([0, epoch])
        return fig

    ex = widgets.epoch_explorer(draw, [1, 2, 5])
    assert ex.slider.continuous_update is False and calls == [5] and ex.shown == 5
    big = _png_size(ex.image.value)
    ex.slider.value = 1
    assert calls == [5, 1] and _png_size(ex.image.value)[0] < big[0]
    ex.slider.value = 5
    assert calls == [5, 1] and _png_size(ex.image.value) == big, "a drawn epoch is reused"
    assert not plt.get_fignums(), "figures are closed after rendering"
    bad = widgets.epoch_explorer(lambda e: "not a figure", [1, 2], draw_now=False)
    bad.slider.value = 1  # an error inside a slider callback is shown in the widget
    assert "TypeError" in bad.status.value and "Figure" in bad.status.value
    with pytest.raises(ValueError, match="recorded epochs"):
        widgets.epoch_explorer(draw, [1, 2], value=3)
    with pytest.raises(TypeError, match="draw must be"):
        widgets.epoch_explorer(None, [1])


def test_strategy_picker_shows_selections_and_computes_on_the_button(small):
    digits = small
    ctx = alt.drivers.scoring_and_selection.prepare_comparison(digits, 0.1, 0.05, TINY, model="mlp", seed=0, progress=False)
    outcomes = alt.drivers.scoring_and_selection.compare_strategies(ctx, ["entropy", "coreset"], 6, progress=False)
    pk = widgets.strategy_picker(ctx, outcomes, names=["entropy", "coreset", "margin"], n=4)
    assert pk.budget == 6 and pk.shown == "entropy" and pk.compute_button.disabled
    o = outcomes["entropy"]
    titles = [a.get_title() for a in pk.figure.axes]
    idx = ctx.unlabeled[o.selected][:4].tolist()
    expected = [f"{digits.class_names[int(digits.y_train[i])]}\n{s:.2g}" for i, s in zip(idx, o.scores[o.selected][:4].tolist())]
    assert titles == expected
    pk.dropdown.value = "coreset"
    assert "no per-sample scores" in pk.status.value
    pk.dropdown.value = "margin"  # not computed: nothing runs until the button
    assert "margin" not in pk.outcomes and not pk.compute_button.disabled and pk.figure is None
    pk.compute_button.click()
    ref = alt.drivers.scoring_and_selection.compare_strategies(ctx, ["margin"], 6, progress=False)["margin"]
    assert torch.equal(pk.outcomes["margin"].selected, ref.selected) and pk.compute_button.disabled
    with pytest.raises(TypeError, match="SelectionContext"):
        widgets.strategy_picker(outcomes)
    with pytest.raises(ValueError, match="unknown strategies"):
        widgets.strategy_picker(ctx, outcomes, names=["nope"])
    plt.close("all")


def test_image_png_scales_up_with_nearest_neighbour():
    img = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = np.asarray(Image.open(io.BytesIO(widgets.image_png(img, size=8))))
    assert out.shape == (8, 8) and out[0, 0] == 0 and out[0, 7] == 255 and out[3, 3] == 0 and out[4, 3] == 255
    rgb = np.asarray(Image.open(io.BytesIO(widgets.image_png(np.ones((3, 2, 3)) * 0.5, size=6))))
    assert rgb.shape == (6, 4, 3) and (rgb == 128).all()


def test_labeling_widget_when_everything_is_labelled(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    p = LabelingProject.from_arrays(tmp_path, x, class_names=["a", "b"], model="mlp", config=TINY)
    for i, item in enumerate(p.items):
        p.store.label(item, "ab"[i % 2])
    w = widgets.labeling_widget(p, top_k=2)
    assert w.batch is None and w.done and w.current_item is None and "Nothing left" in w.header.value
    assert all(b.disabled for b in w.buttons.values()) and w.next_button.disabled is False
    w.next_button.click()
    assert w.batch is None and w.last_error is None


def test_every_widget_output_carries_a_static_picture(project):
    """Issue 28: the book cannot run widgets, so each widget's output saves a static picture of its
    state (text/html; the explorers also their figure as image/png) beside the live view."""

    def draw(epoch):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, epoch])
        return fig

    ex = widgets.epoch_explorer(draw, [1, 2, 5])
    data = ex._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "application/vnd.jupyter.widget-view+json" in data and "image/png" in data
    page = data["text/html"]
    assert 'type="range"' in page and "<span>5</span>" in page and "data:image/png;base64," in page and "static picture" in page
    labeler = widgets.labeling_widget(project, top_k=3)
    data = labeler._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    page = data["text/html"]
    assert page.count("<button disabled>") == len(project.classes) + 3, "a button per class, skip, undo, train & next batch"
    assert "data:image/png;base64," in page and "<progress" in page
    assert "/" + "tmp/" not in page and str(project.store.path) not in page, "no absolute path in the picture"
