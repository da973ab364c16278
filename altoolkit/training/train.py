"""The trainer: SGD with momentum and weight decay, an lr schedule, and DISAL's dynamic loss.

``train_model`` minimises L_CE + λ·KL(f̄ || f_θ) (DISAL Eq. 14, see :mod:`altoolkit.math.dynamic`) and
keeps what the DISAL score needs without storing every checkpoint: the weights after the last
epoch (θ_T, the returned model) and one copy of the weights after the epoch before it
(θ_{T-1}, ``TrainResult.prev_state``).  Extra checkpoints for TracIn or the checkpoint
fluctuation figure are kept only for the epochs listed in ``checkpoint_epochs``.

A strategy may add an unsupervised term computed on batches of the unlabeled pool
(:class:`AuxiliaryLoss`; TOD's consistency loss).  Strategies reach the trainer through
:class:`TrainingAdditions`, which this layer owns and they implement.  Without one (the default) nothing of it runs and no RNG draw changes.

Training is deterministic for a seed on the CPU: the shuffling order, the dropout masks and the
augmentations all come from RNGs seeded by ``seed``, and the global RNG state of the caller is
left untouched.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from ..util.progress import tqdm

from ..math.dynamic import EpochDynamicObjective, RunningMeanPredictions
from ..util.checks import check_choice, check_float, check_int
from ..util.modules import state_copy
from ..util.seeds import derive_seed

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train_model",
    "evaluate",
    "LR_SCHEDULES",
    "AUGMENTATIONS",
    "BATCH_SPLITS",
    "epoch_batches",
    "TrainingDivergedError",
    "AuxiliaryLoss",
    "AuxiliaryRun",
    "TrainingAdditions",
]


class TrainingDivergedError(ValueError):
    """The training loss, or the trained model's output, became NaN or infinite: a result
    trained to NaN is never reported.

    The message names the settings that can cause it, λ (``dynamic_weight``), the learning rate
    and the weight decay, and the epoch.  ``cause`` (a sentence) replaces the usual cure ("lower
    lr, λ or weight decay") when the settings are not to blame: the inputs are not finite, or the
    untrained model already gives non-finite values (see :func:`divergence_cause`).  Attributes
    ``dynamic_weight``, ``lr``, ``weight_decay``, ``epoch``, ``loss`` hold the values.
    """

    def __init__(self, dynamic_weight: float, lr: float, epoch: int, loss: float, weight_decay: float | None = None, cause: str = "", what: str = "the loss"):
        self.dynamic_weight, self.lr, self.epoch, self.loss, self.weight_decay = dynamic_weight, lr, epoch, loss, weight_decay
        wd = "" if weight_decay is None else f", weight decay={weight_decay:g}"
        settings = f"lr={lr:g}, λ (dynamic_weight)={dynamic_weight:g}{wd}"
        cure = cause or f"lower lr, λ or weight decay{_unusual(lr, dynamic_weight, weight_decay)}"
        became = f"became {loss}" if what == "the loss" else "became non-finite (NaN or infinity)"
        super().__init__(f"training diverged: {what} {became} at epoch {epoch} with {settings}; {cure}")


def _unusual(lr: float, lam: float, weight_decay: float | None) -> str:
    """Which of the settings lie far outside their usual range (for the divergence message)."""
    odd = [f"{name}={v:g}" for name, v, top in (("lr", lr, 10.0), ("λ", lam, 100.0), ("weight decay", weight_decay or 0.0, 1.0)) if v > top]
    return f" ({', '.join(odd)} {'is' if len(odd) == 1 else 'are'} far above the usual values)" if odd else ""


def divergence_cause(x: torch.Tensor, logits: torch.Tensor | None, steps: int, first_loss: float | None, model: str) -> str:
    """The sentence of a :class:`TrainingDivergedError` when the settings are not the cause:
    the batch's inputs are not finite, the untrained model (no optimiser step yet) already gives
    non-finite logits or loss, or the untrained model's first loss was already enormous because the
    inputs are (values ×1e30: their gradients overflow whatever lr).  ``""`` otherwise."""
    from .output_checks import magnitude

    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        return "the inputs of this batch are not finite after conversion (to_input): check the data, the settings are not the cause"
    scale = f"inputs up to |x| = {magnitude(x)}"
    not_settings = "before any update: check the inputs' scale or the model, not lr, λ or weight decay"
    if steps == 0:
        if logits is not None and not bool(torch.isfinite(logits).all()):
            return f"the untrained model {model!r} already gives non-finite outputs on the first batch ({scale}), {not_settings}"
        return f"the untrained model's loss on the first batch is already non-finite ({scale}), {not_settings}"
    if first_loss is not None and abs(first_loss) > 1e6:
        return (
            f"the untrained model's loss on the first batch was already {first_loss:.3g} ({scale}): inputs this large "
            "make the first gradients overflow whatever lr; standardise the inputs"
        )
    return ""


def _check_training_data(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors (numpy arrays are converted), equal lengths, integer labels >= 0, finite inputs."""
    import numpy as np

    out = []
    for name, a in (("x", x), ("y", y)):
        if isinstance(a, np.ndarray):
            if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
                raise TypeError(f"{name} must be a numeric tensor or array, got dtype {a.dtype}")
            a = torch.from_numpy(np.ascontiguousarray(a))
        elif not isinstance(a, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor (or numpy array), got {type(a).__name__}")
        out.append(a)
    x, y = out
    if x.dim() < 1 or y.dim() != 1:
        raise ValueError(f"y must be 1-D labels and x have a sample axis; got x {tuple(x.shape)}, y {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}; they must match")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.numel():
        arr = y.detach().cpu().numpy()  # numpy: torch has no min/max for uint64, and .long() wraps 2**63 + 5
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 2**62:
            raise ValueError(f"y holds label {lo if lo < 0 else hi}; labels must be in 0..num_classes-1")
    y = y.long()
    if x.is_complex():
        raise TypeError(f"x holds complex values ({x.dtype}); give real numbers (the imaginary part would be dropped)")
    if x.dim() > 1 and math.prod(x.shape[1:]) == 0:
        raise ValueError(f"x has samples of shape {tuple(x.shape[1:])}, with no values; each sample needs at least one feature")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    return x, y


class AuxiliaryRun:
    """One training's state of an :class:`AuxiliaryLoss` (extra parameters, teachers, counters).

    :func:`train_model` optimises :meth:`parameters` with the model's (same SGD, lr, momentum and
    weight decay), calls :meth:`loss` for every mini-batch in place of ``model(xb)`` and
    :meth:`after_step` after every optimiser step; the run is kept as ``TrainResult.auxiliary``.
    """

    def parameters(self) -> list[nn.Parameter]:
        """Extra parameters trained with the model (default: none)."""
        return []

    def loss(self, model: nn.Module, xb: torch.Tensor, ub: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(model(xb), term)``: the logits of the labeled batch ``xb`` (the cross-entropy's input)
        and the weighted term added to the loss; ``ub`` is a batch of the unlabeled pool (model
        input), ``None`` when the pool is empty."""
        raise NotImplementedError

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimiser step (e.g. to update an EMA teacher)."""


class AuxiliaryLoss:
    """An unsupervised term of the training objective, on the labeled batch and a batch of the
    unlabeled pool drawn at every step (``train_model(..., auxiliary=, unlabeled_x=)``).

    :meth:`begin` is called once per training, inside the trainer's seeded RNG context, and returns
    that training's :class:`AuxiliaryRun`; the loss object itself holds only its settings.
    """

    def begin(self, model: nn.Module, seed: int, device: torch.device) -> AuxiliaryRun:
        raise NotImplementedError


class TrainingAdditions(Protocol):
    """What a query strategy asks of training: the interface through which strategies change how
    their runs train without the training layer knowing any strategy.

    :class:`altoolkit.strategies.Strategy` implements it; the AL loop and the labelling project
    pass the strategy in (:func:`altoolkit.training.fresh_model.default_dynamic_weight` reads
    ``dynamic_loss``, :func:`altoolkit.engine.loop.train_cycle` passes ``training_loss()`` to
    :func:`train_model` as ``auxiliary`` and keeps ``checkpoint_epochs(epochs)``).

    Attributes:
        dynamic_loss: train with DISAL's dynamic loss (Eq. 14, λ = 1) unless λ is given.
    """

    dynamic_loss: ClassVar[bool]

    def training_loss(self) -> AuxiliaryLoss | None:
        """An unsupervised term added at every step (TOD's consistency loss), or ``None``."""
        ...

    def checkpoint_epochs(self, epochs: int) -> list[int]:
        """Epochs after which the trainer keeps a copy of the weights (TracIn replays them)."""
        ...


LR_SCHEDULES = ("step", "cosine", "constant", "mmdet_1x")
AUGMENTATIONS = ("none", "flip_crop", "flip")
BATCH_SPLITS = ("fixed", "even")


@dataclass
class TrainConfig:
    """Optimisation settings.  Defaults are small, for 8x8 digits on a CPU; the paper's CIFAR
    settings are ``epochs=200, batch_size=128, lr=0.1`` (see the ``paper`` profile).

    Attributes:
        epochs: number of epochs T (an epoch is DISAL's "iteration").
        batch_size: mini-batch size.
        lr: initial learning rate of SGD.
        momentum: SGD momentum (0.9 in both papers).
        weight_decay: L2 weight decay (5e-4 in both papers).
        lr_schedule: ``"step"`` (x0.1 at 80% of the epochs, as VAAL/LL4AL/TOD), ``"cosine"``,
            ``"constant"`` or ``"mmdet_1x"`` (x0.1 after 8/12 and again after 11/12 of the epochs:
            mmdetection's 1x schedule, ISAL §4.2's 12 epochs with steps after 8 and 11; its
            500-iteration warm-up is not reproduced).
        dynamic_weight: λ of Eq. 14; 0 trains with cross-entropy alone.
        augment: ``"none"``, ``"flip_crop"`` (random crop with 4-pixel padding + horizontal
            flip, the CIFAR recipe; only for image inputs) or ``"flip"`` (horizontal flip only:
            the Caltech101 recipe of siyuhuang/TOD ``main_TOD.py``, whose crop is a fixed
            CenterCrop(224), see :func:`altoolkit.data.load_caltech101`'s ``resize_to``).
        device: torch device string.
        batch_split: how an epoch's shuffled labeled set is cut into batches
            (:func:`epoch_batches`): ``"fixed"`` (batches of ``batch_size``, the last one holding
            the remainder: PyTorch's ``DataLoader`` with ``drop_last=False``, as the authors' code)
            or ``"even"`` (as many batches, of sizes that differ by at most one, so no epoch ends
            with a step on a few samples).

    Examples:
        >>> import altoolkit as alt
        >>> cfg = alt.TrainConfig(epochs=5, lr=0.1)
        >>> cfg.epochs, cfg.dynamic_weight
        (5, 0.0)
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "step"
    dynamic_weight: float = 0.0
    augment: str = "none"
    device: str = "cpu"
    batch_split: str = "fixed"

    def __post_init__(self) -> None:
        self.epochs = check_int("epochs", self.epochs, 1)
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.lr = check_float("lr", self.lr, 0.0, min_inclusive=False)
        self.momentum = check_float("momentum", self.momentum, 0.0, 1.0, max_inclusive=False)
        self.weight_decay = check_float("weight_decay", self.weight_decay, 0.0)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        self.dynamic_weight = check_float("dynamic_weight (λ)", self.dynamic_weight, 0.0)
        check_choice("augment", self.augment, AUGMENTATIONS)
        check_choice("batch_split", self.batch_split, BATCH_SPLITS)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What training leaves behind.

    Attributes:
        model: the trained model, weights θ_T (after the last epoch), in eval mode.
        prev_state: state dict θ_{T-1} (after epoch T-1; the initial weights when T = 1).
        history: per-epoch lists ``epoch, lr, loss, ce_loss, dynamic_loss, train_acc`` and, when
            evaluation data was given, ``test_acc``.
        running_mean: the f̄ tracker of Eq. 12 (``None`` when it was not tracked).
        checkpoints: ``{epoch: (state_dict, lr_during_that_epoch)}`` for ``checkpoint_epochs``.
        seconds: wall-clock training time.
        auxiliary: the :class:`AuxiliaryRun` of an ``auxiliary`` loss (``None`` without one).

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.load_digits(seed=0)
        >>> net = alt.build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
        >>> res = alt.train_model(net, ds.x_train[:64], ds.y_train[:64], alt.TrainConfig(epochs=2), seed=0)
        >>> len(res.history["loss"]), res.seconds > 0
        (2, True)
    """

    model: nn.Module
    prev_state: dict[str, torch.Tensor]
    history: dict[str, list[float]]
    running_mean: RunningMeanPredictions | None = None
    checkpoints: dict[int, tuple[dict[str, torch.Tensor], float]] = field(default_factory=dict)
    seconds: float = 0.0
    auxiliary: Any = None

    def prev_model(self) -> nn.Module:
        """A copy of the model with the weights θ_{T-1}, in eval mode."""
        return self.model_from_state(self.prev_state)

    def model_from_state(self, state: dict[str, torch.Tensor]) -> nn.Module:
        m = copy.deepcopy(self.model)
        m.load_state_dict(state)
        return m.eval()

    def checkpoint_model(self, epoch: int) -> nn.Module:
        """A copy of the model with the weights saved after ``epoch``."""
        if epoch not in self.checkpoints:
            raise KeyError(f"epoch {epoch} was not checkpointed; available: {sorted(self.checkpoints)} (pass checkpoint_epochs= to train_model)")
        return self.model_from_state(self.checkpoints[epoch][0])


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    if cfg.lr_schedule == "step":
        milestone = max(1, int(round(0.8 * cfg.epochs)))
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[milestone], gamma=0.1)
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.lr_schedule == "mmdet_1x":  # 12 epochs: milestones 8 and 11 (lr of epochs 9-11 is x0.1, of epoch 12 x0.01)
        steps = sorted({max(1, int(round(cfg.epochs * 8 / 12))), max(1, int(round(cfg.epochs * 11 / 12)))})
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=steps, gamma=0.1)
    return None


def _augment_batch(x: torch.Tensor, gen: torch.Generator, crop: bool = True) -> torch.Tensor:
    """Random crop (4-pixel zero padding, when ``crop``) and horizontal flip, per sample."""
    if x.dim() != 4:
        return x
    b, _, h, w = x.shape
    if not crop:
        flip_only = torch.rand(b, generator=gen) < 0.5
        return torch.where(flip_only[:, None, None, None], x.flip(-1), x)
    pad = 4
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        patch = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = patch.flip(-1) if flip[i] else patch
    return out


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    batch_size: int = 512,
    device: str = "cpu",
    num_classes: int | None = None,
    name: str | None = None,
) -> float:
    """Accuracy of ``model`` on ``(x, y)``, in eval mode (the mode is restored afterwards).

    Every batch's output is checked (:mod:`altoolkit.training.output_checks`): a tensor of logits
    ``(batch, num_classes)`` (the width is checked when ``num_classes`` is given), all finite;
    otherwise :class:`~altoolkit.training.output_checks.ModelOutputError` names the model
    (``name``, else its class), since argmax over NaN logits would score class 0 silently.

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.load_digits(seed=0)
        >>> net = alt.build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
        >>> 0.0 <= alt.evaluate(net, ds.x_test, ds.y_test) <= 1.0
        True
    """
    from .output_checks import check_finite_output, check_logits, model_label

    label = model_label(model, name)
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for s in range(0, x.shape[0], batch_size):
            xb = to_input(x[s : s + batch_size]).to(device)
            where = f"evaluation samples {s}..{s + xb.shape[0] - 1}"
            out = check_finite_output(check_logits(model(xb), label, int(xb.shape[0]), num_classes, where), label, where)
            correct += int((out.argmax(1).cpu() == y[s : s + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / max(1, x.shape[0])


def epoch_batches(n: int, batch_size: int, batch_split: str = "fixed") -> list[tuple[int, int]]:
    """The ``[start, stop)`` bounds of an epoch's batches over ``n`` shuffled samples.

    ``"fixed"``: ``ceil(n / batch_size)`` batches of ``batch_size``, the last one holding the
    remainder, as ``torch.utils.data.DataLoader(..., drop_last=False)`` cuts them, which is how
    the authors' code trains (hyperconnect/TiDAL ``main.py``: ``DataLoader(data_train,
    batch_size=BATCH, sampler=SubsetRandomSampler(labeled_set))``).  ``"even"``: the same
    number of batches, of sizes that differ by at most one (``torch.tensor_split``'s rule), so
    67 samples at ``batch_size=64`` train as 34 + 33 rather than 64 + 3.  Every sample is in
    exactly one batch either way, so DISAL's running mean (Eq. 12) sees each once per epoch.

    >>> epoch_batches(67, 64)
    [(0, 64), (64, 67)]
    >>> epoch_batches(67, 64, "even")
    [(0, 34), (34, 67)]
    """
    n = check_int("n", n, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    check_choice("batch_split", batch_split, BATCH_SPLITS)
    if batch_split == "fixed":
        return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    k = -(-n // batch_size)
    q, r = divmod(n, k)
    bounds, start = [], 0
    for i in range(k):
        stop = start + q + (1 if i < r else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    seed: int = 0,
    to_input: Callable[[torch.Tensor], torch.Tensor] = lambda t: t.float(),
    eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint_epochs: Sequence[int] = (),
    track_running_mean: bool | None = None,
    progress: bool = True,
    desc: str = "train",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    eval_every: int = 1,
    auxiliary: AuxiliaryLoss | None = None,
    unlabeled_x: torch.Tensor | None = None,
    num_classes: int | None = None,
    model_name: str | None = None,
) -> TrainResult:
    """Train ``model`` in place on the labeled set ``(x, y)`` and return a :class:`TrainResult`.

    The objective is cross-entropy plus ``config.dynamic_weight`` times the dynamic loss
    KL(f̄_(t) || f_θ) of DISAL Eq. 13-14.  f̄_(t) includes each sample's own prediction of this
    epoch (Eq. 12), so at epoch 1 f̄ = f_θ and the dynamic term is exactly 0.  Each step's
    gradient comes from a target formed at the start of the epoch
    (:class:`altoolkit.math.dynamic.EpochDynamicObjective`: the same gradient as the step-by-step
    form at the cost of a cross-entropy); the logged CE, KL and training accuracy of a tracked run
    are computed over the epoch's predictions at its end.

    Args:
        model: the network (modified in place and returned as ``result.model``).
        x, y: labeled inputs (as stored; ``to_input`` maps a batch to model input) and labels.
        config: optimisation settings (:class:`TrainConfig`).
        seed: seeds the shuffling, dropout and augmentation RNGs.
        to_input: batch transform, usually ``dataset.to_input``.
        eval_data: optional ``(x_test, y_test)`` evaluated after every ``eval_every``-th epoch and
            after the last (``history['test_acc']``, at the epochs ``history['test_epoch']``).
        checkpoint_epochs: epochs (1-based) after which a copy of the weights is kept.
        track_running_mean: keep f̄ even when λ = 0 (default: only when λ > 0).
        progress: show a tqdm bar over epochs.
        on_epoch_end: called as ``on_epoch_end(epoch, model)`` after each epoch.
        auxiliary: an unsupervised term added at every step (:class:`AuxiliaryLoss`, e.g. TOD's
            :class:`~altoolkit.strategies.tod.ConsistencyLoss`); needs ``unlabeled_x``.  Each step
            draws ``config.batch_size`` distinct pool samples uniformly (augmented like the
            labeled batch) with a generator seeded by ``derive_seed(seed, 0x0D)``, so the
            labeled shuffling stream is the one of a training without it.  ``history`` then has
            ``auxiliary_loss``, and ``loss`` includes it.
        unlabeled_x: the unlabeled pool's stored inputs (``to_input`` converts them), for ``auxiliary``.
        num_classes: the number of classes; the model's output width is checked against it at the
            first step (default: only that every label has an output).
        model_name: how errors name the model (default: its class name).

    Raises:
        TrainingDivergedError: the loss became NaN/inf, or the trained model's output on the
            labeled samples is not finite after the last step (names lr, λ, weight decay and the
            epoch, or the inputs / the untrained model when they are the cause).
        ModelOutputError: the model does not return logits ``(batch, num_classes)``.
        ValueError/TypeError: NaN/inf or complex inputs, labels out of range or not integers,
            lengths that differ, an augmentation that does not apply to the inputs' shape
            (numpy arrays are converted to tensors).

    Examples:
        >>> import altoolkit as alt
        >>> ds = alt.load_digits(seed=0)
        >>> net = alt.build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
        >>> res = alt.train_model(net, ds.x_train[:200], ds.y_train[:200], alt.TrainConfig(epochs=3), seed=0)
        >>> res.history["loss"][-1] < res.history["loss"][0]
        True
    """
    cfg, x, y = _checked_call(config, x, y, checkpoint_epochs, auxiliary, unlabeled_x)
    from .output_checks import model_label

    label = model_label(model, model_name)
    device = torch.device(cfg.device)
    model.to(device)
    track = cfg.dynamic_weight > 0 if track_running_mean is None else bool(track_running_mean)
    eval_every = check_int("eval_every", eval_every, 1)
    history = _empty_history(auxiliary is not None, eval_data is not None)
    checkpoints: dict[int, tuple[dict[str, torch.Tensor], float]] = {}
    prev_state = state_copy(model.state_dict())  # θ_0; replaced by θ_{T-1} below
    t0 = time.perf_counter()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout masks
        run = _start(model, x, y, cfg, seed, to_input, device, track, auxiliary, unlabeled_x)
        run.name, run.num_classes = label, num_classes
        bar = tqdm(range(1, cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
        prev_state = _train_epochs(run, bar, history, prev_state, eval_data, eval_every, checkpoint_epochs, checkpoints, on_epoch_end)
        bar.close()
    model.eval()
    _check_trained_output(run)
    return TrainResult(
        model=model,
        prev_state=prev_state,
        history=history,
        running_mean=None if run.objective is None else run.objective.running,
        checkpoints=checkpoints,
        seconds=time.perf_counter() - t0,
        auxiliary=run.aux,
    )


def _train_epochs(
    run: _Run,
    bar: Any,
    history: dict[str, list[float]],
    prev_state: dict[str, torch.Tensor],
    eval_data: tuple[torch.Tensor, torch.Tensor] | None,
    eval_every: int,
    checkpoint_epochs: Sequence[int],
    checkpoints: dict[int, tuple[dict[str, torch.Tensor], float]],
    on_epoch_end: Callable[[int, nn.Module], None] | None,
) -> dict[str, torch.Tensor]:
    """The epochs of :func:`train_model` over ``bar`` (the epoch numbers): train, step the lr
    schedule, log to ``history``, evaluate, keep the ``checkpoint_epochs`` in ``checkpoints``;
    returns θ_{T-1}, the weights before the last epoch (``prev_state`` when there is one epoch)."""
    model, cfg = run.model, run.cfg
    n = int(run.x.shape[0])
    sched = _make_scheduler(run.opt, cfg)
    batch_bounds = epoch_batches(n, cfg.batch_size, cfg.batch_split)
    for epoch in bar:
        if epoch == cfg.epochs:
            prev_state = state_copy(model.state_dict())  # θ_{T-1}
        lr_now = run.opt.param_groups[0]["lr"]
        sums = _train_epoch(run, epoch, lr_now, batch_bounds)
        if sched is not None:
            sched.step()
        _log_epoch(history, epoch, lr_now, sums, n)
        if eval_data is not None and (epoch % eval_every == 0 or epoch == cfg.epochs):
            history["test_acc"].append(evaluate(model, eval_data[0], eval_data[1], run.to_input, device=cfg.device, num_classes=run.num_classes, name=run.name))
            history["test_epoch"].append(epoch)
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", test_acc=f"{history['test_acc'][-1]:.3f}")
        else:
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
        if epoch in checkpoint_epochs:
            checkpoints[epoch] = (state_copy(model.state_dict()), lr_now)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return prev_state


def _checked_call(
    config: TrainConfig | None, x: Any, y: Any, checkpoint_epochs: Sequence[int], auxiliary: AuxiliaryLoss | None, unlabeled_x: Any
) -> tuple[TrainConfig, torch.Tensor, torch.Tensor]:
    """The arguments of :func:`train_model` checked (clear errors naming the argument): the
    config, and ``x``, ``y`` as tensors (see :func:`_check_training_data`)."""
    cfg = config or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    x, y = _check_training_data(x, y)
    if int(x.shape[0]) == 0:
        raise ValueError("the labeled set is empty: train_model needs at least one labeled sample")
    bad = [e for e in checkpoint_epochs if not (isinstance(e, int) and 1 <= e <= cfg.epochs)]
    if bad:
        raise ValueError(f"checkpoint_epochs must be integers in [1, {cfg.epochs}], got {bad}")
    if cfg.augment != "none" and x.dim() != 4:
        raise ValueError(
            f"augment={cfg.augment!r} flips (and crops) images of shape (N, C, H, W); the inputs have shape "
            f"{tuple(x.shape)}. Use augment='none' for data that are not images"
        )
    if auxiliary is not None and not isinstance(auxiliary, AuxiliaryLoss):
        raise TypeError(f"auxiliary must be an AuxiliaryLoss, got {type(auxiliary).__name__}")
    if (auxiliary is None) != (unlabeled_x is None):
        raise ValueError("auxiliary and unlabeled_x go together: the auxiliary loss draws its batches from unlabeled_x")
    if unlabeled_x is not None:
        if not isinstance(unlabeled_x, torch.Tensor):
            raise TypeError(f"unlabeled_x must be a torch tensor, got {type(unlabeled_x).__name__}")
        if tuple(unlabeled_x.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(f"unlabeled_x samples have shape {tuple(unlabeled_x.shape[1:])}, the labeled ones {tuple(x.shape[1:])}; they must match")
    return cfg, x, y


def _empty_history(auxiliary: bool, evaluated: bool) -> dict[str, list[float]]:
    """The per-epoch lists of :attr:`TrainResult.history`, empty."""
    history: dict[str, list[float]] = {k: [] for k in ("epoch", "lr", "loss", "ce_loss", "dynamic_loss", "train_acc")}
    if auxiliary:
        history["auxiliary_loss"] = []
    if evaluated:
        history["test_acc"] = []
        history["test_epoch"] = []
    return history


@dataclass
class _Run:
    """What one call of :func:`train_model` updates step by step: the labeled data, the RNGs, the
    optimiser, DISAL's dynamic-loss objective (made at the first batch, once the number of classes
    is known) and the run of an auxiliary loss with its unlabeled pool."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    cfg: TrainConfig
    to_input: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    track: bool
    gen: torch.Generator
    ugen: torch.Generator
    opt: torch.optim.Optimizer
    aux: AuxiliaryRun | None = None
    unlabeled_x: torch.Tensor | None = None
    objective: EpochDynamicObjective | None = None
    name: str = "model"
    num_classes: int | None = None
    steps: int = 0
    first_loss: float | None = None


def _start(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    seed: int,
    to_input: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    track: bool,
    auxiliary: AuxiliaryLoss | None,
    unlabeled_x: torch.Tensor | None,
) -> _Run:
    """The RNGs and the optimiser of a training, made inside its seeded RNG context: ``seed``
    seeds shuffling and augmentation; an auxiliary loss begins its run (which may draw from the
    seeded global RNG) and its unlabeled batches come from ``derive_seed(seed, 0x0D)``."""
    gen = torch.Generator().manual_seed(seed)  # shuffling and augmentation
    ugen = torch.Generator()  # unlabeled batches (seeded and drawn only with an auxiliary loss)
    aux: AuxiliaryRun | None = None
    params: Any = model.parameters()
    if auxiliary is not None and unlabeled_x is not None:
        aux = auxiliary.begin(model, seed, device)
        params = list(model.parameters()) + list(aux.parameters())
        ugen.manual_seed(derive_seed(seed, 0x0D))
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return _Run(model, x, y, cfg, to_input, device, track, gen, ugen, opt, aux, unlabeled_x if aux is not None else None)


def _augmented(xb: torch.Tensor, gen: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """``xb`` augmented as ``cfg.augment`` says (drawing from ``gen``), or as it is."""
    return xb if cfg.augment == "none" else _augment_batch(xb, gen, crop=cfg.augment == "flip_crop")


def _forward(run: _Run, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The logits of the labeled batch ``xb`` and, with an auxiliary loss, its term on a fresh
    batch of ``cfg.batch_size`` distinct unlabeled samples (augmented like the labeled one)."""
    if run.aux is None:
        return run.model(xb), None
    ub = None
    n_unl = 0 if run.unlabeled_x is None else int(run.unlabeled_x.shape[0])
    if n_unl and run.unlabeled_x is not None:
        ub = run.unlabeled_x[torch.randperm(n_unl, generator=run.ugen)[: run.cfg.batch_size]]
        ub = run.to_input(_augmented(ub, run.ugen, run.cfg)).to(run.device)
    return run.aux.loss(run.model, xb, ub)


def _step(run: _Run, idx: torch.Tensor, first: bool, epoch: int, lr_now: float, sums: dict[str, Any]) -> None:
    """One optimiser step on the labeled samples ``idx``; adds the batch's loss, CE and correct
    predictions to ``sums`` (a tracked run computes those over the epoch at its end instead)."""
    xb = run.to_input(_augmented(run.x[idx], run.gen, run.cfg)).to(run.device)
    yb = run.y[idx].to(run.device)
    logits, aux_term = _forward(run, xb)
    if first:
        from .output_checks import check_logits

        check_logits(logits, run.name, int(xb.shape[0]), run.num_classes, "the first training batch")
        if int(run.y.max()) >= logits.shape[1]:
            raise ValueError(f"y holds label {int(run.y.max())} but the model has {logits.shape[1]} outputs; labels must be in 0..{logits.shape[1] - 1}")
    lam = run.cfg.dynamic_weight
    if run.track:
        # Eq. 14's gradient from the target formed at the epoch's start; the logged CE and
        # KL are computed over the epoch in end_epoch (EpochDynamicObjective explains why)
        if run.objective is None:
            run.objective = EpochDynamicObjective(run.y, logits.shape[1], lam, run.device)
        loss = run.objective.step_loss(idx, logits)
    else:
        ce = F.cross_entropy(logits, yb)
        loss = ce
    if aux_term is not None:
        loss = loss + aux_term
        sums["aux"] += float(aux_term.detach()) * len(idx)
    if not bool(torch.isfinite(loss.detach())):
        cause = divergence_cause(xb, logits.detach(), run.steps, run.first_loss, run.name)
        raise TrainingDivergedError(lam, lr_now, epoch, float(loss.detach()), run.cfg.weight_decay, cause)
    if run.first_loss is None:
        run.first_loss = float(loss.detach())
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    run.steps += 1
    if run.aux is not None:
        run.aux.after_step(run.model)
    if run.objective is None:
        sums["loss"] += float(loss.detach()) * len(idx)
        sums["ce"] += float(ce.detach()) * len(idx)
        sums["correct"] += int((logits.detach().argmax(1) == yb).sum())


def _train_epoch(run: _Run, epoch: int, lr_now: float, batch_bounds: list[tuple[int, int]]) -> dict[str, Any]:
    """One epoch over the labeled set, shuffled by ``run.gen``; returns the sums over its samples
    of the loss, CE, dynamic loss, auxiliary term and correct predictions."""
    run.model.train()
    n = int(run.x.shape[0])
    perm = torch.randperm(n, generator=run.gen)
    sums: dict[str, Any] = {"loss": 0.0, "ce": 0.0, "dyn": 0.0, "aux": 0.0, "correct": 0}
    for s, stop in batch_bounds:
        _step(run, perm[s:stop], s == 0 and epoch == 1, epoch, lr_now, sums)
    if run.objective is not None:
        ce_mean, dyn_mean, correct = run.objective.end_epoch()
        sums["ce"], sums["dyn"], sums["correct"] = ce_mean * n, dyn_mean * n, correct
        sums["loss"] = sums["ce"] + run.cfg.dynamic_weight * sums["dyn"] + sums["aux"]
    return sums


def _check_trained_output(run: _Run) -> None:
    """After the last step: the trained model's output on the first labeled samples (one batch,
    eval mode, not augmented) must be finite.  The last step can blow the weights up with a
    finite loss before it (``lr=1e30``, one step per epoch); without this check such a model
    would be evaluated to NaN logits, argmax class 0 everywhere."""
    with torch.inference_mode():
        xb = run.to_input(run.x[: run.cfg.batch_size]).to(run.device)
        out = run.model(xb)
    if isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
        cfg = run.cfg
        cause = divergence_cause(xb, None, run.steps, run.first_loss, run.name)
        raise TrainingDivergedError(
            cfg.dynamic_weight, cfg.lr, cfg.epochs, float("nan"), cfg.weight_decay, cause, what=f"the output of the trained model {run.name!r}"
        )


def _log_epoch(history: dict[str, list[float]], epoch: int, lr_now: float, sums: dict[str, Any], n: int) -> None:
    """Append an epoch's means over its ``n`` samples to ``history``."""
    history["epoch"].append(epoch)
    history["lr"].append(lr_now)
    history["loss"].append(sums["loss"] / n)
    history["ce_loss"].append(sums["ce"] / n)
    history["dynamic_loss"].append(sums["dyn"] / n)
    history["train_acc"].append(sums["correct"] / n)
    if "auxiliary_loss" in history:
        history["auxiliary_loss"].append(sums["aux"] / n)
