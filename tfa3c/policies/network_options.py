"""The options of a policy network, and reading them back from a saved description.

Importable without Keras: configurations name their network with `NetworkOptions`
before TensorFlow is loaded. `tfa3c.policies.actor_critic.build_policy` turns
options, an observation shape and an action distribution into the network;
`from_keras_config` reads the same three back from the Keras configuration a run's
`network.json` or an export's metadata holds, so that a saved network is rebuilt by
the same function that built it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfa3c.policies.encoder_names import LSTM, MLP
from tfa3c.spaces import CATEGORICAL, ActionSpec

FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
PRECISIONS = (FLOAT32, MIXED_BFLOAT16)


@dataclass(frozen=True)
class NetworkOptions:
    """What shapes a policy network beyond its observations and actions.

    Attributes:
        encoder: the encoder's name (`tfa3c.policies.encoder_names`).
        hidden_sizes: the dense layers' widths (MLP encoders).
        lstm_units: the LSTM's cells (recurrent encoders).
        activation: the dense layers' activation.
        cell_clip: bound of the LSTM's cell state, or None.
        seed: seeds the heads' initializers.
        normalize_observations: a running observation normalizer in front (ignored by
            the pixel encoders, which scale their frames themselves).
        precision: `float32`, or `mixed_bfloat16` for a pixel encoder computing in
            bfloat16. A training choice: a saved description is read back as float32,
            so exports and `play` compute in float32 from the same weights.
    """

    encoder: str = MLP
    hidden_sizes: tuple[int, ...] = (16,)
    lstm_units: int = 16
    activation: str = "relu"
    cell_clip: float | None = None
    seed: int | None = None
    normalize_observations: bool = False
    precision: str = FLOAT32


# The network's class names a saved description may carry, with the encoder each
# implied when its configuration did not name one (tfa3c 0.2's classes).
_CLASS_ENCODERS = {"ActorCritic": MLP, "RecurrentActorCritic": LSTM,
                   "FeedForwardActorCritic": MLP}
# Keys of `ActorCritic.get_config` that the rebuilt network derives or ignores.
_DERIVED = {"name", "trainable", "dtype", "data_format", "precision"}
_KEYS = {"num_actions", "encoder", "hidden_sizes", "lstm_units", "activation", "cell_clip",
         "seed", "action_kind", "action_low", "action_high", "action_nvec",
         "normalize_observations"}


def from_keras_config(class_name: str, config: dict[str, Any]
                      ) -> tuple[ActionSpec, NetworkOptions]:
    """The action distribution and options of a network saved as Keras' `config`.

    `config` is `ActorCritic.get_config()` (as `keras.saving.serialize_keras_object`
    writes it); options it does not name take their defaults, as the network's
    constructor gives them.

    Raises:
        ValueError: a class other than tfa3c's actor-critic, or an option it does not have.
    """
    if class_name not in _CLASS_ENCODERS:
        raise ValueError(f"class {class_name!r} is not a tfa3c actor-critic (allowed: "
                         f"{', '.join(_CLASS_ENCODERS)})")
    unknown = sorted(set(config) - _KEYS - _DERIVED)
    if unknown:
        raise ValueError(f"{class_name} has no option {', '.join(unknown)}")
    if "num_actions" not in config:
        raise ValueError(f"{class_name} needs num_actions")
    action = ActionSpec(config.get("action_kind") or CATEGORICAL, int(config["num_actions"]),
                        tuple(float(v) for v in config.get("action_low") or ()),
                        tuple(float(v) for v in config.get("action_high") or ()),
                        tuple(int(n) for n in config.get("action_nvec") or ()))
    options = NetworkOptions(
        encoder=config.get("encoder") or _CLASS_ENCODERS[class_name],
        hidden_sizes=tuple(int(size) for size in config.get("hidden_sizes", (16,))),
        lstm_units=int(config.get("lstm_units", 16)),
        activation=config.get("activation", "relu"), cell_clip=config.get("cell_clip"),
        seed=config.get("seed"),
        normalize_observations=bool(config.get("normalize_observations", False)))
    return action, options
