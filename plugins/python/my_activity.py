# The Temporal Python docs' custom-name sample, verbatim; the docs' block
# leaves out its import, added here.
from temporalio import activity


@activity.defn(name="my-activity")
async def say_hello_activity(name: str) -> str:
    return f"Hello, {name}!"
