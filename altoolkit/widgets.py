"""ipywidgets for JupyterLab: the labelling widget and three explorers.

* :func:`labeling_widget` -- label the images a :class:`altoolkit.labelling.project.LabelingProject` picked:
  a button per class, skip, undo, progress, and "train & next batch".  Every click is committed to
  the project's SQLite label store before the handler returns.
* :func:`lambda_explorer` -- a slider over the dynamic-loss weight λ (DISAL Eq. 14) that retrains
  the small model and redraws the distribution of the DISAL score KL(f_{T-1} || f_T) (Eq. 15).
* :func:`epoch_explorer` -- a slider over recorded epochs that redraws any figure
  ``draw(epoch) -> Figure`` (checkpoint fluctuation, a t-SNE map per checkpoint, ...).
* :func:`strategy_picker` -- a drop-down of strategies that shows each one's selected images with
  their scores (:func:`altoolkit.plotting.curves.plot_selection_gallery`).

Each widget's output carries, beside the live view, a static picture of its state when displayed
(``text/html`` from :func:`static_html`, plus the explorers' figure as ``image/png``): JupyterLab
shows the live widget, a page without the widgets' JavaScript (the book) shows the picture.

Everything builds without a browser: each function returns a widget (a ``VBox``) whose state can
be driven from Python (``click_label``, ``show``, ...), which is exactly what the buttons and
sliders call, so a headless papermill run exercises the same code as a user.  Figures are
rendered to PNG into an ``Image`` widget (no Output-widget capture needed).  Expensive work runs
when a slider is released (``continuous_update=False``) or a button is pressed, never on every
tick; results are cached per slider value.

A user interface of the notebooks, above the layers it drives: may import every layer up to
:mod:`altoolkit.plotting` and :mod:`altoolkit.labelling` (the figures it shows, the project it
labels); the only ipywidgets user.  Nothing below imports it.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .labelling.store import Event
from .util.checks import check_int

__all__ = [
    "EpochExplorer",
    "LabelingWidget",
    "LambdaExplorer",
    "StrategyPicker",
    "epoch_explorer",
    "figure_png",
    "image_png",
    "labeling_widget",
    "lambda_explorer",
    "simulate_clicks",
    "static_html",
    "strategy_picker",
]


def _ipywidgets():
    import ipywidgets

    return ipywidgets


def figure_png(fig, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so that the inline backend does
    not also draw it under the cell)."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def image_png(img: np.ndarray, size: int = 160) -> bytes:
    """PNG bytes of an image in [0, 1] (``(H, W)`` gray or ``(H, W, 3)``), scaled up with
    nearest-neighbour so that the longer side is about ``size`` pixels."""
    from PIL import Image

    arr = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    arr = np.rint(arr * 255).astype(np.uint8)
    pil = Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB")
    scale = max(1, int(size) // max(pil.size))
    if scale > 1:
        pil = pil.resize((pil.size[0] * scale, pil.size[1] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def _message(text: str, kind: str = "info") -> str:
    color = {"info": "#333", "ok": "#1a7f37", "error": "#b42318", "busy": "#9a6700"}[kind]
    return f'<span style="color:{color}">{html.escape(text)}</span>'


# --------------------------------------------------------------------------- static pictures


def _static_children(widget, depth: int) -> str:
    return "".join(_static(c, depth + 1) for c in getattr(widget, "children", ()))


def _static_control(widget) -> str | None:
    """HTML of one control (slider, drop-down, button, progress, label, image), or None."""
    w = _ipywidgets()
    desc = html.escape(str(getattr(widget, "description", "") or ""))
    label = f"<span>{desc}</span> " if desc else ""
    if isinstance(widget, w.Button):
        return f"<button disabled>{desc}</button>"
    if isinstance(widget, (w.IntSlider, w.FloatSlider)):
        return f'{label}<input type="range" disabled min="{widget.min}" max="{widget.max}" value="{widget.value}"> <span>{widget.value:g}</span>'
    if isinstance(widget, w.SelectionSlider):
        n = len(widget._options_labels)
        return f'{label}<input type="range" disabled min="0" max="{n - 1}" value="{widget.index}"> <span>{html.escape(str(widget.label))}</span>'
    if isinstance(widget, w.Dropdown):
        opts = "".join(f"<option{' selected' if lab == widget.label else ''}>{html.escape(str(lab))}</option>" for lab in widget._options_labels)
        return f"{label}<select disabled>{opts}</select>"
    if isinstance(widget, (w.IntProgress, w.FloatProgress)):
        return f'{label}<progress max="{widget.max}" value="{widget.value}"></progress>'
    if isinstance(widget, (w.HTML, w.HTMLMath)):
        return f"<div>{widget.value}</div>"
    if isinstance(widget, w.Label):
        return f"<span>{html.escape(str(widget.value))}</span>"
    if isinstance(widget, w.Image):
        if not widget.value:
            return ""
        data = base64.b64encode(bytes(widget.value)).decode("ascii")
        return f'<img alt="{desc or "figure"}" style="max-width:100%" src="data:image/{widget.format};base64,{data}">'
    return None


def _static(widget, depth: int = 0) -> str:
    w = _ipywidgets()
    if depth > 20:
        return ""
    control = _static_control(widget)
    if control is not None:
        return control
    if isinstance(widget, w.Box):
        row = isinstance(widget, w.HBox)
        style = f"display:flex;flex-direction:{'row' if row else 'column'};flex-wrap:wrap;gap:.35em;align-items:{'center' if row else 'flex-start'}"
        return f'<div style="{style}">{_static_children(widget, depth)}</div>'
    return f"<span>[{html.escape(type(widget).__name__)}]</span>"


def static_html(widget, note: str = "a static picture of this widget as the notebook displayed it; run the notebook to use it") -> str:
    """HTML of ``widget``'s current state (its controls disabled, its figures as images), for
    pages that cannot run the widget: sliders, drop-downs, buttons, progress bars, HTML, labels and
    images, laid out as the widget's boxes lay them out."""
    return (
        '<div class="altoolkit-widget" style="border:1px dashed #bbb;padding:.5em;display:inline-block;max-width:100%">'
        f'<div style="font-size:.8em;color:#666;margin-bottom:.3em">{html.escape(note)}</div>{_static(widget)}</div>'
    )


def _with_static_picture(data_meta, widget, png: bytes | None = None):
    """Add ``text/html`` (:func:`static_html`) and, when given, ``image/png`` to a widget's mime bundle."""
    if isinstance(data_meta, tuple):  # (data, metadata)
        data, meta = data_meta
    else:
        data, meta = data_meta, None
    if data is not None:
        data = dict(data)
        data["text/html"] = static_html(widget)
        if png:
            data["image/png"] = base64.b64encode(bytes(png)).decode("ascii")
    return (data, meta) if meta is not None else data


# --------------------------------------------------------------------------- labelling


class LabelingWidget(_ipywidgets().VBox):
    """Label the current batch of a :class:`~altoolkit.labelling.project.LabelingProject`.

    The image shown is always the first item of the batch that the store says is undecided, so
    the widget resumes where anyone left off (after a restart, or when a colleague labels the same
    store).  ``click_label``, ``click_skip``, ``click_undo`` and ``click_next_batch`` are what the
    buttons call; a headless run calls them directly.
    """

    def __init__(self, project, top_k: int = 20, *, image_px: int = 160, batch=None):
        w = _ipywidgets()
        self.project = project
        self.store = project.store
        self.top_k = check_int("top_k", top_k, 1)
        self.image_px = check_int("image_px", image_px, 16)
        self.last_error: str | None = None
        self.shown_item: str | None = None
        self.clicks = {"label": 0, "skip": 0, "undo": 0, "lost_race": 0}
        self.header = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(border="1px solid #ccc"))
        self.caption = w.HTML()
        self.caption.add_class("altoolkit-item")
        self.buttons: dict[str, Any] = {}
        for cls in project.classes:
            b = w.Button(description=cls, tooltip=f"label as {cls}", layout=w.Layout(width="auto", min_width="3em"))
            b.add_class("altoolkit-label-button")
            b.on_click(self._handler(self.click_label, cls))
            self.buttons[cls] = b
        self.skip_button = w.Button(description="skip", icon="forward", tooltip="skip this image (not offered again)")
        self.undo_button = w.Button(description="undo", icon="undo", tooltip="undo your last label or skip")
        self.next_button = w.Button(
            description="train & next batch",
            icon="refresh",
            button_style="primary",
            tooltip="train on the stored labels and pick the next images",
            layout=w.Layout(width="auto"),
        )
        self.skip_button.add_class("altoolkit-skip-button")
        self.undo_button.add_class("altoolkit-undo-button")
        self.next_button.add_class("altoolkit-next-button")
        self.skip_button.on_click(self._handler(self.click_skip))
        self.undo_button.on_click(self._handler(self.click_undo))
        self.next_button.on_click(self._handler(self.click_next_batch))
        self.progress = w.IntProgress(min=0, max=1, value=0, description="batch", bar_style="info")
        self.status = w.HTML()
        self.status.add_class("altoolkit-status")
        class_box = w.HBox(list(self.buttons.values()), layout=w.Layout(flex_flow="row wrap"))
        super().__init__(
            [
                self.header,
                w.HBox([self.image, self.caption]),
                class_box,
                w.HBox([self.skip_button, self.undo_button, self.next_button]),
                w.HBox([self.progress, self.status]),
            ]
        )
        self.add_class("altoolkit-labeling")
        if batch is None:
            from .labelling.project import NothingToLabel

            try:
                batch = project.next_batch(self.top_k)
            except NothingToLabel:
                batch = None
        self.batch = batch
        self.refresh()

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> list[str]:
        return self.store.pending(self.batch) if self.batch is not None else []

    @property
    def current_item(self) -> str | None:
        """The image shown now, which the class buttons label (the first undecided item of the
        batch when the widget was last redrawn); ``None`` when the batch is done."""
        return self.shown_item

    @property
    def done(self) -> bool:
        """Every image of the batch is labelled or skipped (by anyone), per the store."""
        return not self.pending

    def _repr_mimebundle_(self, **kwargs):
        """The live widget plus a static picture of it (:func:`static_html`) for pages without widgets."""
        return _with_static_picture(super()._repr_mimebundle_(**kwargs), self)

    def __repr__(self) -> str:
        if self.batch is None:
            return "LabelingWidget(nothing left to label)"
        n = len(self.batch)
        store_name = os.path.basename(self.store.path)  # no absolute path in saved outputs
        return (
            f"LabelingWidget(batch {self.batch.id}, cycle {self.batch.cycle}, {self.batch.strategy}: "
            f"{n - len(self.pending)}/{n} decided, {self.store.num_labels()} labels in {store_name})"
        )

    def _handler(self, fn: Callable, *args) -> Callable:
        def on_click(_button) -> None:
            try:
                fn(*args)
            except Exception as exc:  # shown in the widget: a callback has nowhere else to report
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.status.value = _message(self.last_error, "error")
                self._set_enabled()

        return on_click

    def _set_enabled(self, busy: bool = False) -> None:
        done = self.done
        for b in self.buttons.values():
            b.disabled = busy or done
        self.skip_button.disabled = busy or done
        self.undo_button.disabled = busy
        self.next_button.disabled = busy or not done

    def refresh(self, note: str | None = None, kind: str = "info") -> None:
        """Redraw from the store: current image, progress, counts."""
        labels = self.store.num_labels()
        if self.batch is None:
            self.shown_item = None
            self.header.value = "<b>Nothing left to label.</b>"
            self.image.value = b""
            self.caption.value = ""
            self.progress.max, self.progress.value = 1, 1
        else:
            b = self.batch
            acc = b.info.get("test_acc")
            if b.info.get("cold_start"):
                model_text = "no model yet"
            else:
                model_text = f"model trained on {b.info.get('n_labeled', 0)} labels"
                model_text += f", held-out accuracy {acc:.1%}" if acc is not None else ""
            self.header.value = f"<b>Batch {b.id}</b> (cycle {b.cycle}, {html.escape(b.strategy)}; {model_text})"
            pending = self.pending
            self.progress.max = len(b)
            self.progress.value = len(b) - len(pending)
            item = self.shown_item = pending[0] if pending else None
            if item is None:
                self.image.value = b""
                self.caption.value = "<i>Batch done. Press <b>train &amp; next batch</b>.</i>"
            else:
                self.image.value = image_png(self.project.item_image(item), self.image_px)
                rank = b.items.index(item)
                score = b.scores[rank]
                score_text = f"<br>score {score:.3g}" if score is not None else ""
                self.caption.value = (
                    f'<div style="padding-left:1em">item <code class="altoolkit-item-id">'
                    f"{html.escape(item)}</code><br>rank {rank + 1} of {len(b)}{score_text}</div>"
                )
        text = f"{self.progress.value}/{self.progress.max} in this batch · {labels} labels in the store"
        self.status.value = _message(text + (f" · {note}" if note else ""), kind)
        self._set_enabled()

    # ------------------------------------------------------------------ actions (what the buttons call)

    def _item_to_decide(self) -> str:
        item = self.current_item
        if item is None:
            self.refresh()
            raise ValueError("this batch is done: press 'train & next batch'")
        return item

    def click_label(self, cls: str) -> bool:
        """Label the image shown as ``cls``.  Returns False (nothing written; the next image is
        shown) when someone else labelled or skipped it in the meantime."""
        if cls not in self.buttons:
            raise ValueError(f"unknown class {cls!r}; the classes are {list(self.buttons)}")
        item = self._item_to_decide()
        seq = self.store.label(item, cls, batch=self.batch, only_if_pending=True)
        self.last_error = None
        if seq is None:
            self.clicks["lost_race"] += 1
            self.refresh(f"{item} was decided by someone else meanwhile", "busy")
            return False
        self.clicks["label"] += 1
        self.refresh(f"{item} → {cls}", "ok")
        return True

    def click_skip(self) -> bool:
        """Skip the current image (it is not offered again until the skip is undone)."""
        item = self._item_to_decide()
        seq = self.store.skip(item, batch=self.batch, only_if_pending=True)
        self.last_error = None
        if seq is None:
            self.clicks["lost_race"] += 1
            self.refresh(f"{item} was decided by someone else meanwhile", "busy")
            return False
        self.clicks["skip"] += 1
        self.refresh(f"skipped {item}", "ok")
        return True

    def click_undo(self) -> Event | None:
        """Undo this annotator's latest label or skip (the image comes back if it is in this batch)."""
        event = self.store.undo()
        self.last_error = None
        if event is None:
            self.refresh("nothing to undo", "busy")
            return None
        self.clicks["undo"] += 1
        what = f"label {event.label}" if event.action == "label" else "skip"
        where = "" if self.batch is not None and event.item in self.batch.items else " (from an earlier batch; back in the pool)"
        self.refresh(f"undid {what} of {event.item}{where}", "ok")
        return event

    def click_next_batch(self):
        """Train on the stored labels and load the next batch (only when this one is done)."""
        from .labelling.project import NothingToLabel

        if not self.done:
            raise ValueError(f"label or skip the {len(self.pending)} remaining image(s) of this batch first")
        self._set_enabled(busy=True)
        self.status.value = _message(f"training on {self.store.num_labels()} labels and scoring the pool…", "busy")
        try:
            self.batch = self.project.next_batch(self.top_k)
        except NothingToLabel as exc:
            self.batch = None
            self.refresh(str(exc), "ok")
            return None
        self.last_error = None
        self.refresh("new batch", "ok")
        return self.batch


def labeling_widget(project, top_k: int = 20, *, image_px: int = 160) -> LabelingWidget:
    """The labelling widget for ``project``'s current batch (a new batch is trained and chosen
    if none is open).  Display it in JupyterLab; drive it headless with ``click_*``."""
    return LabelingWidget(project, top_k, image_px=image_px)


def simulate_clicks(widget: LabelingWidget, oracle: Mapping[str, str], batches: int = 1, mistake_every: int = 0, skip_every: int = 0) -> dict[str, int]:
    """Play the user in a headless run: press the widget's buttons (``Button.click()``, the same
    handlers a person triggers) with the answers of ``oracle`` (item -> class name).

    Labels ``batches`` batches (the open one first, then "train & next batch").  Every
    ``mistake_every``-th image first gets a wrong label that is then undone; every
    ``skip_every``-th image is skipped.  Returns the widget's click counts.
    """
    batches = check_int("batches", batches, 1)
    mistake_every = check_int("mistake_every", mistake_every, 0)
    skip_every = check_int("skip_every", skip_every, 0)
    classes = list(widget.buttons)

    def press(button) -> None:
        button.click()
        if widget.last_error is not None:
            raise RuntimeError(f"the widget reported: {widget.last_error}")

    seen = 0
    for b in range(batches):
        if b > 0:
            press(widget.next_button)
            if widget.batch is None:
                break
        while not widget.done:
            item = widget.current_item
            if item not in oracle:
                raise KeyError(f"the oracle has no label for item {item!r}")
            seen += 1
            if skip_every and seen % skip_every == 0:
                press(widget.skip_button)
                continue
            truth = oracle[item]
            if mistake_every and seen % mistake_every == 0:
                wrong = classes[(classes.index(truth) + 1) % len(classes)]
                press(widget.buttons[wrong])
                press(widget.undo_button)
            press(widget.buttons[truth])
    return dict(widget.clicks)


# --------------------------------------------------------------------------- explorers


class _FigureExplorer(_ipywidgets().VBox):
    """A control, a status line and a figure rendered as PNG."""

    def __init__(self, controls: list):
        w = _ipywidgets()
        self.image = w.Image(format="png")
        self.status = w.HTML()
        self.figure = None
        # flex-start: the figure keeps its own size instead of being stretched to the full width
        super().__init__([w.HBox(controls), self.status, self.image], layout=w.Layout(align_items="flex-start"))

    def _show_png(self, png: bytes) -> None:
        self.image.value = png

    def _repr_mimebundle_(self, **kwargs):
        """The live widget plus static pictures for pages without widgets (the book): the whole
        widget as HTML (:func:`static_html`) and the figure shown now as ``image/png``."""
        return _with_static_picture(super()._repr_mimebundle_(**kwargs), self, self.image.value or None)

    def _show_figure(self, fig) -> bytes:
        self.figure = fig
        png = figure_png(fig)
        self._show_png(png)
        return png

    def _safe(self, fn: Callable) -> Callable:
        """Wrap a widget callback: an error is shown in the status line (a callback has nowhere
        else to report it in JupyterLab)."""

        def callback(arg) -> None:
            try:
                fn(arg)
            except Exception as exc:
                self.status.value = _message(f"{type(exc).__name__}: {exc}", "error")

        return callback


class LambdaExplorer(_FigureExplorer):
    """Slider over λ: trains the model with that λ (on release; cached) and overlays its DISAL
    score histogram on the reference λ's (see :func:`lambda_explorer`)."""

    def __init__(
        self,
        dataset,
        lambdas: Sequence[float] = (0.0, 0.1, 0.5, 1.0, 2.0),
        *,
        runs=None,
        reference: float = 0.0,
        labeled_fraction: float = 0.2,
        config=None,
        model: str = "cnn",
        seed: int = 0,
        value: float | None = None,
        draw: bool = True,
        progress: bool = False,
    ):
        from .util.checks import check_float

        w = _ipywidgets()
        self.dataset = dataset
        self.runs: dict[float, Any] = {float(k): v for k, v in (runs or {}).items()}
        self.reference = check_float("reference", reference, 0.0)
        values = sorted({check_float("lambdas[i]", lam, 0.0) for lam in lambdas} | set(self.runs) | {self.reference})
        self.kwargs = dict(labeled_fraction=labeled_fraction, config=config, model=model, seed=seed)
        self.progress = progress
        self.trainings = 0
        if value is None:
            value = 1.0 if 1.0 in values else values[-1]
        if float(value) not in values:
            raise ValueError(f"value must be one of the λ values {values}, got {value!r}")
        self.slider = w.SelectionSlider(options=[(f"{v:g}", v) for v in values], value=float(value), description="λ", continuous_update=False)
        super().__init__([self.slider])
        self.slider.observe(self._safe(lambda change: self.show(change["new"])), names="value")
        if draw:
            self.show(float(value))

    def __repr__(self) -> str:
        return f"LambdaExplorer(λ={self.slider.value:g}, trained λ: {sorted(self.runs)})"

    def run(self, lam: float):
        """The :class:`altoolkit.drivers.dynamic_loss.LambdaRun` for ``lam`` (trained once, then cached)."""
        from .drivers.dynamic_loss import compare_dynamic_weights

        lam = float(lam)
        if lam not in self.runs:
            self.status.value = _message(f"training with λ = {lam:g}…", "busy")
            self.runs[lam] = compare_dynamic_weights(self.dataset, [lam], progress=self.progress, **self.kwargs)[lam]
            self.trainings += 1
        return self.runs[lam]

    def show(self, lam: float) -> None:
        """Draw the score histograms for ``lam`` against the reference λ."""
        from .plotting.curves import plot_score_histograms

        lam = float(lam)
        ref = self.run(self.reference)
        cur = self.run(lam)
        scores = {f"λ={self.reference:g} (reference)": ref.kl_scores}
        if lam != self.reference:
            scores[f"λ={lam:g}"] = cur.kl_scores
        self._show_figure(plot_score_histograms(scores))
        self.shown = lam
        self.status.value = _message(
            f"λ = {lam:g}: test accuracy {cur.final_test_acc:.3f}, median KL {float(cur.kl_scores.median()):.3g}"
            f" (reference λ = {self.reference:g}: {ref.final_test_acc:.3f}, {float(ref.kl_scores.median()):.3g})"
        )


def lambda_explorer(
    dataset,
    lambdas: Sequence[float] = (0.0, 0.1, 0.5, 1.0, 2.0),
    *,
    runs=None,
    reference: float = 0.0,
    labeled_fraction: float = 0.2,
    config=None,
    model: str = "cnn",
    seed: int = 0,
    value: float | None = None,
    draw: bool = True,
    progress: bool = False,
) -> LambdaExplorer:
    """A λ slider over DISAL's dynamic-loss weight (Eq. 14).

    Releasing the slider trains the model with that λ exactly as
    :func:`altoolkit.drivers.dynamic_loss.compare_dynamic_weights` does (same labeled subset, same initial
    weights for every λ) and redraws the histogram of the DISAL score KL(f_{T-1} || f_T) over the
    unlabeled pool, against the ``reference`` λ.  Pass the ``runs`` a notebook already computed
    (same ``labeled_fraction``, ``config``, ``model``, ``seed``) so that those λ cost nothing.
    ``draw=False`` builds the widget without training anything.
    """
    return LambdaExplorer(
        dataset,
        lambdas,
        runs=runs,
        reference=reference,
        labeled_fraction=labeled_fraction,
        config=config,
        model=model,
        seed=seed,
        value=value,
        draw=draw,
        progress=progress,
    )


class EpochExplorer(_FigureExplorer):
    """Slider over epochs; on release calls ``draw(epoch)`` (once per epoch, cached)."""

    def __init__(self, draw: Callable[[int], Any], epochs: Sequence[int], *, value: int | None = None, description: str = "epoch", draw_now: bool = True):
        w = _ipywidgets()
        if not callable(draw):
            raise TypeError(f"draw must be a function epoch -> matplotlib Figure, got {draw!r}")
        epochs = [check_int("epochs[i]", e) for e in epochs]
        if not epochs:
            raise ValueError("epochs must list at least one recorded epoch")
        if len(set(epochs)) != len(epochs):
            raise ValueError(f"epochs must be distinct, got {epochs}")
        self.draw = draw
        self.epochs = epochs
        self.cache: dict[int, bytes] = {}
        value = epochs[-1] if value is None else value
        if value not in epochs:
            raise ValueError(f"value must be one of the recorded epochs {epochs}, got {value!r}")
        self.slider = w.SelectionSlider(options=[(str(e), e) for e in epochs], value=value, description=description, continuous_update=False)
        super().__init__([self.slider])
        self.slider.observe(self._safe(lambda change: self.show(change["new"])), names="value")
        if draw_now:
            self.show(value)

    def __repr__(self) -> str:
        return f"EpochExplorer(epoch={self.slider.value}, drawn: {sorted(self.cache)})"

    def show(self, epoch: int) -> None:
        if epoch not in self.epochs:
            raise ValueError(f"epoch must be one of {self.epochs}, got {epoch!r}")
        if epoch in self.cache:
            self._show_png(self.cache[epoch])
        else:
            self.status.value = _message(f"drawing epoch {epoch}…", "busy")
            self.cache[epoch] = self._show_figure(self.draw(epoch))
        self.shown = epoch
        self.status.value = _message(f"epoch {epoch}")


def epoch_explorer(
    draw: Callable[[int], Any], epochs: Sequence[int], *, value: int | None = None, description: str = "epoch", draw_now: bool = True
) -> EpochExplorer:
    """A slider over recorded ``epochs`` that shows ``draw(epoch)`` (a matplotlib Figure), e.g.
    a t-SNE map or the checkpoint-fluctuation figure at that epoch.  ``draw`` runs when the slider
    is released, once per epoch (later visits reuse the picture); ``draw_now`` draws ``value``
    (default: the last epoch) while building."""
    return EpochExplorer(draw, epochs, value=value, description=description, draw_now=draw_now)


class StrategyPicker(_FigureExplorer):
    """Drop-down of strategies; shows the chosen one's selected images with their scores.
    Strategies not computed yet are scored on the shared context when the button is pressed."""

    def __init__(
        self,
        ctx,
        outcomes: Mapping[str, Any] | None = None,
        *,
        names: Sequence[str] | None = None,
        budget: int | None = None,
        n: int = 8,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        value: str | None = None,
    ):
        from .strategies import SelectionContext, strategy_names

        w = _ipywidgets()
        if not isinstance(ctx, SelectionContext):
            raise TypeError(f"ctx must be the SelectionContext the outcomes were computed on, got {type(ctx).__name__}")
        self.ctx = ctx
        self.outcomes: dict[str, Any] = dict(outcomes or {})
        names = list(names) if names is not None else (list(self.outcomes) or strategy_names())
        unknown = sorted(set(names) - set(strategy_names()))
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; choose from {strategy_names()}")
        if not names:
            raise ValueError("names must list at least one strategy")
        if budget is None:
            budget = len(next(iter(self.outcomes.values())).selected) if self.outcomes else n
        self.budget = check_int("budget", budget, 1, len(ctx.unlabeled))
        self.n = check_int("n", n, 1)
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        value = names[0] if value is None else value
        if value not in names:
            raise ValueError(f"value must be one of {names}, got {value!r}")
        self.dropdown = w.Dropdown(options=names, value=value, description="strategy")
        self.compute_button = w.Button(description="score & select", icon="play", tooltip="run this strategy on the shared model")
        self.compute_button.on_click(self._safe(lambda _button: self.compute()))
        super().__init__([self.dropdown, self.compute_button])
        self.dropdown.observe(self._safe(lambda change: self.show(change["new"])), names="value")
        self.show(value)

    def __repr__(self) -> str:
        return f"StrategyPicker({self.dropdown.value!r}, computed: {sorted(self.outcomes)})"

    def compute(self, name: str | None = None):
        """Score and select with ``name`` (default: the chosen one) on the shared context."""
        from .drivers.scoring_and_selection import compare_strategies

        name = self.dropdown.value if name is None else name
        if name not in self.outcomes:
            self.status.value = _message(f"scoring the pool with {name}…", "busy")
            opts = {name: self.options[name]} if name in self.options else None
            self.outcomes[name] = compare_strategies(self.ctx, [name], self.budget, opts, progress=False)[name]
        self.show(name)
        return self.outcomes[name]

    def show(self, name: str) -> None:
        from .plotting.curves import plot_selection_gallery

        self.shown = name
        if name not in self.outcomes:
            self.compute_button.disabled = False
            self.image.value = b""
            self.figure = None
            self.status.value = _message(f"{name} is not computed yet: press 'score & select'", "busy")
            return
        self.compute_button.disabled = True
        o = self.outcomes[name]
        idx = self.ctx.unlabeled[o.selected].tolist()
        scores = {name: o.scores[o.selected].tolist()} if o.scores is not None else None
        self._show_figure(plot_selection_gallery(self.ctx.dataset, {name: idx}, n=self.n, scores=scores))
        counts = np.bincount(self.ctx.dataset.y_train[idx].numpy(), minlength=self.ctx.dataset.num_classes)
        oracle = " · ORACLE: reads the pool's true labels" if o.peeks_at_labels else ""
        score_note = "" if o.scores is not None else " (set selection: no per-sample scores)"
        self.status.value = _message(
            f"{name}: {len(idx)} selected from {len(self.ctx.unlabeled)} in {o.seconds:.2f} s{score_note}; per class {counts.tolist()}{oracle}"
        )


def strategy_picker(
    ctx,
    outcomes: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str] | None = None,
    budget: int | None = None,
    n: int = 8,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    value: str | None = None,
) -> StrategyPicker:
    """A drop-down over strategies showing each one's first ``n`` selected images (true label and
    score above each).  ``ctx`` is the shared :class:`~altoolkit.strategies.SelectionContext`
    (e.g. from :func:`altoolkit.drivers.scoring_and_selection.prepare_comparison`) and ``outcomes`` what
    :func:`altoolkit.drivers.scoring_and_selection.compare_strategies` returned on it; other ``names`` are computed
    on the button press with ``budget`` and ``options``."""
    return StrategyPicker(ctx, outcomes, names=names, budget=budget, n=n, options=options, value=value)
