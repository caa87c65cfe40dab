"""A3C on CartPole-v1: LSTM actor-critic, worker threads, one global model.

Run:
    python examples/a3c_cartpole.py                 # until solved (mean return 475), 5 min at most
    python examples/a3c_cartpole.py --seed 3 --workers 4 --max-seconds 60
    tensorboard --logdir runs

Every option of `tfa3c train a3c` works here (see --help). The defaults are the
tutorial's: LSTM of 16 cells, 40-step rollouts, Adam 5e-4, clip norm 40, gamma 0.99.
The last line printed is a JSON summary: algo, env, seed, solved, seconds, env_steps,
episodes, steps_per_second, mean_return_100.
"""

import argparse
import sys

from tfa3c import cli


def main(argv=None) -> int:
    """Parses the options, trains until a stop condition, exports, prints the summary."""
    parser = cli.OneLineArgumentParser(prog="a3c_cartpole.py", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_training_arguments(parser, "a3c", env_id="CartPole-v1")
    # A budget, so that the example always ends: solved, or five minutes of training.
    parser.set_defaults(max_seconds=300.0)
    args = parser.parse_args(argv)
    # A3CConfig(**options) is validated here; A3C(config).learn() runs the workers.
    return cli.train("a3c", args, prog=parser.prog)


if __name__ == "__main__":
    sys.exit(main())
