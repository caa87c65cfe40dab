"""GA3C on CartPole-v1: agents queue observations, predictors batch them, trainers learn.

Run:
    python examples/ga3c_cartpole.py                # until solved (mean return 475), 5 min at most
    python examples/ga3c_cartpole.py --seed 3 --agents 8 --max-seconds 60
    tensorboard --logdir runs

How it works: agent threads step their environments and send all their observations
as one prediction request; predictor threads answer many agents with one batched
forward pass of the shared dense network; agents build 8-step returns and queue them;
trainer threads train the network on batches of at least 32 experiences (RMSprop
1e-2, rho 0.99) under a tf.distribute strategy (every GPU, else the CPU; --devices
overrides). Exploration: a random action with probability 0.4 decaying to 0.15 over
75k steps, on top of sampling from the policy (--no-exploration switches it off).

Every option of `tfa3c train ga3c` works here (see --help). The last line printed is a
JSON summary: algo, env, seed, solved, seconds, env_steps, episodes, steps_per_second,
mean_return_100.
"""

import argparse
import sys

from tfa3c import cli


def main(argv=None) -> int:
    """Parses the options, trains until a stop condition, exports, prints the summary."""
    parser = cli.OneLineArgumentParser(prog="ga3c_cartpole.py", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_training_arguments(parser, "ga3c", env_id="CartPole-v1")
    # A budget, so that the example always ends: solved, or five minutes of training.
    parser.set_defaults(max_seconds=300.0)
    args = parser.parse_args(argv)
    # GA3CConfig(**options) is validated here; GA3C(config).learn() runs the threads.
    return cli.train("ga3c", args, prog=parser.prog)


if __name__ == "__main__":
    sys.exit(main())
