#!/usr/bin/env python3
"""Builds a Python activity module into an activity-host plugin.

    python guest-sdk/python/build.py path/to/activities.py -o path/to/name.wasm [--requirements requirements.txt]

(`make plugin-py SRC=... OUT=... [REQUIREMENTS=...]` runs this with the
project's environment.)

Every `@activity.defn` function defined in the module is exported. The
module is imported once, at build time (componentize-py snapshots the
interpreter after the import), so a broken rule fails the build with the
Python SDK's message, and everything an activity needs at run time must be
imported at the top of the module. Modules and packages beside it are
bundled too, so it can import its own helpers.

Third-party packages come from `--requirements` (pinned, pure-Python
wheels), installed once per requirements file under target/py-deps/ with
this Python's pip. Nothing else is bundled: not the site-packages of the
Python that runs this script, nor of any other.

The plugin targets the `plugin-http` world (wit/plugin-http.wit): the plugin
world plus wasi:http, so that `activity_host.http` (installed before the
module is imported) can carry urllib, http.client, httpx and requests. The
plugin world's PostgreSQL interface is there for `activity_host.postgres`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WIT = ROOT / "wit"
WORLD = "plugin-http"
# Module names of the imported interfaces: two packages name one `types`;
# activity_host.postgres imports `wit_world.imports.postgres` by this name.
INTERFACE_NAMES = {
    "activity-host:plugin/types@0.1.0": "types",
    "wasi:http/types@0.2.12": "http_types",
    "activity-host:plugin/postgres@0.1.0": "postgres",
}
# The CPython inside componentize-py 0.25.1 (requirements.txt): what the
# bundled wheels must support.
GUEST_PYTHON = "3.14"
DEPS_CACHE = ROOT / "target" / "py-deps"
APP = "activity_host_app"
SKIP = {"__pycache__", "node_modules", "target", "venv", ".venv"}

APP_SOURCE = """\
import importlib

# Before the module: http.client, httpx and requests are routed through
# wasi:http as they are imported (see activity_host/http.py).
import activity_host.http as _http
_http.install()

with _http.building():
    _module = importlib.import_module({module!r})

from temporalio import activity as _activity

# Export what the module itself defines.
for _name, _definition in list(_activity._activities.items()):
    if _definition.fn.__module__ != {module!r}:
        del _activity._activities[_name]
if _activity._dynamic is not None and _activity._dynamic.fn.__module__ != {module!r}:
    _activity._dynamic = None
if not _activity._activities and _activity._dynamic is None:
    raise RuntimeError("{source} defines no @activity.defn function")

from temporalio._export import Activities  # noqa: E402,F401  (what componentize-py exports)
"""


def componentize_py() -> str:
    beside = Path(sys.executable).parent / "componentize-py"
    found = str(beside) if beside.exists() else shutil.which("componentize-py")
    if not found:
        sys.exit("error: componentize-py is not installed: run `make venv` (guest-sdk/python/requirements.txt)")
    return found


def is_test(name: str) -> bool:
    """Test modules stay out of the plugin, as pytest and unittest name them:
    they import test tools a plugin has no use for."""
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def copy_sources(source_dir: Path, into: Path) -> None:
    """The module's directory, without what componentize-py must not scan
    (virtual environments, build output, hidden directories) and tests."""
    for entry in source_dir.iterdir():
        if entry.name.startswith(".") or entry.name in SKIP:
            continue
        if entry.is_file() and entry.suffix == ".py":
            if is_test(entry.name):
                continue
            shutil.copy2(entry, into / entry.name)
        elif entry.is_dir() and (entry / "__init__.py").exists():
            shutil.copytree(entry, into / entry.name, ignore=shutil.ignore_patterns("__pycache__", ".*"))


def requirement_names(text: str) -> dict:
    """name -> pinned version ("" if not pinned with ==), from a requirements file."""
    names = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(==\s*([^\s;,]+))?", line)
        if match:
            names[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3) or ""
    return names


def install_requirements(requirements: Path) -> Path:
    """The packages of `requirements`, installed for the guest's CPython
    into target/py-deps/<hash>/ (once: later builds reuse it)."""
    text = requirements.read_text()
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--python-version", GUEST_PYTHON,
        "--no-compile", "--requirement", str(requirements),
    ]
    key = hashlib.sha256("\0".join(command[3:-1] + [text]).encode()).hexdigest()[:16]
    target = DEPS_CACHE / key
    if (target / ".complete").exists():
        return target
    DEPS_CACHE.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=DEPS_CACHE))
    try:
        result = subprocess.run(command + ["--target", str(partial)], capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            missing = re.findall(r"No matching distribution found for (\S+)", output)
            if missing:
                sys.exit(
                    f"error: {requirements}: no pure-Python wheel (py3-none-any) of {', '.join(missing)}: "
                    f"a plugin can only bundle pure-Python packages\n{output}"
                )
            sys.exit(f"error: {requirements}: pip could not install it:\n{output}")
        pinned = requirement_names(text)
        installed = sorted(
            re.sub(r"[-_.]+", "-", d.name.split("-")[0]).lower() for d in partial.glob("*.dist-info")
        )
        loose = [name for name in installed if not pinned.get(name)]
        if loose:
            print(
                f"warning: {requirements}: not pinned (add `NAME==VERSION` lines for a reproducible build): {', '.join(loose)}",
                file=sys.stderr,
            )
        (partial / ".complete").write_text(text)
        try:
            partial.rename(target)
        except OSError:  # another build got there first
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def python_error(output: str) -> str:
    """The Python exception in componentize-py's output, without the Rust backtrace around it."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), None)
    if start is None:
        return output.strip()
    end = start + 1
    while end < len(lines) and (lines[end].startswith(" ") or not re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", lines[end - 1] or "")):
        end += 1
    return "\n".join(lines[start:end]).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the activity module (a .py file)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the plugin to write (a .wasm file)")
    parser.add_argument(
        "-r", "--requirements", type=Path,
        help="pip requirements (pinned, pure-Python wheels) to bundle with the plugin",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show componentize-py's full output")
    args = parser.parse_args()

    source = args.source.resolve()
    if source.suffix != ".py" or not source.is_file():
        print(f"error: {args.source}: not a Python file", file=sys.stderr)
        return 2
    module = source.stem
    if not module.isidentifier():
        print(f"error: {args.source}: {module!r} is not a Python module name", file=sys.stderr)
        return 2

    started = time.monotonic()
    deps = []
    if args.requirements is not None:
        if not args.requirements.is_file():
            print(f"error: {args.requirements}: no such requirements file", file=sys.stderr)
            return 2
        deps = ["-p", str(install_requirements(args.requirements.resolve()))]
    with tempfile.TemporaryDirectory(prefix="activity-host-py-") as temp:
        app_dir, src_dir, env_dir = Path(temp, "app"), Path(temp, "src"), Path(temp, "env")
        app_dir.mkdir()
        src_dir.mkdir()
        (env_dir / "site-packages").mkdir(parents=True)
        (app_dir / f"{APP}.py").write_text(APP_SOURCE.format(module=module, source=args.source))
        copy_sources(source.parent, src_dir)
        output = args.output.resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        names = [arg for name in INTERFACE_NAMES.items() for arg in ("--import-interface-name", "=".join(name))]
        command = [
            componentize_py(), "-d", str(WIT), "-w", WORLD, *names,
            "componentize", APP, "-p", str(app_dir), "-p", str(src_dir), "-p", str(HERE), *deps, "-o", str(output),
        ]
        # componentize-py adds the site-packages of $VIRTUAL_ENV, else of
        # pipenv's environment, else of the `python3` on the PATH: point it
        # at an empty one, so that only the directories above are bundled.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["VIRTUAL_ENV"] = str(env_dir)
        result = subprocess.run(command, cwd=temp, env=env, capture_output=True, text=True)
    if args.verbose or result.returncode != 0:
        text = result.stdout + result.stderr
        if result.returncode != 0:
            print(f"error: building {args.source} failed:\n{python_error(text) if not args.verbose else text}", file=sys.stderr)
            return 1
        print(text, file=sys.stderr)
    size = args.output.stat().st_size
    print(f"built {args.output} from {args.source} ({size / 1e6:.1f} MB, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
