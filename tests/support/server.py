"""Serve an emulator on a real loopback port for tests over sockets (the same helper the demo uses)."""

from segport.emulator.serve import free_port, serve_in_background

serving = serve_in_background

__all__ = ["free_port", "serving"]
