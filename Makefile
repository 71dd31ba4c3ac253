# xiaoer — the two commands a new user needs are `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test serve lint llm-test bench-turn clean

demo: install            ## set up (first run) and chat with a demo shop
	$(BIN)/xiaoer demo

test: install-test       ## the full test suite, including one real turn on the embedded model
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

install:
	scripts/bootstrap.sh run

install-test:
	scripts/bootstrap.sh test

serve: install
	$(BIN)/xiaoer serve

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache
