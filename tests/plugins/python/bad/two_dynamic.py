from collections.abc import Sequence

from temporalio import activity
from temporalio.common import RawValue


@activity.defn(dynamic=True)
async def first(args: Sequence[RawValue]) -> int:
    return len(args)


@activity.defn(dynamic=True)
async def second(args: Sequence[RawValue]) -> int:
    return len(args)
