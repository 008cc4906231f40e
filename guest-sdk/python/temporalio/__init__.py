"""The Temporal Python SDK's activity API, for activities compiled to
WebAssembly plugins of activity-host.

This is not the `temporalio` package from PyPI (which needs a native bridge
and cannot run inside a component): it is a small pure-Python package with
the same import paths, so that activity code written for the Python SDK
builds unchanged: `from temporalio import activity`, `@activity.defn`,
`activity.info()`, `activity.heartbeat()`, `activity.payload_converter()`,
`temporalio.common.RawValue`, `temporalio.exceptions.ApplicationError`.

Everything an activity needs at run time must be imported when its module
is imported: componentize-py runs the import at build time and snapshots
the interpreter, and a component has no file system to import from later.
This package imports what it uses up front for that reason.
"""

from temporalio import activity, common, converter, exceptions

__all__ = ["activity", "common", "converter", "exceptions"]
