"""A MultiDiscrete task for the tests: set each dial to the position the observation marks.

Importing registers `Dials-v0` (as a user's own module would, see examples/corridor.py),
so `--env tests.dials_env:Dials-v0` works from the repository root. Every step shows new
targets, one-hot per dial; the reward is the fraction of dials set right; an episode
ends after `length` steps. A uniform policy earns 8 x mean(1/3, 1/4) = 2.33 per 8-step
episode, a perfect one 8.
"""

import gymnasium as gym
import numpy as np


class DialsEnv(gym.Env):
    """Dials with `nvec` positions each; episodes of `length` steps."""

    def __init__(self, nvec=(3, 4), length: int = 8):
        self.nvec = np.asarray(nvec, np.int64)
        self.length = int(length)
        self.action_space = gym.spaces.MultiDiscrete(self.nvec)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (int(self.nvec.sum()),), np.float32)
        self.offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])

    def _observation(self) -> np.ndarray:
        observation = np.zeros(self.observation_space.shape, np.float32)
        observation[self.offsets + self.targets] = 1.0
        return observation

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        self.targets = self.np_random.integers(self.nvec)
        return self._observation(), {}

    def step(self, action):
        reward = float(np.mean(np.asarray(action) == self.targets))
        self.steps += 1
        self.targets = self.np_random.integers(self.nvec)
        return self._observation(), reward, self.steps >= self.length, False, {}


gym.register("Dials-v0", entry_point=DialsEnv, reward_threshold=6.0)
