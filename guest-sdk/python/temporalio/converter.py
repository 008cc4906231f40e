"""`temporalio.converter`: Temporal's default payload converter.

Encodes as the Python SDK does, so that workflows in any SDK read the
results: `None` as `binary/null`, `bytes` as `binary/plain`, anything else
as compact JSON with sorted keys (`json/plain`); dataclasses, datetimes,
UUIDs and enums included. Decoding follows the parameter's type hint:
dataclasses (nested too), `Optional`/unions, lists, tuples, dicts,
datetimes, UUIDs and enums.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import json
import types
import typing
import uuid
from typing import Any, List, Optional, Sequence, Type

from temporalio.common import Payload

ENCODING = "encoding"


class _Encoder(json.JSONEncoder):
    """The Python SDK's AdvancedJSONEncoder: the types `json` does not know."""

    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, (datetime.datetime, datetime.date, datetime.time)):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        if isinstance(o, enum.Enum):
            return o.value
        return super().default(o)


class _ConversionError(TypeError, ValueError):
    """A value that does not fit its type hint, and where it sits in the
    argument: `path` holds segments such as `field items` or `key 'a'`,
    outermost first. The activity runner names the argument in front of it,
    so that a failure points at the field to fix, as the Rust SDK's does.
    Both a `TypeError` and a `ValueError`, the errors it stands for, so that
    code catching those around `from_payload` still catches it."""

    def __init__(self, reason: str, path: Optional[List[str]] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path or []

    def __str__(self) -> str:
        return ": ".join([*self.path, self.reason])


def _within(segment: str, hint: Any, value: Any) -> Any:
    """`_convert` of a part of a value, its failure prefixed with `segment`."""
    try:
        return _convert(hint, value)
    except _ConversionError as e:
        e.path.insert(0, segment)
        raise
    except (TypeError, ValueError) as e:  # e.g. a bad datetime, enum or UUID
        raise _ConversionError(str(e), [segment]) from e


def _convert(hint: Any, value: Any) -> Any:
    """`value` (decoded JSON) as the type `hint` asks for.

    Dataclass fields and dict values name themselves in a failure's path;
    list, tuple and set items do not, as in the Rust SDK's messages:
    `field items: expected int, got str` already names the list to fix.
    """
    if hint is None or hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own failure says more
            return _convert(options[0], value)
        errors = []
        for arg in options:
            try:
                return _convert(arg, value)
            except (TypeError, ValueError, KeyError) as e:
                errors.append(str(e))
        raise _ConversionError(f"value {value!r} fits none of {hint}: {'; '.join(errors)}")
    if origin is typing.Literal:
        if value not in args:
            raise _ConversionError(f"value {value!r} is not one of {args}")
        return value
    if value is None:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _ConversionError(f"expected an object for {hint.__name__}, got {type(value).__name__}")
        hints = typing.get_type_hints(hint)
        fields = [f for f in dataclasses.fields(hint) if f.init]
        for f in fields:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and f.name not in value:
                raise _ConversionError("missing", [f"field {f.name}"])
        known = {f.name for f in fields}  # fields it does not know are ignored, as by the Python SDK
        return hint(**{k: _within(f"field {k}", hints.get(k), v) for k, v in value.items() if k in known})
    if origin in (list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable):
        if not isinstance(value, list):
            raise _ConversionError(f"expected a list, got {type(value).__name__}")
        item = args[0] if args else None
        return [_convert(item, v) for v in value]
    if origin is tuple:
        if not isinstance(value, list):
            raise _ConversionError(f"expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(t, v) for t, v in zip(args, value))
    if origin in (set, frozenset):
        return origin(_convert(args[0] if args else None, v) for v in value)
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        if not isinstance(value, dict):
            raise _ConversionError(f"expected an object, got {type(value).__name__}")
        key, val = args if len(args) == 2 else (None, None)
        return {_within(f"key {k!r}", key, k): _within(f"key {k!r}", val, v) for k, v in value.items()}
    if hint in (list, tuple, set, frozenset, dict):
        return hint(value)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return hint(value)
        if hint is datetime.datetime:
            return datetime.datetime.fromisoformat(value)
        if hint is datetime.date:
            return datetime.date.fromisoformat(value)
        if hint is uuid.UUID:
            return uuid.UUID(value)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint in (int, float, str, bool) and not isinstance(value, hint):
            raise _ConversionError(f"expected {hint.__name__}, got {type(value).__name__}")
        if hint is int and isinstance(value, bool):
            raise _ConversionError("expected int, got bool")
    return value


class PayloadConverter:
    """Converts between Python values and payloads (`activity.payload_converter()`)."""

    def to_payload(self, value: Any) -> Payload:
        if value is None:
            return Payload({ENCODING: b"binary/null"}, b"")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return Payload({ENCODING: b"binary/plain"}, bytes(value))
        data = json.dumps(value, cls=_Encoder, separators=(",", ":"), sort_keys=True).encode()
        return Payload({ENCODING: b"json/plain"}, data)

    def to_payloads(self, values: Sequence[Any]) -> List[Payload]:
        return [self.to_payload(v) for v in values]

    def from_payload(self, payload: Payload, type_hint: Optional[Type] = None) -> Any:
        encoding = payload.metadata.get(ENCODING)
        if encoding == b"binary/null":
            return None
        if encoding == b"binary/plain":
            return payload.data
        if encoding in (b"json/plain", b"json/protobuf"):
            return _convert(type_hint, json.loads(payload.data))
        if encoding is None:
            raise RuntimeError("payload has no encoding metadata")
        raise RuntimeError(f"unknown payload encoding {encoding.decode(errors='replace')}")

    def from_payloads(self, payloads: Sequence[Payload], type_hints: Optional[List[Type]] = None) -> List[Any]:
        hints = type_hints or []
        return [self.from_payload(p, hints[i] if i < len(hints) else None) for i, p in enumerate(payloads)]


class DefaultPayloadConverter(PayloadConverter):
    """The default converter, under the Python SDK's name."""


default = DefaultPayloadConverter()
