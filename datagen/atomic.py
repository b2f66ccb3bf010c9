"""Atomic outputs, the one way every command writes: a file or a folder appears complete, under
its final name, or not at all; a failure leaves no temporary file behind and the previous
version untouched."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden temporary name next to ``path`` that this process writes before renaming."""
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it to ``path``.

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
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda t: t.write_bytes(data))


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
