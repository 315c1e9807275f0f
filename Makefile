# productqa: two commands on a fresh machine.
#   make demo   set up .venv, then run the whole pipeline on the bundled sample and base model
#   make test   set up .venv with the test extras, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export UNSLOTH_SKIP_TORCHVISION_CHECK := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-test demo test test-fast bench clean

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

demo: setup
	$(PY) scripts/01_prepare.py
	$(PY) scripts/02_train.py
	$(PY) scripts/03_evaluate.py --per-suite 5 --max-new-tokens 128
	$(PY) scripts/04_export.py --quant q8_0,q4_k_m --gate-samples 6
	@echo; echo "--- a product of the held-out test split: the answer reproduces its record, cites it and stops"
	$(PY) scripts/05_chat.py -p 'Tell me about "The Backyard Chicken Handbook"' --temperature 0 --max-tokens 200 --stats --json
	@echo; echo "--- a conversation: two factual follow-ups (one the record answers, one it does not), a partial title, a did-you-mean and a pick, a product the catalog lacks"
	printf '%s\n' 'Tell me about "The Backyard Chicken Handbook"' 'How many recipes does it have?' 'How much does it cost?' 'Tell me about Hidden Archive' \
		'Tell me about Coffee' 2 'Tell me about The Velvet Submarine Cookbook' | \
		$(PY) scripts/05_chat.py --temperature 0 --max-tokens 200

test: setup-test
	$(PY) -m pytest

test-fast: setup-test
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) bench/prepare_bench.py
	$(PY) bench/train_bench.py
	$(PY) bench/chat_bench.py

clean:
	rm -rf data/processed runs export/*/ export/latest bench/out/chat_bench.json
