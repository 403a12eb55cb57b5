# pqk-mcu: `make demo` runs the pipeline end to end, `make test` runs the test suite.
# Both install what they need (Debian packages, a pinned .venv) and are quick once set up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-installed

.PHONY: setup test demo fuzz bench experiment clean

setup: $(SYSTEM_STAMP) $(STAMP)

$(SYSTEM_STAMP): tools/setup-system.sh
	bash tools/setup-system.sh
	@mkdir -p $(VENV) && touch $@

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

test: setup
	$(PY) -m pytest -n 2 -q tests

demo: setup
	$(PY) -m pqk_mcu.pipeline.demo

fuzz: setup
	$(PY) -m pytest -q tests -m fuzz --hypothesis-profile fuzz

bench: setup
	$(PY) benchmarks/perf/run.py

# The KWS grid trains on corpus v2 (espeak-ng, flite and festival: 16 voices x 100 variants), synthesized
# when missing (the demo keeps its espeak-ng corpus in build/demo/corpus).
KWS_CORPUS := build/kws_corpus_v2
KWS_VARIANTS := 100
# PQK design choices, each varied alone at sparsity 0.8 (phase 2 only: they continue the phase-1 run).
# The grid trains with TensorFlow's standard mix (--augment standard), the protocol of the PQK paper; the
# synthetic-voice chain (the demo's default) takes capacity a pruned model lacks (see README, Results).
# Width 1 is the MLPerf Tiny DS-CNN (64 channels); width 2 (128 channels) shows pruning a wider network.
KWS_ABLATIONS := kd_weight=0 tau=4 teacher_bn=shared teacher_precision=int8 student_lr_scale=0.1
experiment: setup
	$(PY) -m pqk_mcu.cli data synth-kws --out $(KWS_CORPUS) --variants $(KWS_VARIANTS) --reuse
	$(PY) -m pqk_mcu.cli experiment --task kws --data $(KWS_CORPUS) --epochs 8,4 --augment standard --widths 1,2 --jobs 2 \
	  --out benchmarks/kws \
	  $(foreach a,$(KWS_ABLATIONS),--ablation $(a))
	$(PY) -m pqk_mcu.cli experiment --task mnist --jobs 2 --out benchmarks/mnist

clean:
	rm -rf build .pytest_cache
