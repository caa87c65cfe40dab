"""The project's own measuring (`python benchmarks/run.py`): the peer, RESULTS.md.

- `bench`: the CartPole report (runs, scaling, serving latency) and the command.
- `suite`: `--suite` / `--env`: both algorithms and the peer on each environment.
- `report`, `figures`: the RESULTS.md tables and the learning-curve figures.
- `soak`: the long-run stability measurement.
"""
