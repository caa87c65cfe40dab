"""`tfa3c play PATH`: run an exported policy for a few episodes and report its returns.

PATH is a SavedModel version folder (`savedmodels/a3c_cartpole/3`) or a model folder
(`savedmodels/a3c_cartpole`, whose newest version is used). The policy is called
through its signatures, exactly as a serving client would: `get_initial_state` then
`action` with the state carried from step to step for recurrent policies. Actions are
greedy unless `--stochastic`; episode i is seeded with `--seed` + i.

`--video DIR` records every episode to an MP4 file in DIR through gymnasium's
`RecordVideo` (moviepy: `pip install "tfa3c[video]"`), for any environment with an
`rgb_array` render mode. Atari games are then played on ale-py's single environment with
gymnasium's preprocessing set to the training's (`atari.make_rendered_game`), so that the
video shows the game's own screen.

The last line printed is a JSON object:
`{"mean_return": ..., "std_return": ..., "min_return": ..., "max_return": ..., "episodes": N}`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from tfa3c.errors import UserInputError, first_line
from tfa3c.layout import existing_versions

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `tfa3c play`."""
    parser.add_argument("path", metavar="PATH",
                        help="an exported SavedModel: a version folder, or a model folder "
                             "(its newest version is used)")
    parser.add_argument("--env", dest="env_id", default=None,
                        help="gymnasium environment id (default: the one the policy was "
                             "trained on, from its metadata)")
    parser.add_argument("--env-kwargs", nargs="+", default=None, metavar="KEY=VALUE",
                        help="keyword arguments for the environment (default: those the "
                             "policy was trained with, for its own environment)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes (default 20)")
    parser.add_argument("--seed", type=int, default=0,
                        help="episode i is reset with seed SEED+i (default 0)")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample actions from the policy instead of taking the most "
                             "probable one")
    parser.add_argument("--render", action="store_true",
                        help="show the episodes in a window (needs a display)")
    parser.add_argument("--video", default=None, metavar="DIR",
                        help="record each episode to an MP4 file in DIR (needs moviepy: "
                             "pip install \"tfa3c[video]\")")


def _is_saved_model(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, name)) for name in _SAVED_MODEL_FILES)


def resolve_saved_model(path: str) -> str:
    """The SavedModel folder that `path` names: itself, or its newest numbered version.

    Raises:
        UserInputError: `path` does not exist or holds no SavedModel.
    """
    if not os.path.isdir(path):
        raise UserInputError(f"{path!r} does not exist or is not a folder; give an exported "
                             "SavedModel folder, e.g. savedmodels/a3c_cartpole")
    if _is_saved_model(path):
        return path
    versions = [version for version in reversed(existing_versions(path))
                if _is_saved_model(os.path.join(path, str(version)))]
    if not versions:
        raise UserInputError(f"no SavedModel in {path!r}: expected saved_model.pb in it or in "
                             "a numbered version folder under it (tfa3c export writes "
                             "DIR/<model_name>/<version>/)")
    return os.path.join(path, str(versions[0]))


@dataclass
class LoadedPolicy:
    """An exported tfa3c policy, called through its signatures.

    Attributes:
        path: the SavedModel folder.
        metadata: `get_metadata`'s strings, decoded.
        recurrent: whether it carries an LSTM state (`get_initial_state` exists).
    """

    path: str
    metadata: dict[str, str]
    recurrent: bool
    _saved_model: Any

    @property
    def observation_size(self) -> int:
        """Values per observation (the length of a flat one)."""
        return int(self.metadata["observation_size"])

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation; exports without the key took flat vectors."""
        shape = self.metadata.get("observation_shape")
        return tuple(json.loads(shape)) if shape else (self.observation_size,)

    @property
    def observation_dtype(self) -> str:
        """`uint8` for frame stacks, `float32` for vectors."""
        return self.metadata.get("observation_dtype", "float32")

    @property
    def num_actions(self) -> int:
        """Number of discrete actions, or of action dimensions (continuous)."""
        return int(self.metadata["num_actions"])

    @property
    def action_kind(self) -> str:
        """The distribution's kind; exports without the key are `categorical`."""
        from tfa3c.policies.distributions import CATEGORICAL

        return self.metadata.get("action_kind", CATEGORICAL)

    @property
    def action_nvec(self) -> tuple[int, ...]:
        """Actions per dimension of a multi-categorical policy, else empty."""
        return tuple(json.loads(self.metadata.get("action_nvec", "[]")))

    def initial_state(self, batch_size: int = 1) -> dict[str, Any]:
        """Zero recurrent state (`state_h`, `state_c`); empty for feed-forward policies."""
        if not self.recurrent:
            return {}
        import tensorflow as tf

        return dict(self._saved_model.signatures["get_initial_state"](
            batch_size=tf.constant(batch_size, tf.int32)))

    def action(self, observations, state: dict[str, Any]) -> dict[str, Any]:
        """Calls the `action` signature.

        Its outputs: `action`, `value`, `probabilities` (categorical) or `mean` and
        `log_std` (Gaussian), and the next state for a recurrent policy.
        """
        import tensorflow as tf

        return self._saved_model.signatures["action"](
            observation=tf.convert_to_tensor(observations, self.observation_dtype), **state)


def load_policy(path: str) -> LoadedPolicy:
    """Loads an exported tfa3c policy from a version or model folder.

    Raises:
        UserInputError: no SavedModel there, it cannot be read, or tfa3c did not make it.
    """
    folder = resolve_saved_model(path)
    import tensorflow as tf

    try:
        saved_model = tf.saved_model.load(folder)
    except Exception as error:  # protobuf, OpError, ...: all mean "not readable"
        raise UserInputError(f"cannot load the SavedModel in {folder!r}: "
                             f"{first_line(error)}") from None
    signatures = saved_model.signatures
    if "get_metadata" not in signatures or "action" not in signatures:
        raise UserInputError(
            f"the SavedModel in {folder!r} was not exported by tfa3c: it has signatures "
            f"{sorted(signatures.keys())}, not get_metadata and action")
    metadata = {key: value.numpy().decode() for key, value in signatures["get_metadata"]().items()}
    missing = {"env_id", "observation_size", "num_actions"} - set(metadata)
    if missing:
        raise UserInputError(f"the SavedModel in {folder!r} has incomplete tfa3c metadata "
                             f"(missing {', '.join(sorted(missing))})")
    return LoadedPolicy(folder, metadata, "get_initial_state" in signatures, saved_model)


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise UserInputError("--render needs a display, and neither DISPLAY nor "
                             "WAYLAND_DISPLAY is set; run without --render")


def _check_video(folder: str, render: bool) -> None:
    """Refuses `--video` without moviepy, beside `--render`, or onto a file."""
    import importlib.util

    if render:
        raise UserInputError("--video and --render cannot be used together: a video records "
                             "rgb_array frames, a window needs human rendering; pick one")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserInputError(f"--video {folder!r} is a file; give a folder for the videos")
    missing = [name for name in ("moviepy", "cv2") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserInputError(f"--video needs {' and '.join(missing)}: "
                             'pip install "tfa3c[video]"')


def make_matching_env(policy: LoadedPolicy, env_id: str | None, render: bool = False,
                      env_kwargs: list[str] | None = None, video: bool = False):
    """Makes `env_id` (default: the policy's) and checks its spaces fit the policy.

    `env_kwargs` are `KEY=VALUE` items (`--env-kwargs`); without them the policy's own
    environment is made with the keyword arguments recorded at export. With `video` the
    environment renders `rgb_array` frames.

    Raises:
        UserInputError: unknown id, unsupported spaces, spaces the policy does not fit,
            or `render` without a display.
    """
    from tfa3c import atari
    from tfa3c.env_spec import resolve_env
    from tfa3c.envs import make_env, parse_env_kwargs
    from tfa3c.spaces import ActionSpec

    if env_kwargs is None:  # the policy's own environment: with the arguments it trained on
        env_kwargs = (json.loads(policy.metadata.get("env_kwargs", "{}"))
                      if env_id is None else {})
    else:
        env_kwargs = parse_env_kwargs(env_kwargs)
    env_id = env_id or policy.metadata["env_id"]
    if render:
        _check_display()
        if atari.is_atari(env_id):
            raise UserInputError(f"--render is not available for Atari games ({env_id}); "
                                 "run without --render")
    # The spaces as training read them, checked before a window opens.
    spec = resolve_env(env_id, env_kwargs)
    shape, action = spec.observation_shape, spec.action
    if (shape, action.kind, action.size, action.nvec) != (
            policy.observation_shape, policy.action_kind, policy.num_actions,
            policy.action_nvec):
        trained = ActionSpec(policy.action_kind, policy.num_actions, nvec=policy.action_nvec)
        expected = (trained.describe() if trained.discrete
                    else f"{policy.num_actions} continuous action dimensions")

        def described(dims: tuple[int, ...]) -> str:
            return f"{dims[0]} observation values" if len(dims) == 1 else f"observations {dims}"

        raise UserInputError(
            f"{env_id} has {described(shape)} and actions {action.describe()}, but the "
            f"policy expects {described(policy.observation_shape)} and {expected} (it was "
            f"trained on {policy.metadata['env_id']}); pick a matching --env")
    if spec.atari:
        return (atari.make_rendered_game(env_id, env_kwargs) if video
                else atari.AtariGame(env_id, env_kwargs))
    mode = "human" if render else "rgb_array" if video else None
    env = make_env(env_id, env_kwargs=env_kwargs, **({"render_mode": mode} if mode else {}))
    if video and env.render_mode != "rgb_array":
        env.close()
        raise UserInputError(f"--video needs an environment that renders rgb_array frames; "
                             f"{env_id} offers {env.metadata.get('render_modes') or 'none'}")
    return env


def record_videos(env, folder: str, env_id: str):
    """`env` with every episode recorded to `folder/<env>-episode-<i>.mp4`, at its frame rate."""
    from gymnasium.wrappers import RecordVideo

    fps = env.metadata.get("render_fps") or 30
    prefix = env_id.replace("/", "_").replace(":", "_")
    return RecordVideo(env, folder, episode_trigger=lambda _: True, name_prefix=prefix, fps=fps)


def play_episodes(policy: LoadedPolicy, env, episodes: int, seed: int = 0,
                  stochastic: bool = False) -> list[float]:
    """Runs `episodes` episodes (episode i reset with `seed + i`); returns their returns."""
    import numpy as np

    from tfa3c.policies import distributions

    rng = np.random.default_rng(seed)
    spec = distributions.action_spec(env.spec.id if env.spec else "env", env.action_space)
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        state = policy.initial_state(1)
        total, done = 0.0, False
        while not done:
            outputs = policy.action(np.asarray(observation, policy.observation_dtype)[None],
                                    state)
            if policy.recurrent:
                state = {"state_h": outputs["state_h"], "state_c": outputs["state_c"]}
            if spec.discrete:  # an int, or one int per dimension for MultiDiscrete
                action = (distributions.sample(spec, outputs["probabilities"].numpy(), rng)[0]
                          if stochastic else outputs["action"].numpy()[0])
                action = int(action) if spec.kind == distributions.CATEGORICAL else action
            elif stochastic:  # sampled from the Gaussian, clipped to the bounds
                params = np.concatenate([outputs["mean"].numpy(), outputs["log_std"].numpy()],
                                        axis=-1)
                drawn = distributions.sample(distributions.GAUSSIAN, params, rng)
                action = distributions.clip(spec, drawn)[0]
            else:  # the mean, clipped in the export to the training bounds, and to this
                action = distributions.clip(spec, outputs["action"].numpy())[0]  # env's
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def summarize(returns: list[float]) -> dict[str, float | int]:
    """Mean, standard deviation, min and max of `returns`, and their count."""
    import numpy as np

    values = np.asarray(returns, dtype=np.float64)
    return {"mean_return": round(float(values.mean()), 3),
            "std_return": round(float(values.std()), 3),
            "min_return": round(float(values.min()), 3),
            "max_return": round(float(values.max()), 3),
            "episodes": len(returns)}


def run(args: argparse.Namespace) -> int:
    """Loads the policy, plays the episodes, prints one line each and the JSON summary."""
    if args.episodes < 1:
        raise UserInputError(f"invalid --episodes {args.episodes}: must be >= 1")
    if args.seed < 0:
        raise UserInputError(f"invalid --seed {args.seed}: must be >= 0")
    if args.video is not None:
        _check_video(args.video, args.render)
    if args.render:
        _check_display()  # before the (slow) TensorFlow import
    policy = load_policy(args.path)
    env = make_matching_env(policy, args.env_id, args.render, args.env_kwargs,
                            video=args.video is not None)
    env_id = env.spec.id if env.spec is not None else args.env_id
    if args.video is not None:
        env = record_videos(env, args.video, env_id)
    print(f"policy {policy.path} ({policy.metadata.get('algorithm', '?')}, trained "
          f"{policy.metadata.get('env_steps', '?')} env steps on {policy.metadata['env_id']}); "
          f"playing {env_id}", flush=True)
    try:
        returns = play_episodes(policy, env, args.episodes, args.seed, args.stochastic)
    except Exception as error:
        if not (args.render or args.video is not None):
            raise
        # A display that is set but unusable, or a renderer missing, surfaces here.
        option = "--render" if args.render else "--video"
        raise UserInputError(f"{option} failed: {first_line(error)}") from None
    finally:
        env.close()
    for episode, value in enumerate(returns):
        print(f"episode {episode + 1} (seed {args.seed + episode}): return {value:g}")
    if args.video is not None:
        print(f"videos: {args.video}", flush=True)
    print(json.dumps(summarize(returns)), flush=True)
    return 0
