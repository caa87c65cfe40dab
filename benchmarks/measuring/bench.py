"""`python benchmarks/run.py`: A3C and GA3C on CartPole-v1 against a peer, with curves and scaling.

(`--suite` and `--env ENV` measure other environments instead: `measuring.suite`.)

One command measures everything the results page states, in the same session:

1. the environment's own limit (random actions, one environment and a vector of 8);
2. each algorithm's example for seeds 0..K-1, each run its own subprocess, with its JSON
   summary, its `episodes.csv` and its peak resident memory (`os.wait4`);
3. env steps/s against A3C workers and GA3C agents (short fixed-time runs);
4. the serving latency printed by `benchmarks/serving_latency.py`, when it exists;

then writes `<out>/results/<stamp>-<host>.json` (every raw figure), the learning-curve
and scaling PNGs beside it, and regenerates `<out>/RESULTS.md` from that JSON. This
module runs the measurements; `measuring.figures` turns them into statistics and
ratios, and `measuring.report` into RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, TextIO

from measuring.figures import (
    ALGO_NAMES,
    VECTOR_ENVS,
    aggregate,
    compare,
    json_objects,
    peer_aggregate,
    read_peer,
)
from measuring.report import render_results
from tfa3c.algorithms.registry import ALGORITHMS
from tfa3c.errors import UserInputError

ENV_ID = "CartPole-v1"  # the default environment, the one the examples train on
# Targets where gymnasium defines no reward_threshold: the peer's (../shared/peers), so
# that "solved" means the same for both.
PRESET_TARGETS = {"Pendulum-v1": -200.0}
# The environments ../shared/peers/sb3_a2c.sh has the zoo's settings for.
PEER_ENVS = ("CartPole-v1", "Acrobot-v1", "LunarLander-v3", "Pendulum-v1",
             "LunarLanderContinuous-v3", "MountainCar-v0", "MountainCarContinuous-v0",
             "BipedalWalker-v3", "Walker2d-v5", "ALE/Pong-v5")
# Environments without a reward threshold, compared by mean return (at the budget, and
# after `RETURN_AT_STEPS` env steps) rather than by time to solve.
UNSOLVABLE_ENVS = ("Walker2d-v5",)
RETURN_AT_STEPS = 1_000_000
# Configurations the suite can measure beside the algorithms' defaults: name ->
# (algorithm, its options).
VARIANTS = {"ga3c-none": ("ga3c", ("--correction", "none"))}
ALGOS = tuple(ALGORITHMS)  # every registered algorithm (`tfa3c.algorithms.registry`)

# The knob each algorithm scales (the config field counting its hosted roles), and its
# points; an algorithm without points of its own takes A3C's.
SCALING = {name: ("--" + entry.roles.replace("_", "-"),
                  {"ga3c": (1, 4, 16, 64)}.get(name, (1, 2, 4, 8)))
           for name, entry in ALGORITHMS.items()}
# One point each: the smoke test stays short.
QUICK_SCALING = {name: {"ga3c": (16,)}.get(name, (2,)) for name in ALGORITHMS}

# Budget of the full benchmark on a 2-core machine (target: under 10 minutes for 5 seeds
# of both algorithms). A run costs its training time plus about 5-8 s of interpreter,
# TensorFlow and model start-up; the serving script about 15 s, the environment's limit
# 9 s. The worst case, every run out of budget, is about
# 10 x (35 + 8) + 8 x (5 + 8) + 15 + 9 = 558 s; runs that solve early finish sooner.
DEFAULT_SEEDS = 5
DEFAULT_MAX_SECONDS = 35.0
_STARTUP_SECONDS = 8.0  # for the worst-case estimate printed at the start
DEFAULT_SCALING_SECONDS = 5.0
DEFAULT_ENV_LIMIT_SECONDS = 3.0  # per setting
QUICK_MAX_SECONDS = 3.0
QUICK_SCALING_SECONDS = 2.0
QUICK_ENV_LIMIT_SECONDS = 0.5
# Start-up, final checkpoint and summary on top of --max-seconds before a run counts as hung.
_RUN_GRACE_SECONDS = 120.0
_POLL_SECONDS = 0.1
SERVING_SCRIPT = pathlib.Path("benchmarks") / "serving_latency.py"
PEER_SCRIPT = pathlib.Path("..") / "shared" / "peers" / "sb3_a2c.sh"


# Locations ---------------------------------------------------------------------------
def project_root() -> pathlib.Path:
    """The folder that holds `tfa3c/` (the repository root in a source checkout)."""
    return pathlib.Path(__file__).resolve().parents[2]


def default_out_dir(quick: bool = False) -> pathlib.Path:
    """`benchmarks/` of the checkout when there is one, else `./benchmarks`.

    A `--quick` run's figures mean nothing, so by default it writes under the system's
    temporary folder and never replaces the committed `benchmarks/RESULTS.md`.
    """
    if quick:
        return pathlib.Path(tempfile.gettempdir()) / "tfa3c-bench-quick"
    candidate = project_root() / "benchmarks"
    return candidate if candidate.is_dir() else pathlib.Path("benchmarks")


def target_return(env_id: str) -> float | None:
    """The mean return that counts as solved: gymnasium's threshold, else the peer's preset."""
    from tfa3c.envs import reward_threshold

    threshold = reward_threshold(env_id)
    return threshold if threshold is not None else PRESET_TARGETS.get(env_id)


def training_command(algo: str, root: pathlib.Path | None = None,
                     env_id: str = ENV_ID, example: bool = True) -> list[str]:
    """The command line (before per-run options) that trains `algo` on `env_id`.

    For CartPole-v1 the example script when the checkout has it (and `example`), else
    `tfa3c train` through the module, which is the same code path. An environment without a
    reward_threshold of its own gets the peer's target (`PRESET_TARGETS`).

    Raises:
        UserInputError: neither the example nor the algorithm's module exists.
    """
    root = root or project_root()
    if algo in VARIANTS:
        base, options = VARIANTS[algo]
        return [*training_command(base, root, env_id, example=False), *options]
    script = root / "examples" / f"{algo}_cartpole.py"
    if example and env_id == ENV_ID and script.is_file():
        return [sys.executable, str(script)]
    # tfa3c.algorithms.<algo>; before 0.3, tfa3c.<algo> (a checkout of older code).
    if any(importlib.util.find_spec(name) is not None
           for name in (f"tfa3c.algorithms.{algo}", f"tfa3c.{algo}")):
        command = [sys.executable, "-m", "tfa3c.cli", "train", algo, "--env", env_id]
        if env_id in PRESET_TARGETS:
            command += ["--target-return", f"{PRESET_TARGETS[env_id]:g}"]
        return command
    raise UserInputError(f"{algo.upper()} is not available: {script} not found and no module "
                         f"tfa3c.algorithms.{algo}; choose --algos from what exists")


# Running one subprocess ------------------------------------------------------------
def parse_summary(output: str) -> dict[str, Any] | None:
    """The JSON summary a training run prints last, or None.

    Lines after it that are not JSON objects (a log with stderr interleaved, such as the
    soak's, may end with TensorFlow's messages at exit) are skipped.
    """
    last = next(json_objects(reversed(output.strip().splitlines())), None)
    return last if last is not None and "algo" in last else None


_PROGRESS_COMMON = {"env_steps", "episodes", "mean_return_100", "steps/s"}


def parse_progress(stdout: str) -> dict[str, float]:
    """Means over a run's progress lines of the figures beyond the common ones.

    GA3C prints PPS, TPS, prediction batch, policy lag, ... only on its progress lines
    (`name value | name value ...`, see `tfa3c.progress.format_progress`), not in its
    summary. The last line covers only the stretch up to the stop, so it is left out
    when there are others.
    """
    lines = []
    for line in stdout.splitlines():
        if not line.startswith("env_steps "):
            continue
        figures = {}
        for part in line.split(" | "):
            name, _, value = part.strip().rpartition(" ")
            if name and name not in _PROGRESS_COMMON:
                with contextlib.suppress(ValueError):
                    figures[name] = float(value.replace(",", ""))
        lines.append(figures)
    if len(lines) > 1:
        lines = lines[:-1]
    names = [name for figures in lines for name in figures]
    return {name: round(statistics.fmean(f[name] for f in lines if name in f), 2)
            for name in dict.fromkeys(names)}


def run_measured(command: Sequence[str], log_dir: pathlib.Path, timeout: float,
                 cwd: pathlib.Path | None = None) -> dict[str, Any]:
    """Runs `command` as a child process and measures it.

    stdout and stderr go to `log_dir/stdout.txt` and `log_dir/stderr.txt`. The child is reaped
    with `os.wait4`, whose resource usage is the child's own (its peak RSS, not the
    largest of all children so far as `RUSAGE_CHILDREN` would give). Past `timeout`
    seconds it gets SIGTERM (an orderly stop that still prints the summary), then SIGKILL.

    Returns:
        `returncode`, `wall_seconds`, `peak_rss_mib`, `summary` (parsed last line or
        None), `timed_out`, and the last stderr line as `error` when it failed.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = log_dir / "stdout.txt"
    err_path = log_dir / "stderr.txt"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    timed_out = False
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(list(command), stdout=out, stderr=err, cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL)
        try:
            status, usage = _wait_with_timeout(process, timeout)
            timed_out = status is None
            if timed_out:
                status, usage = _stop(process)
        except BaseException:  # Ctrl-C of the bench: do not leave a training behind
            if process.returncode is None:
                _stop(process)
            raise
    wall = time.perf_counter() - start
    stdout = out_path.read_text()
    stderr = err_path.read_text()
    result: dict[str, Any] = {
        "returncode": process.returncode,
        "wall_seconds": round(wall, 2),
        # ru_maxrss is in KiB on Linux, bytes on macOS.
        "peak_rss_mib": round(usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin"
                                                 else 1024), 1),
        "summary": parse_summary(stdout),
        "progress_means": parse_progress(stdout),
        "timed_out": timed_out,
    }
    if process.returncode != 0 or result["summary"] is None:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        result["error"] = (lines[-1] if lines else f"exit status {process.returncode}, "
                           "no summary line")[:300]
    return result


def run_seeds(base: Sequence[str], seeds: Sequence[int], max_seconds: float,
              prefix: pathlib.Path, label: str, out: pathlib.Path, progress,
              options: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Runs `base` for each seed, each its own measured subprocess and run folder.

    Args:
        base: the training command before the per-run options.
        seeds: the seeds.
        max_seconds: each run's training budget.
        prefix: run folders are `<prefix>-seed<N>`.
        label: names the runs in the progress display.
        out: the report's folder (run folders are recorded relative to it).
        progress: the benchmark's progress display.
        options: more options for every run.
    """
    root = project_root()
    runs = []
    for seed in seeds:
        logdir = prefix.with_name(f"{prefix.name}-seed{seed}")
        progress.start(f"{label} seed {seed}")
        command = [*base, "--seed", str(seed), "--logdir", str(logdir), "--no-export",
                   "--progress", "lines", *options, "--max-seconds", f"{max_seconds:g}"]
        result = run_measured(command, logdir, max_seconds + _RUN_GRACE_SECONDS, cwd=root)
        result.update(seed=seed, logdir=_relative(logdir, out),
                      command=_display_command(command, root))
        runs.append(result)
        progress.finish(f"{label} seed {seed}", _outcome(result))
    return runs


def _wait_with_timeout(process: subprocess.Popen, timeout: float):
    deadline = time.perf_counter() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            # Tell Popen the child is reaped, so it never waits for it again.
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if time.perf_counter() >= deadline:
            return None, None
        time.sleep(_POLL_SECONDS)


def _stop(process: subprocess.Popen):
    """SIGTERM, 20 s to stop in order, then SIGKILL; reaps the child."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    status, usage = _wait_with_timeout(process, 20.0)
    if status is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return status, usage


ENV_LIMIT_BLOCKS = 5


def measure_env_limit(env_id: str = ENV_ID, seconds: float = DEFAULT_ENV_LIMIT_SECONDS,
                      vector_envs: int = VECTOR_ENVS, seed: int = 0,
                      blocks: int = ENV_LIMIT_BLOCKS) -> dict[str, Any]:
    """Env steps/s of the environment alone, with random actions, on one core.

    Actions are drawn in advance so the figure is the environment's cost (plus
    gymnasium's wrappers, as the algorithms see it), not the sampler's. The three
    settings are timed in `blocks` interleaved blocks of `seconds / blocks` each and the
    fastest block of each is kept: a limit is what the machine can do, and a block that
    another process slowed down says nothing about the environment.

    Returns:
        `single_steps_per_second` (one environment from `gym.make`, as the algorithms step
        it, `reset` when an episode ends), `vector_steps_per_second` (a `SyncVectorEnv` of
        `vector_envs`, steps counted per sub-environment) and `bare_steps_per_second`
        (`env.unwrapped`: the physics alone, without gymnasium's checking, order and
        time-limit wrappers).
    """
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    # Any action space: its own sampler, drawn in advance.
    actions = [env.action_space.sample() for _ in range(1024)]
    bare = env.unwrapped  # the time limit is counted here instead of by the wrapper
    limit = env.spec.max_episode_steps if env.spec else None
    vector = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * vector_envs)
    vector.reset(seed=seed)
    vector.action_space.seed(seed)
    batches = [vector.action_space.sample() for _ in range(128)]
    bare_length = 0

    def single() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return len(actions)

    def unwrapped() -> int:
        nonlocal bare_length
        for action in actions:
            _, _, terminated, _, _ = bare.step(action)
            bare_length += 1
            if terminated or bare_length == limit:
                bare.reset()
                bare_length = 0
        return len(actions)

    def vectorized() -> int:
        for batch in batches:
            vector.step(batch)  # sub-environments reset themselves (autoreset)
        return len(batches) * vector_envs

    best = {"single": 0.0, "vector": 0.0, "bare": 0.0}
    block = seconds / max(blocks, 1)
    for _ in range(max(blocks, 1)):
        for name, step in (("single", single), ("vector", vectorized), ("bare", unwrapped)):
            steps = 0
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < block or not steps:
                steps += step()
            best[name] = max(best[name], steps / elapsed)
    env.close()
    vector.close()
    return {
        "env": env_id,
        "actions": "uniform random, drawn in advance",
        "method": f"fastest of {max(blocks, 1)} interleaved blocks of {block:.2g} s",
        "single_steps_per_second": round(best["single"], 1),
        "vector_envs": vector_envs,
        "vector_steps_per_second": round(best["vector"], 1),
        "bare_steps_per_second": round(best["bare"], 1),
    }


ATARI_LIMIT_ENVS = 16


def measure_atari_limit(env_id: str, seconds: float = 10.0, num_envs: int = ATARI_LIMIT_ENVS,
                        seed: int = 0) -> dict[str, Any]:
    """Agent steps/s of an Atari game alone: `AtariVectorEnv`, random actions, all cores.

    The same vector environment and preprocessing as training (`tfa3c.atari`), its C++
    threads on every core: the ceiling a learner's throughput is a fraction of.
    """
    import numpy as np

    from tfa3c.atari import make_vector_env

    env = make_vector_env(env_id, num_envs)
    env.reset(seed=np.arange(seed, seed + num_envs))
    rng = np.random.default_rng(seed)
    batches = [rng.integers(env.single_action_space.n, size=num_envs) for _ in range(64)]
    steps = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or not steps:
        for actions in batches:
            env.step(actions)
        steps += len(batches) * num_envs
    env.close()
    return {"env": env_id, "vector_env": "ale_py.vector_env.AtariVectorEnv",
            "games": num_envs, "actions": "uniform random", "seconds": round(elapsed, 1),
            "steps_per_second": round(steps / elapsed, 1)}


def run_serving_latency(root: pathlib.Path, timeout: float = 300.0) -> dict[str, Any]:
    """Runs `benchmarks/serving_latency.py`, if present, and keeps its JSON lines.

    Returns:
        `{"measured": True, "models": [...], "command": ...}`, or `{"measured": False,
        "reason": ...}`.
    """
    script = root / SERVING_SCRIPT
    if not script.is_file():
        return {"measured": False, "reason": f"{SERVING_SCRIPT} not found"}
    command = [sys.executable, str(script)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"measured": False, "reason": f"{SERVING_SCRIPT} ran past {timeout:.0f} s"}
    models = []
    for line in done.stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict) and "model" in value:
                models.append(value)
    if not models:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1][:200] if lines else "no JSON line with a \"model\" key"
        return {"measured": False,
                "reason": f"{SERVING_SCRIPT} exited {done.returncode}: {why}"}
    return {"measured": True, "command": f"python {SERVING_SCRIPT}", "models": models}


# The command -------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `benchmarks/run.py`."""
    from measuring.suite import BUDGETS, DEFAULT_BUDGET

    budgets = ", ".join(f"{env_id} {seconds:g} s" for env_id, seconds in BUDGETS.items())
    parser.description = ("Benchmark A3C and GA3C on CartPole-v1 (each seed its own subprocess) "
                          "against a peer; write results JSON, curves, scaling and RESULTS.md.")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds 0..K-1 per algorithm (default {DEFAULT_SEEDS}; "
                             "1 with --quick)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="a suite's first seed: seeds N..N+K-1 (default 0)")
    parser.add_argument("--peer-seconds", type=float, default=None,
                        help="a suite's peer budget per seed (default: the environment's "
                             "budget; 600 is enough for the peer's speed and early scores)")
    parser.add_argument("--algos", default=None,
                        help="algorithms, comma separated (default a3c,ga3c: those that exist); "
                             "a suite also takes ga3c-none (GA3C without V-trace)")
    peer = parser.add_mutually_exclusive_group()
    peer.add_argument("--peer", default=None, metavar="FILE",
                      help="peer JSON lines, as printed by ../shared/peers/sb3_a2c.sh")
    peer.add_argument("--run-peer", action="store_true",
                      help=f"run {PEER_SCRIPT} with the same seeds first (adds its time)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="training seconds per run at most "
                             f"(default {DEFAULT_MAX_SECONDS:g}; "
                             f"{QUICK_MAX_SECONDS:g} with --quick)")
    parser.add_argument("--scaling-seconds", type=float, default=None,
                        help="training seconds per scaling point "
                             f"(default {DEFAULT_SCALING_SECONDS:g}; "
                             f"{QUICK_SCALING_SECONDS:g} with --quick)")
    parser.add_argument("--workers-list", default=None,
                        help="A3C workers of the scaling runs (default "
                             + ",".join(map(str, SCALING["a3c"][1])) + ")")
    parser.add_argument("--agents-list", default=None,
                        help="GA3C agents of the scaling runs (default "
                             + ",".join(map(str, SCALING["ga3c"][1])) + ")")
    parser.add_argument("--no-scaling", dest="scaling", action="store_false",
                        help="skip the scaling runs")
    parser.add_argument("--no-serving", dest="serving", action="store_false",
                        help=f"skip {SERVING_SCRIPT}")
    parser.add_argument("--env", dest="env_id", default=ENV_ID,
                        help=f"environment (default {ENV_ID}: the main report); another one "
                             "is measured as a suite of one (see --suite); environments "
                             "without a reward_threshold take the peer's target "
                             "(Pendulum-v1: -200)")
    parser.add_argument("--suite", nargs="?", const="all", default=None, metavar="ENVS",
                        help="both algorithms and the peer on each environment, each with its "
                             f"budget ({budgets}; any other id {DEFAULT_BUDGET:g} s; "
                             "--max-seconds overrides); ENVS: a comma-separated subset "
                             "(default: all but Atari); writes the Environments section of "
                             "RESULTS.md only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 seed, a few seconds per run, one scaling point "
                             "per algorithm")
    parser.add_argument("--out", default=None,
                        help="folder for RESULTS.md and results/ (default: the checkout's "
                             "benchmarks/; with --quick, tfa3c-bench-quick/ in the temporary "
                             "folder, so a smoke test never replaces the committed results)")
    parser.add_argument("--progress", default="auto", choices=("auto", "bar", "lines", "none"),
                        help="progress over the runs (default: a bar on a terminal, lines "
                             "otherwise)")


def _int_list(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise UserInputError(f"{option} must be positive integers separated by commas, "
                             f"got {text!r}")
    return values


def _command_line(args: argparse.Namespace) -> str:
    given = getattr(args, "command_line", None)
    if given:
        return given
    program = pathlib.Path(sys.argv[0]).name
    if program in ("cli.py", "__main__.py"):
        program = "python -m tfa3c.cli"
    return " ".join([program, shlex.join(sys.argv[1:])]) if sys.argv[1:] else program


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("tensorflow", "keras", "gymnasium", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


class _Progress:
    """A tqdm bar over the benchmark's runs on a terminal, one line per run otherwise."""

    def __init__(self, mode: str, total: int, stream: TextIO | None = None):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode
        self.total = total
        self.done = 0
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="run", dynamic_ncols=True,
                             file=stream or sys.stderr)
        self._stream = stream

    def start(self, label: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(label, refresh=True)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self._stream or sys.stderr)
        elif self.mode == "lines":
            print(text, file=self._stream or sys.stdout, flush=True)

    def finish(self, label: str, outcome: str) -> None:
        self.done += 1
        # Each run's outcome stays on screen above the bar (or is the line off a terminal).
        self.message(f"[{self.done}/{self.total}] {label}: {outcome}")
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _outcome(result: dict[str, Any]) -> str:
    summary = result.get("summary")
    if not summary:
        return f"FAILED ({result.get('error', 'no summary')})"
    state = "solved" if summary.get("solved") else f"not solved ({summary.get('stop_reason')})"
    return (f"{state} in {summary['seconds']:.1f} s, {summary['env_steps']:,} env steps, "
            f"{summary['steps_per_second']:,.0f} steps/s, RSS {result['peak_rss_mib']:.0f} MiB")


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark (see the module docstring); returns the exit status."""
    started = time.perf_counter()
    quick = args.quick
    seeds = args.seeds if args.seeds is not None else (1 if quick else DEFAULT_SEEDS)
    if seeds < 1:
        raise UserInputError(f"--seeds must be at least 1, got {seeds}")
    max_seconds = args.max_seconds if args.max_seconds is not None else (
        QUICK_MAX_SECONDS if quick else DEFAULT_MAX_SECONDS)
    scaling_seconds = args.scaling_seconds if args.scaling_seconds is not None else (
        QUICK_SCALING_SECONDS if quick else DEFAULT_SCALING_SECONDS)
    if max_seconds <= 0 or scaling_seconds <= 0:
        raise UserInputError("--max-seconds and --scaling-seconds must be positive")
    root = project_root()
    given = {"a3c": _int_list(args.workers_list, "--workers-list"),
             "ga3c": _int_list(args.agents_list, "--agents-list")}
    scaling_points = {algo: given.get(algo) or (QUICK_SCALING[algo] if quick else points)
                      for algo, (_, points) in SCALING.items()}

    # Which algorithms can run: named ones must exist; by default, those that do.
    explicit = args.algos is not None
    names = [a.strip().lower() for a in (args.algos or ",".join(ALGOS)).split(",") if a.strip()]
    unknown = [a for a in names if a not in ALGOS and a not in VARIANTS]
    if unknown or not names:
        raise UserInputError(f"unknown algorithm(s) {', '.join(unknown) or '(none)'} in --algos; "
                             f"allowed: {', '.join((*ALGOS, *VARIANTS))}")
    suite_envs = _suite_envs(args)
    variants = [a for a in names if a in VARIANTS]
    if variants and not suite_envs:
        raise UserInputError(f"--algos {', '.join(variants)}: variants are measured by a suite "
                             "(--suite or --env); the CartPole-v1 report takes "
                             f"{', '.join(ALGOS)}")
    if args.first_seed < 0 or (args.peer_seconds is not None and args.peer_seconds <= 0):
        raise UserInputError("--first-seed must be at least 0 and --peer-seconds positive, got "
                             f"{args.first_seed} and {args.peer_seconds}")
    if suite_envs:
        return _run_suite(args, suite_envs, names, explicit, seeds, quick)
    if args.first_seed or args.peer_seconds is not None:
        raise UserInputError("--first-seed and --peer-seconds belong to a suite (--suite, or "
                             "--env with another environment than CartPole-v1): drop them")

    env_id = args.env_id
    _check_env(env_id, args.run_peer)

    commands: dict[str, list[str]] = {}
    unavailable: dict[str, str] = {}
    for algo in names:
        try:
            commands[algo] = training_command(algo, root, env_id)
        except UserInputError as error:
            if explicit:
                raise
            unavailable[algo] = str(error)
    if not commands:
        raise UserInputError("no algorithm to benchmark: " + "; ".join(unavailable.values()))

    # Inputs are checked before anything long starts.
    peer_runs = read_peer(args.peer) if args.peer else None
    # A line without `env` comes from the peer's CartPole-only days.
    other = sorted({str(r.get("env", ENV_ID)) for r in peer_runs or []
                    if r.get("env", ENV_ID) != env_id})
    if other:
        raise UserInputError(f"--peer file measured {', '.join(other)}, but the benchmark runs "
                             f"{env_id}; measure the peer with --env {env_id}")
    peer_script = (root / PEER_SCRIPT).resolve()
    if args.run_peer and not peer_script.is_file():
        raise UserInputError(f"--run-peer: {peer_script} not found; measure the peer yourself "
                             "and pass --peer FILE")

    out = pathlib.Path(args.out) if args.out else default_out_dir(quick)
    results_dir = out / "results"
    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0] or "host"
    stamp = f"{now:%Y-%m-%d-%H%M%S}-{host}"  # a fresh folder each time: CSVs are appended to
    runs_dir = results_dir / "runs" / stamp
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(f"cannot create {runs_dir}: {error.strerror}") from None

    total = len(commands) * seeds + (sum(len(scaling_points[a]) for a in commands)
                                     if args.scaling else 0)
    progress = _Progress(args.progress, total)
    worst = (len(commands) * seeds * (max_seconds + _STARTUP_SECONDS)
             + (total - len(commands) * seeds) * (scaling_seconds + _STARTUP_SECONDS))
    progress.message(f"benchmark: {', '.join(commands)} x {seeds} seed(s) at most "
                     f"{max_seconds:g} s each, {total - len(commands) * seeds} scaling run(s) of "
                     f"{scaling_seconds:g} s; at most about {worst / 60:.0f} min of runs")
    for algo, reason in unavailable.items():
        progress.message(f"skipping {algo}: {reason}")
    try:
        peer_source = args.peer
        if args.run_peer:
            peer_path = results_dir / f"{stamp}-peer.jsonl"
            # Beyond CartPole the peer gets our budget: where it does not solve, it counts
            # at the budget (and its mean return there is compared).
            peer_options = ([] if env_id == ENV_ID else
                            ["--env", env_id, "--max-seconds", f"{max_seconds:g}"])
            peer_args = [*peer_options, *map(str, range(seeds))]
            progress.message(f"running the peer: bash {PEER_SCRIPT} {' '.join(peer_args)}")
            with open(peer_path, "w") as file, \
                    open(results_dir / f"{stamp}-peer.stderr.txt", "w") as err:
                subprocess.run(["bash", str(peer_script), *peer_args], stdout=file,
                               stderr=err, check=False, cwd=root, stdin=subprocess.DEVNULL)
            peer_runs = read_peer(peer_path)
            peer_source = f"bash {PEER_SCRIPT} {' '.join(peer_args)}"

        progress.message("measuring the environment's own limit")
        env_limit = measure_env_limit(env_id, QUICK_ENV_LIMIT_SECONDS if quick
                                      else DEFAULT_ENV_LIMIT_SECONDS)

        algorithms: dict[str, Any] = {}
        for algo, base in commands.items():
            runs = run_seeds(base, range(seeds), max_seconds, runs_dir / algo, algo, out,
                             progress)
            algorithms[algo] = {"runs": runs, "stats": aggregate(runs)}
        for algo, reason in unavailable.items():
            algorithms[algo] = {"runs": [], "stats": aggregate([]), "unavailable": reason}

        scaling: dict[str, Any] = {}
        if args.scaling:
            for algo, base in commands.items():
                option = SCALING[algo][0]
                points = []
                for value in scaling_points[algo]:
                    logdir = runs_dir / f"scaling-{algo}-{option.strip('-')}{value}"
                    label = f"{algo} {option} {value}"
                    progress.start(label)
                    command = [*base, option, str(value), "--seed", "0", "--logdir", str(logdir),
                               "--no-export", "--progress", "lines", "--no-stop-when-solved",
                               "--max-seconds", f"{scaling_seconds:g}"]
                    result = run_measured(command, logdir, scaling_seconds + _RUN_GRACE_SECONDS,
                                          cwd=root)
                    result.update(value=value, logdir=_relative(logdir, out),
                                  command=_display_command(command, root))
                    points.append(result)
                    progress.finish(label, _outcome(result))
                scaling[algo] = {"option": option, "points": points}

        serving = {"measured": False, "reason": "skipped (--no-serving)"}
        if args.serving:
            progress.message(f"serving latency: {SERVING_SCRIPT}")
            serving = run_serving_latency(root)
    except KeyboardInterrupt:
        progress.close()
        print("python benchmarks/run.py: interrupted; nothing written but the run folders under "
              f"{runs_dir}", file=sys.stderr, flush=True)
        return 130
    finally:
        progress.close()

    threshold = target_return(env_id)
    peer = None
    if peer_runs is not None:
        peer_algo = str(peer_runs[0].get("algo", "peer"))
        peer = {"name": ALGO_NAMES.get(peer_algo, peer_algo), "source": peer_source,
                "runs": peer_runs, "stats": peer_aggregate(peer_runs)}
    for entry in algorithms.values():
        entry["ratios"] = compare(entry["stats"], peer["stats"] if peer else None, env_limit)

    plots = _draw_plots(algorithms, scaling, peer, threshold, env_limit, out, results_dir,
                        stamp, env_id)
    data = {
        "meta": {
            "command": _command_line(args), "date": now.isoformat(timespec="seconds"),
            "host": host, "cpu_count": os.cpu_count(), "cpu_model": _cpu_model(),
            "python": platform.python_version(), "packages": _versions(), "env": env_id,
            "reward_threshold": threshold, "seeds": seeds, "max_seconds": max_seconds,
            "scaling_seconds": scaling_seconds, "quick": quick,
            "total_seconds": round(time.perf_counter() - started, 1),
        },
        "env_limit": env_limit, "algorithms": algorithms, "peer": peer, "scaling": scaling,
        "serving": serving, "plots": plots,
    }
    json_path = results_dir / f"{stamp}.json"
    _write_atomic(json_path, json.dumps(data, indent=2) + "\n")
    results_md = out / "RESULTS.md"
    from measuring import hosting, soak
    from measuring import suite as bench_suite

    # The suite (`--suite`), the soak and the hosting benchmarks (benchmarks/soak.py,
    # benchmarks/hosting.py) run on their own; their newest sections stay.
    _write_atomic(results_md, render_results(data, _relative(json_path, out))
                  + bench_suite.latest_section(results_dir, out)
                  + soak.latest_section(results_dir, out)
                  + hosting.latest_section(results_dir, out))
    print(f"results: {json_path}", flush=True)
    print(f"report: {results_md} ({data['meta']['total_seconds']:.0f} s in all)", flush=True)
    return 0


def _check_env(env_id: str, run_peer: bool) -> None:
    """Fails with one line for an environment the benchmark cannot measure."""
    from tfa3c.envs import make_env

    make_env(env_id).close()  # an unknown id or unsupported spaces
    if target_return(env_id) is None and env_id not in UNSOLVABLE_ENVS:
        raise UserInputError(f"{env_id} has no reward_threshold, so no run could count as "
                             "solved; benchmark an environment that has one, or one of "
                             f"{', '.join(PRESET_TARGETS)}")
    if run_peer and not peer_supports(env_id):
        raise UserInputError(f"--run-peer: the peer has settings for {', '.join(PEER_ENVS)}, "
                             f"any ALE game and any gymnasium MuJoCo task only, not {env_id}; "
                             "measure it yourself and pass --peer FILE")


def peer_supports(env_id: str) -> bool:
    """Whether ../shared/peers/sb3_a2c.sh has settings for `env_id`.

    The zoo's own environments, every ALE game (its Atari block) and every gymnasium
    MuJoCo task (its mujoco-defaults).
    """
    import gymnasium as gym

    from tfa3c import atari

    if env_id in PEER_ENVS or atari.is_atari(env_id):
        return True
    try:
        entry_point = gym.spec(env_id).entry_point
    except (gym.error.Error, ImportError):
        return False
    return "gymnasium.envs.mujoco" in str(entry_point)


def _suite_envs(args: argparse.Namespace) -> list[str]:
    """The environments of a suite run: `--suite [ENVS]`, or an `--env` other than CartPole."""
    from measuring.suite import SUITE

    if args.suite is None:
        return [] if args.env_id == ENV_ID else [args.env_id]
    if args.suite == "all":
        return list(SUITE)
    envs = [name.strip() for name in args.suite.split(",") if name.strip()]
    if not envs:
        raise UserInputError(f"--suite takes environment ids separated by commas, got "
                             f"{args.suite!r}; allowed: {', '.join(SUITE)} or any other id")
    return envs


def _run_suite(args: argparse.Namespace, env_ids: list[str], names: list[str], explicit: bool,
               seeds: int, quick: bool) -> int:
    """Checks every environment and algorithm first, then runs `bench_suite.run_suite`."""
    from measuring.suite import budget, run_suite

    main_only = [option for option, value in (("--scaling-seconds", args.scaling_seconds),
                                             ("--workers-list", args.workers_list),
                                             ("--agents-list", args.agents_list))
                 if value is not None]
    if main_only:
        raise UserInputError(f"{', '.join(main_only)} belong to the CartPole-v1 report; a suite "
                             f"(--suite, or --env {env_ids[0]}) runs no scaling: drop them")
    root = project_root()
    commands: dict[str, dict[str, list[str]]] = {}
    for env_id in env_ids:
        _check_env(env_id, args.run_peer)
        commands[env_id] = {}
        for algo in names:
            try:
                commands[env_id][algo] = training_command(algo, root, env_id, example=False)
            except UserInputError:
                if explicit:
                    raise
    if not any(commands.values()):
        raise UserInputError("no algorithm to benchmark: neither tfa3c.algorithms.a3c nor "
                             "tfa3c.algorithms.ga3c exists")
    if args.peer:  # a bad file fails now, not after hours of runs
        measured = {str(r.get("env", ENV_ID)) for r in read_peer(args.peer)}
        missing = [env_id for env_id in env_ids if env_id not in measured]
        if missing:
            raise UserInputError(f"--peer file measured {', '.join(sorted(measured))}, but the "
                                 f"benchmark runs {', '.join(env_ids)}; measure the peer with "
                                 + " and ".join(f"--env {env_id}" for env_id in missing))
    if args.run_peer and not (root / PEER_SCRIPT).is_file():
        raise UserInputError(f"--run-peer: {(root / PEER_SCRIPT).resolve()} not found; measure "
                             "the peer yourself and pass --peer FILE")
    max_seconds = args.max_seconds if args.max_seconds is not None else (
        QUICK_MAX_SECONDS if quick else None)
    out = pathlib.Path(args.out) if args.out else default_out_dir(quick)
    total = sum(len(c) for c in commands.values()) * seeds
    worst = sum(len(commands[e]) * seeds * (budget(e, max_seconds) + _STARTUP_SECONDS)
                + ((args.peer_seconds or budget(e, max_seconds)) * seeds if args.run_peer else 0)
                for e in env_ids)
    progress = _Progress(args.progress, total)
    progress.message(f"suite: {', '.join(env_ids)}; {seeds} seed(s) of "
                     f"{', '.join(names)}{' and the peer' if args.run_peer else ''} each; at "
                     f"most about {worst / 3600:.1f} h")
    try:
        return run_suite(args, env_ids, commands, seeds, out, progress, max_seconds)
    except KeyboardInterrupt:
        print("python benchmarks/run.py: interrupted; nothing written but the run folders under "
              f"{out / 'results' / 'runs'}", file=sys.stderr, flush=True)
        return 130
    finally:
        progress.close()


def _draw_plots(algorithms: dict[str, Any], scaling: dict[str, Any], peer: dict[str, Any] | None,
                threshold: float | None, env_limit: dict[str, Any], out: pathlib.Path,
                results_dir: pathlib.Path, stamp: str, env_id: str) -> dict[str, str]:
    """Draws the learning curves and the scaling plot; returns their paths under `out`."""
    from tfa3c import plotting

    plots: dict[str, str] = {}
    groups = {}
    for algo, entry in algorithms.items():
        logs = []
        for run in entry["runs"]:
            with contextlib.suppress(UserInputError):  # a failed run may have no CSV
                logs.append(plotting.read_episodes(out / run["logdir"]))
        if logs:
            groups[ALGO_NAMES.get(algo, algo)] = logs
    if groups:
        path = results_dir / f"{stamp}-curves.png"
        plotting.plot_curves(groups, path, threshold=threshold,
                             reference=(peer["name"], peer["runs"]) if peer else None,
                             title=f"{env_id}: "
                                   f"{max(len(e['runs']) for e in algorithms.values())} "
                                   "seed(s) per algorithm")
        plots["curves"] = _relative(path, out)
    series = {ALGO_NAMES.get(algo, algo) + f" ({entry['option']})":
              [(p["value"], (p.get("summary") or {}).get("steps_per_second"))
               for p in entry["points"]]
              for algo, entry in scaling.items()}
    if series:
        path = results_dir / f"{stamp}-scaling.png"
        plotting.plot_scaling(series, path, limit=env_limit.get("single_steps_per_second"))
        plots["scaling"] = _relative(path, out)
    return plots


def _relative(path: pathlib.Path, base: pathlib.Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive (Windows)
        return str(path)


def _display_command(command: Sequence[str], root: pathlib.Path) -> str:
    """The command as a user would type it from the repository root."""
    parts = []
    for part in command:
        if part == sys.executable:
            part = "python"
        elif os.path.isabs(part) and pathlib.Path(part).resolve().is_relative_to(root.resolve()):
            part = _relative(pathlib.Path(part), root)
        parts.append(part)
    return shlex.join(parts)


def _write_atomic(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None, prog: str = "python benchmarks/run.py") -> int:
    """Entry point of `benchmarks/run.py`: parse, run, one-line errors with exit status 2."""
    from tfa3c import cli

    # No TensorFlow here: the runs are subprocesses, and this process only counts.
    parser = cli.OneLineArgumentParser(prog=prog)
    add_arguments(parser)
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    args.command_line = shlex.join([*shlex.split(prog), *argv])
    with cli.user_errors(prog):
        return run(args)
