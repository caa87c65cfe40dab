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
