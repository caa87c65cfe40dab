"""Learning curves from runs' episode CSVs: `tfa3c plot RUN_DIR...` and the benchmark's figures.

A run folder holds `episodes.csv` (`wall_time,env_steps,return,length`, one row per
finished episode) and `config.json` (`{"algo": ..., "config": {"env_id": ...}}`). Runs
are grouped by label (one line per group: the median over runs, the min-max shaded).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import pathlib
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from tfa3c.algorithms.registry import ALGORITHMS
from tfa3c.errors import UserInputError
from tfa3c.layout import EPISODES_CSV, RUN_CONFIG
from tfa3c.statistics import WINDOW

REQUIRED_COLUMNS = ("wall_time", "env_steps", "return")
GRID_POINTS = 200


@dataclasses.dataclass
class EpisodeLog:
    """One run's episodes.

    Attributes:
        path: the run folder.
        algo: `algo` from the run's config.json, or None.
        env_id: the environment id from config.json, or None.
        wall_time: seconds since the start of training at each episode's end.
        env_steps: env steps at each episode's end.
        returns: each episode's return.
        target_return: the run's `target_return` from config.json, or None.
    """

    path: pathlib.Path
    algo: str | None
    env_id: str | None
    wall_time: np.ndarray
    env_steps: np.ndarray
    returns: np.ndarray
    target_return: float | None = None


def read_episodes(run_dir: str | pathlib.Path) -> EpisodeLog:
    """Reads a run folder's `episodes.csv` (and `config.json`, if present).

    Raises:
        UserInputError: the folder or its CSV is missing, unreadable, malformed or empty.
    """
    run_dir = pathlib.Path(run_dir)
    path = run_dir / EPISODES_CSV
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir} is not a run folder (expected a folder with "
                             f"{EPISODES_CSV})")
    try:
        with open(path, newline="") as file:
            rows = list(csv.reader(file))
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror}") from None
    except (csv.Error, UnicodeDecodeError):
        raise UserInputError(f"{path} is not a CSV file") from None
    if not rows or any(name not in rows[0] for name in REQUIRED_COLUMNS):
        raise UserInputError(f"{path} is not an episode CSV: its header must name "
                             f"{', '.join(REQUIRED_COLUMNS)}")
    columns = [rows[0].index(name) for name in REQUIRED_COLUMNS]
    values = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            values.append([float(row[i]) for i in columns])
        except (IndexError, ValueError):
            raise UserInputError(f"{path} line {number} is malformed: {','.join(row)[:80]!r}")\
                from None
    if not values:
        raise UserInputError(f"{path} has no episodes yet")
    array = np.asarray(values, dtype=np.float64)
    algo = env_id = target = None
    config_path = run_dir / RUN_CONFIG
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
            algo = config.get("algo")
            env_id = (config.get("config") or {}).get("env_id")
            target = (config.get("config") or {}).get("target_return")
        except (OSError, json.JSONDecodeError, AttributeError):
            pass  # the curve does not need it: the label falls back to the folder name
    return EpisodeLog(run_dir, algo, env_id, array[:, 0], array[:, 1], array[:, 2],
                      None if target is None else float(target))


def rolling_mean(values: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Mean of the last `window` values at each index (fewer at the start)."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)


def on_grid(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray],
            grid: np.ndarray) -> np.ndarray:
    """Each run's curve interpolated on `grid` (rows: runs).

    Before a run's first point its value is NaN; after its last point (the run stopped:
    solved or out of budget) it keeps its last value.
    """
    rows = [np.interp(grid, x, y, left=np.nan, right=y[-1]) for x, y in zip(xs, ys, strict=True)]
    return np.vstack(rows)


def band(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray],
         points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over runs on a common grid from 0 to the longest run's end.

    Returns:
        grid, median, low, high (NaN where no run has a point yet).
    """
    end = max(float(x[-1]) for x in xs)
    grid = np.linspace(0.0, end, points)
    values = on_grid(xs, ys, grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any episode
        return grid, np.nanmedian(values, axis=0), np.nanmin(values, axis=0), \
            np.nanmax(values, axis=0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


# How each registered algorithm is written in legends and tables.
ALGO_NAMES = {name: entry.title for name, entry in ALGORITHMS.items()}


def json_objects(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The lines that are JSON objects, parsed, in order; every other line is skipped."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def read_summaries(path: str | os.PathLike, what: str = "summary file") -> list[dict[str, Any]]:
    """Reads runs' JSON summary lines (the last line `tfa3c train` prints, or another tool's).

    Lines that are not JSON objects with `seconds`, `steps_per_second` and `env_steps`
    (install chatter, blank lines) are skipped.

    Raises:
        UserInputError: the file is missing or holds no summary line.
    """
    try:
        text = pathlib.Path(path).read_text()
    except OSError as error:
        raise UserInputError(f"cannot read {what} {path}: {error.strerror}") from None
    runs = [value for value in json_objects(text.splitlines())
            if {"seconds", "steps_per_second", "env_steps"} <= set(value)]
    if not runs:
        raise UserInputError(f"{what} {path} has no JSON summary line (expected lines like "
                             '{"algo": "a3c", "seconds": ..., "env_steps": ..., '
                             '"steps_per_second": ...})')
    return runs


def plot_curves(groups: dict[str, list[EpisodeLog]], out: str | pathlib.Path,
                threshold: float | None = None,
                reference: tuple[str, list[dict[str, Any]]] | None = None,
                title: str | None = None, steps_label: str = "env steps") -> pathlib.Path:
    """Mean return (rolling 100) against env steps and against seconds; writes a PNG.

    Args:
        groups: label -> runs; each label gets one line (median over its runs) and a
            shaded min-max band.
        out: the PNG to write.
        threshold: the reward threshold, drawn dashed.
        reference: (name, summary dicts) of runs known only by their summaries
            (another library's): drawn as a marker at their median (env_steps,
            threshold) and (seconds, threshold), with min-max error bars.
        title: the figure's title.
        steps_label: the label of the steps axis (Atari: agent steps of 4 frames).
    """
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, logs) in enumerate(groups.items()):
        color = colors[index % len(colors)]
        means = [rolling_mean(log.returns) for log in logs]
        for axis, attribute in zip(axes, ("env_steps", "wall_time"), strict=True):
            grid, median, low, high = band([getattr(log, attribute) for log in logs], means)
            runs = (f"median of {len(logs)} runs, band min-max" if len(logs) > 1
                    else "1 run")
            axis.plot(grid, median, color=color, label=f"{label} ({runs})")
            if len(logs) > 1:
                axis.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
    if reference is not None:
        name, runs = reference
        color = colors[len(groups) % len(colors)]
        solved = [run for run in runs if run.get("solved")]
        # Solved runs sit on the threshold; if none solved, show where they ended instead.
        y = threshold if solved and threshold is not None else float(
            np.median([run.get("mean_return_100") or 0.0 for run in solved or runs]))
        for axis, key in zip(axes, ("env_steps", "seconds"), strict=True):
            values = [float(run[key]) for run in solved or runs if run.get(key) is not None]
            if not values:
                continue
            median = float(np.median(values))
            axis.errorbar([median], [y], xerr=[[median - min(values)], [max(values) - median]],
                          fmt="D", color=color, capsize=4, markersize=7,
                          label=f"{name}: median time-to-solve of {len(values)} run(s) "
                                "(summary only; bars min-max)")
    for axis, xlabel in zip(axes, (steps_label, "seconds since the start of training"),
                            strict=True):
        if threshold is not None:
            axis.axhline(threshold, color="grey", linestyle="--", linewidth=1,
                         label=f"reward threshold {threshold:g}")
        axis.set_xlabel(xlabel)
        axis.set_xlim(left=0)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"mean return of the last {WINDOW} episodes")
    # One legend under both panels, so it never hides a curve.
    handles, labels = axes[0].get_legend_handles_labels()
    columns = min(len(labels), 3) or 1
    figure.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    rows = -(-len(labels) // columns)
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.035 + 0.04 * rows, 1, 1))
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def plot_scaling(series: dict[str, list[tuple[int, float | None]]],
                 out: str | pathlib.Path, limit: float | None = None) -> pathlib.Path:
    """Env steps/s against workers or agents, one panel per series; writes a PNG.

    Args:
        series: label (e.g. "A3C (--workers)") -> (setting, env steps/s or None) points.
        out: the PNG to write.
        limit: the environment's own env steps/s (random actions, one environment),
            drawn dashed.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 4), squeeze=False)
    for axis, (label, points) in zip(axes[0], series.items(), strict=True):
        shown = [(x, y) for x, y in points if y is not None]
        if shown:
            xs, ys = zip(*shown, strict=True)
            axis.plot(xs, ys, marker="o")
        if points:  # failed points keep their tick: the table says why
            axis.set_xscale("log", base=2)
            axis.set_xticks([x for x, _ in points], [str(x) for x, _ in points])
        if limit:
            axis.axhline(limit, color="grey", linestyle="--", linewidth=1,
                         label="environment alone (1 env, random actions, 1 core)")
            axis.legend(loc="lower right", fontsize=8)
        axis.set_title(label)
        axis.set_xlabel(label.split("(")[-1].rstrip(")").lstrip("-") or "setting")
        axis.set_ylabel("env steps/s")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _threshold_of(logs: list[EpisodeLog]) -> float | None:
    targets = {log.target_return for log in logs}
    if len(targets) == 1 and None not in targets:  # the runs' own --target-return
        return targets.pop()
    env_ids = {log.env_id for log in logs if log.env_id}
    if len(env_ids) != 1:
        return None
    import gymnasium as gym

    try:
        return gym.spec(env_ids.pop()).reward_threshold
    except gym.error.Error:
        return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tfa3c plot`."""
    parser.description = ("Draw mean return (rolling 100) against env steps and seconds from "
                          "run folders' episodes.csv; runs with the same label are one line.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders (each with episodes.csv)")
    parser.add_argument("--out", default="curves.png", help="PNG to write (default curves.png)")
    parser.add_argument("--labels", nargs="+", default=None,
                        help="one label per RUN_DIR (or comma separated); runs sharing a label "
                             "are grouped (default: the run's algo from config.json, else the "
                             "folder name)")
    parser.add_argument("--reference", dest="reference", default=None,
                        metavar="FILE",
                        help="JSON summary lines of other runs (another library's, say: "
                             "algo, solved, seconds, env_steps), drawn as markers at their "
                             "median")
    parser.add_argument("--threshold", type=float, default=None,
                        help="reward threshold line (default: the environment's, from "
                             "config.json)")
    parser.add_argument("--title", default=None, help="figure title")


def run(args: argparse.Namespace) -> int:
    """`tfa3c plot`: reads the runs, groups them, writes the PNG."""
    logs = [read_episodes(path) for path in args.run_dirs]
    labels: list[str]
    if args.labels:
        labels = [part.strip() for item in args.labels for part in item.split(",")
                  if part.strip()]
        if len(labels) != len(logs):
            raise UserInputError(f"--labels gives {len(labels)} label(s) for {len(logs)} run "
                                 "folder(s): give one per RUN_DIR")
    else:
        labels = [log.algo.upper() if log.algo else log.path.resolve().name for log in logs]
    groups: dict[str, list[EpisodeLog]] = {}
    for label, log in zip(labels, logs, strict=True):
        groups.setdefault(label, []).append(log)
    reference = None
    if args.reference:
        runs = read_summaries(args.reference)
        name = str(runs[0].get("algo", "reference"))
        reference = (ALGO_NAMES.get(name, name), runs)
    threshold = args.threshold if args.threshold is not None else _threshold_of(logs)
    if not str(args.out).lower().endswith(".png"):
        raise UserInputError(f"--out must name a .png file, got {args.out!r}")
    out = plot_curves(groups, args.out, threshold=threshold, reference=reference,
                      title=args.title)
    print(f"wrote {out}", flush=True)
    return 0
