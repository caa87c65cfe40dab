"""What tfa3c's checks of non-finite values cost: env steps/s against a revision without them.

Checks out `--baseline` (a git revision) into a temporary worktree and runs the same
fixed-time training runs from it and from this tree, interleaved (A B B A ...), so that the
machine's drift hits both alike. Each run is `tfa3c train ALGO --env ENV
--no-stop-when-solved --max-seconds S`; its summary's `steps_per_second` is the figure.
Reports the median of each, their ratio, and writes its section of RESULTS.md (one per
set of `--envs`, between `checks-overhead` markers).

    python benchmarks/checks_overhead.py --baseline f56ac15
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measuring.soak import replace_section

ROOT = Path(__file__).resolve().parent.parent
CASES = (("CartPole-v1", 15.0), ("ALE/Pong-v5", 40.0))


# One environment group's step (16 environments, random actions), best of 5 blocks: the
# checks' own cost, without the noise of whole training runs.
GROUP_STEP = """
import json, sys, timeit
import numpy as np
from tfa3c.envs import make_group
env, steps = sys.argv[1], int(sys.argv[2])
group = make_group(env, 16, 0)
actions = np.random.default_rng(0).integers(0, group.num_actions, size=(steps, 16))
def block():
    for row in actions:
        group.step(row)
block()
print(json.dumps(min(timeit.repeat(block, number=1, repeat=5)) / steps * 1e6))
"""


def group_step_us(tree: Path, env: str) -> float:
    """Microseconds per step of 16 environments, with `tree`'s tfa3c."""
    steps = "200" if env.startswith("ALE/") else "3000"
    result = subprocess.run([sys.executable, "-c", GROUP_STEP, env, steps], cwd=tree,
                            capture_output=True, text=True, timeout=600, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def run_once(tree: Path, algo: str, env: str, seconds: float, logdir: str) -> float:
    """One fixed-time run from `tree` (its own `tfa3c` comes first on the path)."""
    command = [sys.executable, "-m", "tfa3c.cli", "train", algo, "--env", env,
               "--no-stop-when-solved", "--max-seconds", str(seconds), "--no-export",
               "--progress", "none", "--logdir", logdir]
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {tree}:\n{result.stderr[-2000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["steps_per_second"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision without the checks")
    parser.add_argument("--repeats", type=int, default=3, help="runs per tree and case")
    parser.add_argument("--pong-repeats", type=int, default=2, help="runs per tree on Pong")
    parser.add_argument("--group-steps-only", action="store_true",
                        help="measure only the environment groups' steps (a minute or two)")
    parser.add_argument("--algos", default="a3c,ga3c", help="comma-separated algorithms")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per run (default: 15 on CartPole, 40 on Pong)")
    parser.add_argument("--envs", default=",".join(env for env, _ in CASES),
                        help="comma-separated subset of the cases' environments")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    started = time.time()
    baseline = Path(tempfile.mkdtemp(prefix="tfa3c-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline],
                   cwd=ROOT, check=True, capture_output=True)
    rows, steps = [], []
    try:
        with tempfile.TemporaryDirectory() as runs:
            for env, default_seconds in [case for case in CASES
                                         if case[0] in args.envs.split(",")]:
                seconds = args.seconds or default_seconds
                # Interleaved A B B A, as the runs are.
                times = {"baseline": [], "checked": []}
                for name in ("baseline", "checked", "checked", "baseline"):
                    times[name].append(group_step_us(baseline if name == "baseline" else ROOT,
                                                     env))
                steps.append({"env": env, **{k: min(v) for k, v in times.items()}})
                print(f"{env} group step: {steps[-1]}", flush=True)
                repeats = args.pong_repeats if env.startswith("ALE/") else args.repeats
                for algo in () if args.group_steps_only else args.algos.split(","):
                    figures: dict[str, list[float]] = {"baseline": [], "checked": []}
                    for repeat in range(repeats):
                        order = ("baseline", "checked") if repeat % 2 == 0 else (
                            "checked", "baseline")
                        for name in order:
                            tree = baseline if name == "baseline" else ROOT
                            logdir = os.path.join(runs, f"{algo}-{name}-{len(rows)}-{repeat}")
                            figures[name].append(run_once(tree, algo, env, seconds, logdir))
                            print(f"{env} {algo} {name}: {figures[name][-1]:.0f} steps/s",
                                  flush=True)
                    medians = {name: statistics.median(values)
                               for name, values in figures.items()}
                    rows.append({"env": env, "algo": algo, "seconds": seconds, **figures,
                                 "ratio": medians["checked"] / medians["baseline"],
                                 **{f"median_{k}": v for k, v in medians.items()}})
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT,
                       capture_output=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{stamp}-checks-overhead.json"), "w") as file:
        json.dump({"baseline": args.baseline, "rows": rows, "group_steps": steps}, file,
                  indent=2)
    # One section per set of environments: a rerun of a subset keeps the others' figures.
    key = (f"{args.envs} group steps" if args.group_steps_only
           else f"{args.envs} {args.algos}" + (f" {args.seconds:g} s" if args.seconds else ""))
    start = f"<!-- checks-overhead {key}:start -->"
    end = f"<!-- checks-overhead {key}:end -->"
    options = (f"--group-steps-only --envs {args.envs}" if args.group_steps_only else
               f"--repeats {args.repeats} --pong-repeats {args.pong_repeats} --envs {args.envs} "
               f"--algos {args.algos}" + (f" --seconds {args.seconds:g}" if args.seconds else ""))
    lines = [
        start,
        f"## Cost of the non-finite checks: {key.replace(',', ', ')}",
        "",
        f"`python benchmarks/checks_overhead.py --baseline {args.baseline} {options}` "
        f"({datetime.date.today()}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"{(time.time() - started) / 60:.0f} min).",
    ]
    if rows:
        lines += [
            "",
            "Fixed-time runs (`--no-stop-when-solved`), this tree and the baseline "
            "interleaved; env steps/s from each run's summary, medians.",
            "",
            "| env | algo | s per run | runs each | baseline steps/s | checked steps/s | ratio |",
            "|---|---|---|---|---|---|---|",
        ]
    for row in rows:
        lines.append(f"| {row['env']} | {row['algo'].upper()} | {row['seconds']:g} | "
                     f"{len(row['checked'])} | {row['median_baseline']:,.0f} | "
                     f"{row['median_checked']:,.0f} | {row['ratio']:.3f} |")
    lines += ["", "One step of an environment group (16 environments, random actions; the "
              "fastest of 5 blocks, each tree twice): where the environment checks run.", "",
              "| env | baseline µs/step | checked µs/step | ratio |", "|---|---|---|---|"]
    for row in steps:
        lines.append(f"| {row['env']} | {row['baseline']:.1f} | {row['checked']:.1f} | "
                     f"{row['checked'] / row['baseline']:.3f} |")
    lines.append(end)
    section = "\n".join(lines)
    print(section)
    results = ROOT / "benchmarks" / "RESULTS.md"
    results.write_text(replace_section(results.read_text(), section, start, end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
