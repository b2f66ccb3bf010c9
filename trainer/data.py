"""Data for training and evaluation.

Training reads a variant's ``train-*.tar`` through webdataset: shard order shuffled per epoch,
split by node (under torchrun) and by DataLoader worker, then a sample shuffle buffer.  Samples
stay uint8 until they reach the device.

Evaluation takes DATA in three forms (``open_data``), all turned into model inputs by the ONE
datagen function:
* a variant folder (a split of its shards, with artifact masks);
* a CSV with columns ``file`` and ``angle`` (paths relative to the CSV's folder);
* PDFs or folders of PDFs: every page rendered and turned losslessly to all four angles.
"""
from __future__ import annotations

import csv
import io
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from datagen.contract import (ANGLES, ShardError, Variant, decode_sample, is_variant, iter_samples, load_variant,
                              shard_counts, verify_shards)
from datagen.pages import IMAGE_EXTS, Page, Skip, Source, collect, doc_source, expand, iter_pages, source as page_source  # noqa: F401
from datagen.preprocess import fit_image, page_box, paper_level, square
from datagen.render import default_workers


# --------------------------------------------------------------------------- training stream
def _decode_train(sample: dict) -> tuple[torch.Tensor, int]:
    where = f"{sample.get('__url__', 'shard')}: sample {sample.get('__key__')}"
    try:
        arr = np.asarray(Image.open(io.BytesIO(sample["png"])).convert("L"), dtype=np.uint8)
        cls = int(sample["cls"])
    except KeyError as e:
        raise ShardError(f"{where}: lacks {e.args[0]}") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ShardError(f"{where}: unreadable ({type(e).__name__}: {str(e)[:100]})") from None
    if not 0 <= cls < len(ANGLES):
        raise ShardError(f"{where}: class {cls} is not one of 0..{len(ANGLES) - 1}")
    return torch.from_numpy(arr.copy())[None], cls  # (1, H, W) uint8


MICRO_BATCH = 16  # smallest batch a worker sends; the main process regroups them (see rebatch)


def micro_batch(batch_size: int) -> int:
    """What a worker sends: a quarter of a training batch (at least 16, at most the batch).
    Fewer, larger transfers: each tensor crossing from a worker costs a file-descriptor pass."""
    return min(batch_size, max(MICRO_BATCH, batch_size // 4))


def shard_stream(shards: list[Path], batch_size: int, epoch: int, seed: int, shuffle: bool = True,
                 buffer: int = 2000, ddp_batches: int | None = None) -> wds.DataPipeline:
    """A webdataset pipeline of uint8 micro-batches ``(images (b, 1, H, W), labels (b,))``.

    Shards are shuffled with ``seed + epoch``, split by node and worker, samples shuffled in a
    buffer, and sent in micro-batches (:func:`micro_batch`); :func:`rebatch` makes training
    batches of them in the main process, so no worker leaves its own partial batch and an epoch
    has exactly ``ceil(n / batch_size)`` steps.  Under DDP (``ddp_batches`` set) the stream
    repeats and every worker yields exactly ``ddp_batches`` full micro-batches, so all ranks take
    the same number of steps.
    """
    urls = [str(s) for s in shards]
    if shuffle:
        random.Random(seed * 100003 + epoch).shuffle(urls)
    stages = [wds.SimpleShardList(urls), wds.split_by_node, wds.split_by_worker, wds.tarfile_to_samples()]
    if shuffle:
        stages.append(wds.shuffle(buffer, initial=min(buffer, 500), seed=seed * 7919 + epoch))
    stages += [wds.map(_decode_train), wds.batched(micro_batch(batch_size), partial=ddp_batches is None)]
    pipe = wds.DataPipeline(*stages)
    if ddp_batches is not None:
        pipe = pipe.repeat().with_epoch(ddp_batches)
    return pipe


def rebatch(loader, batch_size: int, drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Regroup micro-batches into batches of exactly ``batch_size`` (the last may be smaller,
    unless ``drop_last``)."""
    xs, ys, n = [], [], 0
    for x, y in loader:
        xs.append(x)
        ys.append(y)
        n += len(y)
        while n >= batch_size:
            X, Y = torch.cat(xs), torch.cat(ys)
            yield X[:batch_size], Y[:batch_size]
            xs, ys, n = [X[batch_size:]], [Y[batch_size:]], n - batch_size
    if n and not drop_last:
        yield torch.cat(xs), torch.cat(ys)


def make_loader(pipe, workers: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(pipe, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                                       persistent_workers=False, prefetch_factor=8 if workers else None)


CACHE_LIMIT = 4 << 30  # decoded bytes of a train split that --cache auto keeps in memory
CACHES = ("auto", "on", "off")


class TrainStream:
    """Training batches, epoch by epoch.

    The first epoch always streams the shards through webdataset (:func:`shard_stream`, worker
    and node splitting, shuffle buffer).  With the cache on, the decoded uint8 samples of that
    complete pass are kept, and later epochs draw batches from memory in a seeded permutation:
    no decoding, no worker start-up per epoch.  ``cache='auto'`` keeps them when the split fits in
    ``CACHE_LIMIT`` bytes and the run is not distributed (under DDP every epoch streams, so the
    ranks keep their node split and equal step counts).
    """

    def __init__(self, shards: list[Path], n_samples: int, side: int, batch_size: int, seed: int, workers: int,
                 pin_memory: bool = False, cache: str = "auto", ddp_micro: int | None = None):
        if cache not in CACHES:
            raise ValueError(f"cache must be one of {', '.join(CACHES)}, got {cache!r}")
        if cache == "on" and ddp_micro is not None:
            raise ValueError("--cache on is not available under torchrun (DDP streams every epoch); use auto or off")
        self.shards, self.batch_size, self.seed, self.workers = shards, batch_size, seed, workers
        self.pin_memory, self.ddp_micro = pin_memory, ddp_micro
        self.cache_on = cache == "on" or (cache == "auto" and ddp_micro is None
                                          and n_samples * side * side <= CACHE_LIMIT)
        self.X: torch.Tensor | None = None
        self.Y: torch.Tensor | None = None

    @property
    def cached(self) -> bool:
        return self.X is not None

    def fill(self) -> None:
        """Build the cache from epoch 0's pass without training on it (for --resume: later epochs
        then see exactly the batches an uninterrupted run would have seen)."""
        if self.cache_on and self.X is None:
            for _ in self.epoch(0):
                pass

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.X is not None:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            perm = torch.randperm(len(self.Y), generator=g)
            for i in range(0, len(perm), self.batch_size):
                idx = perm[i:i + self.batch_size]
                yield self.X[idx], self.Y[idx]
            return
        pipe = shard_stream(self.shards, self.batch_size, epoch, self.seed, ddp_batches=self.ddp_micro)
        keep: list | None = [] if self.cache_on else None
        for x, y in rebatch(make_loader(pipe, self.workers, self.pin_memory), self.batch_size,
                            drop_last=self.ddp_micro is not None):
            if keep is not None:
                keep.append((x, y))
            yield x, y
        if keep:  # only a complete pass becomes the cache
            self.X = torch.cat([k[0] for k in keep])
            self.Y = torch.cat([k[1] for k in keep])


# --------------------------------------------------------------------------- evaluation data
@dataclass
class Batch:
    images: torch.Tensor  # (B, 1, S, S) float [0, 1]
    labels: torch.Tensor  # (B,) class index
    keys: list[str]
    masks: torch.Tensor | None = None  # (B, 1, S, S) bool, artifact masks (variants only)
    metas: list[dict] = field(default_factory=list)


@dataclass
class Upright:
    """An upright, artifact-free page fitted to the model input: what the shortcut test turns."""

    key: str
    fitted: np.ndarray  # (h, w) uint8, long side = size
    paper: int  # 0..255


def _batch(images: list[np.ndarray], labels: list[int], keys: list[str], metas: list[dict],
           masks: list[np.ndarray] | None = None) -> Batch:
    x = torch.from_numpy(np.stack(images))[:, None].float().div_(255.0)  # (B, 1, S, S)
    m = None if masks is None else torch.from_numpy(np.stack(masks))[:, None]
    return Batch(x, torch.tensor(labels), keys, m, metas)


def _batched(samples: Iterable[tuple], bs: int) -> Iterator[Batch]:
    """Group ``(image, label, key, meta)`` samples into batches of ``bs`` (the last may be short)."""
    buf: list = []
    for sample in samples:
        buf.append(sample)
        if len(buf) >= bs:
            yield _batch(*map(list, zip(*buf)))
            buf = []
    if buf:
        yield _batch(*map(list, zip(*buf)))


class EvalSource:
    """Labelled evaluation data.  Every kind has the same three methods: :meth:`batches` (model
    inputs with labels), :meth:`upright` (the pages upright, for interventions) and
    :meth:`describe`; unreadable items land in ``errors`` as ``{"item", "reason"}``, reported and
    counted, never raised.  ``group_by`` names the meta fields accuracy is broken down by."""

    size: int
    group_by: tuple[str, ...] = ()
    prep = None  # a window engine's per-page cut, run where pages are read (page_items)

    def __init__(self):
        self.errors: list[dict] = []
        self._cache: list[Batch] | None = None

    def batches(self, batch_size: int = 64) -> Iterator[Batch]:
        if self._cache is not None:
            yield from _rebatch(self._cache, batch_size)
            return
        yield from self._batches(batch_size)

    def cache(self) -> "EvalSource":
        """Materialise once (for data evaluated by several models)."""
        if self._cache is None:
            self._cache = list(self._batches(256))
        return self

    def _batches(self, batch_size: int) -> Iterator[Batch]:
        """By default, every upright page at its four lossless turns (what :class:`PageSet`
        does, without its document fields); a source with stored samples overrides this."""
        return _batched((t for u in self.upright() for t in self._four_turns(u.key, u.fitted, u.paper, {})),
                        batch_size)

    def _four_turns(self, key: str, fitted: np.ndarray, paper: int, meta: dict) -> Iterator[tuple]:
        """One upright page as four labelled samples, turned losslessly by each angle."""
        for angle in ANGLES:
            yield (square(fitted, self.size, paper, angle), angle // 90, f"{key}-r{angle}",
                   {**meta, "angle": angle, "page_box": page_box(fitted.shape, self.size, angle)})

    def upright(self, limit: int | None = None) -> Iterator[Upright]:
        raise TypeError(f"{self.describe()}: holds labelled samples only, no upright pages to turn or edit")

    def page_items(self) -> Iterator[tuple]:
        """``(page, class, key, meta)`` of every labelled page as read (``page.extra``: what
        :attr:`prep` cut), for engines that read pages rather than squares (the window model)."""
        raise ValueError(f"{self.describe()}: holds {self.size} px squares, not pages; a window model is "
                         "evaluated on page files (a file,angle CSV, a manifest, PDFs or images)")

    def describe(self) -> str:
        return type(self).__name__


class VariantData(EvalSource):
    """One split of a dataset variant: its samples as stored (with artifact masks).  The shards
    are checked against dataset.json (sha256 and sample counts) before they are read."""

    def __init__(self, variant: Variant, split: str, size: int, turns: bool = False):
        super().__init__()
        self.variant, self.split, self.size, self.turns = variant, split, size, turns
        self.source = str(variant.path)

    def _samples(self) -> Iterator[dict]:
        """Decoded samples; with ``turns``, each also turned clockwise by 90, 180 and 270 degrees
        (losslessly, the label moving with it): a variant built with ``--angles 0`` then gives
        all four classes."""
        for s in iter_samples(verify_shards(self.variant, self.split), shard_counts(self.variant)):
            d = decode_sample(s)
            yield d
            if self.turns:
                for k in (1, 2, 3):
                    turned = dict(d, image=np.ascontiguousarray(np.rot90(d["image"], k=-k)),
                                  mask=np.ascontiguousarray(np.rot90(d["mask"], k=-k)), cls=(d["cls"] + k) % 4,
                                  key=f"{d['key']}+t{90 * k}")
                    turned["meta"] = {**d["meta"], "angle": ((d["cls"] + k) % 4) * 90}
                    yield turned

    def _batches(self, bs: int) -> Iterator[Batch]:
        buf: list[dict] = []
        for d in self._samples():
            buf.append(d)
            if len(buf) >= bs:
                yield self._batch(buf)
                buf = []
        if buf:
            yield self._batch(buf)

    def _batch(self, buf: list[dict]) -> Batch:
        imgs = torch.from_numpy(np.stack([d["image"] for d in buf]))[:, None].float().div_(255.0)  # (B, 1, H, W)
        masks = torch.from_numpy(np.stack([d["mask"] for d in buf]))[:, None]
        if imgs.shape[-1] != self.size:
            imgs = torch.nn.functional.interpolate(imgs, size=(self.size, self.size), mode="bilinear",
                                                   antialias=True, align_corners=False).clamp_(0, 1)
            masks = torch.nn.functional.interpolate(masks.float(), size=(self.size, self.size), mode="nearest") > 0.5
        return Batch(imgs, torch.tensor([d["cls"] for d in buf]), [d["key"] for d in buf], masks,
                     [d["meta"] for d in buf])

    def upright(self, limit: int | None = None) -> Iterator[Upright]:
        """The 0-degree samples with empty masks, cropped to their page box."""
        n = 0
        for d in self._samples():
            if d["cls"] != 0 or d["mask"].any() or "+t" in d["key"]:
                continue
            top, left, h, w = d["meta"]["page_box"]
            page = d["image"][top:top + h, left:left + w]
            bg = int(d["image"][0, 0]) if (top or left) else paper_level(page)  # the letterbox pad is the paper level
            if max(page.shape) != self.size:
                page = fit_image(Image.fromarray(np.ascontiguousarray(page), mode="L"), self.size)
            yield Upright(d["key"].rsplit("-r", 1)[0], np.ascontiguousarray(page), bg)
            n += 1
            if limit and n >= limit:
                return

    def describe(self) -> str:
        return f"{self.source} [{self.split}]" + (", each sample at its four turns" if self.turns else "")


class LabelledFiles(EvalSource):
    """A CSV with columns ``file`` and ``angle`` (paths relative to the CSV's folder): each image
    as stored, labelled by its clockwise turn.  Images go through the page path in render
    workers (pixel cap, time limit); a multi-frame image contributes its first frame."""

    def __init__(self, path: Path, rows: list[dict], size: int, group_by: str | None = None, workers: int = 1):
        super().__init__()
        self.path, self.rows, self.size, self.workers = path, rows, size, workers
        self.group_by = (group_by,) if group_by else ()
        self.source = str(path)

    def _pages(self, undo: bool) -> Iterator[tuple[dict, Page]]:
        srcs = [page_source(r["path"], doc=str(r["file"]), pages=[0], rotation=r["angle"] if undo else 0)
                for r in self.rows]
        by_path = {}
        for r, src in zip(self.rows, srcs):
            by_path.setdefault(src, r)
        for it in iter_pages(srcs, self.size, workers=self.workers, skip_blank=False, prep=self.prep):
            row = by_path[it.source]
            if isinstance(it, Skip):
                self.errors.append({"item": str(row["file"]), "reason": f"{row['path']}: {it.reason}"})
                continue
            yield row, it

    def _batches(self, bs: int) -> Iterator[Batch]:
        return _batched(((square(pg.fitted, self.size, pg.paper), row["angle"] // 90, str(row["file"]),
                          {k: v for k, v in row.items() if k != "path"})
                         for row, pg in self._pages(undo=False)), bs)

    def upright(self, limit: int | None = None) -> Iterator[Upright]:
        for n, (row, pg) in enumerate(self._pages(undo=True), start=1):
            yield Upright(str(row["file"]), pg.fitted, pg.paper)
            if limit and n >= limit:
                return

    def page_items(self) -> Iterator[tuple]:
        for row, pg in self._pages(undo=False):
            yield pg, row["angle"] // 90, str(row["file"]), {k: v for k, v in row.items() if k != "path"}

    def describe(self) -> str:
        return self.source


def turned_page(pg, angle: int):
    """A read page (its whole view and its windows) turned clockwise by ``angle``, losslessly."""
    from types import SimpleNamespace

    k = -(angle // 90)
    fitted = None if pg.fitted is None else np.ascontiguousarray(np.rot90(pg.fitted, k))
    extra = dict(pg.extra) if pg.extra else None
    if extra and extra.get("windows") is not None and len(extra["windows"]):
        extra["windows"] = np.ascontiguousarray(np.rot90(extra["windows"], k, axes=(1, 2)))
    return SimpleNamespace(fitted=fitted, paper=pg.paper, extra=extra)


class PageSet(EvalSource):
    """Upright pages (PDF pages, image files, the documents of a manifest), each turned
    losslessly to all four angles: clean labelled data.  Manifest documents carry ``kind`` and
    ``script``, and accuracy is broken down by both."""

    def __init__(self, sources: list[Source], size: int, dpi: float = 100.0, workers: int = 1,
                 description: str = "", group_by: tuple[str, ...] = ()):
        super().__init__()
        self.sources, self.size, self.dpi, self.workers = sources, size, dpi, workers
        self.group_by = group_by
        self.source = description or ", ".join(s.path for s in sources)
        self._pages: list[Page] | None = None

    def pages(self) -> Iterator[Page]:
        if self._pages is not None:
            yield from self._pages
            return
        yield from collect(iter_pages(self.sources, self.size, dpi=self.dpi, workers=self.workers, prep=self.prep),
                           self.errors)

    def cache(self) -> "PageSet":
        """Render once: later :meth:`batches` and :meth:`upright` calls reuse the pages."""
        if self._pages is None:
            self._pages = list(self.pages())
        return self

    def _batches(self, bs: int) -> Iterator[Batch]:
        return _batched((t for pg in self.pages() for t in self._four_turns(
            pg.key, pg.fitted, pg.paper, {"doc": pg.source.doc, "page": pg.index + 1, **pg.meta})), bs)

    def page_items(self) -> Iterator[tuple]:
        """Each page at its four lossless turns (the windows cut once, upright, and turned)."""
        for pg in self.pages():
            meta = {"doc": pg.source.doc, "page": pg.index + 1, **pg.meta}
            for angle in ANGLES:
                yield turned_page(pg, angle), angle // 90, f"{pg.key}-r{angle}", {**meta, "angle": angle}

    def upright(self, limit: int | None = None) -> Iterator[Upright]:
        for n, pg in enumerate(self.pages(), start=1):
            yield Upright(pg.key, pg.fitted, pg.paper)
            if limit and n >= limit:
                return

    def describe(self) -> str:
        return self.source


def _rebatch(batches: list[Batch], bs: int) -> Iterator[Batch]:
    flat = []
    for b in batches:
        for i in range(len(b.keys)):
            flat.append((b.images[i], b.labels[i], b.keys[i], None if b.masks is None else b.masks[i],
                         b.metas[i] if b.metas else {}))
    for i in range(0, len(flat), bs):
        chunk = flat[i:i + bs]
        masks = None if chunk[0][3] is None else torch.stack([c[3] for c in chunk])
        yield Batch(torch.stack([c[0] for c in chunk]), torch.stack([c[1] for c in chunk]), [c[2] for c in chunk],
                    masks, [c[4] for c in chunk])


def _read_csv(path: Path, group_by: str | None) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            if "file" not in cols or "angle" not in cols:
                raise ValueError(f"{path}: a labelled CSV needs columns 'file' and 'angle', got {cols}")
            if group_by and group_by not in cols:
                raise ValueError(f"{path}: --group-by column {group_by!r} not in the CSV; columns: {', '.join(cols)}")
            rows = []
            for i, r in enumerate(reader, start=2):
                try:
                    angle = int(float(r["angle"]))
                except (TypeError, ValueError):
                    raise ValueError(f"{path}: line {i}: angle {r['angle']!r} is not a number") from None
                if angle not in ANGLES:
                    raise ValueError(f"{path}: line {i}: angle must be one of {ANGLES}, got {angle}")
                if not r["file"]:
                    raise ValueError(f"{path}: line {i}: empty file name")
                rows.append({**r, "angle": angle, "path": path.parent / r["file"]})
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text CSV") from None
    if not rows:
        raise ValueError(f"{path}: the CSV has no rows")
    return rows


def manifest_sources(path: Path, log=None) -> list[Source]:
    """The documents of a manifest (fetched and verified into the cache first) as page sources."""
    from datagen.manifest import docs_from_manifest, load_manifest

    docs = docs_from_manifest(load_manifest(path), log=log or (lambda s: print(s, file=sys.stderr)))
    return [doc_source(d) for d in docs]


def open_data(paths, size: int, split: str | None = None, group_by: str | None = None, dpi: float = 100.0,
              workers: int | None = None, prep=None) -> EvalSource:
    """DATA -> an :class:`EvalSource` (:func:`_open_data`), whose pages are also cut by ``prep``
    (a window engine's :class:`~trainer.windowinfer.WindowPrep`) where they are read."""
    ds = _open_data(paths, size, split, group_by, dpi, workers)
    ds.prep = prep
    return ds


def _open_data(paths, size: int, split: str | None = None, group_by: str | None = None, dpi: float = 100.0,
               workers: int | None = None) -> EvalSource:
    """DATA -> an :class:`EvalSource`: a variant folder (a split of its shards), a ``file,angle``
    CSV, a manifest (``.toml``: its documents, upright, turned to all four angles, broken down by
    kind and script), or PDFs, images and folders of them (upright pages, turned likewise).
    Raises ``ValueError`` with a clear message."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ValueError("no DATA given: a variant folder, a file,angle CSV, a manifest, or PDFs and images")
    for p in paths:
        if not p.exists():
            raise ValueError(f"{p}: no such file or folder")
    workers = workers or default_workers()
    if len(paths) == 1 and is_variant(paths[0]):
        v = load_variant(paths[0])
        split = split or "test"
        if v.count(split) == 0:
            raise ValueError(f"{paths[0]}: the {split!r} split is empty (counts: "
                             f"{ {s: v.count(s) for s in ('train', 'val', 'test')} }); choose another with --split")
        # an upright-only variant (built with --angles 0, for fit --turns) is scored on all four turns
        upright_only = list(v.record.get("config", {}).get("angles", [])) == [0]
        return VariantData(v, split, size, turns=upright_only)
    if split:
        raise ValueError("--split applies to a variant folder only")
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        return LabelledFiles(paths[0], _read_csv(paths[0], group_by), size, group_by, workers)
    if len(paths) == 1 and paths[0].suffix.lower() == ".toml":
        srcs = manifest_sources(paths[0])
        keys = tuple(k for k in ("kind", "script") if any(k in dict(s.meta) for s in srcs))
        if group_by:
            keys = (group_by,)
        return PageSet(srcs, size, dpi, workers, f"the pages of {paths[0]}", keys)
    if group_by:
        raise ValueError("--group-by applies to a CSV or a manifest only")
    for p in paths:
        if p.is_file() and p.suffix.lower() in (".csv", ".toml"):
            raise ValueError(f"{p}: a CSV or a manifest must be the only DATA")
    try:
        sel = expand(paths)
    except ValueError as e:
        raise ValueError(f"{e} (DATA is a variant folder, a file,angle CSV, a manifest, or PDFs and images)") from None
    return PageSet(sel.sources, size, dpi, workers, ", ".join(str(p) for p in paths))


def clean_test_data(variant: Variant, size: int, split: str = "test", workers: int | None = None) -> PageSet:
    """Clean renderings (lossless turns, no artifacts) of the pages a variant used for ``split``."""
    cfg = variant.record["config"]
    srcs = []
    for d in variant.documents(split):
        if not Path(d["file"]).exists():
            raise ValueError(f"{variant.path}: test document {d['file']} is gone; fetch the corpus again")
        rot = d.get("rotation", 0)
        srcs.append(page_source(d["file"], doc=d["id"], spec=d.get("pages"), limit=cfg.get("max_pages_per_doc"),
                                rotation=rot))
    if not srcs:
        raise ValueError(f"{variant.path}: no documents in the {split!r} split")
    return PageSet(srcs, size, float(cfg.get("dpi", 100.0)), workers or default_workers(),
                   f"clean renderings of {variant.name}'s {split} documents")


def describe(data: EvalSource) -> str:
    return data.describe()
