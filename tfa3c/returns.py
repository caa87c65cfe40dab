"""Discounted n-step returns and advantages over rollouts of several environments.

Gymnasium separates the two ways an episode ends, and so do the returns:
`terminated` (a terminal state: nothing follows, bootstrap from 0) and `truncated`
(a time limit: the future was cut, bootstrap from V(s') of the final observation).
A rollout that ends mid-episode bootstraps from V of the next observation.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def discounted_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Discounted returns of a `[time, envs]` rollout, cut at episode ends.

    Args:
        rewards: `[T, N]` rewards (already scaled).
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
    ends = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
    ends[-1] = True
    bootstraps = np.where(np.asarray(terminated, dtype=bool), 0.0,
                          np.asarray(next_values, dtype=np.float64))
    # Fold each segment's bootstrap into its last reward, then one discounted sum per
    # segment: lfilter computes y_t = x_t + gamma * y_{t-1} over the reversed segment.
    folded = rewards + gamma * np.where(ends, bootstraps, 0.0)
    returns = np.empty_like(folded)
    coefficients = ([1.0], [1.0, -gamma])
    for env in range(rewards.shape[1]):
        end_steps = np.flatnonzero(ends[:, env])
        start = 0
        for end in end_steps:
            segment = folded[start:end + 1, env]
            returns[start:end + 1, env] = lfilter(*coefficients, segment[::-1])[::-1]
            start = end + 1
    return returns.astype(np.float32)


def returns_and_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """n-step returns and advantages A_t = G_t - V(s_t) of a `[time, envs]` rollout.

    `rewards` must already carry any reward scale, so that returns and advantages
    are on the same scale (the tutorial scaled only the returns).
    """
    returns = discounted_returns(rewards, terminated, truncated, next_values, gamma)
    return returns, (returns - np.asarray(values, dtype=np.float32)).astype(np.float32)
