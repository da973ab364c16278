"""One interface for every selection strategy, and one registry.

A strategy sees a :class:`SelectionContext` (the trained model, what training left behind, the
labeled and unlabeled indices, the dataset) and returns the positions in the unlabeled pool to
label next.  Most strategies only define :meth:`Strategy.score` (one number per pool sample,
larger = label first); strategies that pick a set jointly (Core-set, BADGE) override
:meth:`Strategy.select`.

Every per-sample strategy also takes the ``batch`` option (``"topk"``, ``"balanced"``,
``"diverse"``, ``"topm"``; see :mod:`altoolkit.strategies.batch_rules`) and, with ``"topm"``, its
``prefilter`` (β).  They are handled here, once, for all of them: :meth:`Strategy.__init_subclass__`
wraps each subclass's ``__init__`` (to accept ``batch=`` and ``prefilter=``) and ``options`` (to
record them when the rule is not the default ``"topk"``), and :meth:`Strategy.select_batch`
applies the rule to the strategy's own ranking and keeps, in :attr:`Strategy.last_selection`, the
share of the batch that lies in the score's own top-k (the AL loop records it per cycle).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import torch
from torch import nn

from ..data import ALDataset, DetectionDataset, SegmentationDataset
from ..training.inference import predict_logits
from ..math.scores import select_top
from ..util.checks import check_bool, check_choice, check_float, check_int
from . import batch_rules
from .checks import check_strategy_class, checked_scores

if TYPE_CHECKING:
    from ..training.train import AuxiliaryLoss

__all__ = [
    "SelectionContext",
    "Strategy",
    "StrategyOptions",
    "option",
    "describe_options",
    "register_strategy",
    "get_strategy",
    "strategy_names",
    "describe_strategies",
    "strategies_taking_batch",
    "batch_rule_inputs",
    "STRATEGIES",
    "TASK_STRATEGIES",
]


@dataclass
class SelectionContext:
    """Everything a strategy may look at when choosing what to label.

    Attributes:
        dataset: the dataset (a SegmentationDataset or DetectionDataset for those tasks); the pool is ``dataset.x_train[unlabeled]``.
        model: the model after the last epoch (θ_T), in eval mode.
        labeled: dataset indices of the labeled set (the order used in training).
        unlabeled: dataset indices of the unlabeled pool; scores and selections refer to
            positions in this tensor.
        train_result: :class:`altoolkit.training.train.TrainResult` of this cycle (θ_{T-1}, checkpoints,
            history); ``None`` if the model was trained elsewhere.
        previous_cycle_model: the previous AL cycle's final model (TOD); ``None`` in cycle 0.
        initial_labeled: dataset indices of the first labeled set L1 (ISAL's reference set).
        validation: optional held-out ``(x, y)`` (ISAL's validation reference set).
        seed: seed for any randomness in the strategy.
        batch_size: scoring batch size (memory does not grow with the pool).
        device: torch device string.
        progress: show tqdm bars.

    Examples:
        >>> import torch, altoolkit as alt
        >>> ds = alt.load_digits(seed=0)
        >>> net = alt.build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
        >>> ctx = alt.SelectionContext(dataset=ds, model=net, labeled=torch.arange(50), unlabeled=torch.arange(50, 300))
        >>> alt.get_strategy("entropy").select(ctx, 5).shape
        torch.Size([5])
    """

    dataset: ALDataset | SegmentationDataset | DetectionDataset
    model: nn.Module
    labeled: torch.Tensor
    unlabeled: torch.Tensor
    train_result: Any = None
    previous_cycle_model: nn.Module | None = None
    initial_labeled: torch.Tensor | None = None
    validation: tuple[torch.Tensor, torch.Tensor] | None = None
    seed: int = 0
    batch_size: int = 256
    device: str = "cpu"
    progress: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def pool_x(self) -> torch.Tensor:
        """Stored inputs of the unlabeled pool (convert batches with ``dataset.to_input``)."""
        return self.dataset.x_train[self.unlabeled]

    @property
    def labeled_x(self) -> torch.Tensor:
        return self.dataset.x_train[self.labeled]

    @property
    def labeled_y(self) -> torch.Tensor:
        return self.dataset.y_train[self.labeled]

    def prev_model(self) -> nn.Module:
        """The model with the weights θ_{T-1} of the epoch before the last."""
        if self.train_result is None:
            raise ValueError(
                "this strategy needs the weights of the second-to-last epoch; pass the TrainResult of altoolkit.training.train.train_model as train_result"
            )
        return self.train_result.prev_model()


def option(
    default: Any,
    doc: str,
    *,
    choices: Sequence[str] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    recorded: str = "always",
) -> Any:
    """One strategy option, a field of a :class:`StrategyOptions` dataclass: its default, a one-line
    ``doc``, and what is allowed (``choices`` for a string; ``minimum``/``maximum`` for a number,
    inclusive unless said otherwise).  ``recorded``: ``"always"`` (in :meth:`Strategy.options`,
    hence in records and sweep hashes) or ``"changed"`` (only when not the default: options added
    after records existed, whose hashes must not change)."""
    if recorded not in ("always", "changed"):
        raise ValueError(f"recorded must be 'always' or 'changed', got {recorded!r}")
    meta = {
        "doc": doc,
        "choices": None if choices is None else tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "min_inclusive": min_inclusive,
        "max_inclusive": max_inclusive,
        "recorded": recorded,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class StrategyOptions:
    """Base of a strategy's options: a frozen dataclass of :func:`option` fields, declared once.

    Its fields give the strategy's keyword arguments, their checks (each value is checked by its
    field's type: ``bool``, ``int``, ``float`` or ``str`` with choices, ``None`` allowed where the
    type says ``| None``; the error names the option and what is allowed), what
    :meth:`Strategy.options` records, and the help (:func:`describe_options`, ``altoolkit
    strategies``, the strategy's docstring).

    Examples:
        >>> import altoolkit as alt
        >>> alt.get_strategy("isal", grad_simi=True, which="all").grad_simi
        True
        >>> alt.get_strategy("isal", depth=0)
        Traceback (most recent call last):
        ValueError: depth must be an integer in [1, inf], got 0
    """

    def __post_init__(self) -> None:
        types = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_option(f, types[f.name], getattr(self, f.name)))


def _check_option(f: dataclasses.Field, kind: Any, value: Any) -> Any:
    m = f.metadata
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is bool:
        return check_bool(f.name, value)
    if kind is int:
        return check_int(f.name, value, m.get("minimum"), m.get("maximum"))
    if kind is float:
        return check_float(f.name, value, m.get("minimum"), m.get("maximum"), m.get("min_inclusive", True), m.get("max_inclusive", True))
    if m.get("choices") is not None:
        return check_choice(f.name, value, m["choices"])
    return value


def _allowed(f: dataclasses.Field, kind: Any) -> str:
    """What an option allows, in words (for the help)."""
    m = f.metadata
    if m.get("choices") is not None:
        return "|".join(m["choices"])
    args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
    base = args[0].__name__ if isinstance(args[0], type) else str(args[0])
    if m.get("minimum") is not None or m.get("maximum") is not None:
        lo = "-inf" if m.get("minimum") is None else m["minimum"]
        hi = "inf" if m.get("maximum") is None else m["maximum"]
        base += f" in {'[' if m.get('min_inclusive', True) else '('}{lo}, {hi}{']' if m.get('max_inclusive', True) else ')'}"
    return base + (" or None" if type(None) in typing.get_args(kind) else "")


class Strategy:
    """Base class.  Subclasses set ``name`` and ``description`` and implement :meth:`score`
    (or :meth:`select`).

    Class attributes:
        name: registry name (``altoolkit al --strategy NAME``).
        description: one line for ``altoolkit strategies``.
        dynamic_loss: train with DISAL's dynamic loss (λ > 0) by default.
        peeks_at_labels: the score uses the pool's TRUE labels (an oracle ablation, not a
            usable AL strategy).
        needs_previous_cycle_model: the score compares with the previous cycle's model (TOD);
            the loop then keeps that model (and saves it beside the record, for resuming).
        Options: the :class:`StrategyOptions` dataclass that declares the strategy's keyword
            options (``None``: none but ``batch``).  The constructor checks them into ``self.opts``
            (an instance of it), they read back as attributes (``strategy.largest``), and
            :meth:`options` records them; their help is appended to the class docstring.

    A strategy may also change training: :meth:`training_loss` returns an unsupervised term that
    the AL loop's trainer adds at every step on batches of the unlabeled pool (TOD's consistency
    loss); by default there is none and the loop trains exactly as for every other strategy.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dynamic_loss: ClassVar[bool] = False
    peeks_at_labels: ClassVar[bool] = False
    needs_previous_cycle_model: ClassVar[bool] = False
    Options: ClassVar[type[StrategyOptions] | None] = None

    def __init__(self, *, batch: Any = None, prefilter: Any = None, **options: Any):
        if batch is not None or prefilter is not None:
            self._set_batch(batch, prefilter)
        spec = type(self).Options
        if spec is None:
            if options:
                raise ValueError(f"strategy {self.name!r} takes no options {sorted(options)}; see help(altoolkit.strategies.get_strategy('{self.name}'))")
            return
        allowed = [f.name for f in dataclasses.fields(spec)]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(f"strategy {self.name!r} takes no option {', '.join(map(repr, unknown))}; its options: {', '.join(allowed)}")
        self.opts = spec(**options)

    if not TYPE_CHECKING:  # reads only; the strategies' own code reads self.opts (typed)

        def __getattr__(self, name: str) -> Any:
            opts = self.__dict__.get("opts")
            if opts is not None and name in {f.name for f in dataclasses.fields(opts)}:
                return getattr(opts, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__ and cls.Options is not None:  # help(cls) and its signature list the options
            lines = "".join(f"\n        {n} ({allowed}; default {default!r}): {doc}" for n, default, allowed, doc in describe_options(cls))
            cls.__doc__ = (cls.__doc__ or "").rstrip() + f"\n\n    Options (:class:`{cls.Options.__name__}`):{lines}\n"
            kw = inspect.Parameter.KEYWORD_ONLY
            cls.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [inspect.Parameter(f.name, kw, default=f.default) for f in dataclasses.fields(cls.Options)]
                + [inspect.Parameter("batch", kw, default=None), inspect.Parameter("prefilter", kw, default=None)]
            )
        if "__init__" in cls.__dict__:
            cls.__init__ = _accepting_batch(cls.__dict__["__init__"])
        if "options" in cls.__dict__:
            cls.options = _recording_batch(cls.__dict__["options"])

    @property
    def batch(self) -> str:
        """The batch rule (``"topk"`` unless set with ``batch=``)."""
        return getattr(self, "_batch", batch_rules.DEFAULT_BATCH)

    @property
    def prefilter(self) -> float | None:
        """β of the ``"topm"`` rule (its default when not given); ``None`` for the other rules."""
        if self.batch != "topm":
            return None
        given = self.__dict__.get("_prefilter")
        return batch_rules.DEFAULT_PREFILTER if given is None else given

    @property
    def last_selection(self) -> dict[str, Any]:
        """What the last :meth:`select_batch` measured besides the batch: ``{"topk_overlap": share
        of the batch in the score's own top-k}`` for a rule other than ``"topk"``, else ``{}``."""
        return dict(self.__dict__.get("_last_selection", {}))

    def _batch_options(self) -> dict[str, Any]:
        """``batch`` (and ``prefilter`` for ``"topm"``) as :meth:`options` records them."""
        if self.batch == batch_rules.DEFAULT_BATCH:
            return {}
        return {"batch": self.batch} if self.batch != "topm" else {"batch": self.batch, "prefilter": self.prefilter}

    @classmethod
    def takes_batch(cls) -> bool:
        """Whether the ``batch`` option applies: strategies with per-sample scores whose
        selection is the default one (set strategies such as Core-set and BADGE pick jointly)."""
        return cls.scores_per_sample() and cls.select is Strategy.select

    def _set_batch(self, batch: Any, prefilter: Any = None) -> None:
        if not type(self).takes_batch():
            given = "batch" if batch is not None else "prefilter"
            raise ValueError(
                f"strategy {self.name!r} selects its batch jointly and takes no option {given!r}; "
                "the option applies to per-sample strategies (see `altoolkit strategies`)"
            )
        rule = batch_rules.check_batch(batch_rules.DEFAULT_BATCH if batch is None else batch, self.name)
        self._prefilter = batch_rules.check_prefilter(prefilter, rule, self.name)
        self._batch = rule

    def training_loss(self) -> AuxiliaryLoss | None:
        """The unsupervised term this strategy's runs train with, or ``None`` (the default).

        The AL loop (:func:`altoolkit.engine.loop.train_cycle`) asks this before every training; only
        when it is not ``None`` does it pass the unlabeled pool (held-out validation samples
        excluded) to :func:`altoolkit.training.train.train_model` as ``unlabeled_x`` with
        ``auxiliary=`` this loss.  With ``None`` no unlabeled data reaches the trainer and its
        objective and RNG streams are unchanged.  A fresh object per call is fine: the trainer
        keeps each training's state in the :class:`~altoolkit.training.train.AuxiliaryRun` it begins."""
        return None

    def checkpoint_epochs(self, epochs: int) -> list[int]:
        """Epochs after which the trainer must keep a copy of the weights (TracIn replays them)."""
        return []

    def score(self, ctx: SelectionContext) -> torch.Tensor:
        """One score per pool sample (``len(ctx.unlabeled)``); larger = label first."""
        raise NotImplementedError(f"strategy {self.name!r} does not define per-sample scores")

    def select_from_scores(self, scores: torch.Tensor, budget: int) -> torch.Tensor:
        """How this strategy turns its own scores into a selection (default: the largest).

        Lets a caller that already has the scores (a comparison notebook) select without
        scoring twice.  Strategies that pick a set jointly (Core-set, BADGE) do not score."""
        return select_top(scores, budget, largest=True)

    def score_and_select(self, ctx: SelectionContext, budget: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(scores, positions)``: the same selection as :meth:`select`, keeping the per-sample
        scores when the strategy has them (``None`` for set-selection strategies)."""
        if type(self).select is Strategy.select and self.scores_per_sample():
            scores = checked_scores(self.score(ctx), len(ctx.unlabeled), self.name)
            return scores, self.select_batch(ctx, scores, budget)
        return None, self.select(ctx, budget)

    def select(self, ctx: SelectionContext, budget: int) -> torch.Tensor:
        """Positions (into ``ctx.unlabeled``) of the ``budget`` samples to label next: the
        strategy's scores turned into a batch by its ``batch`` rule (:meth:`select_batch`)."""
        return self.select_batch(ctx, checked_scores(self.score(ctx), len(ctx.unlabeled), self.name), budget)

    def select_batch(self, ctx: SelectionContext, scores: torch.Tensor, budget: int, inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Turn ``scores`` into a batch with this strategy's ``batch`` rule.

        ``"topk"`` is :meth:`select_from_scores`.  ``"balanced"`` needs the pool's pseudo-labels
        (argmax of ``ctx.model``), ``"diverse"`` and ``"topm"`` its penultimate features
        (``ctx.model.embed``): one extra forward pass over the pool (:func:`batch_rule_inputs`;
        ``inputs`` passes them precomputed).  All rank the pool with the strategy's own
        :meth:`select_from_scores` (see :mod:`altoolkit.strategies.batch_rules`).  Every rule but
        ``"topk"`` leaves the share of its batch in ``order[:budget]`` (the score's own top-k) in
        :attr:`last_selection`."""
        rule = self.batch
        self._last_selection: dict[str, Any] = {}
        if rule == "topk":
            return self.select_from_scores(scores, budget)
        n = int(scores.shape[0])
        select_top(scores, budget)  # validates the budget and rejects NaN scores
        order = self.select_from_scores(scores, n)
        given = batch_rule_inputs(ctx, rule) if inputs is None else inputs
        chosen = batch_rules.apply_rule(rule, order, budget, ctx.seed, ctx.dataset.num_classes, self.prefilter, **given)
        self._last_selection = {"topk_overlap": batch_rules.topk_overlap(chosen, order, budget)}
        return chosen

    @classmethod
    def scores_per_sample(cls) -> bool:
        """Whether the strategy defines :meth:`score` (False for set-selection strategies)."""
        return cls.score is not Strategy.score

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (recorded in results): those of :attr:`Options`
        (each ``recorded="changed"`` one only when not at its default), then ``batch`` when it is not
        the default ``"topk"`` (and, for ``"topm"``, ``prefilter``, its default resolved)."""
        out: dict[str, Any] = {}
        opts = self.__dict__.get("opts")
        if opts is not None:
            for f in dataclasses.fields(opts):
                value = getattr(opts, f.name)
                if f.metadata.get("recorded", "always") == "always" or value != f.default:
                    out[f.name] = value
        out.update(self._batch_options())
        return out

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def batch_rule_inputs(ctx: SelectionContext, rule: str = "all") -> dict[str, torch.Tensor]:
    """What a batch ``rule`` reads besides the ranking, one forward pass over the pool each:
    ``pseudo_labels`` (argmax of ``ctx.model``, for ``"balanced"``) and ``features``
    (``ctx.model.embed``, for ``"diverse"`` and ``"topm"``); ``rule="all"`` gives both (a caller that
    applies several rules to one model computes them once)."""
    out: dict[str, torch.Tensor] = {}
    if rule in ("balanced", "all"):
        out["pseudo_labels"] = predict_logits(ctx.model, ctx.pool_x, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress).argmax(1)
    if rule in ("diverse", "topm", "all"):
        out["features"] = predict_logits(ctx.model, ctx.pool_x, ctx.dataset.to_input, ctx.batch_size, ctx.device, ctx.progress, embed=True)
    return out


STRATEGIES: dict[str, type[Strategy]] = {}

#: The strategies of each task, by name: ``"classification"`` is :data:`STRATEGIES`; a task's
#: module adds its own table (:mod:`altoolkit.strategies.segmentation`), where a name may stand
#: for another class than in classification (``disal`` reduces per-pixel KLs per image there).
TASK_STRATEGIES: dict[str, dict[str, type[Strategy]]] = {"classification": STRATEGIES}


def _task_table(task: str) -> dict[str, type[Strategy]]:
    return TASK_STRATEGIES[check_choice("task", task, TASK_STRATEGIES)]


def register_strategy(cls: type[Strategy] | None = None, *, task: str = "classification") -> Any:
    """Class decorator that adds a strategy to ``task``'s registry under ``cls.name``
    (``@register_strategy`` for classification, ``@register_strategy(task="segmentation")``);
    called as ``register_strategy(cls, task=...)`` it also adds a class another task already has."""

    def add(c: type[Strategy]) -> type[Strategy]:
        check_strategy_class(c, Strategy)  # a Strategy subclass with a name and score(ctx) or select(ctx, budget)
        table = TASK_STRATEGIES.setdefault(task, {})
        if c.name in table and table[c.name] is not c:
            raise ValueError(f"a {task} strategy named {c.name!r} is already registered")
        table[c.name] = c
        return c

    return add if cls is None else add(cls)


def strategy_names(task: str = "classification") -> list[str]:
    """Registered strategy names of ``task``, in registration order.

    Examples:
        >>> import altoolkit as alt
        >>> {"disal", "random", "entropy"} <= set(alt.strategy_names())
        True
    """
    return list(_task_table(task))


def get_strategy(name: str, *, task: str = "classification", **options: Any) -> Strategy:
    """Instantiate ``task``'s strategy ``name`` with ``options``; unknown names list the allowed ones.

    Examples:
        >>> import altoolkit as alt
        >>> s = alt.get_strategy("disal")
        >>> s.name, s.dynamic_loss
        ('disal', True)
    """
    table = _task_table(task)
    if name not in table:
        where = "" if task == "classification" else f" (task {task!r})"
        raise ValueError(f"strategy must be one of {', '.join(table)}{where}; got {name!r}")
    return table[name](**options)


def describe_strategies(task: str = "classification") -> list[tuple[str, str]]:
    """``(name, one-line description)`` for every registered strategy of ``task``.

    Examples:
        >>> import altoolkit as alt
        >>> "disal" in dict(alt.describe_strategies())
        True
    """
    return [(n, c.description) for n, c in _task_table(task).items()]


def describe_options(strategy: str | type[Strategy]) -> list[tuple[str, Any, str, str]]:
    """``(option, default, allowed values, doc)`` for every option of a strategy (a name or class),
    from its :attr:`Strategy.Options`; ``[]`` for a strategy without options (``batch`` aside).

    Examples:
        >>> from altoolkit.strategies import describe_options
        >>> describe_options("disal")[0][:3]
        ('largest', True, 'bool')
    """
    cls = STRATEGIES[check_choice("strategy", strategy, STRATEGIES)] if isinstance(strategy, str) else strategy
    spec = cls.Options
    if spec is None:
        return []
    types = typing.get_type_hints(spec)
    return [(f.name, f.default, _allowed(f, types[f.name]), f.metadata.get("doc", "")) for f in dataclasses.fields(spec)]


def strategies_taking_batch() -> list[str]:
    """Names of the registered strategies that take the ``batch`` option."""
    return [n for n, c in STRATEGIES.items() if c.takes_batch()]


def _accepting_batch(init):
    """Wrap a subclass ``__init__`` so that it accepts ``batch=`` and ``prefilter=`` (validated, stored once)."""

    @functools.wraps(init)
    def __init__(self, *args: Any, batch: Any = None, prefilter: Any = None, **kwargs: Any) -> None:
        if batch is not None or prefilter is not None:
            self._set_batch(batch, prefilter)
        init(self, *args, **kwargs)

    return __init__


def _recording_batch(options):
    """Wrap a subclass ``options`` so that a non-default ``batch`` (and its ``prefilter``) is recorded with the others."""

    @functools.wraps(options)
    def wrapped(self) -> dict[str, Any]:
        out = dict(options(self))
        out.update(self._batch_options())
        return out

    return wrapped
