"""Payloads cross the server and the host unchanged: whatever encoding and
metadata a workflow sends an activity, and whatever the activity returns,
arrives byte for byte, as between two native workers. Codecs and converters
in any SDK depend on it (a `json/protobuf` payload's `messageType`, a
codec's own metadata keys, `binary/null` with no data at all)."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

import conftest
from workflows import ReturnPayload

PAYLOADS = {
    "binary/plain": Payload(metadata={"encoding": b"binary/plain"}, data=bytes(range(256))),
    "json/protobuf": Payload(
        metadata={"encoding": b"json/protobuf", "messageType": b"temporal.api.common.v1.WorkflowExecution"},
        data=b'{"workflowId":"wf-1","runId":"r-1"}',
    ),
    "custom encoding": Payload(
        metadata={"encoding": b"application/x-test-codec", "x-key-id": b"\x00\x01key\xff", "x-empty": b""},
        data=b"\x89ciphertext\x00\r\n",
    ),
    "binary/null": Payload(metadata={"encoding": b"binary/null"}, data=b""),
}


@pytest.fixture
def raw_plugin(tmp_path):
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "raw.wasm").write_bytes(conftest.test_plugin("raw").read_bytes())
    return directory


@pytest.mark.parametrize("name", PAYLOADS)
def test_a_payload_and_its_metadata_survive_the_round_trip_through_the_server(host, raw_plugin, execute, name):
    host(raw_plugin)
    sent = PAYLOADS[name]
    back = execute(ReturnPayload.run, RawValue(sent))
    assert isinstance(back, RawValue), back
    assert dict(back.payload.metadata) == dict(sent.metadata)
    assert back.payload.data == sent.data
