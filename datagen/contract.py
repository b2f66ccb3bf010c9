"""The data contract, owned by datagen; trainer and interpret import it from here.

A dataset variant is one folder::

    shards/<variant>/
      dataset.json          build record (config, strategy, seed, versions, counts, sources, skips, shards)
      train-000000.tar ...  WebDataset shards, split by DOCUMENT
      val-000000.tar ...
      test-000000.tar ...

Each sample: ``__key__`` = ``<doc_id>-p<page>-r<angle>``; ``png`` (8-bit gray, size x size),
``mask.png`` (255 where the rotation synthesised the pixel), ``cls`` (angle // 90), ``json``.
Shards are written under a temporary name and renamed when closed; ``dataset.json`` is written
last, so a folder without it is an unfinished build and readers refuse it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .atomic import write_json_atomic  # noqa: F401  (the contract's JSON writer)

ANGLES = (0, 90, 180, 270)
CLASSES = ANGLES  # class index = angle // 90
SPLITS = ("train", "val", "test")
DATASET_JSON = "dataset.json"
FORMAT = "docorient-shards/1"
TMP_SUFFIX = ".tmp"


def angle_to_class(angle: int) -> int:
    if angle not in ANGLES:
        raise ValueError(f"angle must be one of {ANGLES}, got {angle!r}")
    return angle // 90


def sample_key(doc_id: str, page: int, angle: int, n: int | None = None) -> str:
    """``<doc_id>-p<page>-r<angle>[-<n>]``; page is 1-based."""
    if "." in doc_id:
        raise ValueError(f"doc id {doc_id!r} must not contain '.', which splits WebDataset keys")
    return f"{doc_id}-p{page}-r{angle}" + (f"-{n}" if n is not None else "")


def encode_png(arr: np.ndarray) -> bytes:
    """Deterministic 8-bit grayscale PNG bytes of a ``(H, W)`` uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8)


def shard_name(split: str, index: int, part: tuple[int, int] | None = None) -> str:
    """``train-000000.tar``, or ``train-part02of04-000000.tar`` for a part build."""
    mid = f"part{part[0]:02d}of{part[1]:02d}-" if part else ""
    return f"{split}-{mid}{index:06d}.tar"


class ShardWriter:
    """Deterministic WebDataset tar writer: fixed metadata (mtime 0, uid 0, mode 0444), sample
    files in a fixed order, a new shard every ``maxcount`` samples.  Each shard is written as
    ``<name>.tmp`` and renamed to ``<name>`` when closed, so readers never see a partial shard."""

    ORDER = ("png", "mask.png", "cls", "json")

    def __init__(self, folder: Path, split: str, maxcount: int = 1000, part: tuple[int, int] | None = None):
        if maxcount < 1:
            raise ValueError(f"maxcount must be >= 1, got {maxcount}")
        self.folder, self.split, self.maxcount, self.part = Path(folder), split, maxcount, part
        self.index, self.count, self.tar, self.fileobj = 0, 0, None, None
        self.closed: list[dict] = []  # {"name", "split", "samples", "sha256"}

    def _open(self):
        name = shard_name(self.split, self.index, self.part)
        self.path = self.folder / name
        self.fileobj = open(self.path.with_name(name + TMP_SUFFIX), "wb")
        self.tar = tarfile.open(fileobj=self.fileobj, mode="w", format=tarfile.GNU_FORMAT)
        self.count = 0

    def write(self, key: str, sample: dict[str, bytes]) -> None:
        if self.tar is None:
            self._open()
        for ext in self.ORDER:
            if ext not in sample:
                raise ValueError(f"sample {key} lacks {ext!r}")
            data = sample[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1
        if self.count >= self.maxcount:
            self._close_current()

    def _close_current(self):
        if self.tar is None:
            return
        self.tar.close()
        self.fileobj.flush()
        os.fsync(self.fileobj.fileno())
        self.fileobj.close()
        tmp = self.path.with_name(self.path.name + TMP_SUFFIX)
        os.replace(tmp, self.path)
        self.closed.append({"name": self.path.name, "split": self.split, "samples": self.count,
                            "sha256": sha256_of(self.path)})
        self.tar, self.fileobj = None, None
        self.index += 1

    def close(self) -> list[dict]:
        self._close_current()
        return self.closed


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- readers
@dataclass
class Variant:
    """A finished dataset variant folder and its build record."""

    path: Path
    record: dict

    @property
    def name(self) -> str:
        return self.record.get("variant") or self.path.name

    @property
    def strategy(self) -> str:
        return self.record["strategy"]

    @property
    def size(self) -> int:
        return int(self.record["config"]["size"])

    @property
    def digest(self) -> str:
        return sha256_of(self.path / DATASET_JSON)

    def shards(self, split: str) -> list[Path]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        names = [s["name"] for s in self.record.get("shards", []) if s["split"] == split]
        missing = [n for n in names if not (self.path / n).exists()]
        if missing:
            raise RuntimeError(f"{self.path}: shard {missing[0]} listed in dataset.json is missing; rebuild the variant")
        return [self.path / n for n in sorted(names)]

    def count(self, split: str) -> int:
        return int(self.record.get("counts", {}).get(split, {}).get("total", 0))

    def documents(self, split: str | None = None) -> list[dict]:
        return [d for d in self.record.get("documents", []) if split is None or d.get("split") == split]


def is_variant(path: str | os.PathLike) -> bool:
    return (Path(path) / DATASET_JSON).is_file()


def load_variant(path: str | os.PathLike) -> Variant:
    """Open a variant folder; clear errors for a missing folder or an unfinished build."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such folder")
    if not p.is_dir():
        raise ValueError(f"{p}: expected a dataset variant folder (with dataset.json), got a file")
    f = p / DATASET_JSON
    if not f.exists():
        if any(p.glob("*.tar")) or any(p.glob(f"*.tar{TMP_SUFFIX}")):
            raise ValueError(f"{p}: unfinished build (shards but no dataset.json); rerun the same datagen build")
        raise ValueError(f"{p}: not a dataset variant (no dataset.json); build one with 'datagen build'")
    try:
        rec = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not valid JSON ({e})") from None
    if rec.get("format") != FORMAT:
        raise ValueError(f"{f}: unknown format {rec.get('format')!r}, expected {FORMAT!r}")
    return Variant(p, rec)


def find_variants(path: str | os.PathLike) -> list[Variant]:
    """One variant folder, or every variant folder directly inside ``path`` (sorted by name)."""
    p = Path(path)
    if is_variant(p):
        return [load_variant(p)]
    if not p.is_dir():
        raise ValueError(f"{p}: no such folder")
    subs = [load_variant(s) for s in sorted(p.iterdir()) if s.is_dir() and is_variant(s)]
    if not subs:
        unfinished = [s.name for s in sorted(p.iterdir()) if s.is_dir() and any(s.glob("*.tar*"))]
        extra = f" (unfinished builds: {', '.join(unfinished)})" if unfinished else ""
        raise ValueError(f"{p}: neither a dataset variant nor a folder of variants (no dataset.json){extra}")
    return subs


class ShardError(ValueError):
    """A shard that does not match its build record, or cannot be read; names the shard."""


def verify_shards(variant: "Variant", split: str) -> list[Path]:
    """The split's shards, each checked against ``dataset.json``: present, same sha256 (a shard of
    another build, or one cut short, is refused).  ShardError names the shard and the problem."""
    paths = variant.shards(split)
    listed = {s["name"]: s for s in variant.record.get("shards", [])}
    for p in paths:
        want = listed[p.name].get("sha256")
        if want and sha256_of(p) != want:
            raise ShardError(f"{p}: does not match dataset.json (sha256 differs: another build's shard, or a "
                             "damaged copy); rebuild the variant")
    return paths


def iter_samples(shards: list[Path], expected: dict[str, int] | None = None) -> Iterator[dict]:
    """Samples of plain tar shards as dicts ``{"__key__", "png", "mask.png", "cls", "json"}``
    (bytes), in file order; for evaluation and inspection (training uses webdataset).

    ``expected`` (shard name -> samples, from dataset.json) makes a shard with another number
    of samples an error.  A damaged tar is a :class:`ShardError` naming the shard.
    """
    for shard in shards:
        cur: dict | None = None
        n = 0
        try:
            with tarfile.open(shard) as tf:
                for m in tf:
                    if not m.isfile():
                        continue
                    base = os.path.basename(m.name)
                    key, _, ext = base.partition(".")
                    if cur is None or cur["__key__"] != key:
                        if cur is not None:
                            n += 1
                            yield cur
                        cur = {"__key__": key, "__url__": str(shard)}
                    cur[ext] = tf.extractfile(m).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ShardError(f"{shard}: damaged shard ({type(e).__name__}: {str(e)[:120]}); rebuild the variant") \
                from None
        if cur is not None:
            n += 1
            yield cur
        if expected is not None and Path(shard).name in expected and expected[Path(shard).name] != n:
            raise ShardError(f"{shard}: holds {n} samples, dataset.json says {expected[Path(shard).name]}; "
                             "rebuild the variant")


def decode_sample(s: dict) -> dict:
    """Bytes -> arrays: ``image`` (H, W) uint8, ``mask`` (H, W) bool, ``cls`` int, ``meta`` dict.
    A sample that breaks the contract is a ShardError naming its shard and key."""
    where = f"{s.get('__url__', 'shard')}: sample {s.get('__key__')}"
    missing = [k for k in ("png", "mask.png", "cls", "json") if k not in s]
    if missing:
        raise ShardError(f"{where}: lacks {', '.join(missing)}")
    try:
        image = decode_png(s["png"])
        mask = decode_png(s["mask.png"]) > 127
        cls = int(s["cls"])
        meta = json.loads(s["json"])
    except (OSError, ValueError, SyntaxError) as e:
        raise ShardError(f"{where}: unreadable ({type(e).__name__}: {str(e)[:100]})") from None
    if cls not in range(len(CLASSES)):
        raise ShardError(f"{where}: class {cls} is not one of 0..{len(CLASSES) - 1}")
    if image.shape != mask.shape:
        raise ShardError(f"{where}: image {image.shape} and mask {mask.shape} differ in size")
    return {"key": s["__key__"], "image": image, "mask": mask, "cls": cls, "meta": meta}


def shard_counts(variant: "Variant") -> dict[str, int]:
    """Shard name -> samples, as dataset.json records them."""
    return {s["name"]: int(s.get("samples", 0)) for s in variant.record.get("shards", [])}
