from temporalio import activity


@activity.defn(name="greet")
async def hello(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def greet(name: str) -> str:
    return f"Hi, {name}!"
