"""The `tfa3c` command: train, export, play, bench, plot.

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
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from tfa3c.algorithms.config import ENCODERS
from tfa3c.errors import TrainingError, UserInputError

ALGORITHMS = ("a3c", "ga3c")
EXIT_USER_ERROR = 2

# Subcommands implemented in their own modules: each has add_arguments(parser) and
# run(args) -> int.
_COMMAND_MODULES = {
    "export": ("tfa3c.export_cli", "export a checkpoint's policy as a SavedModel"),
    "play": ("tfa3c.play", "run an exported policy and report its returns"),
    "bench": ("tfa3c.benchmarking.bench", "benchmark A3C and GA3C against a peer and draw curves"),
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
    from tfa3c.algorithms.presets import CONTINUOUS, preset

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
    hyper.add_argument("--gamma", type=float, default=default("gamma"),
                       help="discount (default %(default)s)")
    hyper.add_argument("--n-steps", type=_positive_int, default=default("n_steps"),
                       help="steps per rollout / n-step return (default %(default)s)")
    continuous = preset(algo, CONTINUOUS)
    # None: the preset of the environment's action kind decides (`tfa3c.algorithms.presets`).
    hyper.add_argument("--learning-rate", type=float, default=None,
                       help=f"learning rate (default {default('learning_rate'):g}; "
                            f"{continuous.get('learning_rate', default('learning_rate')):g} "
                            "for continuous actions)")
    hyper.add_argument("--entropy-coef", type=float, default=default("entropy_coef"),
                       help="entropy bonus weight (default %(default)s)")
    hyper.add_argument("--value-coef", type=float, default=default("value_coef"),
                       help="value loss weight (default %(default)s)")
    hyper.add_argument("--reward-scale", type=float, default=default("reward_scale"),
                       help="reward multiplier (default %(default)s)")
    continuous_normalize = continuous.get("normalize_observations",
                                          default("normalize_observations"))
    hyper.add_argument("--normalize-observations", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="standardize observations by running statistics, inside the "
                            f"network (default {default('normalize_observations')}"
                            + (f"; {continuous_normalize} for continuous actions)"
                               if continuous_normalize != default("normalize_observations")
                               else ")"))
    hyper.add_argument("--normalize-rewards", action=argparse.BooleanOptionalAction,
                       default=default("normalize_rewards"),
                       help="divide rewards by the running std of the discounted return "
                            "(default %(default)s)")
    hyper.add_argument("--clip-norm", type=float, default=default("clip_norm"),
                       help="gradient clip norm (default %(default)s)")
    network = parser.add_argument_group("network")
    network.add_argument("--encoder", choices=ENCODERS, default=None,
                         help=f"observation encoder (default {default('encoder')}; "
                              f"{continuous.get('encoder', default('encoder'))} for continuous "
                              "actions)")
    sizes = [",".join(map(str, value)) for value in
             (default("hidden_sizes"), continuous.get("hidden_sizes", default("hidden_sizes")))]
    network.add_argument("--hidden-sizes", type=_sizes, default=None,
                         help=f"MLP layer sizes, comma separated (default {sizes[0]}; "
                              f"{sizes[1]} for continuous actions)")
    network.add_argument("--lstm-units", type=_positive_int, default=default("lstm_units"),
                         help="LSTM cells (default %(default)s)")
    network.add_argument("--lstm-cell-clip", type=float, default=default("lstm_cell_clip"),
                         help="bound on the LSTM cell state (default: none)")
    if algo == "a3c":
        hyper.add_argument("--workers", type=_positive_int, default=default("workers"),
                           help="worker threads (default: number of CPUs, %(default)s here)")
        hyper.add_argument("--envs-per-worker", type=_positive_int,
                           default=default("envs_per_worker"),
                           help="environments per worker (default %(default)s)")
        hyper.add_argument("--envs-per-update", type=_positive_int,
                           default=default("envs_per_update"),
                           help="environments whose rollout makes one optimizer step "
                                "(default %(default)s)")
        hyper.add_argument("--gae-lambda", type=float, default=default("gae_lambda"),
                           help="GAE lambda; 1 gives the tutorial's n-step advantages "
                                "(default %(default)s)")
        hyper.add_argument("--normalize-advantages", action=argparse.BooleanOptionalAction,
                           default=default("normalize_advantages"),
                           help="standardize each rollout's advantages (default %(default)s)")
    else:
        hyper.add_argument("--agents", type=_positive_int, default=default("agents"),
                           help="agent threads (default %(default)s)")
        hyper.add_argument("--envs-per-agent", type=_positive_int,
                           default=default("envs_per_agent"),
                           help="environments per agent (default %(default)s)")
        hyper.add_argument("--predictors", type=_positive_int, default=default("predictors"),
                           help="predictor threads (default %(default)s)")
        hyper.add_argument("--trainers", type=_positive_int, default=default("trainers"),
                           help="trainer threads (default %(default)s)")
        hyper.add_argument("--max-prediction-batch", type=_positive_int,
                           default=default("max_prediction_batch"),
                           help="largest prediction batch (default %(default)s)")
        hyper.add_argument("--min-batch", type=_positive_int, default=default("min_batch"),
                           help="experiences per training step, at least (default %(default)s)")
        hyper.add_argument("--no-exploration", dest="exploration", action="store_false",
                           help="switch off the epsilon schedule")
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


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its C++ start-up chatter on stderr.

    TF 2.21 prints absl and CUDA-stub lines at import even with
    TF_CPP_MIN_LOG_LEVEL=3, which would bury one-line errors; stderr is pointed at
    /dev/null for the import only (a Python exception still reaches the user). Set
    TF_CPP_MIN_LOG_LEVEL yourself to see them.
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def train(algo: str, args: argparse.Namespace, prog: str = "tfa3c") -> int:
    """Runs one training: validate, build, learn, export, print the summary."""
    with user_errors(prog):
        config = config_from_args(algo, args)
        from tfa3c.envs import make_env

        # An unknown id, bad keyword arguments or unsupported spaces fail before TF loads.
        make_env(config.env_id, env_kwargs=config.env_kwargs).close()
        quiet_tensorflow()
        module = importlib.import_module(f"tfa3c.algorithms.{algo}")
        algorithm = getattr(module, algo.upper())(config)
    try:
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
    if args.command in ("export", "play"):  # these load TensorFlow; bench and plot do not
        quiet_tensorflow()
    with user_errors():
        return int(importlib.import_module(args.module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
