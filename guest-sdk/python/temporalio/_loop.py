"""A minimal asyncio event loop for a WASI 0.2 component.

asyncio's default (selector) loop cannot be created inside the component:
socket.socketpair() for its self-pipe fails with PermissionError. BaseEventLoop
only needs a `_selector` whose select(timeout) waits, plus two hooks; with no
file descriptors to watch, waiting is a plain time.sleep (wasi monotonic clock).

While waiting it polls the host's is-cancelled every 50 ms and, the first time
it turns true, cancels the activity's task, so `await` points raise
asyncio.CancelledError as in the Python SDK.
"""
import asyncio
import time

from wit_world.imports import context

_SLICE = 0.05


class _SleepSelector:
    def __init__(self, loop):
        self._loop = loop

    def select(self, timeout):
        loop = self._loop
        if timeout is None:
            timeout = float("inf")   # nothing scheduled: only a cancellation can wake us
        end = time.monotonic() + timeout
        while True:
            if not loop._cancel_sent and loop._main is not None and context.is_cancelled():
                loop._cancel_sent = True
                loop._main.cancel()
                return []
            left = end - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(left, _SLICE))

    def close(self):
        pass


class WasiEventLoop(asyncio.BaseEventLoop):
    def __init__(self):
        super().__init__()
        self._selector = _SleepSelector(self)
        self._main = None
        self._cancel_sent = False

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass


async def _main(coro):
    loop = asyncio.get_running_loop()
    loop._main = asyncio.current_task()
    return await coro


def run(coro):
    """Run a coroutine to completion on a fresh WasiEventLoop."""
    with asyncio.Runner(loop_factory=WasiEventLoop) as runner:
        return runner.run(_main(coro))
