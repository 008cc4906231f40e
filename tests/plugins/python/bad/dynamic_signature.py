from temporalio import activity


@activity.defn(dynamic=True)
async def fallback(name: str) -> str:
    return name
