"""The benchmark tooling (benchmarks/measuring) and `tfa3c plot`: aggregation on fabricated
inputs, plots, and a --quick run."""

import argparse
import json
import sys
import time

import numpy as np
import pytest
from measuring import bench
from measuring import figures as bench_figures
from measuring import report as bench_report
from measuring import suite as bench_suite

from tests.conftest import run_command
from tfa3c import plotting
from tfa3c.errors import UserInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULTS_SECTIONS = ("# Benchmark results", "## Summary", "## Per algorithm",
                    "## Environment's own limit", "## Learning curves", "## Scaling",
                    "## Serving latency", "## Reproduce")


def summary(seed, seconds, env_steps, solved=True, algo="a3c", **extra):
    return {"algo": algo, "env": "CartPole-v1", "seed": seed, "solved": solved,
            "seconds": seconds, "env_steps": env_steps, "episodes": 100,
            "steps_per_second": round(env_steps / seconds, 1), "mean_return_100": 480.0,
            "stop_reason": "solved" if solved else "max_seconds", **extra}


def fabricated_runs():
    return [
        {"seed": 0, "summary": summary(0, 10.0, 50_000), "peak_rss_mib": 700.0},
        {"seed": 1, "summary": summary(1, 20.0, 80_000), "peak_rss_mib": 720.0},
        {"seed": 2, "summary": summary(2, 40.0, 100_000, solved=False), "peak_rss_mib": 710.0},
        {"seed": 3, "summary": None, "peak_rss_mib": 300.0, "error": "boom"},
    ]


PEER = [summary(s, sec, steps, algo="sb3-a2c")
        for s, sec, steps in ((0, 20.0, 100_000), (1, 30.0, 120_000), (2, 40.0, 140_000))]


def write_csv(run_dir, rows, algo="a3c", header="wall_time,env_steps,return,length"):
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [header, *(f"{t},{s},{r},{int(r)}" for t, s, r in rows)]
    (run_dir / "episodes.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "config.json").write_text(json.dumps(
        {"algo": algo, "config": {"env_id": "CartPole-v1", "seed": 0}}))
    return run_dir


def rising_rows(episodes=150, scale=1.0):
    rows, steps = [], 0
    for i in range(episodes):
        ret = min(500.0, 10.0 + 4 * i * scale)
        steps += int(ret)
        rows.append((round(0.01 * steps / 100, 3), steps, ret))
    return rows


# Aggregation ---------------------------------------------------------------------------
def test_aggregate_medians_ranges_and_counts():
    stats = bench_figures.aggregate(fabricated_runs())
    assert (stats["runs"], stats["completed"], stats["solved"], stats["unsolved"],
            stats["failed"]) == (4, 3, 2, 1, 1)
    assert stats["seconds"] == {"median": 20.0, "min": 10.0, "max": 40.0, "n": 3}
    assert stats["env_steps"]["median"] == 80_000
    assert stats["steps_per_second"] == {"median": 4000.0, "min": 2500.0, "max": 5000.0, "n": 3}
    # The failed run's RSS does not count: it never trained.
    assert stats["peak_rss_mib"] == {"median": 710.0, "min": 700.0, "max": 720.0, "n": 3}


def test_aggregate_of_nothing_and_even_counts():
    empty = bench_figures.aggregate([])
    assert empty["runs"] == 0 and empty["seconds"] is None
    assert bench_figures.describe([1, 2, 3, 10]) == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    assert bench_figures.describe([None, None]) is None


def test_extras_from_summary_and_progress_lines():
    runs = [{"summary": summary(0, 10.0, 50_000, algo="ga3c", pps=100.0),
             "progress_means": {"pps": 1.0, "tps": 20.0}},
            {"summary": summary(1, 10.0, 50_000, algo="ga3c"),
             "progress_means": {"pps": 300.0, "tps": 40.0}}]
    extras = bench_figures.aggregate(runs)["extras"]
    # The summary wins over progress lines for the same figure.
    assert extras["pps"]["median"] == 200.0
    assert extras["tps"] == {"median": 30.0, "min": 20.0, "max": 40.0, "n": 2}


def test_compare_ratios_to_peer_and_env_limit():
    stats = bench_figures.aggregate(fabricated_runs())
    peer = bench_figures.peer_aggregate(PEER)
    limit = {"single_steps_per_second": 40_000.0, "vector_steps_per_second": 20_000.0}
    ratios = bench_figures.compare(stats, peer, limit)
    assert ratios["time_to_solve_ratio"] == pytest.approx(20.0 / 30.0)
    assert ratios["env_steps_ratio"] == pytest.approx(80_000 / 120_000)
    assert ratios["steps_per_second_ratio"] == pytest.approx(4000.0 / 4000.0)
    assert ratios["fraction_of_single_env"] == pytest.approx(0.1)
    assert ratios["fraction_of_vector_env"] == pytest.approx(0.2)
    no_peer = bench_figures.compare(stats, None, None)
    assert no_peer["time_to_solve_ratio"] is None and no_peer["fraction_of_single_env"] is None


def test_parse_summary_and_progress():
    out = ("env_steps 1,000 | episodes 5 | mean_return_100 - | steps/s 4,000 | pps 10,000.0 "
           "| tps 20.0\n"
           "env_steps 2,000 | episodes 9 | mean_return_100 20.0 | steps/s 4,000 | pps 30,000.0 "
           "| tps 40.0\n"
           "env_steps 2,100 | episodes 9 | mean_return_100 20.0 | steps/s 400 | pps 3.0 "
           "| tps 4.0\n"
           "final checkpoint: x\n" + json.dumps(summary(0, 1.0, 2100)) + "\n")
    assert bench.parse_summary(out)["env_steps"] == 2100
    # The last, partial interval is left out of the means.
    assert bench.parse_progress(out) == {"pps": 20_000.0, "tps": 30.0}
    assert bench.parse_summary(out + "\nW0000 00:00 some TensorFlow message at exit\n") == (
        bench.parse_summary(out))
    assert bench.parse_summary("no json here\n") is None
    assert bench.parse_summary('{"not": "a summary"}') is None


def test_read_peer_skips_noise_and_rejects_bad_files(tmp_path):
    path = tmp_path / "peer.jsonl"
    path.write_text("Collecting torch\n" + "\n".join(json.dumps(p) for p in PEER) + "\n{bad\n")
    assert [p["seed"] for p in bench_figures.read_peer(path)] == [0, 1, 2]
    with pytest.raises(UserInputError, match="cannot read peer file"):
        bench_figures.read_peer(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("nothing\n")
    with pytest.raises(UserInputError, match="no JSON summary line"):
        bench_figures.read_peer(tmp_path / "empty.jsonl")


def fabricated_results(runs, peer_runs):
    for run in runs:
        run.setdefault("logdir", f"results/runs/x/a3c-seed{run['seed']}")
    stats = bench_figures.aggregate(runs)
    peer = {"name": "SB3 A2C", "source": "peer.jsonl", "runs": peer_runs,
            "stats": bench_figures.peer_aggregate(peer_runs)}
    limit = {"env": "CartPole-v1", "actions": "uniform random", "vector_envs": 8,
             "single_steps_per_second": 40_000.0, "vector_steps_per_second": 20_000.0}
    return {
        "meta": {"command": "python benchmarks/run.py --peer peer.jsonl", "date": "2026-01-01",
                 "host": "h", "cpu_count": 2, "cpu_model": "cpu", "python": "3.11",
                 "packages": {"tensorflow": "2.21"}, "env": "CartPole-v1",
                 "reward_threshold": 475.0, "seeds": 4, "max_seconds": 40.0,
                 "scaling_seconds": 5.0, "quick": False, "total_seconds": 321.0},
        "env_limit": limit,
        "algorithms": {"a3c": {"runs": runs, "stats": stats,
                               "ratios": bench_figures.compare(stats, peer["stats"], limit)}},
        "peer": peer,
        "scaling": {"a3c": {"option": "--workers", "points": [
            {"value": 1, "summary": summary(0, 5.0, 10_000), "peak_rss_mib": 1.0}]}},
        "serving": {"measured": True, "command": "python benchmarks/serving_latency.py",
                    "models": [{"model": "a3c", "exported_action_us": 100.0,
                                "keras_tf_function_us": 200.0, "ratio": 0.5}]},
        "plots": {"curves": "results/c.png", "scaling": "results/s.png"},
    }


def test_render_results_states_ratios_and_sections():
    data = fabricated_results(fabricated_runs(), PEER)
    text = bench_report.render_results(data, "results/x.json")
    for section in RESULTS_SECTIONS:
        assert section in text
    assert "`python benchmarks/run.py --peer peer.jsonl`" in text
    assert ("| A3C | 2/4 | 480.0 | >= 20.0 | >= 0.67x | 4,000 | 1.00x | >= 0.67x | 10% / 20% |"
            in text)
    assert "![learning curves](results/c.png)" in text
    assert "Total wall time of the command: 321 s" in text
    assert "| a3c | 100.00 | 200.00 | 0.50 |" in text


def test_ratios_against_an_unsolved_peer_are_bounds_or_nothing():
    unsolved_peer = [*PEER[:2], summary(2, 40.0, 140_000, solved=False, algo="sb3-a2c",
                                        mean_return_100=300.0)]
    solved = [{"seed": s, "summary": summary(s, 10.0, 50_000)} for s in range(3)]
    text = bench_report.render_results(fabricated_results(solved, unsolved_peer), "x.json")
    assert "| A3C | 3/3 | 480.0 | 10.0 | <= 0.33x |" in text  # the peer's time is a floor
    assert "| SB3 A2C | 2/3 | 480.0 | >= 30.0 | 1.00x |" in text
    text = bench_report.render_results(fabricated_results(fabricated_runs(), unsolved_peer),
                                       "x.json")
    assert "| >= 20.0 | n/a (neither solved every run) |" in text


def test_serving_latency_parsed_or_not_measured(tmp_path):
    assert not bench.run_serving_latency(tmp_path)["measured"]
    script = tmp_path / "benchmarks" / "serving_latency.py"
    script.parent.mkdir()
    script.write_text("import json\nprint('warming up')\n"
                      "print(json.dumps({'model': 'a3c', 'exported_action_us': 1.5}))\n")
    result = bench.run_serving_latency(tmp_path)
    assert result["measured"] and result["models"][0]["exported_action_us"] == 1.5


def test_run_measured_reports_rss_summary_and_timeout(tmp_path):
    code = ("import json; x = bytearray(64 * 1024 * 1024); "
            f"print(json.dumps({summary(0, 1.0, 10)!r}))")
    result = bench.run_measured([sys.executable, "-c", code], tmp_path / "ok", timeout=60)
    assert result["returncode"] == 0 and result["summary"]["env_steps"] == 10
    assert result["peak_rss_mib"] >= 64
    assert (tmp_path / "ok" / "stdout.txt").is_file()
    slow = bench.run_measured([sys.executable, "-c", "import time; time.sleep(60)"],
                              tmp_path / "slow", timeout=0.5)
    assert slow["timed_out"] and slow["summary"] is None and "error" in slow


def test_env_limit_measures_both_settings():
    limit = bench.measure_env_limit(seconds=0.1)
    assert limit["single_steps_per_second"] > 1000
    assert limit["vector_steps_per_second"] > 1000


# Plots ------------------------------------------------------------------------------------
def test_rolling_mean_and_band():
    assert plotting.rolling_mean([1, 2, 3, 4], window=2).tolist() == [1.0, 1.5, 2.5, 3.5]
    grid, median, low, high = plotting.band(
        [np.array([1.0, 2.0]), np.array([1.0, 4.0])],
        [np.array([10.0, 20.0]), np.array([30.0, 40.0])], points=5)
    assert grid.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # Before the first episode: NaN; a run that stopped keeps its last value.
    assert median[1] == 20.0 and low[4] == 20.0 and high[4] == 40.0
    assert np.isnan(median[0])


def test_plot_command_draws_png_grouped_by_algo(tmp_path):
    runs = [write_csv(tmp_path / "a0", rising_rows()),
            write_csv(tmp_path / "a1", rising_rows(scale=2)),
            write_csv(tmp_path / "g0", rising_rows(scale=3), algo="ga3c")]
    peer = tmp_path / "peer.jsonl"
    peer.write_text("\n".join(json.dumps(p) for p in PEER))
    out = tmp_path / "curves.png"
    args = argparse.Namespace(run_dirs=[str(r) for r in runs], out=str(out), labels=None,
                              reference=str(peer), threshold=None, title="t")
    assert plotting.run(args) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    logs = [plotting.read_episodes(r) for r in runs]
    assert [log.algo for log in logs] == ["a3c", "a3c", "ga3c"]
    assert plotting._threshold_of(logs) == 475.0
    bad = argparse.Namespace(**{**vars(args), "labels": ["one,two"]})
    with pytest.raises(UserInputError, match="one per RUN_DIR"):
        plotting.run(bad)


def test_plot_rejects_bad_run_folders_with_one_line(tmp_path):
    corrupt = write_csv(tmp_path / "corrupt", [], header="this,is,not")
    empty = write_csv(tmp_path / "empty", [])
    malformed = write_csv(tmp_path / "malformed", [])
    (malformed / "episodes.csv").write_text("wall_time,env_steps,return,length\n1.0,x,3,3\n")
    binary = write_csv(tmp_path / "binary", [])
    (binary / "episodes.csv").write_bytes(b"\xff\xfe\x00garbage")
    for path, message in ((tmp_path / "missing", "is not a run folder"),
                          (tmp_path, "cannot read"),
                          (corrupt, "is not an episode CSV"),
                          (empty, "has no episodes"),
                          (malformed, "line 2 is malformed"),
                          (binary, "episodes.csv")):
        with pytest.raises(UserInputError, match=message) as caught:
            plotting.read_episodes(path)
        assert "\n" not in str(caught.value)


def test_plot_command_line(tmp_path):
    good = write_csv(tmp_path / "good", rising_rows(20))
    done = run_command(["-m", "tfa3c.cli", "plot", str(good), "--labels", "mine",
                        "--out", str(tmp_path / "c.png")], timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    done = run_command(["-m", "tfa3c.cli", "plot", str(tmp_path / "missing"),
                        "--out", str(tmp_path / "x.png")], timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"tfa3c: error: {tmp_path / 'missing'} is not a run folder (expected a folder with "
        "episodes.csv)"]


def bench_args(tmp_path, *argv):
    from tfa3c import cli

    parser = cli.OneLineArgumentParser(prog="python benchmarks/run.py")
    bench.add_arguments(parser)
    return parser.parse_args(["--out", str(tmp_path / "o"), *argv])


def test_bench_rejects_bad_input(tmp_path):
    for args, message in ((["--algos", "ppo"], "unknown algorithm"),
                          (["--peer", str(tmp_path / "nope")], "cannot read peer file"),
                          (["--seeds", "0"], "--seeds must be at least 1"),
                          (["--max-seconds", "0"], "must be positive"),
                          (["--workers-list", "1,x"], "--workers-list must be")):
        with pytest.raises(UserInputError, match=message):
            bench.run(bench_args(tmp_path, *args))
    assert not (tmp_path / "o").exists()  # nothing half-written
    done = run_command(["benchmarks/run.py", "--algos", "ppo"], timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python benchmarks/run.py: error: unknown algorithm(s) ppo in --algos; "
        "allowed: a3c, ga3c, ga3c-none"]


# The whole CartPole report's smoke test (46 s on CI's 2 cores) and the sweep's (20 s) are
# `slow`, to keep the default suite near 12 minutes; the suite's smoke test stays in it.
@pytest.mark.slow
def test_bench_quick_produces_well_formed_files(tmp_path, root):
    algos = [a for a in bench.ALGOS if (root / "examples" / f"{a}_cartpole.py").is_file()]
    out = tmp_path / "bench"
    done = run_command(["benchmarks/run.py", "--quick", "--no-serving", "--progress",
                        "lines", "--algos", ",".join(algos), "--out", str(out)], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [json_path] = (out / "results").glob("*.json")
    data = json.loads(json_path.read_text())
    assert set(data) >= {"meta", "env_limit", "algorithms", "peer", "scaling", "serving", "plots"}
    assert data["meta"]["quick"] and data["meta"]["seeds"] == 1
    assert data["env_limit"]["single_steps_per_second"] > 0
    for algo in algos:
        entry = data["algorithms"][algo]
        assert entry["stats"]["completed"] == 1, entry["runs"]
        run = entry["runs"][0]
        assert set(run["summary"]) >= set(bench_figures.SUMMARY_KEYS)
        assert run["peak_rss_mib"] > 50
        assert (out / run["logdir"] / "episodes.csv").is_file()
        assert set(entry["ratios"]) >= {"time_to_solve_ratio", "fraction_of_single_env"}
        assert entry["ratios"]["fraction_of_single_env"] > 0
        [point] = data["scaling"][algo]["points"]
        assert point["summary"]["steps_per_second"] > 0, point
    text = (out / "RESULTS.md").read_text()
    for section in RESULTS_SECTIONS:
        assert section in text
    assert "Quick mode" in text and "not measured" in text
    for name in ("curves", "scaling"):
        png = out / data["plots"][name]
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"]({data['plots'][name]})" in text
    assert "[1/" in done.stdout  # plain progress lines off a terminal


def test_progress_bar_shows_budget_return_and_speed():
    import io

    from tfa3c.progress import ProgressReporter

    stream = io.StringIO()
    bar = ProgressReporter("bar", total_steps=100_000, stream=stream)
    bar.update(25_000, 40, 123.4, 12_345.6, {"pps": 50_000.0, "tps": 80.0})
    bar.close()
    text = stream.getvalue()
    assert "25%" in text and "100k" in text
    assert "return100=123.4" in text and "steps/s=12.3k" in text and "pps=50k" in text
    lines = io.StringIO()
    reporter = ProgressReporter("lines", stream=lines)
    reporter.update(2_000, 9, None, 4_000.0, {"pps": 30_000.0})
    reporter.close()
    assert lines.getvalue() == ("env_steps 2,000 | episodes 9 | mean_return_100 - | "
                                "steps/s 4,000 | pps 30,000.0\n")
    # What the bench parses from such lines.
    assert bench.parse_progress(lines.getvalue()) == {"pps": 30_000.0}


def test_quick_mode_never_writes_the_committed_results(root):
    from measuring.bench import default_out_dir

    assert default_out_dir() == root / "benchmarks"
    quick = default_out_dir(quick=True)
    assert root not in quick.parents and quick.name == "tfa3c-bench-quick"


def test_soak_section_is_rendered_and_replaced_in_place(tmp_path):
    from measuring import soak

    samples = [{"minute": m, "rss_mib": 500.0 + (10.0 if m >= 5 else 0.0) + m * 0.5}
               for m in range(12)]
    data = {"meta": {"command": "python benchmarks/soak.py", "date": "2026-11-24T13:00:00",
                     "cpu_count": 2, "minutes": 12.0, "sequential": False},
            "runs": {"a3c": {"command": "-m tfa3c.cli train a3c", "samples": samples,
                             "growth_after_minute_5": soak.growth_after(samples),
                             "summary": {}, "total_env_steps": 1234}}}
    assert soak.growth_after(samples) == pytest.approx(515.5 / 512.5 - 1)
    section = soak.render_section(data, "results/x.soak.json")
    assert "| a3c | 512.5 | 515.5 | +0.6% | met | 1,234 |" in section
    text = soak.replace_section("# Results\n\nbody\n", section)
    again = soak.replace_section(text, section.replace("met", "MET"))
    assert again.count(soak.SECTION_START) == 1 and "MET" in again and "body" in again
    results = tmp_path / "results"
    results.mkdir()
    (results / "2026-11-24-130000.soak.json").write_text(json.dumps(data))
    assert "| a3c | 512.5" in soak.latest_section(results, tmp_path)
    assert soak.latest_section(tmp_path / "none", tmp_path) == ""


def test_soak_section_of_a_failed_or_broken_run_never_breaks_the_report(tmp_path):
    from measuring import soak

    data = {"meta": {"command": "c", "date": "d", "cpu_count": 2, "minutes": 30.0,
                     "sequential": False},
            "runs": {"ga3c": {"command": "x", "samples": [{"minute": 0, "rss_mib": 1.0}],
                              "growth_after_minute_5": None, "summary": None,
                              "total_env_steps": None, "returncode": -9}}}
    assert "| ga3c | - | 1.0 | - | failed (exit -9) | - |" in soak.render_section(data, "x")
    results = tmp_path / "results"
    results.mkdir()
    (results / "2026-11-24-130000.soak.json").write_text("{not json")
    section = soak.latest_section(results, tmp_path)
    assert "could not be read" in section and soak.SECTION_END in section


def test_bench_beyond_cartpole_commands_targets_and_env_limit(root):
    assert bench.training_command("a3c", root) == [sys.executable,
                                                   str(root / "examples" / "a3c_cartpole.py")]
    assert bench.training_command("ga3c", root, "Acrobot-v1")[-4:] == [
        "train", "ga3c", "--env", "Acrobot-v1"]
    assert bench.training_command("ga3c", root, "Pendulum-v1")[-2:] == ["--target-return", "-200"]
    assert bench.target_return("Pendulum-v1") == -200.0
    assert bench.target_return("Acrobot-v1") == -100.0
    limit = bench.measure_env_limit("Pendulum-v1", seconds=0.2, vector_envs=2, blocks=1)
    assert limit["single_steps_per_second"] > 0 and limit["vector_steps_per_second"] > 0


def test_bench_refuses_a_peer_measured_on_another_environment(tmp_path):
    peer = tmp_path / "peer.jsonl"
    peer.write_text(json.dumps({"algo": "sb3-a2c", "env": "CartPole-v1", "seconds": 1.0,
                                "env_steps": 10, "steps_per_second": 10.0}) + "\n")
    result = run_command(["benchmarks/run.py", "--env", "Acrobot-v1", "--peer",
                          str(peer), "--out", str(tmp_path / "out")], timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "measured CartPole-v1" in lines[0] and "--env Acrobot-v1" in lines[0]
    assert not (tmp_path / "out").exists()


def test_bench_refuses_an_environment_nothing_can_solve(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "target_return", lambda env_id: None)
    with pytest.raises(UserInputError, match="Acrobot-v1 has no reward_threshold"):
        bench.run(bench_args(tmp_path, "--env", "Acrobot-v1"))
    monkeypatch.undo()
    with pytest.raises(UserInputError, match=r"the peer has settings for .* MuJoCo task only"):
        bench.run(bench_args(tmp_path, "--env", "examples.corridor:Corridor-v0", "--run-peer"))
    assert not (tmp_path / "o").exists()


def test_the_peer_covers_its_own_envs_ale_games_and_mujoco_tasks():
    assert bench.peer_supports("Acrobot-v1")
    assert bench.peer_supports("ALE/Breakout-v5")
    assert bench.peer_supports("InvertedPendulum-v5")  # the zoo's mujoco-defaults
    assert not bench.peer_supports("FrozenLake-v1")
    assert not bench.peer_supports("examples.corridor:Corridor-v0")


def suite_entry(times, peer_times, budget=100.0, returns=None):
    """A suite entry: per algorithm the seconds of its runs (None: not solved).

    `returns` gives an algorithm's (or "peer"'s) mean return at the stop; 1.0 otherwise.
    """
    returns = returns or {}

    def runs(values, name):
        return [{"summary": {"solved": t is not None, "seconds": t or budget,
                             "mean_return_100": returns.get(name, 1.0), "env_steps": 1,
                             "steps_per_second": 1.0}}
                for t in values]

    entry = {"budget": budget, "target": 0.0,
             "algorithms": {algo: {"runs": runs(values, algo), "stats": bench_figures.aggregate(
                 runs(values, algo))} for algo, values in times.items()}}
    if peer_times is not None:
        peer_runs = [run["summary"] for run in runs(peer_times, "peer")]
        entry["peer"] = {"name": "SB3 A2C", "source": "x", "runs": peer_runs,
                         "stats": bench_figures.peer_aggregate(peer_runs)}
    return entry


def test_suite_verdict_counts_unsolved_runs_at_the_budget():
    from measuring.suite import verdict

    check = verdict(suite_entry({"a3c": [10, 20, 30], "ga3c": [40, None, None]},
                                [40, 50, 60]))
    assert check["median_seconds"] == {"a3c": 20, "ga3c": 100.0}
    assert check["ratios"] == {"a3c": 0.4, "ga3c": 2.0}
    assert check["faster_met"] and not check["slower_met"] and not check["all_solved"]
    # A peer that never solves counts at the budget.
    check = verdict(suite_entry({"a3c": [10], "ga3c": [90]}, [None]))
    assert check["peer_median_seconds"] == 100.0
    assert check["ratios"] == {"a3c": 0.1, "ga3c": 0.9}
    assert check["faster_met"] and check["slower_met"] and check["all_solved"]
    assert not verdict(suite_entry({"a3c": [10]}, None))["faster_met"]
    # Neither solves: a ratio of 1.0 keeps up only with a mean return at least the peer's.
    check = verdict(suite_entry({"a3c": [10], "ga3c": [None]}, [None],
                                returns={"ga3c": -1064.6, "peer": 50.8}))
    assert check["ratios"]["ga3c"] == 1.0
    assert check["behind_at_budget"] == {"a3c": False, "ga3c": True}
    assert check["faster_met"] and not check["slower_met"]
    check = verdict(suite_entry({"a3c": [10], "ga3c": [None]}, [None],
                                returns={"ga3c": 60.0, "peer": 50.8}))
    assert check["slower_met"] and not check["behind_at_budget"]["ga3c"]


def test_a_peer_that_ran_shorter_and_did_not_solve_has_no_time_to_compare():
    from measuring.suite import verdict

    entry = suite_entry({"ga3c": [None]}, [None], budget=1800.0,
                        returns={"ga3c": -15.0, "peer": -20.0})
    entry["peer_budget"] = 600
    check = verdict(entry)
    assert check["peer_median_seconds"] is None and check["ratios"] == {"ga3c": None}
    assert check["faster_met"] is None and check["slower_met"] is None
    assert check["behind_at_budget"] == {"ga3c": False}
    # Solved within its shorter budget, the peer's time stands.
    entry = suite_entry({"ga3c": [900]}, [300], budget=1800.0)
    entry["peer_budget"] = 600
    check = verdict(entry)
    assert check["peer_median_seconds"] == 300 and check["ratios"] == {"ga3c": 3.0}
    assert check["faster_met"] is False


def test_suite_counts_samples_against_the_peer():
    from measuring.suite import verdict

    entry = suite_entry({"a3c": [10, 20, 30]}, [40, 50, 60])
    for steps, run in zip((100, 300, 200), entry["algorithms"]["a3c"]["runs"], strict=True):
        run["summary"]["env_steps"] = steps
    for steps, run in zip((50, 100, 400), entry["peer"]["runs"], strict=True):
        run["env_steps"] = steps
    check = verdict(entry)
    assert check["median_steps"] == {"a3c": 200} and check["peer_median_steps"] == 100
    assert check["step_ratios"] == {"a3c": 2.0}


def test_an_environment_without_a_threshold_is_judged_by_mean_returns(tmp_path):
    from measuring import suite as bench_suite

    entry = suite_entry({"a3c": [None, None], "ga3c": [None, None]}, [None, None],
                        returns={"a3c": 900.0, "ga3c": 300.0, "peer": 400.0})
    entry.update(env_id="Walker2d-v5", target=None)
    at_steps = {"a3c": (600.0, 700.0), "ga3c": (500.0, None)}
    for algo, values in at_steps.items():
        for value, run in zip(values, entry["algorithms"][algo]["runs"], strict=True):
            run["mean_return_100_at_steps"] = value
    check = bench_suite.verdict(entry)
    assert check["returns"] == {"a3c": 900.0, "ga3c": 300.0} and check["peer_return"] == 400.0
    assert check["at_steps"] == {"a3c": 650.0, "ga3c": 500.0}
    assert check["above_peer"] is False and check["reference_met"] is False  # GA3C below both
    entry["source"] = {"meta": {"command": "c", "date": "d", "cpu_count": 2, "seeds": 2},
                       "json": "x.json"}
    section = bench_suite.render_section({"Walker2d-v5": entry})
    assert "no threshold" in section and "after 1M env steps" in section
    assert "| GA3C | 300.0 | 500.0 (1 of 2 runs got there)" in section
    assert "at least 582.0 (the zoo's A2C): missed" in section


def test_suite_section_shows_each_environments_newest_run_before_the_soak(tmp_path):
    from measuring import soak
    from measuring import suite as bench_suite

    def suite_file(stamp, env_id, times):
        entry = suite_entry(times, [40, 50, 60])
        entry["verdict"] = bench_suite.verdict(entry)
        entry["curves"] = f"results/{stamp}-curves.png"
        data = {"meta": {"command": f"tfa3c bench --suite {env_id}", "date": stamp,
                         "cpu_count": 2, "seeds": 3, "total_seconds": 5.0},
                "envs": {env_id: entry}}
        path = tmp_path / "results" / f"{stamp}{bench_suite.SUFFIX}"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(data))

    suite_file("2026-01-01", "Acrobot-v1", {"a3c": [10, 20, 30], "ga3c": [40, None, None]})
    section = bench_suite.latest_section(tmp_path / "results", tmp_path)
    assert "### Acrobot-v1" in section and "| A3C | 3/3 | 20.0 | 0.40x |" in section
    assert "| GA3C | 1/3 | 100.0 | 2.00x |" in section
    assert "every run solved: missed" in section and "slower <= 1.0x: missed" in section
    assert "](results/2026-01-01-curves.png)" in section
    assert "[results/2026-01-01.suite.json](results/2026-01-01.suite.json)" in section
    report = f"# Results\n\nmain\n\n{soak.SECTION_START}\nsoak\n{soak.SECTION_END}\n"
    text = bench_suite.replace_section(report, section)
    assert text.index("### Acrobot-v1") < text.index(soak.SECTION_START) and "main" in text
    # A later run of another environment keeps Acrobot's figures; a rerun replaces them.
    suite_file("2026-01-02", "Pendulum-v1", {"a3c": [10], "ga3c": [20]})
    suite_file("2026-01-03", "Acrobot-v1", {"a3c": [5, 5, 5], "ga3c": [6, 6, 6]})
    again = bench_suite.replace_section(
        text, bench_suite.latest_section(tmp_path / "results", tmp_path))
    assert again.count(bench_suite.SECTION_START) == 1 and "### Pendulum-v1" in again
    assert "| A3C | 3/3 | 5.0 |" in again and "| A3C | 3/3 | 20.0 |" not in again
    assert "soak" in again and "main" in again
    (tmp_path / "results" / f"2026-01-04{bench_suite.SUFFIX}").write_text("{not json")
    broken = bench_suite.latest_section(tmp_path / "results", tmp_path)
    assert "### Pendulum-v1" in broken and "2026-01-04.suite.json could not be read" in broken


@pytest.mark.slow  # 26 s of two trainings on CI's 2 cores; the suite's parts have unit tests
def test_suite_quick_runs_the_algorithms_and_writes_only_its_section(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "RESULTS.md").write_text("# Benchmark results\n\nthe CartPole report\n")
    done = run_command(["benchmarks/run.py", "--quick", "--suite", "Acrobot-v1",
                        "--max-seconds", "3", "--progress", "lines", "--out", str(out)],
                       timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [json_path] = (out / "results").glob("*.suite.json")
    entry = json.loads(json_path.read_text())["envs"]["Acrobot-v1"]
    assert entry["budget"] == 3.0 and entry["target"] == -100.0
    for algo in bench.ALGOS:
        [run] = entry["algorithms"][algo]["runs"]
        assert run["summary"]["env"] == "Acrobot-v1" and run["summary"]["env_steps"] > 0
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Benchmark results\n\nthe CartPole report\n")
    assert "### Acrobot-v1" in text
    assert (out / entry["curves"]).read_bytes()[:8] == PNG_MAGIC


def test_suite_refuses_the_main_reports_options(tmp_path):
    with pytest.raises(UserInputError, match=r"--workers-list belong to the CartPole-v1 report"):
        bench.run(bench_args(tmp_path, "--env", "Acrobot-v1", "--workers-list", "1,2"))
    assert not (tmp_path / "o").exists()


def test_a_stuck_peer_is_stopped_and_its_finished_seeds_count(tmp_path, monkeypatch):
    import io
    import types

    # A peer whose first seed prints its line and whose second hangs.
    script = tmp_path / "peer.sh"
    line = json.dumps({"algo": "sb3_a2c", "env": "Acrobot-v1", "seed": 0, "solved": True,
                       "seconds": 4.0, "env_steps": 40000, "steps_per_second": 10000.0,
                       "mean_return_100": -99.0})
    script.write_text(f"[ $1 = 0 ] && echo '{line}' && exit 0\nexec sleep 60\n")
    monkeypatch.setattr(bench_suite, "_peer_setup", lambda: None)
    monkeypatch.setattr(bench_suite, "_peer_command",
                        lambda logdir, env_id, seed, seconds: ["bash", str(script), str(seed)])
    monkeypatch.setattr(bench_suite, "peer_timeout", lambda seconds, seeds: 2.0)
    args = types.SimpleNamespace(run_peer=True, peer=None, command_line="test")
    stream = io.StringIO()
    started = time.monotonic()
    assert bench_suite.run_suite(args, ["Acrobot-v1"], {"Acrobot-v1": {}}, 2, tmp_path,
                                 bench._Progress("lines", 0, stream), max_seconds=5.0) == 0
    assert time.monotonic() - started < 30
    assert "the peer's seed 1 ran past 2 s and was stopped" in stream.getvalue()
    [json_path] = (tmp_path / "results").glob("*.suite.json")
    entry = json.loads(json_path.read_text())["envs"]["Acrobot-v1"]
    assert entry["budget"] == 5.0
    assert [run["seed"] for run in entry["peer"]["runs"]] == [0]


def test_a_suite_starts_at_its_first_seed_and_gives_the_peer_its_own_budget(tmp_path,
                                                                             monkeypatch):
    import io
    import types

    calls = []

    def peer_command(logdir, env_id, seed, seconds):
        calls.append((seed, seconds))
        line = json.dumps({"algo": "sb3_a2c", "env": env_id, "seed": seed, "solved": False,
                           "seconds": seconds, "env_steps": 100, "steps_per_second": 50.0,
                           "mean_return_100": -99.0})
        return ["echo", line]

    monkeypatch.setattr(bench_suite, "_peer_setup", lambda: None)
    monkeypatch.setattr(bench_suite, "_peer_command", peer_command)
    args = types.SimpleNamespace(run_peer=True, peer=None, command_line="test", first_seed=3,
                                 peer_seconds=1.5)
    assert bench_suite.run_suite(args, ["Acrobot-v1"], {"Acrobot-v1": {}}, 2, tmp_path,
                                 bench._Progress("lines", 0, io.StringIO()),
                                 max_seconds=5.0) == 0
    assert calls == [(3, 1.5), (4, 1.5)]
    [json_path] = (tmp_path / "results").glob("*.suite.json")
    data = json.loads(json_path.read_text())
    assert data["meta"]["first_seed"] == 3
    assert [run["seed"] for run in data["envs"]["Acrobot-v1"]["peer"]["runs"]] == [3, 4]


def test_game_scores_count_the_last_20_games_and_equal_wall_times(tmp_path):
    # 40 games, one every 30 s and 1,000 agent steps: -21 for the first 25, then 19.
    rows = ["wall_time,env_steps,return,length"]
    rows += [f"{30.0 * (i + 1)},{1000 * (i + 1)},{-21.0 if i < 25 else 19.0},1000"
             for i in range(40)]
    (tmp_path / "episodes.csv").write_text("\n".join(rows) + "\n")
    scores = bench_suite.game_scores(tmp_path, 18.0, times=(300.0, 900.0, 1200.0, 5000.0))
    # The last 20 games' mean: -21 at game 10 (300 s), (5 x 19 - 15 x 21) / 20 = -11 at
    # game 30 (900 s), (15 x 19 - 5 x 21) / 20 = 9 at game 40 (1,200 s): 18 is never
    # reached, and the run did not last 5,000 s.
    assert scores["reached"] is None
    assert scores["at_seconds"] == {"300": -21.0, "900": -11.0, "1200": 9.0}
    reached = bench_suite.game_scores(tmp_path, 9.0)["reached"]
    assert reached == {"seconds": 1200.0, "frames": 160_000}
    json.dumps(scores)  # plain floats, for the suite's JSON
    assert bench_suite.game_scores(tmp_path / "missing", 18.0) is None


def test_first_seed_and_peer_seconds_belong_to_a_suite(tmp_path):
    with pytest.raises(UserInputError, match=r"--first-seed and --peer-seconds belong to a suite"):
        bench.run(bench_args(tmp_path, "--first-seed", "2"))
    with pytest.raises(UserInputError, match=r"--peer-seconds positive"):
        bench.run(bench_args(tmp_path, "--env", "Acrobot-v1", "--peer-seconds", "0"))
    assert not (tmp_path / "o").exists()


def hosting_data(pair_threads, pair_processes):
    """A hosting benchmark's JSON with round figures, as `benchmarks/hosting.py` writes it."""
    def run(env, algo, hosting, count, rate):
        return {"env": env, "algo": algo, "hosting": hosting, "count": count,
                "steps_per_second": rate}

    throughput = [run("CartPole-v1", "a3c", h, 2, r)
                  for h, r in (("threads", 20_000), ("processes", 40_000), ("ray", 30_000))]
    throughput += [run("ALE/Pong-v5", algo, h, 2, r) for algo in ("a3c", "ga3c")
                   for h, r in (("threads", 1_000), ("processes", 1_400), ("ray", 900))]
    throughput += [run("CartPole-v1", "ga3c", h, 2, 10_000) for h in ("threads", "processes",
                                                                       "ray")]
    sizes = {"CartPole-v1": {"a3c": {"out": 1000, "back": 100, "rollout_steps": 640},
                             "ga3c": {"out": 256, "back": 192, "step_envs": 16}},
             "ALE/Pong-v5": {"a3c": {"out": 1000, "back": 1000, "rollout_steps": 80},
                             "ga3c": {"out": 256, "back": 192, "step_envs": 16}}}
    trips = {env: {algo: {"threads": 0.0, "processes": 0.002, "ray": 0.004} for algo in algos}
             for env, algos in sizes.items()}
    return {"meta": {"command": "python benchmarks/hosting.py", "date": "2026-11-25",
                     "cpu_count": 2},
            "messages": {"sizes": sizes, "round_trip_seconds": trips,
                         "apply_seconds": {"CartPole-v1": 0.001, "ALE/Pong-v5": 0.009}},
            "throughput": throughput,
            "pair": [{"hosting": "threads", "steps_per_second": r} for r in (10, 30, 20)]
            + [{"hosting": "processes", "steps_per_second": r} for r in (pair_processes,) * 3],
            "solve": [{"algo": a, "hosting": h, "seed": s, "solved": True, "seconds": t}
                      for a in ("a3c", "ga3c") for s in range(3)
                      for h, t in (("threads", 4.0), ("ray", 5.0 if a == "a3c" else 7.0))]}


@pytest.mark.parametrize("pair_processes, verdict", [(28, "met"), (27, "missed")])
def test_hosting_section_judges_the_targets_and_projects_from_the_figures(
        tmp_path, pair_processes, verdict):
    from measuring import hosting

    section = hosting.render_section(hosting_data(20, pair_processes), "results/x.hosting.json")
    # The pair is judged on medians (threads 10, 30, 20 -> 20): 28 / 20 = 1.4.
    assert (f"| A3C, 2 worker processes >= 1.4x 2 worker threads (CartPole-v1, env steps/s, "
            f"median of 3) | {pair_processes} / 20 = {pair_processes / 20:.2f}x | {verdict} |"
            in section)
    assert "| A3C time to solve CartPole-v1 with Ray <= 1.5x threads (median s) | " \
           "5.0 / 4.0 = 1.25x | met |" in section
    assert "7.0 / 4.0 = 1.75x | missed |" in section
    assert "| A3C Pong env steps/s with processes >= 1.3x threads (best over 1, 2, 4) | " \
           "1,400 / 1,000 = 1.40x | met |" in section
    # Per core 40,000 / 2; the learner's cap 640 / (1 ms + 1 ms) = 320,000, above 16 cores.
    assert "| CartPole-v1 | 16 cores, processes | 20,000 | 320,000 | 320,000 | 320,000 | " \
           "1.00x |" in section
    # Pong: 80 / (9 + 1 ms) = 8,000 caps 16 x 700 = 11,200.
    assert "| ALE/Pong-v5 | 16 cores, processes | 700 | 11,200 | 8,000 | 8,000 | 0.71x |" \
        in section
    assert "What stops ALE/Pong-v5 short of linear: the one learner." in section
    results = tmp_path / "results"
    results.mkdir()
    (results / "2026-11-25-000000.hosting.json").write_text(json.dumps(hosting_data(20, 28)))
    text = "# Benchmark results\n\nabove\n" + hosting.latest_section(results, tmp_path) + "below\n"
    from measuring.soak import replace_section

    replaced = replace_section(text, "NEW", hosting.SECTION_START, hosting.SECTION_END)
    assert replaced == "# Benchmark results\n\nabove\n\nNEW\nbelow\n"


@pytest.mark.slow
def test_a_sweep_runs_its_plan_and_reports_each_candidate(tmp_path):
    plan = [{"label": "short", "algo": "ga3c", "env": "CartPole-v1", "seconds": 2,
             "seeds": [0], "args": ["--agents", "1", "--envs-per-agent", "2"]},
            {"label": "longer", "algo": "ga3c", "env": "CartPole-v1", "seconds": 3,
             "seeds": [1], "args": ["--agents", "1", "--envs-per-agent", "2"]}]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "sweep.jsonl"
    done = run_command(["benchmarks/sweep.py", str(tmp_path / "plan.json"), "--out", str(out)],
                       timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["label"], line["seed"]) for line in lines] == [("short", 0), ("longer", 1)]
    assert all(line["env_steps"] > 0 and not line["solved"] for line in lines)
    assert (tmp_path / "sweep-runs" / "short-seed0" / "episodes.csv").is_file()
    table = run_command(["benchmarks/sweep.py", "--report", str(out)]).stdout
    assert table.count("\n| short | CartPole-v1 | `--agents 1 --envs-per-agent 2` | 0/1 |") == 1
    assert "| longer |" in table and "*" in table  # unsolved, counted at its stop
    bad = run_command(["benchmarks/sweep.py", str(tmp_path / "missing.json")])
    assert bad.returncode == 2 and "cannot read the plan" in bad.stderr
