"""Discounted n-step returns and advantages over rollouts of several environments.

Gymnasium separates the two ways an episode ends, and so do the returns:
`terminated` (a terminal state: nothing follows, bootstrap from 0) and `truncated`
(a time limit: the future was cut, bootstrap from V(s') of the final observation).
A rollout that ends mid-episode bootstraps from V of the next observation.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def _segment_ends(terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    ends = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
    ends[-1] = True  # the rollout's end closes every open segment
    return ends


def _discounted_sums(values: np.ndarray, ends: np.ndarray, discount: float) -> np.ndarray:
    """y_t = x_t + discount * y_{t+1} within segments that close where `ends` is true.

    lfilter runs y_t = x_t + discount * y_{t-1}, so segments are fed reversed. Columns
    with no episode end before the last step (most of them, for rollouts much shorter
    than episodes) go through one lfilter call together; the others segment by segment.
    """
    sums = np.empty_like(values)
    coefficients = ([1.0], [1.0, -discount])
    split = ends[:-1].any(axis=0)
    whole = ~split
    if whole.any():
        sums[:, whole] = lfilter(*coefficients, values[::-1, whole], axis=0)[::-1]
    for env in np.flatnonzero(split):
        start = 0
        for end in np.flatnonzero(ends[:, env]):
            segment = values[start:end + 1, env][::-1]
            sums[start:end + 1, env] = lfilter(*coefficients, segment)[::-1]
            start = end + 1
    return sums


def _bootstraps(terminated: np.ndarray, next_values: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(terminated, dtype=bool), 0.0,
                    np.asarray(next_values, dtype=np.float64))


def discounted_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Discounted returns of a `[time, envs]` rollout, cut at episode ends.

    Args:
        rewards: `[T, N]` rewards (already scaled); `[T]` for one environment.
        terminated: `[T, N]` true where step t ended its episode in a terminal state.
        truncated: `[T, N]` true where step t's episode was cut by a time limit.
        next_values: `[T, N]` V(s_{t+1}): read where step t was truncated (the value of
            the final observation) and at the last step t = T-1 (the value of the next
            observation); ignored elsewhere.
        gamma: discount factor.

    Returns:
        `[T, N]` float32 returns G_t = r_t + gamma * G_{t+1} within an episode, with
        G_t = r_t on termination and r_t + gamma * V(s_{t+1}) on truncation and at the
        rollout's end.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim == 1:
        return discounted_returns(rewards[:, None], np.asarray(terminated)[:, None],
                                  np.asarray(truncated)[:, None],
                                  np.asarray(next_values)[:, None], gamma)[:, 0]
    ends = _segment_ends(terminated, truncated)
    # Fold each segment's bootstrap into its last reward, then one discounted sum each.
    folded = rewards + gamma * np.where(ends, _bootstraps(terminated, next_values), 0.0)
    return _discounted_sums(folded, ends, gamma).astype(np.float32)


def returns_and_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
    gae_lambda: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Value targets and advantages of a `[time, envs]` rollout.

    With `gae_lambda` = 1 (the tutorial's), these are the n-step returns G_t and
    A_t = G_t - V(s_t). With `gae_lambda` < 1, advantages are generalized advantage
    estimates (Schulman et al., 2016): discounted sums, by gamma * lambda, of the
    one-step errors r_t + gamma V(s_{t+1}) - V(s_t), and the targets are A_t + V(s_t).
    Both cut at episode ends with the same bootstraps as `discounted_returns`.

    `rewards` must already carry any reward scale, so that returns and advantages
    are on the same scale (the tutorial scaled only the returns).
    """
    values = np.asarray(values, dtype=np.float64)
    if gae_lambda >= 1.0:
        returns = discounted_returns(rewards, terminated, truncated, next_values, gamma)
        return returns, (returns - values).astype(np.float32)
    rewards = np.asarray(rewards, dtype=np.float64)
    ends = _segment_ends(terminated, truncated)
    following = np.empty_like(values)
    following[:-1] = values[1:]
    following = np.where(ends, _bootstraps(terminated, next_values), following)
    errors = rewards + gamma * following - values
    advantages = _discounted_sums(errors, ends, gamma * gae_lambda)
    return (advantages + values).astype(np.float32), advantages.astype(np.float32)


def standardize(advantages: np.ndarray, epsilon: float = 1e-8) -> np.ndarray:
    """Advantages with zero mean and unit standard deviation over the batch."""
    return ((advantages - advantages.mean()) / (advantages.std() + epsilon)).astype(np.float32)
