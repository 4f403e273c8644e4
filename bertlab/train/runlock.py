"""One writer per run folder: an exclusive lock held for as long as a command writes the folder.

Two processes training into one ``--out`` would interleave their config, weights and metrics lines, and a
later ``--resume`` would continue with the wrong settings. So every command that writes a run folder holds
``RUN/.lock`` while it does: a second one is refused, naming the folder and the process that holds it.

The lock is the operating system's (``fcntl.flock`` on Linux and macOS, ``msvcrt.locking`` on Windows), not a
file whose existence means "locked": the kernel releases it when its process ends however it ends (SIGKILL, a
crash, a power cut), so a stale lock cannot outlive its writer and no process id has to be guessed dead. The
file only records the holder's pid and command for the message.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


class RunLocked(ValueError):
    """Another process is writing this run folder."""


def holder(run_dir: str | Path) -> str | None:
    """"pid 1234 (bertlab pretrain ...)" of the process writing ``run_dir``, or None when none is."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            return None  # nobody holds it (our probe's lock goes with the close below)
        return _read_holder(path)
    finally:
        os.close(fd)


def refuse_if_locked(run_dir: str | Path, flag: str = "--out") -> None:
    """``RunLocked`` when a process writes ``run_dir`` (before deleting or replacing a folder)."""
    who = holder(run_dir)
    if who is not None:
        raise RunLocked(_locked_message(run_dir, who, flag))


def _locked_message(run_dir: str | Path, who: str, flag: str) -> str:
    return f"{flag} {run_dir} is being written by {who}; wait for it to finish (or stop it), or choose another {flag}"


def _read_holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another process"


def holds_run(run_dir: str | Path) -> bool:
    """Has ``run_dir`` a run worth keeping, one that saved a checkpoint? (A start that never got that far may
    be started again.)"""
    return (Path(run_dir) / "checkpoints").exists()


@contextmanager
def run_lock(run_dir: str | Path | None, flag: str = "--out") -> Iterator[Path | None]:
    """Hold ``run_dir``'s writer lock for the ``with`` block (creating the folder if needed; None: no folder,
    nothing to lock).

    Refuses a path that is a file, and a folder another process writes (``RunLocked``). A block that fails
    before its first training step (bad settings, a device that is not there, Ctrl-C while data is built)
    takes back the files it added, so no half-made run is left for the dashboard to list. On the way out the
    lock file goes, and so does the folder if it is then empty. Under ``torchrun`` only rank 0 writes, so the
    other ranks take no lock.
    """
    if run_dir is None:
        yield None
        return
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{flag} {run_dir} is a file, not a folder; choose another {flag}")
    if int(os.environ.get("RANK", 0)) != 0:
        yield run_dir
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in run_dir.iterdir()}
    path = run_dir / LOCK_NAME
    fd = _acquire(path, run_dir, flag)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({_command()})\n".encode())
        yield run_dir
    except BaseException:
        if _not_started(run_dir):
            for entry in set(p.name for p in run_dir.iterdir()) - before - {LOCK_NAME}:
                _remove(run_dir / entry)
        raise
    finally:
        _release(fd, path)
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            try:
                run_dir.rmdir()
            except OSError:
                pass  # another writer has just put something in it


def _release(fd: int, path: Path) -> None:
    """Remove the lock file while still holding it (a writer waiting on the old file then retries on a new one,
    see ``_acquire``), then let go. Windows cannot remove an open file: there, close first."""
    if sys.platform == "win32":
        os.close(fd)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # another process has it open: it stays, unlocked
        return
    path.unlink(missing_ok=True)
    os.close(fd)


def clear(run_dir: str | Path) -> None:
    """Empty a run folder whose lock this process holds, to train it again (the lock file stays)."""
    for entry in Path(run_dir).iterdir():
        if entry.name != LOCK_NAME:
            _remove(entry)


def _not_started(run_dir: Path) -> bool:
    """No checkpoint and no finished step: what is there is only the start-up's config and tokenizer."""
    if (run_dir / "checkpoints").exists():
        return False
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return True
    return status.get("status") == "running" and not status.get("step")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _acquire(path: Path, run_dir: Path, flag: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise RunLocked(_locked_message(run_dir, _read_holder(path), flag))
        try:  # the holder may have removed the file between our open and our lock: then lock the new one
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _command() -> str:
    """"bertlab pretrain" for ``python -m bertlab pretrain ...`` and the console script, else the script's name."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    if program.name == "bertlab" or program.parent.name == "bertlab":
        return " ".join(["bertlab", *sys.argv[1:2]])
    return program.name or "python"
