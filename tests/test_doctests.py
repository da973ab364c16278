"""Every top-level name (``alt.__all__``) carries an Examples section that runs (issue 13 item 7),
and the examples of the open-engine modules run too."""

import doctest
import inspect

import pytest

import altoolkit as alt
from altoolkit.data import DATASET_REGISTRY
from altoolkit.training.models import MODEL_REGISTRY

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# names that are not functions or classes (no docstring of their own): where their example is
EXAMPLE_OF = {"DATASETS": "dataset_names"}


def _run(obj, name: str, module) -> tuple[int, int]:
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, name, module=module) if t.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t)
    return sum(len(t.examples) for t in tests), runner.failures


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield
    for reg in (MODEL_REGISTRY, DATASET_REGISTRY):
        for name in list(reg._user):
            reg.unregister(name)


@pytest.mark.parametrize("name", alt.__all__)
def test_top_level_name_has_a_running_example(name):
    module = __import__(f"altoolkit.{alt._ATTRS[name]}", fromlist=["_"])
    obj = getattr(module, EXAMPLE_OF.get(name, name))
    assert inspect.isclass(obj) or callable(obj), name
    examples, failures = _run(obj, name, module)
    assert examples > 0, f"alt.{name} has no Examples in its docstring"
    assert failures == 0, f"the Examples of alt.{name} fail (see the output above)"
    if name in EXAMPLE_OF:
        assert name in (obj.__doc__ or ""), f"the example of {name} is expected in {EXAMPLE_OF[name]}"


@pytest.mark.parametrize("modname", ["util.plugins", "util.seeds", "util.modules", "util.lazy", "training.fresh_model", "analysis.results"])
def test_open_engine_module_examples_run(modname):
    module = __import__(f"altoolkit.{modname}", fromlist=["_"])
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("fname", ["model_names", "check_model", "penultimate_features"])
def test_model_helpers_examples_run(fname):
    examples, failures = _run(getattr(alt.training.models, fname), fname, alt.training.models)
    assert examples > 0 and failures == 0
