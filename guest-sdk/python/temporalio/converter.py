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


def _convert(hint: Any, value: Any) -> Any:
    """`value` (decoded JSON) as the type `hint` asks for."""
    if hint is None or hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value)
            except (TypeError, ValueError, KeyError) as e:
                errors.append(str(e))
        raise TypeError(f"value {value!r} fits none of {hint}: {'; '.join(errors)}")
    if origin is typing.Literal:
        if value not in args:
            raise TypeError(f"value {value!r} is not one of {args}")
        return value
    if value is None:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint.__name__}, got {type(value).__name__}")
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint) if f.init}
        return hint(**{k: _convert(hints.get(k), v) for k, v in value.items() if k in known})
    if origin in (list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable):
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        item = args[0] if args else None
        return [_convert(item, v) for v in value]
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(t, v) for t, v in zip(args, value))
    if origin in (set, frozenset):
        return origin(_convert(args[0] if args else None, v) for v in value)
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        key, val = args if len(args) == 2 else (None, None)
        return {_convert(key, k): _convert(val, v) for k, v in value.items()}
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
            raise TypeError(f"expected {hint.__name__}, got {type(value).__name__}")
        if hint is int and isinstance(value, bool):
            raise TypeError("expected int, got bool")
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
