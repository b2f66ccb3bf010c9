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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import webdataset as wds
from PIL import Image, ImageOps, UnidentifiedImageError

from datagen.contract import ANGLES, Variant, decode_sample, is_variant, iter_samples, load_variant
from datagen.preprocess import background_level, fit_page, letterbox, pil_to_tensor, to_model_input
from datagen.render import RenderError, RenderPool, Task, default_workers, page_sizes, render_page
from datagen.strategies import cardinal_k

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".pbm", ".pgm", ".ppm"}
Image.MAX_IMAGE_PIXELS = 200_000_000  # decompression-bomb guard for user images


# --------------------------------------------------------------------------- training stream
def _decode_train(sample: dict) -> tuple[torch.Tensor, int]:
    arr = np.asarray(Image.open(io.BytesIO(sample["png"])).convert("L"), dtype=np.uint8)
    return torch.from_numpy(arr.copy())[None], int(sample["cls"])  # (1, H, W) uint8


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
class EvalData:
    """Labelled evaluation data; iterate :meth:`batches`.  ``errors`` collects unreadable items
    as ``{"item", "reason"}``; they are reported and counted, never raised."""

    kind: str  # variant | csv | pdf
    source: str
    size: int
    items: list = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    variant: Variant | None = None
    split: str | None = None
    group_by: str | None = None
    dpi: float = 100.0
    workers: int = 1
    _cache: list[Batch] | None = None

    def batches(self, batch_size: int = 64) -> Iterator[Batch]:
        if self._cache is not None:
            yield from _rebatch(self._cache, batch_size)
            return
        gen = {"variant": self._variant_batches, "csv": self._csv_batches, "pdf": self._pdf_batches}[self.kind]
        yield from gen(batch_size)

    def cache(self) -> "EvalData":
        """Materialise once (for data evaluated by several models)."""
        if self._cache is None:
            self._cache = list(self.batches(256))
        return self

    # -- variant
    def _variant_batches(self, bs: int) -> Iterator[Batch]:
        buf: list[dict] = []
        for s in iter_samples(self.variant.shards(self.split)):
            buf.append(decode_sample(s))
            if len(buf) >= bs:
                yield self._variant_batch(buf)
                buf = []
        if buf:
            yield self._variant_batch(buf)

    def _variant_batch(self, buf: list[dict]) -> Batch:
        imgs = torch.from_numpy(np.stack([d["image"] for d in buf]))[:, None].float().div_(255.0)  # (B, 1, H, W)
        masks = torch.from_numpy(np.stack([d["mask"] for d in buf]))[:, None]
        if imgs.shape[-1] != self.size:
            imgs = torch.nn.functional.interpolate(imgs, size=(self.size, self.size), mode="bilinear",
                                                   antialias=True, align_corners=False).clamp_(0, 1)
            masks = torch.nn.functional.interpolate(masks.float(), size=(self.size, self.size), mode="nearest") > 0.5
        return Batch(imgs, torch.tensor([d["cls"] for d in buf]), [d["key"] for d in buf], masks,
                     [d["meta"] for d in buf])

    # -- csv
    def _csv_batches(self, bs: int) -> Iterator[Batch]:
        buf_x, buf_y, buf_k, buf_m = [], [], [], []
        for row in self.items:
            path = row["path"]
            try:
                x = to_model_input(load_image(path), self.size)[0]  # (1, S, S)
            except ValueError as e:
                self.errors.append({"item": str(row["file"]), "reason": str(e)})
                continue
            buf_x.append(x)
            buf_y.append(row["angle"] // 90)
            buf_k.append(str(row["file"]))
            buf_m.append({k: v for k, v in row.items() if k != "path"})
            if len(buf_x) >= bs:
                yield Batch(torch.stack(buf_x), torch.tensor(buf_y), buf_k, None, buf_m)
                buf_x, buf_y, buf_k, buf_m = [], [], [], []
        if buf_x:
            yield Batch(torch.stack(buf_x), torch.tensor(buf_y), buf_k, None, buf_m)

    # -- pdf
    def _pdf_batches(self, bs: int) -> Iterator[Batch]:
        pages = []
        for key, page in iter_clean_pages(self.items, self.size, self.dpi, self.workers, self.errors):
            pages.append((key, page))
        yield from _rebatch(list(clean_batches(pages, self.size)), bs)


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


def load_image(path: str | Path) -> torch.Tensor:
    """An image file as ``(1, 1, H, W)`` float gray, EXIF orientation applied (what users see)."""
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return pil_to_tensor(im)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}: {str(e)[:120]})") from None


class _PageJob:
    """Render worker job: one PDF page, blank-checked, fitted to the model input size."""

    def __init__(self, dpi: float, size: int):
        self.dpi, self.size = dpi, size

    def __call__(self, task: Task):
        from datagen.build import BLANK_INK
        from datagen.preprocess import ink_fraction

        if task.kind == "info":
            return page_sizes(task.path, "pdfium")
        arr = render_page(task.path, task.index, self.dpi, "pdfium", size_pts=task.payload)
        ink = ink_fraction(arr)
        if ink < BLANK_INK:
            raise RenderError(f"blank page (ink {100 * ink:.3f} %)")
        t = torch.from_numpy(arr).float().div_(255.0)[None, None]
        return fit_page(t, self.size)[0].numpy()  # (1, h, w)


def iter_clean_pages(docs: list[dict], size: int, dpi: float, workers: int, errors: list[dict]
                     ) -> Iterator[tuple[str, torch.Tensor]]:
    """Render the pages of ``docs`` (``{"id", "file", "pages": [0-based] | None}``) fitted to
    ``size``; yields ``(key_prefix, page (1, h, w))``; failures go to ``errors``."""
    with RenderPool(_PageJob(dpi, size), workers=max(1, workers), timeout=60.0) as pool:
        infos = list(pool.imap(Task("info", d["file"]) for d in docs))
        tasks = []
        for d, (_, status, value) in zip(docs, infos):
            if status != "ok":
                errors.append({"item": d["file"], "reason": value})
                continue
            idx = d.get("pages")
            idx = list(range(len(value))) if idx is None else [i for i in idx if i < len(value)]
            tasks.extend((d, i, value[i]) for i in idx)
        for (d, i, _), (_, status, value) in zip(tasks, pool.imap(Task("page", dd["file"], ii, sz)
                                                                  for dd, ii, sz in tasks)):
            if status != "ok":
                if not value.startswith("blank page"):
                    errors.append({"item": f"{d['file']} page {i + 1}", "reason": value})
                continue
            yield f"{d['id']}-p{i + 1}", torch.from_numpy(value)


def clean_batches(pages: list[tuple[str, torch.Tensor]], size: int) -> Iterator[Batch]:
    """Each fitted page turned losslessly by all four angles, letterboxed: clean labelled data.
    The page box (where the turned page sits in the square) goes into each sample's meta."""
    for key, page in pages:
        bg = background_level(page[None])  # (1,)
        imgs, labels, keys, metas = [], [], [], []
        for angle in ANGLES:
            turned = torch.rot90(page[None], k=cardinal_k(angle), dims=(-2, -1))  # (1, 1, h', w')
            hc, wc = turned.shape[-2:]
            imgs.append(letterbox(turned, size, bg)[0])
            labels.append(angle // 90)
            keys.append(f"{key}-r{angle}")
            metas.append({"angle": angle, "page_box": [(size - hc) // 2, (size - wc) // 2, hc, wc]})
        yield Batch(torch.stack(imgs), torch.tensor(labels), keys, None, metas)


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
                rows.append({**r, "angle": angle, "path": path.parent / r["file"]})
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text CSV") from None
    if not rows:
        raise ValueError(f"{path}: the CSV has no rows")
    return rows


def _pdf_list(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() == ".pdf")
            if not found:
                raise ValueError(f"{p}: folder holds no .pdf files (and is not a dataset variant)")
            out.extend(found)
        elif p.suffix.lower() == ".pdf":
            out.append(p)
        else:
            raise ValueError(f"{p}: expected a variant folder, a file,angle CSV, or PDFs; got {p.suffix or 'a file'}")
    return out


def open_data(paths, size: int, split: str | None = None, group_by: str | None = None, dpi: float = 100.0,
              workers: int | None = None) -> EvalData:
    """DATA -> :class:`EvalData` (see module doc).  Raises ``ValueError`` with a clear message."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ValueError("no DATA given: a variant folder, a file,angle CSV, or PDFs")
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
        return EvalData("variant", str(paths[0]), size, variant=v, split=split)
    if split:
        raise ValueError("--split applies to a variant folder only")
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        return EvalData("csv", str(paths[0]), size, items=_read_csv(paths[0], group_by), group_by=group_by)
    if group_by:
        raise ValueError("--group-by applies to a CSV only")
    pdfs = _pdf_list(paths)
    docs = [{"id": p.stem, "file": str(p.resolve()), "pages": None} for p in pdfs]
    return EvalData("pdf", ", ".join(str(p) for p in paths), size, items=docs, dpi=dpi, workers=workers)


def clean_test_data(variant: Variant, size: int, split: str = "test", workers: int | None = None) -> EvalData:
    """Clean renderings (lossless turns, no artifacts) of the pages a variant used for ``split``."""
    from datagen.manifest import parse_pages

    cfg = variant.record["config"]
    docs = []
    for d in variant.documents(split):
        if not Path(d["file"]).exists():
            raise ValueError(f"{variant.path}: test document {d['file']} is gone; fetch the corpus again")
        total = d.get("pages_total") or 0
        idx = parse_pages(d.get("pages"), total) if total else None
        if idx is not None and cfg.get("max_pages_per_doc"):
            idx = idx[:cfg["max_pages_per_doc"]]
        docs.append({"id": d["id"], "file": d["file"], "pages": idx})
    if not docs:
        raise ValueError(f"{variant.path}: no documents in the {split!r} split")
    return EvalData("pdf", f"clean renderings of {variant.name}'s {split} documents", size, items=docs,
                    dpi=float(cfg.get("dpi", 100.0)), workers=workers or default_workers())


def describe(data: EvalData) -> str:
    if data.kind == "variant":
        return f"{data.source} [{data.split}]"
    return data.source

