"""GA3C on CartPole-v1: agents queue observations, predictors batch them, trainers learn.

Run:
    python examples/ga3c_cartpole.py                # until solved (mean return 475), 5 min at most
    python examples/ga3c_cartpole.py --seed 3 --agents 8 --max-seconds 60
    tensorboard --logdir runs

How it works: agent threads step their environments and send all their observations
as one prediction request; predictor threads answer many agents with one batched
forward pass of the shared dense network; agents build n-step returns and queue them;
trainer threads train the network with RMSprop on batches of experiences under a
tf.distribute strategy (every GPU, else the CPU; --devices overrides). Exploration: a
random action with a decaying probability epsilon, on top of sampling from the policy
(--no-exploration switches it off).

Every option of `tfa3c train ga3c` works here, with the library's defaults (`--help`
lists them; they live in `tfa3c.algorithms.config`). This example chooses only its run:
CartPole-v1, and five minutes at most. The last line printed is a JSON summary: algo,
env, seed, solved, seconds, env_steps, episodes, steps_per_second, mean_return_100.
"""

import argparse
import sys

from tfa3c import cli


def main(argv=None) -> int:
    """Parses the options, trains until a stop condition, exports, prints the summary."""
    parser = cli.OneLineArgumentParser(prog="ga3c_cartpole.py", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    # The run's own choices, not hyperparameters: the environment, and a budget so that
    # the example always ends (solved, or five minutes of training).
    cli.add_training_arguments(parser, "ga3c",
                               run_choices={"env_id": "CartPole-v1", "max_seconds": 300.0})
    args = parser.parse_args(argv)
    # GA3CConfig(**options) is validated here; GA3C(config).learn() runs the threads.
    return cli.train("ga3c", args, prog=parser.prog)


if __name__ == "__main__":
    sys.exit(main())
