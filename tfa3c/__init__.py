"""tfa3c: asynchronous actor-critic (A3C and GA3C) on Keras 3 / TensorFlow 2."""

__version__ = "0.3.0"

# Heavy imports (TensorFlow) happen on first attribute access, so `tfa3c --help`
# and one-line input errors stay fast.
_EXPORTS = {
    "A3C": "tfa3c.algorithms.a3c",
    "A3CConfig": "tfa3c.algorithms.config",
    "GA3C": "tfa3c.algorithms.ga3c",
    "GA3CConfig": "tfa3c.algorithms.config",
    "ActorCritic": "tfa3c.policies.actor_critic",
    "RecurrentActorCritic": "tfa3c.policies.actor_critic",
    "FeedForwardActorCritic": "tfa3c.policies.actor_critic",
    "build_model": "tfa3c.policies.actor_critic",
    "build_policy": "tfa3c.policies.actor_critic",
    "NetworkOptions": "tfa3c.policies.network_options",
    "EnvSpec": "tfa3c.env_spec",
    "resolve_env": "tfa3c.env_spec",
    "export_policy": "tfa3c.export",
    "UserInputError": "tfa3c.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tfa3c' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
