"""The Temporal samples' encryption codec (temporalio/samples-python,
`encryption/codec.py`), the client side of the codec tests.

Each payload is serialized whole (the `temporal.api.common.v1.Payload`
protobuf), encrypted with AES-256-GCM under a fresh 12-byte nonce and no
associated data, and sent as `nonce || ciphertext+tag` with the metadata
`encoding: binary/encrypted` and `encryption-key-id: <key id>`. Decoding
leaves payloads of any other encoding as they are. The host's
`plugins/encryption_codec` plugin speaks the same format, with the same
default key and key id.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, List

import temporalio.converter
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

default_key = b"test-key-test-key-test-key-test!"
default_key_id = "test-key-id"


class EncryptionCodec(PayloadCodec):
    def __init__(self, key_id: str = default_key_id, key: bytes = default_key) -> None:
        super().__init__()
        self.key_id = key_id
        # Direct AES-GCM, as the sample does, to match the TypeScript and Go samples.
        self.encryptor = AESGCM(key)

    async def encode(self, payloads: Iterable[Payload]) -> List[Payload]:
        # Every payload, whatever its encoding, tagged with the key that encrypted it.
        return [
            Payload(
                metadata={
                    "encoding": b"binary/encrypted",
                    "encryption-key-id": self.key_id.encode(),
                },
                data=self.encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Iterable[Payload]) -> List[Payload]:
        ret: List[Payload] = []
        for p in payloads:
            # Payloads this codec did not encrypt pass through.
            if p.metadata.get("encoding", b"").decode() != "binary/encrypted":
                ret.append(p)
                continue
            key_id = p.metadata.get("encryption-key-id", b"").decode()
            if key_id != self.key_id:
                raise ValueError(f"Unrecognized key ID {key_id}. Current key ID is {self.key_id}.")
            ret.append(Payload.FromString(self.decrypt(p.data)))
        return ret

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.encryptor.encrypt(nonce, data, None)

    def decrypt(self, data: bytes) -> bytes:
        return self.encryptor.decrypt(data[:12], data[12:], None)


def data_converter(codec: PayloadCodec | None = None) -> temporalio.converter.DataConverter:
    """The SDK's default converter with the encryption codec (by default the
    sample's key), for `Client.connect(..., data_converter=...)`."""
    return dataclasses.replace(temporalio.converter.default(), payload_codec=codec or EncryptionCodec())
