"""Runs: the ONE owner of a run's rows (`runs`, `run_events`, `run_batches`, `run_rows`).

`queue` adds, claims, parks and cancels runs; `record` is what a worker holding a run writes through, every
write fenced by the run's lease; `lease` keeps the lease alive and tells the run when it must stop;
`history` reads runs for people. The export engine (segport.exports) reports facts to a `RunRecord`; it never
writes these tables itself.
"""
