import numpy as np
import pytest

from tfa3c.algorithms.returns import discounted_returns, returns_and_advantages

GAMMA = 0.9


def test_rollout_end_bootstraps_from_next_value():
    rewards = np.array([1.0, 2.0, 3.0])
    returns = discounted_returns(rewards, np.zeros(3, bool), np.zeros(3, bool),
                                 np.array([0.0, 0.0, 10.0]), GAMMA)
    g2 = 3 + GAMMA * 10
    g1 = 2 + GAMMA * g2
    g0 = 1 + GAMMA * g1
    np.testing.assert_allclose(returns, [g0, g1, g2], rtol=1e-6)


def test_termination_bootstraps_from_zero_and_cuts_the_sum():
    rewards = np.array([1.0, 1.0, 1.0, 1.0])
    terminated = np.array([False, True, False, False])
    next_values = np.array([99.0, 99.0, 99.0, 5.0])  # 99s must be ignored
    returns = discounted_returns(rewards, terminated, np.zeros(4, bool), next_values, GAMMA)
    np.testing.assert_allclose(returns, [1 + GAMMA * 1, 1, 1 + GAMMA * (1 + GAMMA * 5),
                                         1 + GAMMA * 5], rtol=1e-6)


def test_truncation_bootstraps_from_final_observation_value():
    rewards = np.array([1.0, 1.0, 1.0])
    truncated = np.array([False, True, False])
    next_values = np.array([99.0, 7.0, 3.0])
    returns = discounted_returns(rewards, np.zeros(3, bool), truncated, next_values, GAMMA)
    # A time limit is not a terminal state: its return continues with V(final obs) = 7.
    np.testing.assert_allclose(returns, [1 + GAMMA * (1 + GAMMA * 7), 1 + GAMMA * 7,
                                         1 + GAMMA * 3], rtol=1e-6)


def test_columns_are_independent_environments():
    rewards = np.array([[1.0, 0.0], [1.0, 2.0]])
    terminated = np.array([[True, False], [False, False]])
    next_values = np.array([[0.0, 0.0], [4.0, 8.0]])
    returns = discounted_returns(rewards, terminated, np.zeros((2, 2), bool), next_values, GAMMA)
    np.testing.assert_allclose(returns[:, 0], [1.0, 1 + GAMMA * 4], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 1], [GAMMA * (2 + GAMMA * 8), 2 + GAMMA * 8], rtol=1e-6)


def test_short_episode_inside_rollout():
    # Episode of one step, then a new one cut by the rollout's end.
    rewards = np.array([5.0, 1.0, 1.0])
    terminated = np.array([True, False, False])
    returns = discounted_returns(rewards, terminated, np.zeros(3, bool),
                                 np.array([0.0, 0.0, 2.0]), GAMMA)
    np.testing.assert_allclose(returns, [5.0, 1 + GAMMA * (1 + GAMMA * 2), 1 + GAMMA * 2],
                               rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_advantages_carry_the_same_reward_scale_as_returns(scale):
    rewards = np.array([1.0, 1.0]) * scale
    values = np.array([0.5, 0.25]) * scale
    returns, advantages = returns_and_advantages(
        rewards, values, np.array([False, True]), np.zeros(2, bool), np.zeros(2), GAMMA)
    np.testing.assert_allclose(returns, np.array([1 + GAMMA, 1.0]) * scale, rtol=1e-6)
    np.testing.assert_allclose(advantages, returns - values, rtol=1e-6)
    np.testing.assert_allclose(advantages, np.array([1 + GAMMA - 0.5, 0.75]) * scale, rtol=1e-6)


def test_gae_with_lambda_one_equals_n_step_advantages_and_zero_is_td():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3))
    values = rng.normal(size=(6, 3))
    terminated = rng.random((6, 3)) < 0.2
    truncated = (rng.random((6, 3)) < 0.2) & ~terminated
    next_values = rng.normal(size=(6, 3))
    n_step = returns_and_advantages(rewards, values, terminated, truncated, next_values, GAMMA)
    almost_one = returns_and_advantages(rewards, values, terminated, truncated, next_values,
                                        GAMMA, gae_lambda=0.999999)
    np.testing.assert_allclose(almost_one[1], n_step[1], atol=1e-4)
    np.testing.assert_allclose(almost_one[0], n_step[0], atol=1e-4)
    _, td = returns_and_advantages(rewards, values, terminated, truncated, next_values, GAMMA,
                                   gae_lambda=0.0)
    following = np.vstack([values[1:], next_values[-1:]])
    ends = terminated | truncated
    following = np.where(ends, np.where(terminated, 0.0, next_values), following)
    np.testing.assert_allclose(td, rewards + GAMMA * following - values, atol=1e-5)


def test_vectorized_and_segmented_columns_agree_with_a_plain_loop():
    rng = np.random.default_rng(1)
    for _ in range(50):
        steps, envs = rng.integers(1, 12), rng.integers(1, 10)
        rewards = rng.normal(size=(steps, envs))
        terminated = rng.random((steps, envs)) < 0.15
        truncated = (rng.random((steps, envs)) < 0.15) & ~terminated
        next_values = rng.normal(size=(steps, envs))
        expected = np.empty((steps, envs))
        following = next_values[-1].copy()
        for t in range(steps - 1, -1, -1):
            bootstrap = np.where(truncated[t], next_values[t], following)
            following = rewards[t] + GAMMA * np.where(terminated[t], 0.0, bootstrap)
            expected[t] = following
        np.testing.assert_allclose(
            discounted_returns(rewards, terminated, truncated, next_values, GAMMA), expected,
            rtol=1e-5, atol=1e-5)
