"""Errors that name bad input: the CLI prints them as one line and exits with status 2."""


class UserInputError(ValueError):
    """Something the user gave is wrong; the message says what, and what is allowed."""


class ConfigError(UserInputError):
    """A hyperparameter or option is out of range."""


class EnvironmentSpecError(UserInputError):
    """The environment id is unknown or its spaces are not supported."""


class CheckpointError(UserInputError):
    """A checkpoint to resume from is missing or unreadable."""


class TrainingError(RuntimeError):
    """A worker, agent, predictor or trainer thread failed; training was stopped."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name if it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
