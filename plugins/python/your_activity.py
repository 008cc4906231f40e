# The Temporal Python docs' activity-parameters sample, verbatim
# ("Activity basics - Python SDK": Develop Activity Parameters).
from temporalio import activity
from your_dataobject_dacx import YourParams

# ...
# ...
@activity.defn(name="your_activity")
async def your_activity(input: YourParams) -> str:
    return f"{input.greeting}, {input.name}!"
