"""{{name}}: Temporal activities, built into a WebAssembly plugin for activity-host.

Written against the Temporal Python SDK: the same code runs in a native
worker. Every `@activity.defn` function of this module becomes an activity.
"""

from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    """Registered as "compose_greeting"; a workflow calls it with one argument,
    {"greeting": "Hello", "name": "World"}."""
    if not input.name:
        raise ApplicationError("no name to greet", type="InvalidInput", non_retryable=True)
    activity.logger.info("greeting %s", input.name)
    return f"{input.greeting}, {input.name}!"
