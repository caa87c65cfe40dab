"""Continuous control with the Python API: configure, learn, export, load, act.

GA3C on Pendulum-v1, whose action is one torque in [-2, 2]: the policy is a diagonal
Gaussian with a learned log standard deviation, chosen from the action space. Read it
top to bottom; each step is the plain API.

Run:
    python examples/ga3c_pendulum.py                  # stops once solved (mean -200)
    python examples/ga3c_pendulum.py --max-seconds 20

On a 2-core machine GA3C solved Pendulum-v1 in a median of 14 s (seeds 0-2): rewards
are scaled by the running spread of the return, and continuous actions take the
continuous preset (`tfa3c.algorithms.presets`: a wider network, its own learning rate)
through `GA3CConfig.for_env`.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gymnasium as gym
import numpy as np
import tensorflow as tf

from tfa3c import GA3C, GA3CConfig


def main(argv=None) -> int:
    """Trains, exports, reloads the export with plain TensorFlow and plays one episode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The run's budget is this example's choice; the seed, if not given, the library's.
    parser.add_argument("--max-seconds", type=float, default=300.0,
                        help="training budget (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, help="folder for the run and the export "
                                                    "(default: a temporary folder)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="tfa3c-pendulum-")

    # 1. Configure: a frozen, validated dataclass. `for_env` starts from the preset
    #    for the environment's action kind (Box: a Gaussian policy, a wider network);
    #    every keyword given here wins over it.
    chosen = {"seed": args.seed} if args.seed is not None else {}
    config = GA3CConfig.for_env(
        "Pendulum-v1",
        **chosen,
        max_seconds=args.max_seconds,
        target_return=-200.0,  # gymnasium defines no threshold for Pendulum
        logdir=os.path.join(out, "run"),
        progress_bar="lines",
        log_interval=10.0,
    )

    # 2. Learn: agents, predictors and trainers run as threads until a stop condition.
    algorithm = GA3C(config)
    summary = algorithm.learn()
    print(summary)

    # 3. Export: a SavedModel in TF Serving's layout.
    path = algorithm.export(os.path.join(out, "models"))
    print(f"exported {path}")

    # 4. Load it as a serving client would: plain TensorFlow, no tfa3c.
    action = tf.saved_model.load(path).signatures["action"]

    # 5. Act: raw observations in; `action` is the Gaussian's mean clipped to [-2, 2]
    #    (`mean` and `log_std` come with it, for sampling).
    env = gym.make("Pendulum-v1")
    observation, _ = env.reset(seed=config.seed)
    total, done = 0.0, False
    while not done:
        outputs = action(observation=tf.constant(observation[None], tf.float32))
        torque = outputs["action"].numpy()[0]
        observation, reward, terminated, truncated, _ = env.step(torque)
        total += float(reward)
        done = terminated or truncated
    env.close()
    print(f"greedy episode return {total:.1f} (log_std "
          f"{np.round(outputs['log_std'].numpy()[0], 2)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
