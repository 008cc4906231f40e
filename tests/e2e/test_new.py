"""`host new`: a project in each language that builds, with the commands it
prints, into a plugin the host accepts and runs, and whose own test passes.

The commands are taken from `host new`'s output, so a step it tells the
author that does not work fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import harness

HOST = str(harness.HOST_BIN)
# What each language's example activity is called, as its conventions name it.
ACTIVITY = {"rust": "compose_greeting", "python": "compose_greeting", "js": "composeGreeting", "ts": "composeGreeting"}
INPUT = json.dumps({"greeting": "Hello", "name": "World"})


def host(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HOST, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def create(language: str, name: str, parent: Path) -> tuple[Path, list[str]]:
    """Runs `host new` and returns the project and the commands it printed."""
    result = host("new", language, name, cwd=parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line.strip() for line in lines[lines.index("build, test and check it:") + 1 :] if line.strip()]
    assert steps[0] == f"cd {name}", steps
    return parent / name, steps[1:]


def run_steps(project: Path, steps: list[str]) -> None:
    for step in steps:
        result = subprocess.run(step, shell=True, cwd=project, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"`{step}` failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("language", ["rust", "python", "js", "ts"])
def test_a_new_project_builds_into_a_plugin_the_host_serves(language, tmp_path):
    project, steps = create(language, "orders-v2", tmp_path)
    assert (project / "orders-v2.toml").is_file()
    run_steps(project, steps)

    checked = host("check", str(project / "orders-v2.wasm"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok: {ACTIVITY[language]}" in checked.stdout
    # The commented manifest beside it parses and grants nothing.
    assert "grants: none" in checked.stdout

    called = host("call", "--plugins", str(project), ACTIVITY[language], INPUT)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == "Hello, World!"
    # A project's own files (Cargo.toml) are no misnamed manifests.
    assert "manifest" not in called.stderr, called.stderr

    failed = host("call", "--plugins", str(project), ACTIVITY[language], json.dumps({"greeting": "Hello", "name": ""}))
    assert failed.returncode == 1
    assert "type: InvalidInput" in failed.stderr and "non-retryable: true" in failed.stderr, failed.stderr


def test_the_typescript_project_type_checks_against_the_sdk(tmp_path):
    project, _ = create("ts", "typed", tmp_path)
    tsc = harness.REPO / "guest-sdk" / "js" / "node_modules" / ".bin" / "tsc"
    result = subprocess.run([str(tsc), "-p", "."], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (project / "activities.ts").write_text((project / "activities.ts").read_text().replace("input.name)", "input.nam)"))
    result = subprocess.run([str(tsc), "-p", "."], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "nam" in result.stdout, result.stdout


def test_a_rust_plugin_without_export_is_told_what_is_missing(tmp_path):
    project, steps = create("rust", "forgot", tmp_path)
    lib = project / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("activity::export!(compose_greeting);", ""))
    run_steps(project, [s for s in steps if not s.startswith(("cargo test", HOST))])
    checked = host("check", str(project / "forgot.wasm"))
    assert checked.returncode == 1
    assert "it exports: nothing" in checked.stdout and "`activity::export!(...)` is missing" in checked.stdout, checked.stdout


def test_new_refuses_what_it_cannot_write_well(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = host("new", "python", "taken", cwd=tmp_path)
    assert result.returncode == 2 and "is not empty" in result.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["keep.txt"]

    result = host("new", "rust", "2fast", cwd=tmp_path)
    assert result.returncode == 2 and 'invalid plugin name "2fast"' in result.stderr
    assert not (tmp_path / "2fast").exists()

    result = host("new", "go", "x", cwd=tmp_path)
    assert result.returncode == 2 and "possible values: rust, python, js, ts" in result.stderr

    result = host("new", "rust", "x", "--sdk", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "not an activity-host checkout" in result.stderr

    # An explicit directory, created with its parents.
    result = host("new", "js", "deep", str(tmp_path / "a" / "b"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "b" / "activities.js").is_file() and (tmp_path / "a" / "b" / "deep.toml").is_file()
