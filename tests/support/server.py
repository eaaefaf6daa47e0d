"""Serve an emulator on a real loopback port from a background thread (uvicorn), for tests over sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from segport.emulator import Emulator, EmulatorASGI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(emulator: Emulator) -> Iterator[str]:
    """Yield the base URL of the emulator served on a free port; stop the server afterwards."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(EmulatorASGI(emulator), host="127.0.0.1", port=port, log_level="critical", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
