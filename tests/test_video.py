"""`tfa3c play --video DIR`: episodes recorded through gymnasium's RecordVideo."""

import importlib.util
import json

import numpy as np
from moviepy import VideoFileClip

from tfa3c import cli

from .conftest import ROOT
from .test_export import _cli_error

CARTPOLE = str(ROOT / "savedmodels" / "a3c_cartpole")
PONG = str(ROOT / "savedmodels" / "ga3c_pong")


def played(capsys, argv):
    """Runs `tfa3c play ARGV` in-process; returns its JSON summary."""
    assert cli.main(["play", *argv]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return summary


def frames_of(path):
    with VideoFileClip(str(path)) as clip:
        return [clip.get_frame(t) for t in np.arange(0, clip.duration, 1 / clip.fps)], clip.fps


def test_each_episode_becomes_a_video_of_its_frames(tmp_path, capsys):
    folder = tmp_path / "videos"
    summary = played(capsys, [CARTPOLE, "--episodes", "2", "--seed", "3", "--video",
                              str(folder), "--env-kwargs", "max_episode_steps=60"])
    assert summary["episodes"] == 2 and summary["min_return"] == 60  # the shipped policy balances
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["CartPole-v1-episode-0.mp4", "CartPole-v1-episode-1.mp4"]
    frames, fps = frames_of(folder / names[0])
    assert fps == 50  # CartPole's own render_fps
    # The reset's frame and one per step.
    assert abs(len(frames) - 61) <= 1
    assert frames[0].shape == (400, 600, 3)
    assert not np.array_equal(frames[0], frames[-1])  # the cart moved


def test_an_atari_video_shows_the_game_and_the_policy_still_wins(tmp_path, capsys):
    """Played on ale-py's single env with gymnasium's preprocessing set to the training's."""
    folder = tmp_path / "pong"
    summary = played(capsys, [PONG, "--episodes", "1", "--video", str(folder)])
    assert summary["mean_return"] >= 15  # the shipped policy wins a whole game
    (video,) = folder.iterdir()
    assert video.name == "ALE_Pong-v5-episode-0.mp4"
    with VideoFileClip(str(video)) as clip:
        assert clip.fps == 15  # 60 frames per second, 4 per action: the console's speed
        assert tuple(clip.size) == (160, 210)  # the game's own screen
        frame = clip.get_frame(clip.duration / 2)
    assert frame.ndim == 3 and np.ptp(frame.reshape(-1, 3), axis=0).max() > 50  # colours


def test_video_bad_inputs(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file" in _cli_error(capsys, ["play", CARTPOLE, "--video", str(afile)])
    assert "cannot be used together" in _cli_error(
        capsys, ["play", CARTPOLE, "--video", str(tmp_path / "v"), "--render"])
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "moviepy" else found(name, *args))
    message = _cli_error(capsys, ["play", CARTPOLE, "--video", str(tmp_path / "v")])
    assert "needs moviepy" in message and 'pip install "tfa3c[video]"' in message
    assert not (tmp_path / "v").exists()


def test_the_readme_animation_is_a_cut_of_the_played_video(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    out = tmp_path / "cartpole.gif"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "animation.py"), CARTPOLE,
                           "--out", str(out), "--start", "0.5", "--seconds", "1", "--scale",
                           "0.5"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as gif:
        # CartPole renders 600x400 at 50 fps: a second of it, at half size (the GIF
        # writer merges frames that repeat, so the frames' durations are counted).
        assert gif.size == (300, 200)
        milliseconds = 0
        for index in range(gif.n_frames):
            gif.seek(index)
            milliseconds += gif.info["duration"]
        assert 900 <= milliseconds <= 1100 and gif.n_frames >= 25
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "animation.py"), CARTPOLE,
                          "--out", str(tmp_path / "bad.gif"), "--seconds", "0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and not (tmp_path / "bad.gif").exists()
    assert bad.stderr.strip().count("\n") == 0 and "--seconds" in bad.stderr
