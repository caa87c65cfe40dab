"""Reward scaling by the running spread of the discounted return, and its checkpoint."""

import numpy as np
import pytest
import tensorflow as tf

from tfa3c.policies.normalization import RewardNormalizer

GAMMA = 0.9


def reference_scaled(rewards, dones, gamma, prior=(0.0, 1.0, 1e-4)):
    """Every step's rewards divided by the std of all discounted returns seen so far."""
    running = np.zeros(rewards.shape[1])
    seen = []
    scaled = np.empty_like(rewards)
    for t in range(rewards.shape[0]):
        running = running * gamma + rewards[t]
        seen.extend(running.tolist())
        values = np.array(seen)
        mean, variance, count = prior
        # Merging the prior pseudo-sample with the returns seen so far.
        total = count + len(values)
        delta = values.mean() - mean
        merged = (variance * count + values.var() * len(values)
                  + delta**2 * count * len(values) / total) / total
        scaled[t] = rewards[t] / np.sqrt(merged + 1e-8)
        running[dones[t]] = 0.0
    return scaled


def test_rewards_are_divided_by_the_running_return_std():
    rng = np.random.default_rng(0)
    rewards = rng.normal(3.0, 2.0, size=(50, 4))
    dones = rng.random((50, 4)) < 0.1
    stream = RewardNormalizer(GAMMA, clip=1e9).stream(4)
    stream.merge_every = 1
    scaled = np.stack([stream(rewards[t], dones[t]) for t in range(50)])
    np.testing.assert_allclose(scaled, reference_scaled(rewards, dones, GAMMA), rtol=1e-5)


def test_streams_share_statistics_and_merges_are_batched():
    normalizer = RewardNormalizer(GAMMA)
    first, second = normalizer.stream(2, warmup=0), normalizer.stream(2, warmup=0)
    for _ in range(20):
        first(np.full(2, 10.0), np.zeros(2, bool))
    # Merged every 8 steps once warmed up: steps 1-16 of 2 environments are merged, 32
    # rows; steps 17-20 wait for the next merge.
    assert normalizer._shadow[2] == pytest.approx(32 + 1e-4)
    # Returns of 10/(1-0.9) = 100 at most: the second stream reads their spread at its
    # first merge, and scales by it from then on.
    for _ in range(8):
        scaled = second(np.full(2, 10.0), np.zeros(2, bool))
    assert scaled[0] < 1.0


def test_a_constant_first_reward_does_not_scale_the_steps_after_it():
    # CartPole: +1 in every environment. The first merge has no spread (so its reward is
    # clipped), but the warm-up merges every step, and the second step already sees the
    # spread of returns over time: rewards are not stuck at the clip for a whole batch.
    stream = RewardNormalizer(0.99, clip=10.0).stream(16)
    scaled = [stream(np.ones(16), np.zeros(16, bool))[0] for _ in range(8)]
    assert scaled[0] == 10.0
    assert all(value < 3.0 for value in scaled[1:]), scaled


def test_scaled_rewards_are_clipped():
    stream = RewardNormalizer(GAMMA, clip=5.0).stream(1)
    for _ in range(30):
        stream(np.zeros(1), np.zeros(1, bool))  # returns of 0: the spread shrinks to 0
    assert stream(np.array([1000.0]), np.zeros(1, bool))[0] == 5.0


def test_statistics_survive_a_checkpoint(tmp_path):
    normalizer = RewardNormalizer(GAMMA)
    stream = normalizer.stream(3)
    rng = np.random.default_rng(1)
    for _ in range(40):
        stream(rng.normal(size=3), rng.random(3) < 0.1)
    normalizer.sync()
    path = tf.train.Checkpoint(reward_statistics=normalizer.statistics).write(
        str(tmp_path / "ckpt"))
    restored = RewardNormalizer(GAMMA)
    assert restored.std == pytest.approx(1.0, abs=1e-6)
    tf.train.Checkpoint(reward_statistics=restored.statistics).read(path).assert_consumed()
    assert restored.std == pytest.approx(normalizer.std)
    assert restored.std != pytest.approx(1.0, abs=1e-3)


def test_a_resumed_run_continues_with_the_saved_statistics(tmp_path):
    from tfa3c.algorithms.ga3c import GA3C

    options = dict(env_id="Acrobot-v1", agents=1, envs_per_agent=4, progress_bar="none",
                   logdir=str(tmp_path / "run"))
    first = GA3C(max_steps=2000, **options)
    first.learn()
    saved = first.reward_normalizer.std
    # Acrobot's -1 per step: discounted returns spread far beyond the prior's 1.
    assert saved > 2.0
    resumed = GA3C(max_steps=2000, resume=True, **options)
    assert resumed.reward_normalizer.std == pytest.approx(saved)
    unnormalized = GA3C(max_steps=2000, normalize_rewards=False,
                        **{**options, "logdir": str(tmp_path / "other")})
    assert unnormalized.reward_normalizer is None


def test_resuming_with_the_other_reward_option_names_the_option(tmp_path):
    from tfa3c.algorithms.ga3c import GA3C
    from tfa3c.errors import CheckpointError

    options = dict(env_id="CartPole-v1", agents=1, envs_per_agent=2, progress_bar="none",
                   max_steps=200)
    GA3C(logdir=str(tmp_path / "plain"), normalize_rewards=False, **options).learn()
    with pytest.raises(CheckpointError, match="trained without reward normalization; resume "
                                              "with --no-normalize-rewards"):
        GA3C(logdir=str(tmp_path / "plain"), resume=True, **options)
    GA3C(logdir=str(tmp_path / "normalized"), **options).learn()
    with pytest.raises(CheckpointError, match="trained with reward normalization"):
        GA3C(logdir=str(tmp_path / "normalized"), resume=True, normalize_rewards=False,
             **options)
