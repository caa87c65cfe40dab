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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tfa3c.algorithms.registry import ALGORITHMS, registration
from tfa3c.errors import TrainingError, UserInputError
from tfa3c.tf_runtime import quiet_tensorflow

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


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None


def _devices(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: expected integers separated by commas") from None


# How the command line reads a config field of each type (its annotation, less
# "| None"); booleans take --NAME / --no-NAME, dicts KEY=VALUE words.
_PARSERS: dict[str, Any] = {"int": _integer, "float": float, "str": str,
                            "tuple[int, ...]": _sizes, "tuple[str, ...]": _devices}
# Groups whose options an example may choose for its run (`run_choices`): which
# environment and how long, never a hyperparameter.
_RUN_GROUPS = ("environment", "run")


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_training_arguments(parser: argparse.ArgumentParser, algo: str,
                           run_choices: Mapping[str, Any] | None = None) -> None:
    """The options of `tfa3c train ALGO` (and of the examples), one group per concern.

    Every option comes from a field of the algorithm's config (`TrainConfig.groups()`)
    and defaults to None, "not given": the environment's preset, then the config's
    default, decide (`config_from_args`); the help shows both. No default is stated here.

    Args:
        parser: Receives the options.
        algo: A registered algorithm (`tfa3c.algorithms.registry`).
        run_choices: An example's own choices for its run, e.g. `{"env_id":
            "CartPole-v1", "max_seconds": 300.0}`: environment and run options only, so
            an example never restates a hyperparameter. Without `env_id`, `--env` is
            required.

    Raises:
        ValueError: `run_choices` names an option outside the environment and run groups.
    """
    from tfa3c.algorithms.config import field_default
    from tfa3c.algorithms.presets import KIND_NAMES, presets_of

    config_class = registration(algo).config_class()
    groups = config_class.groups()
    fields = {item.name: item for item in dataclasses.fields(config_class)}
    run_choices = dict(run_choices or {})
    allowed = {name for title in _RUN_GROUPS for name in groups.get(title, ())}
    if set(run_choices) - allowed:
        raise ValueError(f"run_choices may set {', '.join(sorted(allowed))}; not "
                         f"{', '.join(sorted(set(run_choices) - allowed))}")
    kinds = {KIND_NAMES[kind]: values for kind, values in presets_of(algo).items()}

    def described(name: str) -> str:
        metadata = fields[name].metadata
        if name in run_choices:
            return f"{metadata['text']} (default here {_text(run_choices[name])})"
        if name == "env_id":  # required: the dataclass default is for the Python API
            return metadata["text"]
        base = field_default(config_class, name)
        # A factory's value depends on the machine: say what it is instead.
        shown = (metadata["unset"] if metadata["unset"]
                 and (base is None or fields[name].default is dataclasses.MISSING)
                 else _text(base))
        others = "".join(f"; {_text(values[name])} for {kind}" for kind, values in kinds.items()
                         if name in values and values[name] != base)
        return f"{metadata['text']} (default {shown}{others})"

    for title, names in groups.items():
        group = parser.add_argument_group(title)
        for name in names:
            item = fields[name]
            flag = item.metadata.get("flag") or "--" + name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": name, "default": run_choices.get(name),
                                      "help": described(name).replace("%", "%%")}
            kind = str(item.type).replace(" | None", "")
            if kind == "bool":
                kwargs["action"] = argparse.BooleanOptionalAction
            elif kind.startswith("dict"):
                kwargs.update(nargs="+", metavar="KEY=VALUE")
            else:
                kwargs["type"] = _PARSERS[kind]
            if item.metadata.get("choices"):
                kwargs["choices"] = item.metadata["choices"]
            if name == "env_id" and "env_id" not in run_choices:
                kwargs["required"] = True
            group.add_argument(flag, **kwargs)
    # Not config options: what happens to the policy after the run.
    export = parser.add_argument_group("export")
    export.add_argument("--export-dir", default="savedmodels",
                        help="export the trained policy under DIR/<model_name>/<version>/ "
                             "(default savedmodels)")
    export.add_argument("--no-export", dest="export", action="store_false",
                        help="do not export the policy at the end")


def config_from_args(algo: str, args: argparse.Namespace):
    """Builds the validated config of `algo` from parsed arguments."""
    from tfa3c.envs import parse_env_kwargs

    config_class = registration(algo).config_class()
    names = {f.name for f in dataclasses.fields(config_class)}
    # Options left at None take the action kind's preset, or the dataclass default.
    values = {name: value for name, value in vars(args).items()
              if name in names and value is not None}
    values["env_kwargs"] = parse_env_kwargs(values.get("env_kwargs", []))
    return config_class.for_env(**values)


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
        algorithm = registration(algo).algorithm_class()(config)
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
    train_parser = commands.add_parser(
        "train", help=f"train {' or '.join(entry.title for entry in ALGORITHMS.values())} "
                      "on an environment")
    algos = train_parser.add_subparsers(dest="algo", required=True,
                                        parser_class=OneLineArgumentParser)
    for name, entry in ALGORITHMS.items():
        add_training_arguments(algos.add_parser(name, help=entry.summary), name)
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
