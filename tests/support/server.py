"""Serve an emulator, or any ASGI app (segport's API), on a real loopback port for tests over sockets."""

from segport.emulator.serve import free_port, serve_app_in_background, serve_in_background

serving = serve_in_background
serving_app = serve_app_in_background

__all__ = ["free_port", "serving", "serving_app"]
