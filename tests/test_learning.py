"""Learning tests: the policy must actually improve on CartPole-v1.

The one-worker solve runs in the default suite; the example's solve for five seeds is
marked `slow` (`pytest -m slow`).
"""

import json

import pytest

from tfa3c.algorithms.a3c import A3C
from tfa3c.algorithms.config import A3CConfig

from .conftest import run_command


def test_a3c_solves_cartpole_within_a_small_budget(tmp_path):
    # One worker thread makes the run deterministic for a seed (with two, the order of
    # their updates varies from run to run). Measured with one worker, seeds 0-4 solve
    # in 132k-169k env steps (about 9 s): the budget leaves room for every seed.
    config = A3CConfig(env_id="CartPole-v1", seed=0, workers=1, max_steps=400_000,
                       logdir=str(tmp_path / "run"), progress_bar="none")
    summary = A3C(config).learn()
    assert summary["solved"], summary
    assert summary["mean_return_100"] >= 475, summary


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_a3c_example_solves_cartpole(tmp_path, seed):
    result = run_command(["examples/a3c_cartpole.py", "--seed", str(seed), "--logdir",
                          str(tmp_path / "run"), "--no-export", "--progress", "none",
                          "--max-seconds", "600"], timeout=700)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["solved"], summary
