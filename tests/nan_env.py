"""CartPole with one bug each: a user's environment as it really fails.

Importing registers:
- `NaNCartPole-v0`: its `nan_at`-th step (counted over episodes) returns a NaN
  observation and a NaN reward, once; every other step is CartPole's.
- `ShapeShiftCartPole-v0`: from its `shift_at`-th step on, observations have 5 values
  where the space declares 4.
- `HugeRewardCartPole-v0`: every reward is 3e38, finite but beyond what float32
  returns can sum: the loss and the gradients overflow.
"""

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class NaNCartPole(CartPoleEnv):
    """CartPole whose `nan_at`-th step returns a NaN observation and reward."""

    def __init__(self, nan_at: int = 3000, **kwargs):
        super().__init__(**kwargs)
        self.nan_at = int(nan_at)
        self.steps_taken = 0

    def step(self, action):
        self.steps_taken += 1
        observation, reward, terminated, truncated, info = super().step(action)
        if self.steps_taken == self.nan_at:
            return np.full_like(observation, np.nan), float("nan"), terminated, truncated, info
        return observation, reward, terminated, truncated, info


class ShapeShiftCartPole(CartPoleEnv):
    """CartPole whose observations grow a fifth value from step `shift_at` on."""

    def __init__(self, shift_at: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.shift_at = int(shift_at)
        self.steps_taken = 0

    def step(self, action):
        self.steps_taken += 1
        observation, reward, terminated, truncated, info = super().step(action)
        if self.steps_taken >= self.shift_at:
            observation = np.append(observation, np.float32(0.0))
        return observation, reward, terminated, truncated, info


class HugeRewardCartPole(CartPoleEnv):
    """CartPole whose every reward is 3e38."""

    def step(self, action):
        observation, _, terminated, truncated, info = super().step(action)
        return observation, 3e38, terminated, truncated, info


gym.register("NaNCartPole-v0", entry_point=NaNCartPole, max_episode_steps=500)
gym.register("ShapeShiftCartPole-v0", entry_point=ShapeShiftCartPole, max_episode_steps=500)
gym.register("HugeRewardCartPole-v0", entry_point=HugeRewardCartPole, max_episode_steps=500)
