"""An image task for the tests: press the side of the screen that lights up.

Importing registers `BrightSide-v0`, so `--env tests.pixel_env:BrightSide-v0` works from
the repository root. Each observation is one uint8 84x84 frame (`[1, 84, 84]`, frames
first, as ALE's vector environment lays out its stacks) whose left or right half is lit;
action 0 means left, 1 right. The reward is 1 for the lit side, 0 otherwise; an
episode lasts 8 steps. A uniform policy earns 4 an episode, a policy that sees the
frame 8, and nothing but the pixels tells the sides apart.
"""

import gymnasium as gym
import numpy as np

SIZE = 84


class BrightSideEnv(gym.Env):
    """Left or right half lit, at random each step; episodes of `length` steps."""

    def __init__(self, length: int = 8):
        self.length = int(length)
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.spaces.Box(0, 255, (1, SIZE, SIZE), np.uint8)

    def _observation(self) -> np.ndarray:
        frame = np.zeros(self.observation_space.shape, np.uint8)
        half = SIZE // 2
        frame[0, :, half * self.side:half * (self.side + 1)] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        self.side = int(self.np_random.integers(2))
        return self._observation(), {}

    def step(self, action):
        reward = float(int(action) == self.side)
        self.steps += 1
        self.side = int(self.np_random.integers(2))
        return self._observation(), reward, self.steps >= self.length, False, {}


gym.register("BrightSide-v0", entry_point=BrightSideEnv, reward_threshold=7.5)
