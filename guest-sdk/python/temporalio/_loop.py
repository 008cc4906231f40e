"""A minimal asyncio event loop for a WASI 0.2 component.

asyncio's default (selector) loop cannot be created inside the component:
socket.socketpair() for its self-pipe fails with PermissionError. BaseEventLoop
only needs a `_selector` whose select(timeout) waits, plus two hooks. There
are no file descriptors to watch; what there is to wait on are `wasi:io`
pollables (an HTTP response, a body stream: see activity_host), which a
coroutine hands to `loop.wait_pollable()`. select() waits on those with
`wasi:io/poll` and a monotonic-clock pollable for the timeout, or just sleeps
when there are none.

It wakes at least every 50 ms to poll the host's is-cancelled and, the first
time it turns true, cancels the activity's task, so `await` points raise
asyncio.CancelledError as in the Python SDK.
"""
import asyncio
import time

from wit_world.imports import context, monotonic_clock, poll

_SLICE = 0.05


class _PollSelector:
    def __init__(self, loop):
        self._loop = loop

    def select(self, timeout):
        loop = self._loop
        if timeout is None:
            timeout = float("inf")   # nothing scheduled: only a pollable or a cancellation can wake us
        end = time.monotonic() + timeout
        while True:
            if not loop._cancel_sent and loop._main is not None and context.is_cancelled():
                loop._cancel_sent = True
                loop._main.cancel()
                return []
            left = end - time.monotonic()
            waiting = [(p, f) for p, f in loop._pollables if not f.done()]
            if not waiting:
                if left <= 0:
                    return []
                time.sleep(min(left, _SLICE))
                continue
            nanos = int(max(0.0, min(left, _SLICE)) * 1e9)
            with monotonic_clock.subscribe_duration(nanos) as timer:
                ready = poll.poll([p for p, _ in waiting] + [timer])
            woken = False
            for i in ready:
                if i < len(waiting):
                    waiting[i][1].set_result(None)
                    woken = True
            if woken or left <= 0:
                return []

    def close(self):
        pass


class WasiEventLoop(asyncio.BaseEventLoop):
    def __init__(self):
        super().__init__()
        self._selector = _PollSelector(self)
        self._pollables = []
        self._main = None
        self._cancel_sent = False

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass

    async def wait_pollable(self, pollable):
        """Returns once `pollable` is ready. The caller keeps (and drops) the
        pollable; it is forgotten here before this returns or is cancelled."""
        future = self.create_future()
        entry = (pollable, future)
        self._pollables.append(entry)
        try:
            await future
        finally:
            self._pollables.remove(entry)


async def _main(coro):
    loop = asyncio.get_running_loop()
    loop._main = asyncio.current_task()
    return await coro


def run(coro):
    """Run a coroutine to completion on a fresh WasiEventLoop."""
    with asyncio.Runner(loop_factory=WasiEventLoop) as runner:
        return runner.run(_main(coro))
