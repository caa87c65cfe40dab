"""Whether a restructuring kept what tfa3c learns and how fast: this tree against a revision.

Checks out `--baseline` (a git revision) into a temporary worktree and runs the same
training runs from it and from this tree, interleaved (A B, then B A), so that the
machine's drift hits both alike:

- CartPole-v1, seeds 0..K-1, until solved (at most `--cartpole-seconds`): seconds and
  env steps to solve; the medians' ratio.
- Acrobot-v1, seeds 0..K-1, until solved (at most `--acrobot-seconds`): solved or not.
- ALE/Pong-v5, fixed-time runs (`--pong-seconds`, `--no-stop-when-solved`): env steps/s.

Each run is `tfa3c train ALGO --env ENV --seed S --max-seconds T` in a process of its
own. Every run's summary is appended to `results/<stamp>-behaviour-kept.jsonl` as it
ends; the report goes to its section of RESULTS.md.

    python benchmarks/behaviour_kept.py --baseline cf42dbe
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
TREES = ("baseline", "this tree")


def run_once(tree: Path, algo: str, env: str, seed: int, seconds: float, logdir: str,
             until_solved: bool) -> dict:
    """One run from `tree` (its own `tfa3c` comes first on the path); its summary."""
    command = [sys.executable, "-m", "tfa3c.cli", "train", algo, "--env", env,
               "--seed", str(seed), "--max-seconds", str(seconds), "--no-export",
               "--progress", "none", "--logdir", logdir]
    if not until_solved:
        command.append("--no-stop-when-solved")
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True,
                            timeout=seconds + 600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {tree}:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the git revision to compare with")
    parser.add_argument("--algos", default="a3c,ga3c", help="comma-separated algorithms")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds run from here (more seeds for a figure measured before)")
    parser.add_argument("--cartpole-seeds", type=int, default=5)
    parser.add_argument("--cartpole-seconds", type=float, default=60.0)
    parser.add_argument("--acrobot-seeds", type=int, default=3)
    parser.add_argument("--acrobot-seconds", type=float, default=150.0)
    parser.add_argument("--pong-repeats", type=int, default=1, help="Pong runs per tree")
    parser.add_argument("--pong-seconds", type=float, default=120.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    started = time.time()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, f"{stamp}-behaviour-kept.jsonl")
    baseline = Path(tempfile.mkdtemp(prefix="tfa3c-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline],
                   cwd=ROOT, check=True, capture_output=True)
    trees = {"baseline": baseline, "this tree": ROOT}
    algos = args.algos.split(",")
    first = args.first_seed
    cases = [("CartPole-v1", seed, args.cartpole_seconds, True)
             for seed in range(first, first + args.cartpole_seeds)]
    cases += [("Acrobot-v1", seed, args.acrobot_seconds, True)
              for seed in range(first, first + args.acrobot_seeds)]
    cases += [("ALE/Pong-v5", repeat, args.pong_seconds, False)
              for repeat in range(args.pong_repeats)]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as runs:
            pairs = 0
            for env, seed, seconds, until_solved in cases:
                for algo in algos:
                    order = TREES if pairs % 2 == 0 else TREES[::-1]
                    pairs += 1
                    for name in order:
                        logdir = os.path.join(runs, f"{len(rows)}")
                        summary = run_once(trees[name], algo, env, seed, seconds, logdir,
                                           until_solved)
                        row = {"tree": name, "env": env, "algo": algo, "seed": seed,
                               **{key: summary[key] for key in
                                  ("solved", "seconds", "env_steps", "steps_per_second")}}
                        rows.append(row)
                        with open(log, "a") as file:
                            file.write(json.dumps(row) + "\n")
                        print(json.dumps(row), flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT,
                       capture_output=True)
    section = report(rows, args, algos, time.time() - started)
    print(section)
    results = ROOT / "benchmarks" / "RESULTS.md"
    results.write_text(replace_section(results.read_text(), section,
                                       f"<!-- {section_name(args)}:start -->",
                                       f"<!-- {section_name(args)}:end -->"))
    return 0


def section_name(args: argparse.Namespace) -> str:
    """The name of a measurement's RESULTS.md section: a rerun of it replaces it."""
    return (f"behaviour-kept {args.algos} seeds {args.first_seed}+ "
            f"{args.cartpole_seeds}/{args.acrobot_seeds}/{args.pong_repeats}")


def report(rows: list[dict], args: argparse.Namespace, algos: list[str],
           seconds: float) -> str:
    """The RESULTS.md section: medians per tree and their ratios."""
    options = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in vars(args).items()
                       if name not in ("out",))
    lines = [
        f"<!-- {section_name(args)}:start -->",
        f"## Behaviour against {args.baseline} ({args.algos}, seeds from {args.first_seed})",
        "",
        f"`python benchmarks/behaviour_kept.py {options}` ({datetime.date.today()}, "
        f"{platform.node()}, {os.cpu_count()} CPUs, {seconds / 60:.0f} min). Runs of this "
        "tree and of the baseline interleaved; medians over seeds (solved runs only for "
        "the times to solve).",
        "",
        "| env | algo | figure | baseline | this tree | ratio (this / baseline) |",
        "|---|---|---|---|---|---|",
    ]
    for env in dict.fromkeys(row["env"] for row in rows):
        for algo in algos:
            mine = {name: [row for row in rows if row["env"] == env and row["algo"] == algo
                           and row["tree"] == name] for name in TREES}
            if not mine["baseline"]:
                continue
            solved = {name: sum(row["solved"] for row in mine[name]) for name in TREES}
            runs = len(mine["this tree"])
            if env.startswith("ALE/"):
                figures = [("env steps/s", "steps_per_second", False)]
            else:
                lines.append(f"| {env} | {algo.upper()} | solved | {solved['baseline']}/{runs} "
                             f"| {solved['this tree']}/{runs} | |")
                figures = [("seconds to solve", "seconds", True),
                           ("env steps to solve", "env_steps", True)]
            for label, key, solved_only in figures:
                values = {name: median([row[key] for row in mine[name]
                                        if row["solved"] or not solved_only]) for name in TREES}
                ratio = (values["this tree"] / values["baseline"]
                         if values["this tree"] and values["baseline"] else None)
                lines.append(
                    f"| {env} | {algo.upper()} | {label} | {_number(values['baseline'])} | "
                    f"{_number(values['this tree'])} | "
                    f"{'' if ratio is None else f'{ratio:.2f}'} |")
    lines.append(f"<!-- {section_name(args)}:end -->")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


if __name__ == "__main__":
    sys.exit(main())
