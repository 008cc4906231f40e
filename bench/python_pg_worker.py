"""A native Temporal Python SDK activity worker reading one row by primary
key with psycopg and a connection pool (what a Python team would write):
the PostgreSQL benchmark's reference. Same activity name and arguments as
the test plugins' `pg_error`."""

import asyncio
import sys

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

pool: AsyncConnectionPool


@activity.defn
async def pg_error(db: str, sql: str, params: list) -> dict:
    async with pool.connection() as conn:
        cursor = await conn.execute(sql, params)
        await cursor.fetchall()
        return {"error": None, "rowcount": cursor.rowcount}


async def main(address: str, task_queue: str, url: str, size: int) -> None:
    global pool
    pool = AsyncConnectionPool(url, min_size=size, max_size=size, open=False)
    await pool.open()
    temporal = await Client.connect(address)
    async with Worker(temporal, task_queue=task_queue, activities=[pg_error]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
