"""The algorithms, registered once each: what lists, builds or configures one reads this.

A registration names its classes by `module:Class` and imports them only when asked,
so the CLI lists the algorithms, builds its options and answers bad input before
TensorFlow loads (`tfa3c.algorithms.config` is light; the algorithm modules are not).

A new algorithm needs its module (an `AsyncAlgorithm`), its config (a `TrainConfig`
with its option groups), its row of `tfa3c.algorithms.presets.PRESETS`, and one
`register(...)` call here. The CLI's sub-command, its options and help, `tfa3c export`
and the benchmarks take it from there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tfa3c.errors import UserInputError

if TYPE_CHECKING:  # at run time these load lazily: see the module's docstring
    from tfa3c.algorithms.config import TrainConfig
    from tfa3c.algorithms.training import AsyncAlgorithm


@dataclass(frozen=True)
class Registration:
    """One algorithm.

    Attributes:
        name: Its name: the CLI's `tfa3c train NAME`, the config's `algo`, the key of
            its presets, and what a run's config.json records.
        title: How people write it (plots, help).
        algorithm: Its `AsyncAlgorithm` subclass, as `module:Class`.
        config: Its `TrainConfig` subclass, as `module:Class`.
        summary: One line for `tfa3c train --help`.
        roles: The config field that counts its hosted roles (A3C's workers, GA3C's
            agents): what the benchmarks scale.
    """

    name: str
    title: str
    algorithm: str
    config: str
    summary: str
    roles: str

    def config_class(self) -> type[TrainConfig]:
        """Its config class (imports no TensorFlow)."""
        return _load(self.config)

    def algorithm_class(self) -> type[AsyncAlgorithm]:
        """Its algorithm class (imports TensorFlow)."""
        return _load(self.algorithm)


ALGORITHMS: dict[str, Registration] = {}


def register(registration: Registration) -> Registration:
    """Adds `registration` (its name must be new)."""
    if registration.name in ALGORITHMS:
        raise ValueError(f"algorithm {registration.name!r} is registered already")
    ALGORITHMS[registration.name] = registration
    return registration


def registration(name: str) -> Registration:
    """The registration of `name`.

    Raises:
        UserInputError: no algorithm has that name (the message lists those that do).
    """
    found = ALGORITHMS.get(name)
    if found is None:
        raise UserInputError(f"unknown algorithm {name!r}; allowed: {', '.join(ALGORITHMS)}")
    return found


def _load(path: str):
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


register(Registration(
    name="a3c", title="A3C", algorithm="tfa3c.algorithms.a3c:A3C",
    config="tfa3c.algorithms.config:A3CConfig", roles="workers",
    summary="train A3C: workers compute gradients that one global model applies"))
register(Registration(
    name="ga3c", title="GA3C", algorithm="tfa3c.algorithms.ga3c:GA3C",
    config="tfa3c.algorithms.config:GA3CConfig", roles="agents",
    summary="train GA3C: agents queue observations, predictors and trainers batch them"))
