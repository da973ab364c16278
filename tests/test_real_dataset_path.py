"""The paper-profile code path on a real on-disk format: CIFAR-10 pickles (tiny, written here),
uint8 images normalised batch by batch, the CIFAR ResNet-18 with crop+flip augmentation, and
strategies that go through per-sample gradients, LiSSA and forward-mode jvp on those inputs."""

import pytest

import altoolkit as alt

from test_data import write_cifar10


@pytest.mark.slow
@pytest.mark.parametrize("strategy, options", [("disal", {}), ("isal", {"depth": 3, "repeats": 1}), ("badge", {}), ("tracin", {"checkpoints": 1})])
def test_al_loop_on_cifar_files_with_resnet(tmp_path, cifar_md5_skipped, strategy, options):
    write_cifar10(tmp_path, per_batch=8, n_test=6)
    cfg = alt.ALConfig(
        dataset="cifar10",
        root=str(tmp_path),
        strategy=strategy,
        strategy_options=options,
        model="resnet18_cifar",
        epochs=1,
        cycles=2,
        batch_size=8,
        initial_fraction=0.3,
        step_fraction=0.2,
        augment="flip_crop",
        score_batch_size=16,
    )
    rec = alt.run_active_learning(cfg, out=tmp_path / "r.json", progress=False)
    assert rec["finished"] and rec["dataset"]["input_shape"] == [3, 32, 32]
    assert [c["n_labeled"] for c in rec["cycles"]] == [12, 20]
    sel = rec["cycles"][0]["selected"]
    assert len(sel) == 8 and not set(sel) & set(rec["initial_labeled"])
