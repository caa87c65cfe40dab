"""A user's own environment, registered with gymnasium: walk right to the end of a corridor.

tfa3c imports this module when the environment is named `module:EnvId`, exactly as
`gymnasium.make` does, so importing registers `Corridor-v0` first:

    PYTHONPATH=. tfa3c train ga3c --env examples.corridor:Corridor-v0 --env-kwargs length=6
    PYTHONPATH=. tfa3c play savedmodels/ga3c_corridor --episodes 5

`--env-kwargs` reaches the environment's constructor (`length` here); the export
records it, so `play` makes the same corridor.
"""

import gymnasium as gym
import numpy as np


class CorridorEnv(gym.Env):
    """Cells 0..length-1; the agent starts in cell 0 and must reach the last one.

    Observation: the one-hot cell (float32, `length` values). Actions: 0 left, 1 right.
    Reward: 1 on reaching the end (the episode terminates), -0.01 for every other step.
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 8):
        if int(length) < 2:
            raise ValueError(f"length must be at least 2, got {length}")
        self.length = int(length)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.length,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position = 0

    def _observation(self) -> np.ndarray:
        observation = np.zeros(self.length, np.float32)
        observation[self.position] = 1.0
        return observation

    def reset(self, *, seed=None, options=None):  # noqa: D102
        super().reset(seed=seed)
        self.position = 0
        return self._observation(), {}

    def step(self, action):  # noqa: D102
        self.position = int(np.clip(self.position + (1 if action == 1 else -1), 0,
                                    self.length - 1))
        arrived = self.position == self.length - 1
        return self._observation(), 1.0 if arrived else -0.01, arrived, False, {}


gym.register("Corridor-v0", entry_point=CorridorEnv, max_episode_steps=100,
             reward_threshold=0.9)
