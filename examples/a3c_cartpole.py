"""A3C on CartPole-v1: LSTM actor-critic, worker threads, one global model.

Run:
    python examples/a3c_cartpole.py                 # until solved (mean return 475), 5 min at most
    python examples/a3c_cartpole.py --seed 3 --workers 4 --max-seconds 60
    tensorboard --logdir runs

Every option of `tfa3c train a3c` works here, with the library's defaults (`--help`
lists them; they live in `tfa3c.algorithms.config`): the tutorial's LSTM, rollouts and
Adam. This example chooses only its run: CartPole-v1, and five minutes at most.
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
    # The run's own choices, not hyperparameters: the environment, and a budget so that
    # the example always ends (solved, or five minutes of training).
    cli.add_training_arguments(parser, "a3c",
                               run_choices={"env_id": "CartPole-v1", "max_seconds": 300.0})
    args = parser.parse_args(argv)
    # A3CConfig(**options) is validated here; A3C(config).learn() runs the workers.
    return cli.train("a3c", args, prog=parser.prog)


if __name__ == "__main__":
    sys.exit(main())
