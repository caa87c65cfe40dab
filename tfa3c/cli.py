"""The `tfa3c` command: train, export, play, plot.

Bad input ends with one line on stderr that names what is wrong and what is allowed,
and exit status 2. The last line a training run prints on stdout is its JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from tfa3c.algorithms.config import ENCODERS, HOSTINGS
from tfa3c.errors import TrainingError, UserInputError
from tfa3c.tf_runtime import quiet_tensorflow

ALGORITHMS = ("a3c", "ga3c")
EXIT_USER_ERROR = 2

# Subcommands implemented in their own modules: each has add_arguments(parser) and
# run(args) -> int.
_COMMAND_MODULES = {
    "export": ("tfa3c.export_cli", "export a checkpoint's policy as a SavedModel"),
    "play": ("tfa3c.play", "run an exported policy and report its returns"),
    "plot": ("tfa3c.plotting", "draw learning curves from run folders' episode CSVs"),
}


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: `prog: error: message`."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    return value


def _devices(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: expected integers separated by commas") from None


def add_training_arguments(parser: argparse.ArgumentParser, algo: str, env_id: str | None) -> None:
    """The options of `tfa3c train ALGO` (and of the examples)."""
    from tfa3c.algorithms.config import A3CConfig, GA3CConfig
    from tfa3c.algorithms.presets import CONTINUOUS, PIXELS, preset

    defaults = A3CConfig if algo == "a3c" else GA3CConfig
    fields = {f.name: f for f in dataclasses.fields(defaults)}

    def default(name: str) -> Any:
        field = fields[name]
        if field.default is not dataclasses.MISSING:
            return field.default
        return field.default_factory()  # type: ignore[misc]

    run = parser.add_argument_group("run")
    run.add_argument("--env", dest="env_id", default=env_id, required=env_id is None,
                     help="gymnasium environment id" + (f" (default {env_id})" if env_id else ""))
    run.add_argument("--env-kwargs", nargs="+", default=[], metavar="KEY=VALUE",
                     help="keyword arguments for the environment, e.g. length=8 (values are "
                          "read as JSON where they are JSON, else as strings)")
    run.add_argument("--seed", type=_positive_int, default=0, help="seed (default 0)")
    run.add_argument("--max-steps", type=_positive_int, default=None,
                     help="stop after this many environment steps")
    run.add_argument("--max-seconds", type=float, default=None,
                     help="stop after this many seconds of training")
    run.add_argument("--no-stop-when-solved", dest="stop_when_solved", action="store_false",
                     help="keep training after the target return is reached")
    run.add_argument("--target-return", type=float, default=None,
                     help="mean return over 100 episodes that counts as solved (default: the "
                          "environment's reward_threshold)")
    run.add_argument("--logdir", default=None,
                     help="run folder: TensorBoard events, episodes.csv, checkpoints "
                          "(default runs/<algo>_<env>_<seed>_<timestamp>/)")
    run.add_argument("--resume", action="store_true",
                     help="continue from the newest checkpoint in --logdir")
    run.add_argument("--export-dir", default="savedmodels",
                     help="export the trained policy under DIR/<model_name>/<version>/ "
                          "(default savedmodels)")
    run.add_argument("--no-export", dest="export", action="store_false",
                     help="do not export the policy at the end")
    run.add_argument("--progress", dest="progress_bar", default="auto",
                     choices=("auto", "bar", "lines", "none"),
                     help="progress display (default: a bar on a terminal, lines otherwise)")
    run.add_argument("--log-interval", type=float, default=default("log_interval"),
                     help="seconds between progress lines (default %(default)s)")
    run.add_argument("--checkpoint-interval", type=float, default=default("checkpoint_interval"),
                     help="seconds between checkpoints (default %(default)s)")

    hyper = parser.add_argument_group("hyperparameters")
    # Every option defaults to None: the preset of the environment's kind
    # (`tfa3c.algorithms.presets`) decides, then the dataclass default. The help says both.
    kinds = {"continuous actions": preset(algo, CONTINUOUS), "pixels": preset(algo, PIXELS)}

    def text(value: Any) -> str:
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    def described(name: str, what: str) -> str:
        base = default(name)
        others = "".join(f"; {text(values[name])} for {kind}" for kind, values in kinds.items()
                         if name in values and values[name] != base)
        return f"{what} (default {text(base)}{others})"

    def option(group, flag: str, name: str, what: str, **kwargs) -> None:
        group.add_argument(flag, dest=name, default=None, help=described(name, what), **kwargs)

    option(hyper, "--gamma", "gamma", "discount", type=float)
    option(hyper, "--n-steps", "n_steps", "steps per rollout / n-step return",
           type=_positive_int)
    option(hyper, "--learning-rate", "learning_rate", "learning rate", type=float)
    option(hyper, "--entropy-coef", "entropy_coef", "entropy bonus weight", type=float)
    option(hyper, "--value-coef", "value_coef", "value loss weight", type=float)
    option(hyper, "--reward-scale", "reward_scale", "reward multiplier", type=float)
    option(hyper, "--clip-rewards", "clip_rewards",
           "clip the rewards the loss sees to their sign; returns stay the game's",
           action=argparse.BooleanOptionalAction)
    option(hyper, "--normalize-observations", "normalize_observations",
           "standardize observations by running statistics, inside the network",
           action=argparse.BooleanOptionalAction)
    option(hyper, "--normalize-rewards", "normalize_rewards",
           "divide rewards by the running std of the discounted return",
           action=argparse.BooleanOptionalAction)
    option(hyper, "--clip-norm", "clip_norm", "gradient clip norm", type=float)
    network = parser.add_argument_group("network")
    option(network, "--encoder", "encoder", "observation encoder", choices=ENCODERS)
    option(network, "--hidden-sizes", "hidden_sizes", "MLP layer sizes, comma separated",
           type=_sizes)
    option(network, "--lstm-units", "lstm_units", "LSTM cells", type=_positive_int)
    option(network, "--lstm-cell-clip", "lstm_cell_clip", "bound on the LSTM cell state",
           type=float)
    run.add_argument("--tf-threads", type=_positive_int, default=None,
                     help="threads each TensorFlow op may use (default: every core for "
                          "images, GA3C 1 for vectors)")
    run.add_argument("--hosting", choices=HOSTINGS, default=None,
                     help="where workers (A3C) or agents (GA3C) run: threads of this "
                          "process, processes of this machine, or ray actors "
                          "(default threads)")
    run.add_argument("--non-finite", choices=("error", "skip"), default=None,
                     help="a NaN or infinite observation or reward from the environment: "
                          "stop the run (error, the default), or end that episode and "
                          "skip the transition, counted and logged (skip)")
    run.add_argument("--max-skipped-updates", type=_positive_int, default=None,
                     help="updates in a row skipped for a non-finite loss or gradient "
                          f"before the run stops (default {default('max_skipped_updates')})")
    run.add_argument("--ray-address", default=None,
                     help="with --hosting ray: the cluster to join (auto, or host:port "
                          "of `ray start --head`); default: a local Ray for this run")
    if algo == "a3c":
        option(hyper, "--workers", "workers", "worker threads (the number of CPUs)",
               type=_positive_int)
        option(hyper, "--envs-per-worker", "envs_per_worker", "environments per worker",
               type=_positive_int)
        option(hyper, "--envs-per-update", "envs_per_update",
               "environments whose rollout makes one optimizer step", type=_positive_int)
        option(hyper, "--gae-lambda", "gae_lambda",
               "GAE lambda; 1 gives the tutorial's n-step advantages", type=float)
        option(hyper, "--normalize-advantages", "normalize_advantages",
               "standardize each rollout's advantages", action=argparse.BooleanOptionalAction)
    else:
        option(hyper, "--agents", "agents", "agent threads", type=_positive_int)
        option(hyper, "--envs-per-agent", "envs_per_agent", "environments per agent",
               type=_positive_int)
        option(hyper, "--predictors", "predictors", "predictor threads", type=_positive_int)
        option(hyper, "--trainers", "trainers", "trainer threads", type=_positive_int)
        option(hyper, "--max-prediction-batch", "max_prediction_batch",
               "largest prediction batch", type=_positive_int)
        option(hyper, "--min-batch", "min_batch", "experiences per training step, at least",
               type=_positive_int)
        option(hyper, "--max-batch", "max_batch",
               "experiences per training step, at most, in whole rollouts", type=_positive_int)
        hyper.add_argument("--no-exploration", dest="exploration", action="store_false",
                           default=None, help=described(
                               "exploration", "switch off the epsilon schedule; exploration"))
        hyper.add_argument("--devices", type=_devices, default=None,
                           help="trainer devices, comma separated, e.g. /gpu:0,/gpu:1 "
                                "(default: every GPU, else the CPU)")


def config_from_args(algo: str, args: argparse.Namespace):
    """Builds the validated config of `algo` from parsed arguments."""
    from tfa3c.algorithms.config import A3CConfig, GA3CConfig

    cls = A3CConfig if algo == "a3c" else GA3CConfig
    from tfa3c.envs import parse_env_kwargs

    names = {f.name for f in dataclasses.fields(cls)}
    # Options left at None take the dataclass default, or the action kind's preset.
    values = {name: value for name, value in vars(args).items()
              if name in names and value is not None}
    values["env_kwargs"] = parse_env_kwargs(values.get("env_kwargs", []))
    return cls.for_env(**values)


@contextlib.contextmanager
def user_errors(prog: str = "tfa3c") -> Iterator[None]:
    """Turns UserInputError into one stderr line and exit status 2."""
    try:
        yield
    except UserInputError as error:
        print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
        # The process ends here: TensorFlow's warnings at exit (a half-done checkpoint
        # restore warns about every value it did not assign) would bury the one line.
        if "tensorflow" in sys.modules:
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
        raise SystemExit(EXIT_USER_ERROR) from None


def train(algo: str, args: argparse.Namespace, prog: str = "tfa3c") -> int:
    """Runs one training: validate, build, learn, export, print the summary."""
    with user_errors(prog):
        # An unknown id, bad keyword arguments or unsupported spaces fail here, before
        # TensorFlow loads: `for_env` resolves the environment to choose its preset.
        config = config_from_args(algo, args)
        quiet_tensorflow()
        module = importlib.import_module(f"tfa3c.algorithms.{algo}")
        algorithm = getattr(module, algo.upper())(config)
    try:
        with user_errors(prog):  # e.g. no Ray cluster at --ray-address, found at the start
            summary = algorithm.learn()
    except TrainingError as error:
        traceback.print_exception(error.__cause__ or error, file=sys.stderr)
        print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"final checkpoint: {algorithm.final_checkpoint}", flush=True)
    if getattr(args, "export", False):
        with user_errors(prog):
            path = algorithm.export(args.export_dir)
        print(f"exported policy: {path}", flush=True)
    print(json.dumps(summary), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `tfa3c` argument parser."""
    from tfa3c import __version__

    parser = OneLineArgumentParser(prog="tfa3c", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tfa3c {__version__}")
    commands = parser.add_subparsers(dest="command", required=True,
                                     parser_class=OneLineArgumentParser)
    train_parser = commands.add_parser("train", help="train A3C or GA3C on an environment")
    algos = train_parser.add_subparsers(dest="algo", required=True,
                                        parser_class=OneLineArgumentParser)
    for algo in ALGORITHMS:
        add_training_arguments(algos.add_parser(algo, help=f"train {algo.upper()}"), algo, None)
    for name, (module_name, help_text) in _COMMAND_MODULES.items():
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(module=module_name)
        with contextlib.suppress(ImportError):
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tfa3c` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args.algo, args)
    if args.command in ("export", "play"):  # these load TensorFlow; plot does not
        quiet_tensorflow()
    with user_errors():
        return int(importlib.import_module(args.module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
