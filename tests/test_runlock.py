"""One writer per run folder: a second process is refused, a killed writer's lock is free, a failed start
leaves nothing behind, and every command that writes a run folder takes the lock."""

import os
import signal

import pytest

from bertlab.cli import main
from bertlab.train.checkpoint import resumable_checkpoint
from bertlab.train.runlock import LOCK_NAME, RunLocked, holder, run_lock

from run_processes import TINY, run, start, status, wait_for


def test_a_second_writer_is_refused_and_a_killed_writers_lock_is_free(tmp_path):
    out = tmp_path / "run"
    first = start("pretrain", *TINY, "--steps", "100000", "--checkpoint-every", "5", "--out", str(out))
    try:
        wait_for(lambda: status(out).get("step", 0) >= 1 or first.poll() is not None, what="the first run's steps")
        config = (out / "config.json").read_bytes()
        second = run("pretrain", *TINY, "--steps", "10", "--out", str(out))
        assert second.returncode == 2
        message = second.stderr.strip().splitlines()[-1]
        assert f"{out} is being written by pid {first.pid} (bertlab pretrain)" in message, second.stderr
        assert "Traceback" not in second.stderr
        resumed = run("pretrain", "--out", str(out), "--resume", "--steps", "10")
        assert resumed.returncode == 2 and f"pid {first.pid}" in resumed.stderr
        assert (out / "config.json").read_bytes() == config  # the refused ones wrote nothing
        os.kill(first.pid, signal.SIGKILL)  # no chance to unlock: the kernel releases the lock
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert (out / LOCK_NAME).exists() and holder(out) is None  # the file stays, the lock went with its process
    saved = int(resumable_checkpoint(out)[0].name.split("-")[1])
    done = run("pretrain", "--out", str(out), "--resume", "--steps", str(saved + 2), "--quiet")
    assert done.returncode == 0, done.stderr
    assert not (out / LOCK_NAME).exists()  # released and removed on a normal exit


def test_the_lock_refuses_a_file_and_a_held_folder_and_cleans_a_failed_start(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(ValueError, match="notes.txt is a file, not a folder; choose another --out"):
        with run_lock(a_file):
            pass
    out = tmp_path / "run"
    with run_lock(out):
        assert "pid" in holder(out) and str(os.getpid()) in holder(out)
        with pytest.raises(RunLocked, match=f"{out} is being written by pid {os.getpid()}"):
            with run_lock(out):
                pass
    assert not out.exists()  # nothing was written: the folder goes with the lock
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with run_lock(keep):
            (keep / "config.json").write_text("{}")
            (keep / "tokenizer.json").write_text("{}")
            raise KeyboardInterrupt  # Ctrl-C while the data is built
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]  # what the failed start added is gone


@pytest.mark.parametrize("command", [
    ["finetune", "--task", "reviews-zh", "--steps", "2"],
    ["distill", "--teacher", "runs/none", "--steps", "2"],
    ["pretrain", "--steps", "2"],
])
def test_every_writing_command_refuses_a_locked_folder(tmp_path, capsys, command):
    out = tmp_path / "run"
    with run_lock(out):
        assert main([*command, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{out} is being written by pid {os.getpid()}" in err and len(err.splitlines()) == 1, err
