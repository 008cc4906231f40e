from typing import Sequence

from temporalio import activity
from temporalio.common import RawValue


@activity.defn(name="greet", dynamic=True)
async def greet(args: Sequence[RawValue]) -> int:
    return len(args)
