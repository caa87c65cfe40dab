"""CartPole that raises after a number of steps: a role failing inside its own process.

Importing registers `FailingCartPole-v0`; `fail_after` (an env keyword) is the number of
steps each instance takes before its `step` raises `RuntimeError("injected failure")`.
"""

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class FailingCartPole(CartPoleEnv):
    """CartPole whose `step` raises after `fail_after` steps."""

    def __init__(self, fail_after: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.fail_after = int(fail_after)
        self.steps_taken = 0

    def step(self, action):
        self.steps_taken += 1
        if self.steps_taken > self.fail_after:
            raise RuntimeError(f"injected failure after {self.fail_after} steps")
        return super().step(action)


gym.register("FailingCartPole-v0", entry_point=FailingCartPole, max_episode_steps=500)
