"""``datagen build`` end to end on tiny PDFs made by the tests (CliRunner, CPU, --size 48)."""
from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.contract import load_variant
from datagen.strategies import draw_skews

FAST = ["--size", "48", "--dpi", "50", "--device", "cpu", "-q"]
KEY_RE = re.compile(r"^(?P<doc>[a-z0-9][a-z0-9_-]*)-p(?P<page>\d+)-r(?P<angle>0|90|180|270)$")


# these tests render in the test process: close what pdfium cached afterwards (conftest)
pytestmark = pytest.mark.usefixtures("close_cached_pdfium_documents")


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.fixture
def corpus(make_pdf, tmp_path):
    """Four 2-page documents (168x220 px at 100 dpi -> 84x110 px at --dpi 50) in one folder."""
    folder = tmp_path / "corpus"
    for i in range(4):
        make_pdf(f"doc{i}", pages=2, seed=i, folder=folder)
    return folder


def build(datagen_cli, *args, expect: int = 0):
    r = datagen_cli("build", *args)
    assert r.exit_code == expect, f"exit {r.exit_code}\nstdout:{r.stdout}\nstderr:{r.stderr}\n{r.exception!r}"
    return r


def test_build_end_to_end_contract(datagen_cli, shard_samples, corpus, tmp_path):
    out = tmp_path / "v"
    r = build(datagen_cli, corpus, "--out", out, "--rotation", "kornia-zeros", "--workers", "1", *FAST)
    assert r.stdout.strip().splitlines()[-1] == str(out)
    assert "samples" in r.stderr and "skipped: 0" in r.stderr  # the summary

    rec = json.loads((out / "dataset.json").read_text())
    for key in ("format", "config", "versions", "counts", "documents", "skipped", "shards", "strategy", "seed",
                "mask_share"):
        assert key in rec, key
    assert rec["format"] == "docorient-shards/1"
    assert rec["strategy"] == "kornia-zeros" and rec["seed"] == 0
    assert rec["config"]["size"] == 48 and rec["config"]["rotation"] == "kornia-zeros"
    for pkg in ("torch", "kornia", "python", "docorient"):
        assert pkg in rec["versions"]
    assert rec["skipped"] == []

    # documents, with the sha256 of the source file
    docs = {d["id"]: d for d in rec["documents"]}
    assert set(docs) == {"doc0", "doc1", "doc2", "doc3"}
    for did, d in docs.items():
        assert d["sha256"] == sha(corpus / f"{did}.pdf")
        assert d["split"] in ("train", "val", "test")
        assert d["pages_used"] == 2

    # shards: exactly the files on disk, each sha256 right
    listed = {s["name"]: s for s in rec["shards"]}
    on_disk = {p.name for p in out.iterdir() if p.name != "dataset.json" and not p.name.startswith(".")}
    assert on_disk == set(listed)
    for name, s in listed.items():
        assert name.startswith(s["split"] + "-") and name.endswith(".tar")
        assert s["sha256"] == sha(out / name)

    samples = shard_samples(out)
    assert len(samples) == 4 * 2 * 4
    for name, s in listed.items():
        assert s["samples"] == sum(1 for v in samples.values() if v["__shard__"] == name)

    counts = Counter()
    doc_splits: dict[str, set] = {}
    for key, s in samples.items():
        m = KEY_RE.match(key)
        assert m, key
        assert set(s) - {"__split__", "__shard__"} == {"png", "mask.png", "cls", "json"}
        im, mk = png(s["png"]), png(s["mask.png"])
        assert im.size == (48, 48) and im.mode == "L"
        assert mk.size == (48, 48) and mk.mode == "L"
        assert set(np.unique(np.asarray(mk)).tolist()) <= {0, 255}
        angle = int(m["angle"])
        assert s["cls"] == str(angle // 90).encode()
        meta = json.loads(s["json"])
        assert meta["doc_id"] == m["doc"] and meta["page"] == int(m["page"]) and meta["angle"] == angle
        assert meta["strategy"] == "kornia-zeros" and meta["skew"] == 0.0 and meta["render_dpi"] == 50.0
        assert meta["source_size"] == [110, 84]
        assert s["__split__"] == docs[m["doc"]]["split"]
        doc_splits.setdefault(m["doc"], set()).add(s["__split__"])
        counts[(s["__split__"], str(angle))] += 1
    # no document in two splits
    assert all(len(v) == 1 for v in doc_splits.values())
    for split in ("train", "val", "test"):
        for a in ("0", "90", "180", "270"):
            assert rec["counts"][split][a] == counts[(split, a)]
        assert rec["counts"][split]["total"] == sum(counts[(split, a)] for a in ("0", "90", "180", "270"))
    # 4 documents at 0.8/0.1/0.1: every split gets one
    assert Counter(d["split"] for d in docs.values()) == {"train": 2, "val": 1, "test": 1}

    v = load_variant(out)
    assert v.strategy == "kornia-zeros" and v.size == 48 and v.count("train") == 16


def test_build_shards_readable_by_webdataset(datagen_cli, corpus, tmp_path):
    wds = pytest.importorskip("webdataset")
    out = tmp_path / "v"
    build(datagen_cli, corpus, "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0", *FAST)
    ds = wds.WebDataset(str(out / "train-000000.tar"), shardshuffle=False).decode("pill")
    got = list(ds)
    assert len(got) == 32
    for s in got:
        assert s["png"].mode == "L" and s["png"].size == (48, 48)
        assert int(s["cls"]) == s["json"]["angle"] // 90


def test_build_kornia_zeros_bands_are_black_and_masked_exact_has_none(datagen_cli, shard_samples, make_pdf, tmp_path):
    make_pdf("portrait", pages=1, folder=tmp_path / "one")
    for rot in ("kornia-zeros", "exact"):
        out = tmp_path / rot
        build(datagen_cli, tmp_path / "one", "--out", out, "--rotation", rot, "--workers", "1", "--split", "1,0,0",
              *FAST)
        for key, s in shard_samples(out).items():
            im, mk = np.asarray(png(s["png"])), np.asarray(png(s["mask.png"])) > 127
            angle = json.loads(s["json"])["angle"]
            if rot == "exact" or angle in (0, 180):
                assert not mk.any(), key
                continue
            # page box 48 x 37 (fitted 110x84), turned: bands of 5-6 rows at top and bottom of the box
            rows = np.nonzero(mk.any(axis=1))[0]
            cols = np.nonzero(mk.any(axis=0))[0]
            assert rows.min() == 0 and rows.max() == 47
            assert 10 <= mk.sum(axis=0).max() <= 12  # two bands of ~5.5 rows
            assert 35 <= len(cols) <= 38 and cols.min() >= 5 and cols.max() <= 42  # inside the page box
            assert not mk[12:36].any()
            # black (zero padding); the odd band edge row is half page, half padding
            assert im[mk].max() <= 128 and (im[mk] == 0).mean() > 0.75
            assert not mk[:, :5].any() and not mk[:, 43:].any()  # the letterbox pad is not masked


def test_build_letterbox_pads_with_the_page_paper_level(datagen_cli, shard_samples, make_pdf, tmp_path):
    """DESIGN: the letterbox pad is the page's own background (paper) level."""
    from datagen.render import render_page

    pdf = make_pdf("gray", pages=1, paper=190, folder=tmp_path / "g")
    paper = int(np.median(render_page(str(pdf), 0, 50, "pdfium")))  # the paper, at full resolution
    assert abs(paper - 190) <= 2
    out = tmp_path / "v"
    build(datagen_cli, tmp_path / "g", "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0",
          "--angles", "0", *FAST)
    (s,) = shard_samples(out).values()
    im, mk = np.asarray(png(s["png"])), np.asarray(png(s["mask.png"]))
    pad = np.concatenate([im[:, :5].ravel(), im[:, 43:].ravel()])  # page box 48 x 36 -> 6 pad columns a side
    assert not mk.any()  # the letterbox is not an artifact
    assert np.abs(pad.astype(int) - paper).max() <= 2, f"letterbox pad {sorted(set(pad.tolist()))}, paper {paper}"


def test_build_sample_is_the_model_input_of_the_rendered_page(datagen_cli, shard_samples, make_pdf, tmp_path):
    """DESIGN: the model input is made by ONE function (preprocess.square, after prepare), used by
    datagen and by trainer predict/eval on raw images: a 0-degree exact sample must equal it."""
    from PIL import Image

    from datagen.preprocess import prepare, square
    from datagen.render import render_page

    pdf = make_pdf("page", pages=1, seed=11, folder=tmp_path / "p")
    out = tmp_path / "v"
    build(datagen_cli, tmp_path / "p", "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0",
          "--angles", "0", *FAST)
    (s,) = shard_samples(out).values()
    arr = render_page(str(pdf), 0, 50, "pdfium")
    fitted, paper = prepare(Image.fromarray(arr, mode="L"), 48)
    expect = square(fitted, 48, paper)
    got = np.asarray(png(s["png"]))
    diff = np.abs(got.astype(int) - expect.astype(int))
    assert diff.max() <= 1, (f"shard sample differs from square(prepare(page)) by up to {diff.max()} "
                             f"(corner pixel {got[0, 0]} vs {expect[0, 0]})")


@pytest.mark.parametrize("fractions,expect", [("0.6,0.2,0.2", (6, 2, 2)), ("0.8,0.1,0.1", (8, 1, 1)),
                                              ("1,0,0", (10, 0, 0)), ("0.5,0,0.5", (5, 0, 5))])
def test_split_fractions_are_honoured_by_document(datagen_cli, shard_samples, make_pdf, tmp_path, fractions, expect):
    folder = tmp_path / "ten"
    for i in range(10):
        make_pdf(f"d{i:02d}", pages=1, seed=i, folder=folder)
    out = tmp_path / "v"
    build(datagen_cli, folder, "--out", out, "--rotation", "exact", "--workers", "1", "--angles", "0",
          "--split", fractions, *FAST)
    rec = json.loads((out / "dataset.json").read_text())
    n = Counter(d["split"] for d in rec["documents"])
    assert (n["train"], n["val"], n["test"]) == expect
    by_split = Counter(s["__split__"] for s in shard_samples(out).values())
    assert (by_split["train"], by_split["val"], by_split["test"]) == expect


def test_every_nonzero_split_gets_a_document(datagen_cli, make_pdf, tmp_path):
    folder = tmp_path / "three"
    for i in range(3):
        make_pdf(f"d{i}", pages=1, seed=i, folder=folder)
    out = tmp_path / "v"
    build(datagen_cli, folder, "--out", out, "--rotation", "exact", "--workers", "1", "--angles", "0",
          "--split", "0.9,0.05,0.05", *FAST)
    rec = json.loads((out / "dataset.json").read_text())
    assert sorted(d["split"] for d in rec["documents"]) == ["test", "train", "val"]


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.tar"))}


def test_same_inputs_and_seed_give_identical_shards_any_worker_count(datagen_cli, corpus, tmp_path):
    args = [corpus, "--rotation", "kornia-reflect", "--skew", "2", "--seed", "5", "--shard-size", "7", *FAST]
    build(datagen_cli, *args, "--out", tmp_path / "a", "--workers", "1")
    build(datagen_cli, *args, "--out", tmp_path / "b", "--workers", "1")
    build(datagen_cli, *args, "--out", tmp_path / "c", "--workers", "2")
    a, b, c = (_shard_bytes(tmp_path / x) for x in "abc")
    assert len(a) >= 5  # 32 samples in shards of 7 (per split)
    assert a == b
    assert a == c
    recs = [json.loads((tmp_path / x / "dataset.json").read_text()) for x in "abc"]
    assert recs[0]["shards"] == recs[1]["shards"] == recs[2]["shards"]
    # and the seed matters
    build(datagen_cli, *args[:-len(FAST)], "--seed", "6", *FAST, "--out", tmp_path / "d", "--workers", "1")
    assert _shard_bytes(tmp_path / "d") != a


def test_batch_size_does_not_change_any_sample(datagen_cli, shard_samples, corpus, tmp_path):
    """--batch-size is a speed knob: it may regroup samples within shards, but every sample's
    content must be the same (each page is turned on its own)."""
    args = [corpus, "--rotation", "kornia-zeros", "--skew", "2", "--workers", "1", *FAST]
    build(datagen_cli, *args, "--out", tmp_path / "a")
    build(datagen_cli, *args, "--out", tmp_path / "b", "--batch-size", "3")

    def content(folder):
        return {k: (s["png"], s["mask.png"], s["cls"], s["json"], s["__split__"])
                for k, s in shard_samples(folder).items()}

    a = content(tmp_path / "a")
    assert len(a) == 32 and a == content(tmp_path / "b")


def test_part_builds_union_equals_full_build(datagen_cli, shard_samples, corpus, tmp_path):
    args = [corpus, "--rotation", "kornia-border", "--skew", "2", "--seed", "3", "--workers", "1", *FAST]
    full, parts = tmp_path / "full", tmp_path / "parts"
    build(datagen_cli, *args, "--out", full)
    build(datagen_cli, *args, "--out", parts, "--part", "1/2")
    # one part alone is not a finished variant
    assert not (parts / "dataset.json").exists()
    with pytest.raises(ValueError, match="unfinished build"):
        load_variant(parts)
    r = build(datagen_cli, *args, "--out", parts, "--part", "2/2")
    assert "merged" in r.stderr

    names = sorted(p.name for p in parts.glob("*.tar"))
    assert names and all(re.fullmatch(r"(train|val|test)-part0[12]of02-\d{6}\.tar", n) for n in names)
    p1 = shard_samples(parts, "*-part01of02-*.tar")
    p2 = shard_samples(parts, "*-part02of02-*.tar")
    docs1 = {json.loads(s["json"])["doc_id"] for s in p1.values()}
    docs2 = {json.loads(s["json"])["doc_id"] for s in p2.values()}
    assert docs1 and docs2 and not docs1 & docs2

    def content(samples):
        return {k: (s["png"], s["mask.png"], s["cls"], s["json"], s["__split__"]) for k, s in samples.items()}

    assert content({**p1, **p2}) == content(shard_samples(full))

    merged = json.loads((parts / "dataset.json").read_text())
    ref = json.loads((full / "dataset.json").read_text())
    assert merged["format"] == ref["format"] and merged["strategy"] == "kornia-border"
    assert merged["counts"] == ref["counts"]
    assert sorted(d["id"] for d in merged["documents"]) == sorted(d["id"] for d in ref["documents"])
    assert {d["id"]: d["split"] for d in merged["documents"]} == {d["id"]: d["split"] for d in ref["documents"]}
    assert sorted(s["name"] for s in merged["shards"]) == names
    for s in merged["shards"]:
        assert s["sha256"] == sha(parts / s["name"])
    v = load_variant(parts)
    assert sum(v.count(s) for s in ("train", "val", "test")) == 32


def test_part_build_over_a_full_build_leaves_no_stale_shards(datagen_cli, corpus, tmp_path):
    """A folder rebuilt in parts must not keep the shards of an earlier full build next to the
    new ones: a reader globbing ``train-*.tar`` would mix them in."""
    args = [corpus, "--rotation", "exact", "--workers", "1", *FAST]
    out = tmp_path / "v"
    build(datagen_cli, *args, "--out", out)
    build(datagen_cli, *args, "--out", out, "--part", "1/2")
    build(datagen_cli, *args, "--out", out, "--part", "2/2")
    rec = json.loads((out / "dataset.json").read_text())
    assert sorted(p.name for p in out.glob("*.tar")) == sorted(s["name"] for s in rec["shards"])


def test_parts_built_with_different_settings_are_not_merged_silently(datagen_cli, corpus, tmp_path):
    """Part 2 built with another strategy than part 1 into the same folder: the merged record
    would claim one strategy for shards made by two.  Expect a refusal (or at least no merge)."""
    out = tmp_path / "v"
    base = [corpus, "--workers", "1", "--out", out, *FAST]
    build(datagen_cli, *base, "--rotation", "exact", "--part", "1/2")
    r = datagen_cli("build", *base, "--rotation", "kornia-zeros", "--part", "2/2")
    merged = out / "dataset.json"
    assert r.exit_code != 0 or not merged.exists(), (
        "parts with different --rotation were merged into one dataset.json claiming strategy "
        f"{json.loads(merged.read_text())['strategy']!r}")


@pytest.mark.parametrize("renderer", ["pdfium", "poppler"])
def test_both_renderers_build(datagen_cli, shard_samples, make_pdf, tmp_path, renderer):
    make_pdf("r", pages=2, seed=4, folder=tmp_path / "r")
    out = tmp_path / renderer
    build(datagen_cli, tmp_path / "r", "--out", out, "--rotation", "exact", "--renderer", renderer, "--workers", "1",
          "--split", "1,0,0", *FAST)
    rec = json.loads((out / "dataset.json").read_text())
    assert rec["config"]["renderer"] == renderer
    samples = shard_samples(out)
    assert len(samples) == 8
    for s in samples.values():
        assert json.loads(s["json"])["source_size"] == [110, 84]
        assert png(s["png"]).size == (48, 48)


def test_renderers_give_same_size_and_near_equal_pixels(datagen_cli, shard_samples, vector_pdf, tmp_path):
    vector_pdf("r", pages=1, width=288, height=360, seed=4, folder=tmp_path / "r")  # 200 x 250 px at 50 dpi
    got = {}
    for renderer in ("pdfium", "poppler"):
        out = tmp_path / renderer
        build(datagen_cli, tmp_path / "r", "--out", out, "--rotation", "exact", "--renderer", renderer,
              "--workers", "1", "--split", "1,0,0", "--angles", "0", *FAST)
        (s,) = shard_samples(out).values()
        got[renderer] = (json.loads(s["json"])["source_size"], np.asarray(png(s["png"]), dtype=np.float32))
    assert got["pdfium"][0] == got["poppler"][0] == [250, 200]
    box = slice(5, 43)  # the page box: 250 x 200 fitted to 48 x 38
    a, b = got["pdfium"][1][:, box], got["poppler"][1][:, box]
    assert a.min() < 100 and b.min() < 100  # there is ink to compare
    # pdfium's anti-aliasing draws thin bars a little darker (~6/255 on average): equivalent, not equal
    assert np.abs(a - b).mean() < 10
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_blank_pages_are_skipped_and_counted(datagen_cli, shard_samples, make_pdf, tmp_path):
    pdf = make_pdf("withblank", pages=3, blank=(2,), folder=tmp_path / "b")
    out = tmp_path / "v"
    # blank pages are not errors: even --strict goes on
    r = build(datagen_cli, tmp_path / "b", "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0",
              "--strict", *FAST)
    rec = json.loads((out / "dataset.json").read_text())
    assert len(rec["skipped"]) == 1
    sk = rec["skipped"][0]
    assert sk["doc"] == "withblank" and sk["page"] == 2 and sk["reason"].startswith("blank page")
    assert "blank page" in r.stderr and str(pdf) in r.stderr
    assert "1 blank" in r.stderr  # summary counts it
    pages = sorted({json.loads(s["json"])["page"] for s in shard_samples(out).values()})
    assert pages == [1, 3]
    assert rec["documents"][0]["pages_used"] == 2


def test_max_pages_per_doc(datagen_cli, shard_samples, make_pdf, tmp_path):
    make_pdf("long", pages=4, folder=tmp_path / "l")
    out = tmp_path / "v"
    build(datagen_cli, tmp_path / "l", "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0",
          "--max-pages-per-doc", "2", *FAST)
    keys = set(shard_samples(out))
    assert keys == {f"long-p{p}-r{a}" for p in (1, 2) for a in (0, 90, 180, 270)}
    (doc,) = json.loads((out / "dataset.json").read_text())["documents"]
    assert doc["pages_total"] == 4 and doc["pages_selected"] == 2 and doc["pages_used"] == 2


def test_angles_option_limits_the_classes(datagen_cli, shard_samples, corpus, tmp_path):
    out = tmp_path / "v"
    build(datagen_cli, corpus, "--out", out, "--rotation", "kornia-fill", "--workers", "1", "--angles", "0,180",
          *FAST)
    samples = shard_samples(out)
    assert len(samples) == 4 * 2 * 2
    assert {s["cls"] for s in samples.values()} == {b"0", b"2"}
    assert {k.rsplit("-r", 1)[1] for k in samples} == {"0", "180"}
    rec = json.loads((out / "dataset.json").read_text())
    for split in ("train", "val", "test"):
        assert set(rec["counts"][split]) == {"0", "180", "total"}


@pytest.mark.parametrize("rotation", ["exact", "kornia-zeros"])
def test_build_skew_applies_to_every_class(datagen_cli, shard_samples, corpus, tmp_path, rotation):
    out = tmp_path / "v"
    build(datagen_cli, corpus, "--out", out, "--rotation", rotation, "--workers", "1", "--skew", "3", "--seed", "9",
          *FAST)
    samples = shard_samples(out)
    per_class = Counter()
    for key, s in samples.items():
        meta = json.loads(s["json"])
        assert meta["skew"] == draw_skews([key], 9, 3.0)[0]  # a function of (seed, key) only
        assert 0 < abs(meta["skew"]) <= 3
        mk = np.asarray(png(s["mask.png"]))
        assert (mk > 127).any(), f"{key}: skewed sample without a mask"
        per_class[meta["angle"]] += 1
    assert per_class == {0: 8, 90: 8, 180: 8, 270: 8}
    rec = json.loads((out / "dataset.json").read_text())
    assert all(rec["mask_share"]["train"][a] > 0 for a in ("0", "90", "180", "270"))


def test_cuda_without_a_gpu_is_an_error_not_a_fallback(datagen_cli, corpus, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = datagen_cli("build", corpus, "--out", tmp_path / "v", "--rotation", "exact", "--size", "48", "--device", "cuda")
    assert r.exit_code == 1
    assert "CUDA is not available" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "v" / "dataset.json").exists()


def _pdf_bytes(extra_catalog: bytes = b"", extra_objects: tuple[bytes, ...] = ()) -> bytes:
    """A one-page PDF (a black bar and a grey block on white), with a valid xref; ``extra_catalog``
    goes into the catalog dictionary, ``extra_objects`` are objects 5, 6, ..."""
    content = b"0 0 0 rg 30 200 140 20 re f 0.5 g 30 40 140 140 re f"
    objs = [b"<< /Type /Catalog /Pages 2 0 R " + extra_catalog + b">>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 300] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream", *extra_objects]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % x for x in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


def test_build_warns_about_pdfs_with_scripts_and_counts_them(datagen_cli, tmp_path):
    from datagen.build import pdf_actions

    src = tmp_path / "pdfs"
    src.mkdir()
    (src / "plain.pdf").write_bytes(_pdf_bytes())
    (src / "scripted.pdf").write_bytes(_pdf_bytes(b"/OpenAction 5 0 R ",
                                                  (b"<< /Type /Action /S /JavaScript /JS (app.alert\\('hi'\\);) >>",)))
    (src / "launcher.pdf").write_bytes(_pdf_bytes(b"/OpenAction 5 0 R ",
                                                  (b"<< /Type /Action /S /Launch /F (calc.exe) >>",)))
    assert pdf_actions(src / "plain.pdf") == [] and pdf_actions(src / "scripted.pdf") == ["JavaScript"]
    assert pdf_actions(src / "launcher.pdf") == ["Launch"]
    out = tmp_path / "v"
    r = build(datagen_cli, src, "--out", out, "--rotation", "exact", "--workers", "1", "--split", "1,0,0", *FAST)
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 2 and "never runs them" in warnings[0]
    assert any("scripted.pdf" in w and "JavaScript" in w for w in warnings)
    assert any("launcher.pdf" in w and "Launch" in w for w in warnings)
    rec = json.loads((out / "dataset.json").read_text())
    assert rec["pdfs_with_actions"] == 2 and rec["counts"]["train"]["total"] == 3 * 4   # rendered all the same
