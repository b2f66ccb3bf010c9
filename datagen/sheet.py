"""``datagen inspect``: a contact sheet of a variant (samples per class, artifact mask tinted red)
and the numbers that go with it (counts per split and class, mask coverage per class)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .contract import ANGLES, SPLITS, Variant, decode_sample, iter_samples

TINT = np.array([230, 30, 30], dtype=np.float32)


def _font(size: int):
    for f in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(f).exists():
            return ImageFont.truetype(f, size)
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size)
    except Exception:
        return ImageFont.load_default()


def tint(image: np.ndarray, mask: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """Gray ``(H, W)`` uint8 page -> RGB with the masked pixels blended toward red."""
    rgb = np.repeat(image[..., None].astype(np.float32), 3, axis=2)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * TINT
    return rgb.clip(0, 255).astype(np.uint8)


def pick_samples(variant: Variant, split: str, per_class: int, max_read: int = 4000) -> dict[int, list[dict]]:
    """Up to ``per_class`` decoded samples per class, spread over the documents of ``split``."""
    by_cls: dict[int, list[dict]] = {c: [] for c in range(4)}
    for i, s in enumerate(iter_samples(variant.shards(split))):
        if i >= max_read:
            break
        by_cls[int(s["cls"])].append(s)
    out = {}
    for c, lst in by_cls.items():
        if not lst:
            out[c] = []
            continue
        idx = np.linspace(0, len(lst) - 1, num=min(per_class, len(lst))).round().astype(int)
        out[c] = [decode_sample(lst[i]) for i in sorted(set(idx.tolist()))]
    return out


def contact_sheet(variant: Variant, out: str | Path, split: str | None = None, per_class: int = 6,
                  cell: int = 200) -> Path:
    """Draw the sheet: one row per class, ``per_class`` samples each, mask tinted red."""
    if split is None:
        split = next((s for s in ("test", "val", "train") if variant.count(s)), None)
        if split is None:
            raise ValueError(f"{variant.path}: the variant has no samples")
    picked = pick_samples(variant, split, per_class)
    if not any(picked.values()):
        raise ValueError(f"{variant.path}: split {split!r} is empty")
    label_w, head_h, pad = 110, 54, 6
    W = label_w + per_class * (cell + pad) + pad
    H = head_h + 4 * (cell + pad + 18) + pad
    sheet = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(sheet)
    f_big, f_small = _font(18), _font(12)
    share = variant.record.get("mask_share", {}).get(split, {})
    d.text((pad, 8), f"{variant.name}  —  strategy {variant.strategy}  —  split {split}  —  red = artifact mask "
                     "(pixels synthesised by the rotation)", fill=(0, 0, 0), font=f_big)
    for row, angle in enumerate(ANGLES):
        y = head_h + row * (cell + pad + 18)
        ms = share.get(str(angle))
        d.text((pad, y + cell // 2 - 20), f"{angle}°", fill=(0, 0, 0), font=f_big)
        d.text((pad, y + cell // 2 + 4), "mask " + (f"{100 * ms:.1f} %" if ms is not None else "n/a"),
               fill=(90, 90, 90), font=f_small)
        for col, s in enumerate(picked.get(angle // 90, [])):
            x = label_w + col * (cell + pad)
            im = Image.fromarray(tint(s["image"], s["mask"])).resize((cell, cell), Image.Resampling.LANCZOS)
            sheet.paste(im, (x, y))
            d.rectangle([x - 1, y - 1, x + cell, y + cell], outline=(160, 160, 160))
            d.text((x, y + cell + 2), s["key"][:34], fill=(60, 60, 60), font=f_small)
    from .atomic import atomic_write

    return atomic_write(out, lambda t: sheet.save(t, format="PNG"))


def stats_lines(variant: Variant) -> list[str]:
    rec = variant.record
    lines = [f"variant {variant.name} (strategy {variant.strategy}, size {variant.size}, seed {rec.get('seed')})"]
    lines.append(f"{'split':<6}" + "".join(f"{str(a) + '°':>8}" for a in ANGLES) + f"{'total':>8}   mask coverage per class")
    for s in SPLITS:
        c = rec["counts"].get(s, {})
        ms = rec.get("mask_share", {}).get(s, {})
        cov = "  ".join(f"{a}°:{100 * ms[str(a)]:.1f}%" if ms.get(str(a)) is not None else f"{a}°:-" for a in ANGLES)
        lines.append(f"{s:<6}" + "".join(f"{c.get(str(a), 0):>8}" for a in ANGLES) + f"{c.get('total', 0):>8}   {cov}")
    sk = rec.get("skipped", [])
    blank = sum(1 for x in sk if x["reason"].startswith("blank page"))
    lines.append(f"documents {len(rec.get('documents', []))}, skipped {len(sk)} ({blank} blank pages)")
    return lines
