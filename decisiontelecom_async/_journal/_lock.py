"""One process per journal file: an exclusive, non-blocking lock on a file beside it.

The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on
Windows): it goes away with the process, also after ``kill -9``, so a dead
run never leaves a journal locked.
"""

from __future__ import annotations

import contextlib
import os
import sys

from decisiontelecom_async._errors import JournalError

__all__ = ["FileLock"]

# Locks this process holds, by path. Another journal of this process on the
# same path waits for them (a run left with ``break`` closes a moment later,
# when its generator is collected) instead of being refused at once.
_held_here: set[str] = set()


class FileLock:
    """An exclusive lock on ``path``, taken at once or refused with a :class:`JournalError`."""

    def __init__(self, path: str, *, what: str) -> None:
        self._path = os.path.abspath(path)  # noqa: PTH100 - a plain string key
        self._what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; a :class:`JournalError` if another process holds it."""
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = f"cannot open the lock file of {self._what} ({exc.strerror}): {self._path}"
            raise JournalError(msg) from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            msg = (
                f"{self._what} is in use by another process (its lock {self._path} is held); "
                "one process per SQLite journal at a time"
            )
            raise JournalError(msg) from None
        self._fd = fd
        _held_here.add(self._path)

    @property
    def held_here(self) -> bool:
        """Whether another lock of this process holds the same path."""
        return self._fd is None and self._path in _held_here

    def release(self) -> None:
        """Let the lock go (closing the file releases it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _held_here.discard(self._path)
            with contextlib.suppress(OSError):
                os.close(fd)


if sys.platform == "win32":  # pragma: no cover - the CI runs on POSIX
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
