# altoolkit: the two commands of the README, plus helpers.
#   make reproduce   execute every notebook with papermill on the embedded digits data -> figures/
#   make test        unit tests + every notebook executed with small parameters, on every core
#   make check       the inner loop: lint, format check, types, fast unit tests (no notebooks,
#                    browser or subprocess runs), well under 90 seconds on 2 cores
# Both create .venv and install what they need on first use (torch/torchvision pinned in constraints.txt).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.altoolkit-installed
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
# TORCH_INDEX: a package index for torch and torchvision only, e.g. PyTorch's CPU-only builds:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu   (on a fresh clone, before .venv exists)
# Empty (the default, what CI runs): torch and torchvision come from PyPI like everything else.
TORCH_INDEX ?=

# pytest-xdist workers for `make test` and `make check`: one per core (each computes with one
# thread, see tests/conftest.py); PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto

.PHONY: install reproduce test check bench lab help course book real results-real

help:
	@echo "make reproduce   run all notebooks (quick profile) and write figures/"
	@echo "make test        run the test suite (unit tests + notebooks with small parameters)"
	@echo "make check       lint, format check, types and the fast unit tests (the inner loop)"
	@echo "make bench       speed/memory ratios -> benchmarks/results.json"
	@echo "make lab         start JupyterLab on the notebooks (EDITION=student: on their student versions)"
	@echo "make course      nbgrader student versions + release folder -> runs/course (offline)"
	@echo "make book        offline site, student and instructor editions, slides of every notebook -> runs/book"
	@echo "make real        the real profile on REAL_DATASET (original files under REAL_ROOT), then figures/RESULTS-real.md"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	$(BIN)/python -c "import torch, torchvision; from torchvision.ops import nms; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/altoolkit reproduce --profile quick

test: $(STAMP)
	bash tools/install_browser.sh $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q -m "not slow"

# The real profile (README, "Real images at CPU scale"): notebooks 06 and 09 on one real dataset whose
# original files are under REAL_ROOT (nothing is downloaded), records cached in results/real
# (resumable, committed), then figures/RESULTS-real.md from every record there.
REAL_DATASET ?= fashion_mnist
REAL_ROOT ?= data
real: $(STAMP)
	$(BIN)/altoolkit reproduce --profile real --dataset "$(REAL_DATASET)" --root "$(REAL_ROOT)" --only 06 09 \
		--results-dir results/real --output-dir "runs/real/$(REAL_DATASET)" --figures-dir "figures/real/$(REAL_DATASET)"
	$(MAKE) results-real

results-real: $(STAMP)
	$(BIN)/altoolkit summarize results/real --out figures/RESULTS-real.md --root "$(REAL_ROOT)" --expect fashion_mnist --expect cifar10 \
		--title "altoolkit results: real images (the real profile)" \
		--note "Reproduce, given the original files under a folder DATA: \`make real REAL_DATASET=fashion_mnist REAL_ROOT=DATA\` (and \`REAL_DATASET=cifar10\`); this file alone, from the committed records: \`make results-real REAL_ROOT=DATA\`. One record per run in results/real (cached by a hash of its settings, resumable)."

bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py

# --allow-root only when running as root (JupyterLab refuses root without it; others must not pass it)
# EDITION=student: the notebooks as nbgrader releases them (solutions and hidden tests removed), written
# to student-notebooks/ beside notebooks/, so that their relative paths (../runs/...) lead to the same folders
EDITION ?= instructor
lab: $(STAMP)
	@case "$(EDITION)" in instructor|student) ;; *) echo "EDITION must be instructor or student, got $(EDITION)"; exit 2;; esac
	$(if $(filter student,$(EDITION)),$(BIN)/python -m altoolkit.teaching.course --student-copies student-notebooks)
	$(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(if $(filter student,$(EDITION)),student-notebooks/,notebooks/)


# nbgrader course folder: source/ (instructor), release/ (student versions), gradebook.db; offline.
# The autograder gives every submission the quick profile's parameters and one record cache
# (runs/course/records, absolute), so AL runs are computed by the first submission only.
course: $(STAMP)
	$(BIN)/python -m altoolkit.teaching.course --out runs/course --profile quick

# offline site (local MathJax and reveal.js) of the quick profile's executed notebooks, in two editions:
# runs/book/student (hand this out) and runs/book/instructor (with solutions); slides of every notebook.
# Runs the notebooks first when runs/quick is missing (figures then go to runs/quick/figures, not the
# tracked figures/). The outline's times come from course/RUNTIMES.md, as the notebook headers' do.
book: $(STAMP)
	test -f runs/quick/RUNTIMES.md || $(BIN)/altoolkit reproduce --profile quick --output-dir runs/quick --figures-dir runs/quick/figures
	$(BIN)/python -m altoolkit.teaching.book --executed runs/quick --out runs/book --runtimes course/RUNTIMES.md
