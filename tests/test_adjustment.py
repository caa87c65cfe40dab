"""GA3C's dynamic adjustment: the search alone, then a real run that adjusts itself."""

import csv

import numpy as np
import pytest

from tfa3c.algorithms.adjustment import KNOBS, Adjuster
from tfa3c.algorithms.ga3c import GA3C, GA3CAgent

from .test_ga3c import ScriptedEnvs, small_config

LIMITS = {"agents": 8, "predictors": 2, "trainers": 2}


def throughput(counts, best=(6, 1, 2)):
    """A made-up machine: env steps/s peak at `best` and fall off around it."""
    return 10_000.0 - sum(1_000.0 * (counts[name] - peak) ** 2
                          for name, peak in zip(KNOBS, best, strict=True))


def climb(adjuster, rate_of, calls=100):
    """Feeds `adjuster` the rate of each set of counts it returns; returns those sets."""
    counts, tried = dict(adjuster.counts), []
    for _ in range(calls):
        counts = adjuster.next(rate_of(counts))
        tried.append(dict(counts))
        if adjuster.settled:
            break
    return tried


def test_climbs_to_the_fastest_counts_and_settles():
    adjuster = Adjuster({"agents": 4, "predictors": 1, "trainers": 1}, LIMITS)
    tried = climb(adjuster, throughput)
    assert adjuster.settled and len(tried) < 40
    assert adjuster.counts == {"agents": 6, "predictors": 1, "trainers": 2}
    assert adjuster.rate == throughput(adjuster.counts)
    kept = [change for change in adjuster.changes if change.kept]
    assert [(change.knob, change.before, change.after) for change in kept] == [
        ("agents", 4, 5), ("agents", 5, 6), ("trainers", 1, 2)]
    # Every change was measured, kept ones faster and reverted ones not.
    for change in adjuster.changes:
        assert change.kept == (change.rate_after > change.rate_before * 1.03)
    # Within the limits, and no trial repeated.
    trials = [tuple(counts[name] for name in KNOBS) for counts in tried]
    assert all(1 <= value <= LIMITS[name] for counts in tried for name, value in counts.items())
    assert len({change_key(change, adjuster) for change in adjuster.changes}) == len(
        adjuster.changes)
    assert trials[-1] == (6, 1, 2)
    # Settled: the counts stay.
    assert adjuster.next(1.0) == adjuster.counts


def change_key(change, adjuster):
    return (change.knob, change.before, change.after, change.rate_before)


def test_a_gain_within_the_noise_is_reverted_and_the_best_measured_again():
    adjuster = Adjuster({"agents": 2, "predictors": 1, "trainers": 1},
                        {"agents": 3, "predictors": 1, "trainers": 1}, tolerance=0.05)
    assert adjuster.next(1000.0) == {"agents": 3, "predictors": 1, "trainers": 1}
    # 3% faster: within the 5% tolerance, so back to 2 agents, which are measured again.
    assert adjuster.next(1030.0) == {"agents": 2, "predictors": 1, "trainers": 1}
    assert adjuster.changes[-1].describe() == (
        "agents 2 -> 3: 1,000 -> 1,030 env steps/s (+3.0%), reverted")
    # The re-measured baseline is the one the next trial is judged against.
    assert adjuster.next(900.0) == {"agents": 1, "predictors": 1, "trainers": 1}
    assert adjuster.next(950.0) == {"agents": 1, "predictors": 1, "trainers": 1}
    assert adjuster.changes[-1].kept and adjuster.changes[-1].rate_before == 900.0
    # Every neighbour of 1 agent (2) has been tried: settled.
    assert adjuster.settled


def test_a_paused_agent_drops_its_stale_rollout(tmp_path):
    agent = GA3CAgent(0, small_config(tmp_path, n_steps=2), envs=ScriptedEnvs())

    def step(version):
        observations, _ = agent.request()
        probabilities = np.full((len(observations), 2), 0.5)
        return agent.step(probabilities, observations[:, 0].copy(), version)[0]

    assert step(0) is None  # acted on by policy 0, then paused
    agent.restart_rollout()  # resumed after many updates
    assert step(50) is None and step(50) is None
    sequences = step(50)  # the rollout is complete once its last step's values are known
    # Without the restart, the rollout would hold policy 0's step and end one step sooner.
    assert set(np.unique(sequences.policy_versions)) == {50}
    assert sequences.policy_versions.size == 2 * ScriptedEnvs.num_envs


def test_a_run_adjusts_itself_and_logs_each_change(tmp_path, capsys):
    config = small_config(tmp_path, env_id="CartPole-v1", dynamic_adjustment=True,
                          adjustment_seconds=0.5, max_seconds=12, stop_when_solved=False,
                          progress_bar="lines", log_interval=2.0)
    algorithm = GA3C(config)
    assert algorithm.limits == {"agents": 4, "predictors": 2, "trainers": 2}
    assert len(algorithm.trainer_counters) == 2  # every possible role is started
    summary = algorithm.learn()
    output = capsys.readouterr().out
    with open(tmp_path / "run" / "adjustments.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert rows, output
    lines = [line for line in output.splitlines() if line.startswith("dynamic adjustment: ")]
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert line.startswith(f"dynamic adjustment: {row['knob']} {row['before']} -> "
                               f"{row['after']}: ")
        assert (row["kept"] == "1") == (float(row["rate_after"])
                                        > 1.03 * float(row["rate_before"]))
        assert abs(int(row["after"]) - int(row["before"])) == 1
    # The counts in force are reported, within their limits, and the run still learned.
    for name in KNOBS:
        assert 1 <= summary[name] <= algorithm.limits[name]
    assert "| agents " in output and summary["env_steps"] > 0
    assert summary["mean_return_100"] > 30


def test_adjustment_seconds_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="adjustment_seconds"):
        small_config(tmp_path, adjustment_seconds=0)
