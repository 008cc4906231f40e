"""A native Temporal Python SDK activity worker with the same `http_call`
activity as the HTTP test plugins, over one shared `httpx.AsyncClient`
(what a Python team would write): the outbound-HTTP benchmark's reference."""

import asyncio
import ssl
import sys

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

client: httpx.AsyncClient


@activity.defn
async def http_call(request: dict) -> dict:
    response = await client.request(request["method"], request["url"], headers=request.get("headers") or {})
    return {
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items()},
        "body": response.text,
        "url": str(response.url),
    }


async def main(address: str, task_queue: str, ca_file: str) -> None:
    global client
    client = httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file), timeout=10)
    temporal = await Client.connect(address)
    async with Worker(temporal, task_queue=task_queue, activities=[http_call]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
