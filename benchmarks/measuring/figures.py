"""Benchmark figures: the peer's summary lines, statistics over seeds, and ratios.

Pure functions on the JSON that `python benchmarks/run.py` writes: no TensorFlow, no subprocesses.
`tfa3c plot` reads the peer with them too, and `measuring.report` renders them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from tfa3c.plotting import ALGO_NAMES as LIBRARY_NAMES
from tfa3c.plotting import json_objects as json_objects  # the benchmark reads with it
from tfa3c.plotting import read_summaries

ALGO_NAMES = {**LIBRARY_NAMES, "sb3-a2c": "SB3 A2C", "ga3c-none": "GA3C, no correction"}
VECTOR_ENVS = 8  # environments in the vector setting of the environment's own limit
SUMMARY_KEYS = ("algo", "env", "seed", "solved", "seconds", "env_steps", "episodes",
                "steps_per_second", "mean_return_100")
# Figures aggregated over seeds (median/min/max), in table order.
FIGURES = ("seconds", "env_steps", "steps_per_second", "peak_rss_mib")
FIGURE_NAMES = {"seconds": "seconds to solve", "env_steps": "env steps to solve",
                "steps_per_second": "env steps/s", "peak_rss_mib": "peak RSS (MiB)"}


# Inputs -----------------------------------------------------------------------------
def read_peer(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads the peer's JSON lines (one per seed, as `sb3_a2c.sh` prints them).

    Raises:
        UserInputError: the file is missing or holds no summary line.
    """
    return read_summaries(path, "peer file")


# Aggregation --------------------------------------------------------------------------
def describe(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median, min and max of the values that are not None (None if there are none)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {"median": statistics.median(present), "min": min(present), "max": max(present),
            "n": len(present)}


def run_extras(run: dict[str, Any]) -> dict[str, float]:
    """A run's algorithm-specific figures (GA3C's PPS, TPS, ...).

    Numeric summary keys beyond the common ones, and the means of its progress lines for
    figures the summary does not carry.
    """
    figures = dict(run.get("progress_means") or {})
    for key, value in (run.get("summary") or {}).items():
        if key not in SUMMARY_KEYS and isinstance(value, int | float) \
                and not isinstance(value, bool):
            figures[key] = value
    return figures


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics over seeds of one algorithm's runs.

    A run is a dict with `summary` (the JSON summary, None if the run failed) and
    optionally `peak_rss_mib`. Unsolved runs enter `seconds` and `env_steps` at their
    stop, so with unsolved runs those medians are lower bounds (`unsolved` says how many).

    Returns:
        `runs`, `completed`, `solved`, `unsolved`, `failed`, and per figure a
        `{median, min, max, n}` dict (None when no run has it); `extras` likewise for
        algorithm-specific figures.
    """
    done = [run for run in runs if run.get("summary")]
    solved = sum(1 for run in done if run["summary"].get("solved"))
    result: dict[str, Any] = {
        "runs": len(runs), "completed": len(done), "solved": solved,
        "unsolved": len(done) - solved, "failed": len(runs) - len(done),
    }
    for figure in FIGURES:
        if figure == "peak_rss_mib":
            result[figure] = describe(run.get("peak_rss_mib") for run in done)
        else:
            result[figure] = describe(run["summary"].get(figure) for run in done)
    extras = [run_extras(run) for run in done]
    names = dict.fromkeys(name for figures in extras for name in figures)
    result["extras"] = {name: describe(figures.get(name) for figures in extras)
                        for name in names}
    return result


def peer_aggregate(peer_runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`aggregate` of the peer's summary lines (which carry no RSS)."""
    return aggregate([{"summary": run} for run in peer_runs])


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def median_of(stats: dict[str, Any], figure: str) -> float | None:
    """The median of `figure` in `aggregate`'s statistics (None if no run has it)."""
    value = stats.get(figure)
    return None if value is None else value["median"]


def compare(stats: dict[str, Any], peer: dict[str, Any] | None,
            env_limit: dict[str, Any] | None) -> dict[str, float | None]:
    """Ratios of an algorithm's medians to the peer's medians and to the env's limit.

    `time_to_solve_ratio` below 1 and `steps_per_second_ratio` above 1 mean better than
    the peer; `env_steps_ratio` below 1 means fewer samples.
    """
    result: dict[str, float | None] = {}
    for figure, name in (("seconds", "time_to_solve_ratio"), ("env_steps", "env_steps_ratio"),
                         ("steps_per_second", "steps_per_second_ratio")):
        result[name] = _ratio(median_of(stats, figure), median_of(peer, figure) if peer else None)
    sps = median_of(stats, "steps_per_second")
    limit = env_limit or {}
    result["fraction_of_single_env"] = _ratio(sps, limit.get("single_steps_per_second"))
    result["fraction_of_vector_env"] = _ratio(sps, limit.get("vector_steps_per_second"))
    result["fraction_of_bare_env"] = _ratio(sps, limit.get("bare_steps_per_second"))
    return result
