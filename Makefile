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
# when missing (the demo keeps its espeak-ng corpus in build/demo/corpus), with the synthetic-voice chain
# (--augment voices: float lands at 95-97%, below corpus v1's ceiling) and reports the clean and the noisy
# (0-20 dB SNR) test splits. Width 1 is the MLPerf Tiny DS-CNN (64 channels). Training seeds: KWS_SEEDS
# (each a full grid; results.md gives mean ± std). Rerunning resumes and reuses finished runs, so more seeds
# or sparsities can be added here and only the new runs train; KWS_ABLATIONS are extra PQK runs at the middle
# sparsity with one phase-2 option changed. The corpus-v1 grid (espeak-ng's 8 voices,
# --augment standard, widths 1 and 2, with ablations) is kept as a record in benchmarks/kws.
KWS_CORPUS := build/kws_corpus_v2
KWS_VARIANTS := 100
KWS_SEEDS := 0,1,2
KWS_SPARSITIES := 0.5,0.8,0.9
KWS_ABLATIONS := --ablation tau=4 --ablation warmup_fraction=0.5
experiment: setup
	$(PY) -m pqk_mcu.cli data synth-kws --out $(KWS_CORPUS) --variants $(KWS_VARIANTS) --reuse
	$(PY) -m pqk_mcu.cli experiment --task kws --data $(KWS_CORPUS) --epochs 4,2 --augment voices --widths 1 \
	  --sparsities $(KWS_SPARSITIES) $(KWS_ABLATIONS) --seeds $(KWS_SEEDS) --jobs 2 --out benchmarks/kws_v2
	$(PY) -m pqk_mcu.cli experiment --task mnist --jobs 2 --out benchmarks/mnist

clean:
	rm -rf build .pytest_cache
