# The Temporal Python docs' dynamic-activity sample, verbatim (the activity
# part; its GreetingWorkflow is in tests/e2e/workflows.py). The docs' block
# leaves out its imports and YourDataClass, added here.
from dataclasses import dataclass
from typing import Sequence

from temporalio import activity
from temporalio.common import RawValue


@dataclass
class YourDataClass:
    greeting: str
    name: str


# ...
@activity.defn(dynamic=True)
async def dynamic_greeting(args: Sequence[RawValue]) -> str:
    arg1 = activity.payload_converter().from_payload(args[0].payload, YourDataClass)
    return (
        f"{arg1.greeting}, {arg1.name}!\nActivity Type: {activity.info().activity_type}"
    )
