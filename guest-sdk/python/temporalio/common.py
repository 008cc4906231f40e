"""`temporalio.common`: the values activities exchange with the host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict


@dataclass
class Payload:
    """A Temporal payload: `metadata` (notably `encoding`) and the encoded `data`,
    shaped like the protobuf message of the Python SDK."""

    metadata: Dict[str, bytes] = field(default_factory=dict)
    data: bytes = b""


@dataclass(frozen=True)
class RawValue:
    """An argument not yet decoded, as a dynamic activity receives them.
    Decode it with `activity.payload_converter().from_payload(raw.payload, T)`."""

    payload: Payload
