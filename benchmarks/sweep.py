"""Compare candidate settings on several environments: how the library's defaults are chosen.

    python benchmarks/sweep.py benchmarks/plans/defaults-acrobot.json [--out results.jsonl]
    python benchmarks/sweep.py --report results.jsonl [--write RESULTS.md --title TITLE]

A plan is a JSON list of candidates, each `{"label", "algo", "env", "seconds", "seeds",
"args"}`: `tfa3c train ALGO --env ENV --seed S --max-seconds SECONDS ARGS...` runs once
per seed, each run its own measured subprocess (as the suite's), one after another, and
each finished run appends one JSON line (its summary, the label and the command) to
`--out`, so an interrupted sweep keeps what it measured. `--report` prints a Markdown
table of a results file: per label, the runs solved, and the medians of the seconds and
env steps to solve (a run that did not solve counts at its stop) and of the mean return
at the stop; with `--write`, as the section of RESULTS.md named by `--title` (replaced,
or added at the end).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import sys
import time
from typing import Any

from measuring.bench import project_root, run_measured
from measuring.soak import replace_section


def run_plan(plan: list[dict[str, Any]], out: pathlib.Path, runs_dir: pathlib.Path) -> None:
    """Runs every candidate of `plan` for each of its seeds; appends a line per run to `out`."""
    root = project_root()
    for candidate in plan:
        for seed in candidate["seeds"]:
            logdir = runs_dir / f"{candidate['label']}-seed{seed}"
            shutil.rmtree(logdir, ignore_errors=True)
            command = [sys.executable, "-m", "tfa3c.cli", "train", candidate["algo"], "--env",
                       candidate["env"], "--seed", str(seed), "--logdir", str(logdir),
                       "--no-export", "--progress", "lines", "--log-interval", "10",
                       "--max-seconds", f"{candidate['seconds']:g}", *candidate.get("args", [])]
            started = time.time()
            result = run_measured(command, logdir, candidate["seconds"] + 120, cwd=root)
            summary = result.pop("summary", None) or {}
            line = {**summary, "label": candidate["label"], "seed": seed,
                    "args": candidate.get("args", []), "returncode": result["returncode"],
                    "wall_seconds": round(time.time() - started, 1),
                    "command": " ".join(command[1:])}
            with open(out, "a") as file:
                file.write(json.dumps(line) + "\n")
            print(f"{candidate['label']} seed {seed}: solved {summary.get('solved')}, "
                  f"{summary.get('seconds')} s, {summary.get('env_steps')} env steps, "
                  f"mean return {summary.get('mean_return_100')}", flush=True)


def report(lines: list[dict[str, Any]]) -> str:
    """A Markdown table of a sweep's runs: one row per label, in order of first appearance."""
    labels: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        labels.setdefault(line["label"], []).append(line)

    def median(values):
        values = [value for value in values if value is not None]
        return statistics.median(values) if values else None

    def fmt(value, pattern="{:,.1f}"):
        return "-" if value is None else pattern.format(value)

    rows = ["| candidate | env | options | solved | median s | median env steps "
            "| median mean return at stop | runs (s, steps) |", "|---|---|---|---|---|---|---|---|"]
    for label, runs in labels.items():
        solved = sum(bool(run.get("solved")) for run in runs)
        each = ", ".join(f"{fmt(run.get('seconds'))}{'' if run.get('solved') else '*'} / "
                         f"{fmt(run.get('env_steps'), '{:,.0f}')}" for run in runs)
        rows.append(f"| {label} | {runs[0].get('env', '-')} | `{' '.join(runs[0]['args'])}` | "
                    f"{solved}/{len(runs)} | {fmt(median(r.get('seconds') for r in runs))} | "
                    f"{fmt(median(r.get('env_steps') for r in runs), '{:,.0f}')} | "
                    f"{fmt(median(r.get('mean_return_100') for r in runs))} | {each} |")
    return "\n".join(rows) + "\n\n`*`: not solved, counted at its stop.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/sweep.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan", nargs="?", help="the plan: a JSON list of candidates")
    parser.add_argument("--out", default="sweep.jsonl", help="results, one JSON line per run")
    parser.add_argument("--runs-dir", default=None,
                        help="run folders (default: sweep-runs/ beside --out)")
    parser.add_argument("--report", metavar="RESULTS", default=None,
                        help="print a Markdown table of a results file instead of running")
    parser.add_argument("--write", metavar="RESULTS_MD", default=None,
                        help="with --report: write the table into this RESULTS.md instead")
    parser.add_argument("--title", default="Choosing the defaults",
                        help="with --write: the section's title (it names the section)")
    args = parser.parse_args(argv)
    if args.report:
        lines = [json.loads(line) for line in pathlib.Path(args.report).read_text().splitlines()
                 if line.strip()]
        table = report(lines)
        if not args.write:
            print(table, end="")
            return 0
        start, end = f"<!-- sweep: {args.title} -->", f"<!-- /sweep: {args.title} -->"
        section = (f"{start}\n## {args.title}\n\nCommand: `python benchmarks/sweep.py PLAN "
                   f"--out {args.report}`; `--report {args.report}` wrote this table.\n\n"
                   f"{table}{end}\n")
        path = pathlib.Path(args.write)
        text = path.read_text() if path.is_file() else "# Benchmark results\n"
        path.write_text(replace_section(text, section, start, end))
        return 0
    if not args.plan:
        parser.error("give a plan, or --report RESULTS")
    try:
        plan = json.loads(pathlib.Path(args.plan).read_text())
    except (OSError, ValueError) as error:
        print(f"python benchmarks/sweep.py: error: cannot read the plan {args.plan}: {error}",
              file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    runs_dir = pathlib.Path(args.runs_dir) if args.runs_dir else out.parent / "sweep-runs"
    run_plan(plan, out, runs_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
