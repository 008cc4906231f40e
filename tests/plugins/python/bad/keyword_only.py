from temporalio import activity


@activity.defn
async def greet(name: str, *, punctuation: str) -> str:
    return f"Hello, {name}{punctuation}"
