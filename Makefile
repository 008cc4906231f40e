# activity-host: `make run` builds everything and runs the demo; `make test`
# builds everything and runs every test. Both install what they need.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip2
PLUGIN_OUT   := target/$(WASM_TARGET)/plugin
HOST         := target/release/host
EXAMPLES     := say_hello my_activity your_activity dynamic_greeting
PY_EXAMPLES  := $(patsubst %,plugins/python/%.wasm,$(EXAMPLES))
JS_EXAMPLES  := $(patsubst %,plugins/js/%.wasm,$(EXAMPLES))
PY_SDK       := guest-sdk/python/build.py $(wildcard guest-sdk/python/temporalio/*.py guest-sdk/python/activity_host/*.py) $(wildcard wit/*.wit)
JS_SDK       := guest-sdk/js/build.mjs $(wildcard guest-sdk/js/src/*.ts) $(wildcard wit/*.wit)
JS_DEPS      := guest-sdk/js/node_modules/.installed
TEST_PLUGINS := target/test-plugins
VENV         := .venv
PYTHON       := $(VENV)/bin/python
RAW_VARIANTS := trap-definitions empty-name duplicate-names two-dynamic no-definitions many-names

.PHONY: postgres prometheus all run test build plugins rust-plugins python-plugins js-plugins plugin-py plugin-js \
	test-plugins rust-test-plugins wasm-target venv js-deps bench bench-deps mutants clean

all: build plugins

## The host binary (release: the tests use the same profile, so wasmtime is built once).
build:
	$(CARGO) build --release -p host

## rustup's wasm32-wasip2 target, installed when missing.
wasm-target:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

## The example plugins: Rust into plugins/*.wasm, Python into plugins/python/,
## JavaScript/TypeScript into plugins/js/.
plugins: rust-plugins python-plugins js-plugins

rust-plugins: wasm-target
	$(CARGO) build --profile plugin --target $(WASM_TARGET) $(addprefix -p ,$(EXAMPLES))
	@for p in $(EXAMPLES); do cp $(PLUGIN_OUT)/$$p.wasm plugins/$$p.wasm; done
	@echo "built $(addprefix plugins/,$(addsuffix .wasm,$(EXAMPLES)))"

python-plugins: $(PY_EXAMPLES)
js-plugins: $(JS_EXAMPLES)

plugins/python/%.wasm: plugins/python/%.py $(PY_SDK) | venv
	$(PYTHON) guest-sdk/python/build.py $< -o $@

plugins/js/%.wasm: plugins/js/%.js $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

plugins/js/%.wasm: plugins/js/%.ts $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

## One Python activity module into a plugin: make plugin-py SRC=activities.py OUT=plugins/name.wasm
## [REQUIREMENTS=requirements.txt] (pure-Python packages, bundled from pinned versions)
plugin-py: venv
	@test -n "$(SRC)" -a -n "$(OUT)" || { echo "usage: make plugin-py SRC=path/to/activities.py OUT=path/to/name.wasm [REQUIREMENTS=requirements.txt]"; exit 2; }
	$(PYTHON) guest-sdk/python/build.py $(SRC) -o $(OUT) $(if $(REQUIREMENTS),--requirements $(REQUIREMENTS))

## One JavaScript/TypeScript module into a plugin: make plugin-js SRC=activities.ts OUT=plugins/name.wasm
plugin-js: $(JS_DEPS)
	@test -n "$(SRC)" -a -n "$(OUT)" || { echo "usage: make plugin-js SRC=path/to/activities.ts OUT=path/to/name.wasm"; exit 2; }
	node guest-sdk/js/build.mjs $(SRC) $(OUT)

## componentize-js and esbuild, pinned by guest-sdk/js/package-lock.json. (`npm
## install`, not `npm ci`: npm 11's `ci` refuses lockfiles without other
## platforms' optional binaries, which npm itself writes.)
js-deps: $(JS_DEPS)
$(JS_DEPS): guest-sdk/js/package.json guest-sdk/js/package-lock.json
	cd guest-sdk/js && npm install --no-audit --no-fund --loglevel=error
	@touch $@

## Plugins that misbehave on purpose, and each language's outbound-HTTP
## plugin, into target/test-plugins/.
test-plugins: rust-test-plugins $(TEST_PLUGINS)/py_activities.wasm $(TEST_PLUGINS)/js_activities.wasm \
	$(TEST_PLUGINS)/py_http.wasm $(TEST_PLUGINS)/js_http.wasm $(TEST_PLUGINS)/py_pg.wasm $(TEST_PLUGINS)/js_pg.wasm \
	$(TEST_PLUGINS)/py_diff.wasm $(TEST_PLUGINS)/js_diff.wasm

## The differential test's activities (tests/e2e/test_differential.py); the
## Python module is also what the native worker serves.
$(TEST_PLUGINS)/py_diff.wasm: tests/plugins/python/diff_activities.py $(PY_SDK) | venv
	$(PYTHON) guest-sdk/python/build.py $< -o $@

$(TEST_PLUGINS)/js_diff.wasm: tests/plugins/js/diff_activities.ts $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

$(TEST_PLUGINS)/py_pg.wasm: tests/plugins/python/py_pg.py $(PY_SDK) | venv
	$(PYTHON) guest-sdk/python/build.py $< -o $@

$(TEST_PLUGINS)/js_pg.wasm: tests/plugins/js/js_pg.ts $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

$(TEST_PLUGINS)/py_http.wasm: tests/plugins/python/py_http.py tests/plugins/python/py_http.requirements.txt $(PY_SDK) | venv
	$(PYTHON) guest-sdk/python/build.py $< -o $@ --requirements tests/plugins/python/py_http.requirements.txt

$(TEST_PLUGINS)/js_http.wasm: tests/plugins/js/js_http.ts $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

$(TEST_PLUGINS)/py_activities.wasm: tests/plugins/python/py_activities.py $(PY_SDK) | venv
	$(PYTHON) guest-sdk/python/build.py $< -o $@

$(TEST_PLUGINS)/js_activities.wasm: tests/plugins/js/js_activities.ts $(JS_SDK) | $(JS_DEPS)
	node guest-sdk/js/build.mjs $< $@

rust-test-plugins: wasm-target
	$(CARGO) build --profile plugin --target $(WASM_TARGET) -p misbehave -p raw -p not_a_plugin -p http_rust -p pg_rust \
		-p encryption_codec -p diff_rust
	@mkdir -p $(TEST_PLUGINS)
	@cp $(PLUGIN_OUT)/misbehave.wasm $(PLUGIN_OUT)/raw.wasm $(PLUGIN_OUT)/not_a_plugin.wasm \
		$(PLUGIN_OUT)/http_rust.wasm $(PLUGIN_OUT)/pg_rust.wasm $(PLUGIN_OUT)/encryption_codec.wasm \
		$(PLUGIN_OUT)/diff_rust.wasm $(TEST_PLUGINS)/
	@for f in $(RAW_VARIANTS); do \
		$(CARGO) build --quiet --profile plugin --target $(WASM_TARGET) -p raw --features $$f || exit 1; \
		cp $(PLUGIN_OUT)/raw.wasm $(TEST_PLUGINS)/raw-$$f.wasm; \
	done
	@echo "built $(TEST_PLUGINS)/"

## PostgreSQL's server binaries from the system's packages, for the tests'
## own throw-away servers (tests/e2e/pgserver.py). The package's own cluster,
## which the install starts, is stopped again: the tests start what they use.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing PostgreSQL's server (apt-get install postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null && \
		{ service postgresql stop >/dev/null 2>&1 || true; }; }

## Prometheus from the system's packages, for the tests' own throw-away
## servers (tests/e2e/promserver.py). The package's own server (user
## prometheus, on :9090), which the install may start, is stopped and disabled
## again: the tests start what they use.
prometheus:
	@command -v prometheus >/dev/null 2>&1 || test -x /usr/bin/prometheus || { \
		echo "installing Prometheus (apt-get install prometheus)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
		{ if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; \
		  else service prometheus stop >/dev/null 2>&1 || true; update-rc.d prometheus disable >/dev/null 2>&1 || true; fi; \
		  pkill -x -u prometheus prometheus >/dev/null 2>&1 || true; }; }

## A Python environment with the Temporal CLI (dev server) and the Python SDK.
venv: $(VENV)/.installed
$(VENV)/.installed: tests/e2e/requirements.txt guest-sdk/python/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt -r guest-sdk/python/requirements.txt
	@touch $@

## The README's demo: the Temporal docs' workflows against a local dev server,
## their activities served by `host run` from plugins/.
run: build plugins venv
	$(PYTHON) demo/run.py

## Unit and integration tests, against freshly built plugins.
## (Two cargo runs: the SDK's dev-dependencies must not change the features,
## and so the build, of the host's dependencies.)
test: plugins test-plugins venv postgres prometheus
	$(CARGO) test --release -p host
	$(CARGO) test --release -p activity -p activity-macros
	node --test guest-sdk/js/test/
	$(PYTHON) -m pytest tests/e2e

## The benchmark suite: every figure of docs/benchmarks.md, measured side by
## side with a native function, naive wasmtime, Extism and the Python SDK, into
## target/bench/results.json, docs/benchmarks.md and docs/benchmarks.svg.
bench: build plugins test-plugins bench-deps
	$(CARGO) build --release -p bench
	$(PYTHON) bench/run.py

## The Extism contender (wasm32-unknown-unknown) and matplotlib for the chart.
bench-deps: venv
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	$(CARGO) build --profile plugin --target wasm32-unknown-unknown -p extism_say_hello
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt

## Mutation testing (not part of `make test`: it takes hours): every mutant of
## host/src and guest-sdk/rust/src against the Rust suites, reported in
## docs/mutants.md with the reason beside each one they miss
## (tests/mutants/explained.toml). Narrow it while working on a change:
##   make mutants MUTANTS_ARGS="--file host/src/sandbox.rs"  (or "--in-diff CHANGE.diff")
MUTANTS_VERSION := 27.1.0
TOOLS           := target/tools
MUTANTS_BIN     := $(TOOLS)/bin/cargo-mutants
MUTANTS_ARGS    ?= --file 'host/src/**/*.rs' --file 'guest-sdk/rust/src/**/*.rs'

mutants: $(MUTANTS_BIN) plugins test-plugins venv
	@ACTIVITY_HOST_BUILT=$(CURDIR) CARGO_TARGET_DIR=$(CURDIR)/target/mutants-build \
	  $(MUTANTS_BIN) mutants --output target/mutants $(MUTANTS_ARGS); \
	  status=$$?; case $$status in 0|2|3) ;; *) echo "cargo-mutants failed ($$status)"; exit $$status;; esac
	$(PYTHON) tests/mutants/report.py target/mutants/mutants.out docs/mutants.md --args "$(MUTANTS_ARGS)"

$(MUTANTS_BIN):
	$(CARGO) install --locked --quiet --root $(TOOLS) --version $(MUTANTS_VERSION) cargo-mutants

clean:
	$(CARGO) clean
	rm -rf plugins/*.wasm plugins/*/*.wasm $(VENV) guest-sdk/js/node_modules
