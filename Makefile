# activity-host: `make run` builds everything and runs the demo; `make test`
# builds everything and runs every test. Both install what they need.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip2
PLUGIN_OUT   := target/$(WASM_TARGET)/plugin
HOST         := target/release/host
EXAMPLES     := say_hello my_activity your_activity dynamic_greeting
TEST_PLUGINS := target/test-plugins
VENV         := .venv
PYTHON       := $(VENV)/bin/python
RAW_VARIANTS := trap-definitions empty-name duplicate-names two-dynamic no-definitions many-names

.PHONY: all run test build plugins test-plugins wasm-target venv clean

all: build plugins

## The host binary (release: the tests use the same profile, so wasmtime is built once).
build:
	$(CARGO) build --release -p host

## rustup's wasm32-wasip2 target, installed when missing.
wasm-target:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

## The example plugins, into plugins/*.wasm.
plugins: wasm-target
	$(CARGO) build --profile plugin --target $(WASM_TARGET) $(addprefix -p ,$(EXAMPLES))
	@for p in $(EXAMPLES); do cp $(PLUGIN_OUT)/$$p.wasm plugins/$$p.wasm; done
	@echo "built $(addprefix plugins/,$(addsuffix .wasm,$(EXAMPLES)))"

## Plugins that misbehave on purpose, into target/test-plugins/.
test-plugins: wasm-target
	$(CARGO) build --profile plugin --target $(WASM_TARGET) -p misbehave -p raw -p not_a_plugin
	@mkdir -p $(TEST_PLUGINS)
	@cp $(PLUGIN_OUT)/misbehave.wasm $(PLUGIN_OUT)/raw.wasm $(PLUGIN_OUT)/not_a_plugin.wasm $(TEST_PLUGINS)/
	@for f in $(RAW_VARIANTS); do \
		$(CARGO) build --quiet --profile plugin --target $(WASM_TARGET) -p raw --features $$f || exit 1; \
		cp $(PLUGIN_OUT)/raw.wasm $(TEST_PLUGINS)/raw-$$f.wasm; \
	done
	@echo "built $(TEST_PLUGINS)/"

## A Python environment with the Temporal CLI (dev server) and the Python SDK.
venv: $(VENV)/.installed
$(VENV)/.installed: tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
	@touch $@

## The README's demo: the Temporal docs' workflows against a local dev server,
## their activities served by `host run` from plugins/.
run: build plugins venv
	$(PYTHON) demo/run.py

## Unit and integration tests, against freshly built plugins.
## (Two cargo runs: the SDK's dev-dependencies must not change the features,
## and so the build, of the host's dependencies.)
test: plugins test-plugins venv
	$(CARGO) test --release -p host
	$(CARGO) test --release -p activity -p activity-macros
	$(PYTHON) -m pytest tests/e2e

clean:
	$(CARGO) clean
	rm -rf plugins/*.wasm $(VENV)
