# The Temporal Python docs' first activity sample, verbatim
# (docs: "How to develop an Activity Definition in Python").
from temporalio import activity


@activity.defn
async def say_hello_activity(name: str) -> str:
    return f"Hello, {name}!"
