"""What the REST API and the web UI share: the app factory that mounts both, the per-request dependencies
(settings, store, network seam) and the mapping of segport's errors to HTTP statuses. Neither face imports
the other; both import this (and the domain, where permissions live)."""
