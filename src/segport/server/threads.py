"""Where the routes' blocking code runs: a few threads for the work of this process, and a pool of its own for
routes that wait on other services.

FastAPI runs every plain (`def`) route and dependency in one pool of threads (anyio's: 40). Twenty requests at
once then run in twenty threads that hand Python's lock to each other at every row SQLite returns: measured
with bench/api_load.py on 2 cores, a third of the server's CPU went to that (the runs list 9-11.6 ms of CPU a
request with 40 threads, 6.9-7.3 ms with 4) and the slowest answers took 2.5 times as long. So `segport serve`
caps that pool (SEGPORT_API_THREADS); the other requests wait their turn on the event loop.

A route that waits on another service (Constant Contact, a webhook or mail server) would hold one of those few
threads for as long as that service takes: through a Constant Contact outage, minutes of retries, and a few
such requests would stop every page. Those routes are marked `waits_on_others` and run in their own pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar

# Enough for every request waiting on a slow service at once in a team's use; each waits, using no CPU.
WAITING_THREADS = 32

_waiting: RunVar[CapacityLimiter] = RunVar("segport_waiting_threads")

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def cap_request_threads(count: int) -> None:
    """Run at most `count` plain routes and dependencies at once (on the running event loop)."""
    to_thread.current_default_thread_limiter().total_tokens = count


def waits_on_others(route: Callable[Parameters, Result]) -> Callable[Parameters, Any]:
    """The route, run in the pool of routes waiting on other services instead of the capped one. FastAPI reads
    the parameters and the answer's type through the wrapper (functools.wraps), and calls it as a coroutine."""

    @functools.wraps(route)
    async def in_the_waiting_pool(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        return await to_thread.run_sync(functools.partial(route, *args, **kwargs), limiter=_waiting_limiter())

    return in_the_waiting_pool


def _waiting_limiter() -> CapacityLimiter:
    # One per event loop, as anyio keeps its own default: a limiter belongs to the loop it was made on.
    try:
        return _waiting.get()
    except LookupError:
        limiter = CapacityLimiter(WAITING_THREADS)
        _waiting.set(limiter)
        return limiter
