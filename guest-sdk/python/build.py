#!/usr/bin/env python3
"""Builds a Python activity module into an activity-host plugin.

    python guest-sdk/python/build.py path/to/activities.py -o path/to/name.wasm

(`make plugin-py SRC=... OUT=...` runs this with the project's environment.)

Every `@activity.defn` function defined in the module is exported. The
module is imported once, at build time (componentize-py snapshots the
interpreter after the import), so a broken rule fails the build with the
Python SDK's message, and everything an activity needs at run time must be
imported at the top of the module. Modules and packages beside it are
bundled too, so it can import its own helpers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIT = HERE.parent.parent / "wit"
APP = "activity_host_app"
SKIP = {"__pycache__", "node_modules", "target", "venv", ".venv"}

APP_SOURCE = """\
import importlib

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


def copy_sources(source_dir: Path, into: Path) -> None:
    """The module's directory, without what componentize-py must not scan
    (virtual environments, build output, hidden directories)."""
    for entry in source_dir.iterdir():
        if entry.name.startswith(".") or entry.name in SKIP:
            continue
        if entry.is_file() and entry.suffix == ".py":
            shutil.copy2(entry, into / entry.name)
        elif entry.is_dir() and (entry / "__init__.py").exists():
            shutil.copytree(entry, into / entry.name, ignore=shutil.ignore_patterns("__pycache__", ".*"))


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
    with tempfile.TemporaryDirectory(prefix="activity-host-py-") as temp:
        app_dir, src_dir = Path(temp, "app"), Path(temp, "src")
        app_dir.mkdir()
        src_dir.mkdir()
        (app_dir / f"{APP}.py").write_text(APP_SOURCE.format(module=module, source=args.source))
        copy_sources(source.parent, src_dir)
        output = args.output.resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        command = [
            componentize_py(), "-d", str(WIT), "-w", "plugin",
            "componentize", APP, "-p", str(app_dir), "-p", str(src_dir), "-p", str(HERE), "-o", str(output),
        ]
        # Build with no virtual environment around: componentize-py would
        # add (and scan) its site-packages.
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
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
