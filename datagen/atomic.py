"""Atomic outputs, the one way every command writes: a file or a folder appears complete, under
its final name, or not at all; a failure leaves no temporary file behind and the previous
version untouched.

A file is written under the hidden temporary name :func:`temp_path` gives (``.NAME.tmp-PID``),
created exclusively and private (mode 600) so nobody reads a half-written copy, flushed to disk
(``fsync``) and then renamed.  The rename either replaces what is there (``replace=True``) or is
exclusive (``replace=False``: ``renameat2(RENAME_NOREPLACE)`` where the kernel has it, else a
hard link, which fails on an existing name just the same), so a file that appeared since the
caller looked is never overwritten.  ``like`` carries an existing file's owner, group, mode,
timestamps and extended attributes (ACLs among them) over to its replacement.

A process killed with SIGKILL cannot remove its temporary file: :func:`leftover_temps` finds
such files (ours by their name, their process gone) so the next run removes them.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden temporary name next to ``path`` that this process writes before renaming."""
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}")


def umask() -> int:
    """This process's umask (read without changing it for longer than one call)."""
    m = os.umask(0o022)
    os.umask(m)
    return m


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems cannot sync a folder; the file itself was synced
        if not directory or e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _renameat2_noreplace(src: Path, dst: Path) -> bool:
    """Rename without replacing; False where the kernel or filesystem has no RENAME_NOREPLACE."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def commit_exclusive(tmp: Path, path: Path) -> None:
    """Give the complete file ``tmp`` the name ``path`` unless ``path`` exists
    (``FileExistsError``, ``tmp`` left for the caller to remove)."""
    if _renameat2_noreplace(tmp, path):
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as e:
        raise OSError(e.errno, f"cannot create a file exclusively on this filesystem ({e.strerror}); "
                      "--overwrite replaces files without that guarantee", str(path)) from None
    os.unlink(tmp)


def _take_over(tmp: Path, like: os.stat_result, like_path: Path) -> None:
    """Give ``tmp`` the owner, group, mode, times and extended attributes of ``like_path``
    (``like`` is its stat from before it was read).  PermissionError when the owner or group
    cannot be kept (chown needs root for another user's file)."""
    if (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(tmp, like.st_uid, like.st_gid)
        except PermissionError:
            raise PermissionError(errno.EPERM, f"its owner {like.st_uid}:{like.st_gid} cannot be kept (chown is "
                                               "not permitted to this user)", str(like_path)) from None
    shutil.copystat(like_path, tmp)  # mode (after chown: set-id bits survive), xattrs and ACLs
    os.chmod(tmp, stat.S_IMODE(like.st_mode))
    os.utime(tmp, ns=(like.st_atime_ns, like.st_mtime_ns))


def _create_private(tmp: Path) -> None:
    """Create the empty temporary file ``tmp``, readable by its owner only; one of this pid's
    name already there was left by an earlier process that had the same pid, and goes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        os.close(os.open(tmp, flags, 0o600))
    except FileExistsError:
        tmp.unlink()
        os.close(os.open(tmp, flags, 0o600))


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object], *, replace: bool = True,
                 like: os.stat_result | None = None, mode: int | None = None, durable: bool = True) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    Args:
        replace: replace an existing ``path``; False: ``FileExistsError`` instead, checked at
            the rename itself (nothing is overwritten, even a file that appeared meanwhile).
        like: the stat of the file ``path`` is now (taken before it was read): the new file
            keeps its owner, group, mode, timestamps and extended attributes; PermissionError,
            with nothing changed, where the owner or group cannot be kept.
        mode: permission bits of a new file (default ``0o666`` less the umask).
        durable: fsync the file before the rename, and its folder after.

    Returns:
        ``path``.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", lambda t: t.write_text("hi")).read_text()
    'hi'
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        _create_private(tmp)
        if like is not None and (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
            _take_over(tmp, like, path)  # fail on the owner before any work is done
        write(tmp)
        if like is not None:
            _take_over(tmp, like, path)
        else:
            os.chmod(tmp, (0o666 & ~umask()) if mode is None else mode)
        if durable:
            _fsync_path(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            commit_exclusive(tmp, path)
        if durable:
            _fsync_path(path.parent, directory=True)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
    return path


def atomic_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda t: t.write_bytes(data))


def write_json_atomic(path: str | os.PathLike, obj, *, indent: int = 2, ensure_ascii: bool = True) -> Path:
    """``obj`` as JSON (NaN refused, a newline at the end) into ``path``, atomically."""
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, allow_nan=False) + "\n"
    return atomic_write(path, lambda t: t.write_text(text, encoding="utf-8"))


@contextmanager
def atomic_dir(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Fill a temporary folder (yielded), then put it at ``path``.  An existing ``path`` is
    replaced only once the new folder is complete (``replace``), else refused."""
    path = Path(path)
    if path.exists() and not replace:
        raise ValueError(f"{path}: already exists")
    tmp = temp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- after a kill, and two runs at once
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def leftover_temps(paths: list[Path], recursive: bool = False) -> tuple[list[Path], list[Path]]:
    """Temporary files of :func:`atomic_write`'s naming in the folders ``paths`` (every file
    below them with ``recursive``), split into ``(dead, live)``: those whose process is gone
    (left by a kill; safe to remove) and those whose process still runs (another writer)."""
    dead, live = [], []
    for folder in paths:
        it = Path(folder).rglob(".*.tmp-*") if recursive else Path(folder).glob(".*.tmp-*")
        for p in sorted(it):
            m = TEMP_RE.match(p.name)
            if m is None or not (p.is_file() or p.is_symlink()):
                continue
            (live if int(m["pid"]) != os.getpid() and _alive(int(m["pid"])) else dead).append(p)
    return dead, live


@contextmanager
def folder_lock(path: Path, what: str = "another run") -> Iterator[None]:
    """Hold an exclusive lock on the folder ``path`` (``flock`` on the folder itself, so
    nothing is added to it); RuntimeError at once when another process holds it.  Where the
    filesystem cannot lock a folder the lock is not taken, and exclusive creation of each file
    (:func:`atomic_write` with ``replace=False``) is the remaining guard."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{path}: {what} is writing into this folder; wait for it to finish or choose "
                               "another folder") from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EBADF, errno.EINVAL, errno.ENOTSUP):
                raise
        yield
    finally:
        os.close(fd)
