"""The human-in-the-loop loop: demo folders, projects, batches, training on stored labels,
resuming after a kernel restart."""

import csv
import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

import altoolkit as alt
from altoolkit.labelling.project import LabelingProject, NothingToLabel, list_images, write_digits_demo
from altoolkit.labelling.store import LabelStore
from altoolkit.util.seeds import derive_seed

SMALL = alt.TrainConfig(epochs=3, batch_size=16)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_digits_demo(tmp_path_factory.mktemp("demo"), seed=0, max_images=200)


def _project(tmp_path, demo, **kw):
    kw.setdefault("config", SMALL)
    return LabelingProject.from_folders(tmp_path / "project", demo.unlabeled_dir, demo.heldout_dir, image_size=8, channels=1, annotator="tester", **kw)


def test_digits_demo_writes_the_digits_with_a_truth_file(tmp_path):
    from sklearn.datasets import load_digits

    d = write_digits_demo(tmp_path / "demo", seed=3, max_images=120)
    bunch = load_digits()
    held = sorted(p.relative_to(d.heldout_dir).as_posix() for p in d.heldout_dir.rglob("*.png"))
    pool = list_images(d.unlabeled_dir)
    assert len(held) + len(pool) == 120 and sorted(d.truth) == pool
    assert {h.split("/")[0] for h in held} == set(d.classes) == {str(k) for k in range(10)}
    for name in pool[:15] + held[:15]:  # pixels and labels are sklearn's (0..16 scaled to 0..255)
        idx = int(name.split("/")[-1][:4])
        img = np.asarray(Image.open((d.unlabeled_dir if "/" not in name else d.heldout_dir) / name))
        assert np.array_equal(img, np.rint(bunch.images[idx] * 255 / 16).astype(np.uint8))
        label = d.truth[name] if "/" not in name else name.split("/")[0]
        assert label == str(bunch.target[idx])
    rows = list(csv.DictReader(open(d.folder / "truth.csv")))
    assert {r["item"]: r["label"] for r in rows} == d.truth
    stamp = (d.unlabeled_dir / pool[0]).stat().st_mtime_ns
    again = write_digits_demo(tmp_path / "demo", seed=3, max_images=120)  # idempotent: nothing rewritten
    assert again.truth == d.truth and (d.unlabeled_dir / pool[0]).stat().st_mtime_ns == stamp


def test_list_images_is_recursive_relative_and_ignores_other_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("z.png", "a/b/y.JPG", "a/x.jpeg", "notes.txt", ".hidden/w.png"):
        (tmp_path / name).write_bytes(b"")
    assert list_images(tmp_path) == ["a/b/y.JPG", "a/x.jpeg", "z.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")


def test_project_from_folders_reads_pool_classes_and_heldout(tmp_path, demo):
    p = _project(tmp_path, demo)
    assert p.items == list_images(demo.unlabeled_dir) and p.classes == demo.classes
    first = np.array(Image.open(demo.unlabeled_dir / p.items[0]))
    assert torch.equal(p.data.x_train[0, 0], torch.from_numpy(first))
    n_held = len(list(demo.heldout_dir.rglob("*.png")))
    assert p.data.n_test == n_held and p.data.x_train.dtype == torch.uint8
    held_counts = {c: len(list((demo.heldout_dir / c).glob("*.png"))) for c in demo.classes}
    assert p.data.class_counts("test").tolist() == [held_counts[c] for c in demo.classes]
    assert p.store.path == tmp_path / "project" / "labels.sqlite"
    assert p.config.dynamic_weight == 1.0  # disal trains with the dynamic loss (Eq. 14)
    assert _project(tmp_path / "b", demo, strategy="entropy").config.dynamic_weight == 0.0


def test_project_errors_are_clear(tmp_path, demo):
    with pytest.raises(ValueError, match="reads the pool's true labels"):
        _project(tmp_path, demo, strategy="ce_difference")
    with pytest.raises(FileNotFoundError, match="held-out folder .* one sub-folder per class"):
        LabelingProject.from_folders(tmp_path / "p", demo.unlabeled_dir, tmp_path / "missing", image_size=8, channels=1)
    with pytest.raises(ValueError, match="channels must be 1"):
        LabelingProject.from_folders(tmp_path / "p", demo.unlabeled_dir, demo.heldout_dir, channels=2)
    with pytest.raises(ValueError, match="classes=.* needed"):
        LabelingProject.from_arrays(tmp_path / "q", np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="strategy must be one of"):
        _project(tmp_path, demo, strategy="nope")
    _project(tmp_path, demo)  # creates the store with the digit classes
    with pytest.raises(ValueError, match="differ from the classes this label store"):
        LabelingProject.from_arrays(tmp_path / "project", np.zeros((4, 3), np.float32), class_names=["a", "b"])


def test_cold_start_then_resume_then_a_strategy_batch_trained_on_the_stored_labels(tmp_path, demo):
    p = _project(tmp_path, demo)
    b0 = p.next_batch(12)
    assert b0.cycle == 0 and b0.strategy == "random (cold start)" and len(b0) == 12 and set(b0.scores) == {None}
    assert p.store.open_batch() == b0
    assert p.next_batch(5) == b0, "an open batch is resumed, not replaced"
    for item in b0.items[:-1]:
        p.store.label(item, demo.truth[item], batch=b0)
    p.store.skip(b0.items[-1], batch=b0)
    b1 = p.next_batch(10)
    assert b1.cycle == 1 and b1.strategy == "disal" and len(b1) == 10
    assert not set(b1.items) & set(b0.items), "labelled and skipped images are not offered again"
    assert b1.info["n_labeled"] == 11 and 0 <= b1.info["test_acc"] <= 1 and not b1.info["cold_start"]
    # the selection is the strategy's top-10 on a model trained on exactly the stored labels
    pos, lab = p.labeled()
    assert [p.items[i] for i in pos] == sorted(b0.items[:-1])
    assert [p.classes[c] for c in lab] == [demo.truth[p.items[i]] for i in pos]
    ds = p.dataset()
    net = alt.build_model("cnn", ds.input_shape, 10, seed=derive_seed(0, 1, 1))
    ref = alt.train_model(net, ds.x_train[pos], lab, p.config, seed=derive_seed(0, 1, 2), to_input=ds.to_input, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(ref.model.state_dict().values(), p.last_result.model.state_dict().values()))
    unl = p.unlabeled()
    ctx = alt.SelectionContext(ds, ref.model, pos, unl, train_result=ref)
    kl = alt.get_strategy("disal").score(ctx)
    top = unl[alt.select_top(kl, 10)]
    assert list(b1.items) == [p.items[i] for i in top]
    assert np.allclose(b1.scores, kl[alt.select_top(kl, 10)].numpy(), rtol=1e-5)


def test_set_selection_strategies_store_no_scores_and_the_pool_runs_out(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 5)).astype(np.float32)
    p = LabelingProject.from_arrays(tmp_path, x, x[:4], np.array([0, 1, 0, 1]), class_names=["no", "yes"], model="mlp", strategy="coreset", config=SMALL)
    assert p.items == [str(i) for i in range(9)]
    seen = []
    while True:
        try:
            b = p.next_batch(4)
        except NothingToLabel as exc:
            assert "all 9 pool images" in str(exc)
            break
        seen += b.items
        if b.cycle > 0:
            assert b.strategy == "coreset" and set(b.scores) == {None}
        for k, item in enumerate(b.items):
            p.store.label(item, ["no", "yes"][(int(item) + k) % 2])
    assert sorted(seen, key=int) == p.items and p.store.num_labels() == 9


def test_history_and_figures(tmp_path, demo):
    import matplotlib.pyplot as plt

    p = _project(tmp_path, demo)
    b = p.next_batch(6)
    fig = alt.plotting.labelling.plot_batch(p, b, n=6)
    assert [a.get_title() for a in fig.axes[:2]] == ["#1\n?", "#2\n?"]
    for item in b.items:
        p.store.label(item, demo.truth[item])
    p.next_batch(6)
    hist = p.history()
    assert [(h["cycle"], h["labeled"], h["n_labeled"]) for h in hist] == [(0, 6, 0), (1, 0, 6)]
    assert hist[0]["test_acc"] is None and hist[1]["test_acc"] is not None
    fig2 = alt.plotting.labelling.plot_history(p, final=(6, 0.5))
    line = fig2.axes[0].lines[0]
    assert list(line.get_xdata()) == [6, 6] and list(line.get_ydata()) == [100 * hist[1]["test_acc"], 50.0]
    plt.close("all")


# --------------------------------------------------------------------------- kernel restart

_SESSION = textwrap.dedent("""
    import json, os
    import altoolkit.labelling.project as L, altoolkit.widgets as W
    demo = L.write_digits_demo({demo!r}, seed=0, max_images=200)
    project = L.LabelingProject.from_folders({project!r}, demo.unlabeled_dir, demo.heldout_dir, image_size=8,
                                             channels=1, annotator="me")
    w = W.labeling_widget(project, top_k=12)
    start = w.current_item
    for _ in range({clicks}):
        w.buttons[demo.truth[w.current_item]].click()
    print("RESULT", json.dumps({{"batch": w.batch.id, "items": list(w.batch.items), "start": start,
                                "done": w.done, "clicks": w.clicks, "pid": os.getpid()}}))
""")


@pytest.mark.slow
def test_labelling_survives_a_kernel_restart_mid_batch(tmp_path, demo):
    """Label 5 of 12 images in a Jupyter kernel, restart the kernel, run the same code again:
    the widget resumes at image 6 of the same batch; in the end every image is labelled once."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    results = []
    try:
        for clicks in (5, 7):
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            out = []

            def hook(msg, out=out):
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append("\n".join(msg["content"]["traceback"]))

            code = _SESSION.format(demo=str(demo.folder), project=str(tmp_path / "project"), clicks=clicks)
            reply = kc.execute_interactive(code, timeout=180, output_hook=hook)
            kc.stop_channels()
            assert reply["content"]["status"] == "ok", "".join(out)
            line = next(l for l in "".join(out).splitlines() if l.startswith("RESULT "))
            results.append(json.loads(line[len("RESULT ") :]))
            if clicks == 5:
                km.restart_kernel(now=True)  # the kernel process is killed and a new one started
    finally:
        km.shutdown_kernel(now=True)
    first, second = results
    assert second["batch"] == first["batch"] and second["items"] == first["items"], "the same batch is resumed"
    assert first["start"] == first["items"][0] and second["start"] == first["items"][5], "resumes at image 6"
    assert not first["done"] and second["done"]
    assert first["pid"] != second["pid"], "the second session ran in a new kernel process"
    assert first["clicks"]["label"] == 5 and second["clicks"]["label"] == 7
    with LabelStore(tmp_path / "project") as store:
        labels = store.labels()
        assert store.verify()["events"] == 12, "12 clicks, 12 events: nothing lost, nothing duplicated"
    assert labels == {item: demo.truth[item] for item in first["items"]}
