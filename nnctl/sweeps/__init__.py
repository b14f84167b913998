"""The sweep core: many ordinary training runs in one sweep folder, ranked on validation. What
`nnctl sweep` and the Python API (`nnctl.sweep`) stand on; it trains through nnctl.training.

- entry: `run_sweep`, a sweep -> ranked runs (a grid or a search planned, workers sized, the report)
- grid: a grid's points, or random picks from it, with the sweep folder's manifest
- search: an Optuna study whose trials are the points
- executor: the one executor under both, trained by warm worker processes `parallel` at a time
- worker: `python -m nnctl.sweeps.worker`, a warm worker process (the executor's other end)
"""
