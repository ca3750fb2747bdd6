# lmc-book: `make book` builds the executed book, `make test` runs the test suite.
# Both run `setup` first (idempotent), so nothing else is needed on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
JOBS ?= 2
# make book EXECUTOR=ray [RAY_ADDRESS=host:6379]: train the planned models as Ray tasks first
EXECUTOR ?= local
RAY_ADDRESS ?=
# make book SEED=1000: every seed shifted by 1000 (a variant run: _build/variants/, the book untouched)
SEED ?= 0
# make book FRESH=1: execute every chapter, also those whose inputs did not change since their last
# good run (by default such a chapter's notebook is kept: lmc_lib/build/reuse.py)
FRESH ?= 0
STAMP := $(VENV)/.lmc-installed
LAB_STAMP := $(VENV)/.lmc-lab-installed

.PHONY: setup data book render notebooks chapter need-ch new-chapter test bench clean browser lab lab-install

setup: $(STAMP) data

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,ray]'
	@touch $@

data: $(STAMP)
	$(PY) -m lmc_lib.core.data fetch

book: setup
	@start=$$(date +%s); \
	$(PY) -m lmc_lib.build.bookbuild all --profile $(PROFILE) --jobs $(JOBS) \
	  --executor $(EXECUTOR) $(if $(and $(filter ray,$(EXECUTOR)),$(RAY_ADDRESS)),--address $(RAY_ADDRESS)) \
	  $(if $(filter-out 0,$(SEED)),-p seed $(SEED)) $(if $(filter-out 0,$(FRESH)),--fresh) || exit 1; \
	echo "make book took $$(( $$(date +%s) - start )) s (profile $(PROFILE))"

notebooks: setup
	$(PY) -m lmc_lib.build.bookbuild notebooks

# make chapter CH=02                     -> _build/executed/<chapter>.ipynb (what the book renders)
# make chapter CH=02 ARGS="-p width 2"  -> _build/variants/02_width-width=2/ (notebook, verdicts, log)
# a failed run goes to failed/ beside it; every -p (profile too) makes a variant, while PROFILE=X
# builds the book's own outputs at profile X
chapter: need-ch setup
	$(PY) -m lmc_lib.build.bookbuild execute $(if $(filter-out file,$(origin PROFILE)),--profile $(PROFILE)) --chapters $(CH) $(ARGS)

# make chapter without CH: say what to give instead of running anything
need-ch:
	@if [ -z "$(strip $(CH))" ]; then \
	  echo "make chapter needs CH=NN, the chapter's number: e.g. make chapter CH=02 (chapters: $(sort $(patsubst book/%.py,%,$(wildcard book/[0-9][0-9]_*.py))))."; \
	  echo "make book runs every chapter."; exit 2; fi

# make render: the HTML book from the executed notebooks as they are (no execution)
render: setup
	$(PY) -m lmc_lib.build.bookbuild render

# make new-chapter NAME=my_hypothesis -> book/NN_my_hypothesis.py (next free NN; see book/guide.md)
new-chapter: $(STAMP)
	$(PY) -m lmc_lib.build.newchapter "$(NAME)"

# make lab: JupyterLab on the repository, the lab extra installed on first use (make setup never
# installs it). book/NN_topic.py opens as a notebook through Jupytext and saves back to the .py
# alone (no outputs, no .ipynb beside it): book/jupytext.toml, jupyter_config/. LAB_ARGS="--port 9000"
# The server stops with make: Ctrl-C, SIGTERM or SIGHUP to make, or make's death (lmc_lib/build/lab.py)
lab: setup lab-install
	@echo "JupyterLab on $(CURDIR): open the http://127.0.0.1:...?token=... URL printed below; Ctrl-C stops it"
	exec $(PY) -m lmc_lib.build.lab "$(CURDIR)" $(VENV)/bin/jupyter $(LAB_ARGS)

lab-install: $(LAB_STAMP)

$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,ray,lab]'
	@touch $@

# tests/test_browser.py opens the smoke book in headless Chromium: install it when missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium missing: install it (apt-get install chromium) or test_browser fails"; fi; }

# the linter first (rules in pyproject.toml), then the tests (tests/test_lab.py needs the lab extra)
test: setup browser lab-install
	$(PY) -m ruff check .
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: setup
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/merge_speed.py
	$(PY) benchmarks/warm_assignment.py
	$(PY) benchmarks/sparse_assignment.py --widths 2 4 --wide 0

clean:
	rm -rf _build _static/mathjax book/*.ipynb
