"""Hostile input, the rest of the list: shards that do not match their build, manifests that
reach outside their place, compressed bombs, image bombs, a build that would delete user files,
options that are not finite, unreadable documents and splits, checkpoints with wrong fields,
pdfium's stale error state, the same PDF under two names, and OS errors.  Each is a clear
one-line error (or a documented behaviour) with nothing lost."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import cli_explain
from test_datagen_badinput import FAST, encrypted_pdf, zero_page_pdf
from test_datagen_fetch import write_manifest

DEV = ("--device", "cpu")


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _variant_copy(tiny_shards, tmp_path, name="exact") -> Path:
    dst = tmp_path / name
    shutil.copytree(tiny_shards / name, dst)
    return dst


# --------------------------------------------------------------------------- 5. shards are verified
def test_a_shard_of_another_build_is_refused(trainer_cli, tiny_models, tiny_shards, tmp_path):
    v = _variant_copy(tiny_shards, tmp_path)
    other = sorted((tiny_shards / "kornia-zeros").glob("test-*.tar"))[0]
    target = sorted(v.glob("test-*.tar"))[0]
    shutil.copyfile(other, target)  # same name, another build's bytes
    r = trainer_cli("eval", tiny_models["exact"], v, *DEV)
    assert r.exit_code == 1 and target.name in r.output and "does not match dataset.json" in r.output
    assert "Traceback" not in r.output


def _rewrite_tar(path: Path, edit):
    """Rewrite a shard with ``edit(list of (TarInfo, bytes)) -> list``; the record is not updated."""
    with tarfile.open(path) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf if m.isfile()]
    members = edit(members)
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for m, data in members:
            m.size = len(data)
            tf.addfile(m, io.BytesIO(data))


def _refresh_record(v: Path):
    """Make dataset.json list the shards' current sha256 (so that only the content check is left)."""
    rec = json.loads((v / "dataset.json").read_text())
    for s in rec["shards"]:
        s["sha256"] = hashlib.sha256((v / s["name"]).read_bytes()).hexdigest()
    (v / "dataset.json").write_text(json.dumps(rec))


@pytest.mark.parametrize("damage, expect", [
    ("truncate-at-member", "dataset.json says"),
    ("cut-mid-member", "rebuild the variant"),  # "damaged shard" or a short count, by where the cut falls
    ("corrupt-png", "unreadable"),
    ("class-7", "class 7 is not one of 0..3"),
])
def test_damaged_shards_are_one_line_errors_naming_the_shard(damage, expect, trainer_cli, tiny_models, tiny_shards,
                                                             tmp_path):
    v = _variant_copy(tiny_shards, tmp_path)
    shard = sorted(v.glob("test-*.tar"))[0]
    if damage == "truncate-at-member":
        _rewrite_tar(shard, lambda ms: ms[:len(ms) // 2 // 4 * 4])  # whole samples gone
    elif damage == "cut-mid-member":
        data = shard.read_bytes()
        shard.write_bytes(data[:len(data) // 2 + 100])
    elif damage == "corrupt-png":
        _rewrite_tar(shard, lambda ms: [(m, b"\x89PNG\r\n\x1a\n garbage" if m.name.endswith(".png") and
                                         not m.name.endswith("mask.png") else d) for m, d in ms])
    else:
        _rewrite_tar(shard, lambda ms: [(m, b"7" if m.name.endswith(".cls") else d) for m, d in ms])
    _refresh_record(v)
    r = trainer_cli("eval", tiny_models["exact"], v, *DEV)
    assert r.exit_code == 1, cli_explain(r)
    assert shard.name in r.output and expect in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_fit_refuses_a_tampered_train_shard(trainer_cli, tiny_shards, tmp_path):
    v = _variant_copy(tiny_shards, tmp_path)
    shard = sorted(v.glob("train-*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a member
    shard.write_bytes(bytes(data))
    r = trainer_cli("fit", v, "--out", tmp_path / "run", "--epochs", "1", "--max-steps", "1", "--batch-size", "8",
                    *DEV, "--workers", "0", "-q")
    assert r.exit_code == 1 and shard.name in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- 6. manifests stay in their place
def test_local_sources_cannot_leave_the_manifest_folder(tmp_path, datagen_cli):
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 secret")
    folder = tmp_path / "m" / "inner"
    for path in ("../../secret.pdf", str(secret)):
        manifest = write_manifest(folder / "c.toml", [{"id": "x", "sha256": sha(secret.read_bytes()),
                                                        "license": "MIT", "source": {"path": path}}])
        r = datagen_cli("fetch", manifest, "--dest", tmp_path / "dest")
        assert r.exit_code == 1 and "outside" in r.output, r.output
        assert not (tmp_path / "dest" / "x.pdf").exists()


@pytest.mark.parametrize("name", ["/tmp/evil", "../up", "a.b", "UPPER"])
def test_manifest_names_are_slugs(name, tmp_path, datagen_cli):
    manifest = write_manifest(tmp_path / "c.toml", [{"id": "x", "sha256": "0" * 64, "license": "MIT",
                                                      "source": {"path": "x.pdf"}}], name=name)
    r = datagen_cli("fetch", manifest)
    assert r.exit_code == 1 and "name" in r.output and "must match" in r.output


# --------------------------------------------------------------------------- 7. .gz sources
def test_gzip_bomb_is_capped_and_bad_gzip_is_named(tmp_path, datagen_cli, monkeypatch):
    from datagen import manifest as mf

    monkeypatch.setattr(mf, "MAX_DOC_BYTES", 1 << 20)  # 1 MiB cap for the test
    bomb = tmp_path / "m" / "bomb.pdf.gz"
    bomb.parent.mkdir()
    bomb.write_bytes(gzip.compress(b"%PDF-1.4\n" + b"\0" * (8 << 20)))  # 8 MiB from a few KB
    m = mf.load_manifest(write_manifest(tmp_path / "m" / "c.toml", [
        {"id": "bomb", "sha256": "0" * 64, "license": "MIT", "source": {"path": "bomb.pdf.gz"}}]))
    with pytest.raises(mf.ManifestError, match="more than 1 MiB"):
        mf.fetch(m, tmp_path / "dest", log=lambda s: None)
    for name, data, expect in (("trunc.pdf.gz", gzip.compress(b"%PDF-1.4 " * 1000)[:-30], "truncated gzip"),
                               ("plain.pdf.gz", b"%PDF-1.4 not gzip at all", "not gzip data")):
        (tmp_path / "m" / name).write_bytes(data)
        manifest = write_manifest(tmp_path / "m" / "d.toml", [
            {"id": "d", "sha256": "0" * 64, "license": "MIT", "source": {"path": name}}])
        r = datagen_cli("fetch", manifest, "--dest", tmp_path / "dest")
        assert r.exit_code == 1 and expect in r.output and "Traceback" not in r.output
        assert r.output.strip() != "Aborted!"


# --------------------------------------------------------------------------- 8. image bombs
def test_an_image_bomb_is_refused_before_decoding(tmp_path):
    from datagen.pages import iter_pages, source

    bomb = tmp_path / "bomb.png"
    Image.new("L", (6000, 6000), 255).save(bomb, optimize=True)  # 36 M pixels in ~40 KB
    (it,) = list(iter_pages([source(bomb)], 64, max_pixels=10_000_000))
    assert it.reason.startswith("image of 6000x6000 px exceeds the pixel cap of 10,000,000")


# --------------------------------------------------------------------------- 9. build never deletes user files
def test_build_refuses_to_delete_shard_named_files_it_did_not_write(make_pdf, datagen_cli, tmp_path):
    make_pdf("a", pages=1, folder=tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "train-000007.tar"
    mine.write_bytes(b"the user's own archive")
    r = datagen_cli("build", tmp_path / "in", "--out", out, "--rotation", "exact", "--split", "1,0,0", *FAST)
    assert r.exit_code == 1 and "train-000007.tar" in r.output and "refusing to delete" in r.output
    assert mine.read_bytes() == b"the user's own archive"
    # a folder this tool built is rebuilt (its own shards replaced), and a rebuild after a kill too
    r = datagen_cli("build", tmp_path / "in", "--out", tmp_path / "v", "--rotation", "exact", "--split", "1,0,0", *FAST)
    assert r.exit_code == 0, r.output
    r = datagen_cli("build", tmp_path / "in", "--out", tmp_path / "v", "--rotation", "exact", "--split", "1,0,0",
                    "--force", *FAST)
    assert r.exit_code == 0, r.output


# --------------------------------------------------------------------------- 11. options and splits
@pytest.mark.parametrize("opt", [("--dpi", "nan"), ("--dpi", "0"), ("--skew", "inf"), ("--render-timeout", "nan"),
                                 ("--split", "nan,0.5,0.5")])
def test_non_finite_or_out_of_range_options_are_refused(opt, make_pdf, datagen_cli, tmp_path):
    make_pdf("a", pages=1, folder=tmp_path / "in")
    r = datagen_cli("build", tmp_path / "in", "--out", tmp_path / "v", "--rotation", "exact", *opt)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert not (tmp_path / "v").exists()


def test_unreadable_documents_take_no_split_slot(make_pdf, raw_pdf, pdf_stream, datagen_cli, tmp_path):
    folder = tmp_path / "in"
    make_pdf("good-a", pages=1, seed=1, folder=folder)
    make_pdf("good-b", pages=1, seed=2, folder=folder)
    for i in range(3):
        (folder / f"bad{i}.pdf").write_bytes(b"%PDF-1.4\nnothing here " + bytes([i]))
    r = datagen_cli("build", folder, "--out", tmp_path / "v", "--rotation", "exact", "--split", "0.5,0,0.5", *FAST)
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "v" / "dataset.json").read_text())
    splits = {d["id"]: d["split"] for d in rec["documents"]}
    assert sorted(splits[d] for d in ("good-a", "good-b")) == ["test", "train"]  # both splits get a readable one
    assert all(splits[f"bad{i}"] is None for i in range(3))


def test_zero_samples_is_an_error_with_nothing_written(raw_pdf, pdf_stream, datagen_cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    zero_page_pdf(folder, raw_pdf, pdf_stream)
    r = datagen_cli("build", folder, "--out", tmp_path / "v", "--rotation", "exact", *FAST)
    assert r.exit_code == 1 and "no samples" in r.output
    assert not (tmp_path / "v" / "dataset.json").exists() and not list((tmp_path / "v").glob("*.tar*"))


# --------------------------------------------------------------------------- 12. checkpoint fields
def _ck(tiny_models, **change):
    ck = torch.load(tiny_models["exact"], weights_only=True)
    for k, v in change.items():
        if v is None:
            ck.pop(k)
        else:
            ck[k] = v
    return ck


@pytest.mark.parametrize("change, expect", [
    ({"classes": [0, 90, 180, 270, 360]}, "classes"),
    ({"classes": [90, 0, 180, 270]}, "classes"),
    ({"model": None}, "no 'model' state dict"),
    ({"arch": "vgg99"}, "unknown arch"),
    ({"input_size": "big"}, "input_size"),
])
def test_checkpoint_fields_are_validated(change, expect, trainer_cli, tiny_models, tmp_path, text_page):
    p = tmp_path / "bad.pt"
    torch.save(_ck(tiny_models, **change), p)
    img = tmp_path / "x.png"
    text_page(60, 80).save(img)
    r = trainer_cli("predict", p, img, *DEV)
    assert r.exit_code == 1 and expect in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_weights_of_another_shape_are_summarised_in_one_line(trainer_cli, tiny_models, tmp_path, text_page):
    ck = _ck(tiny_models)
    ck["model"]["backbone.fc.weight"] = torch.zeros(5, 512)
    ck["model"]["backbone.extra"] = torch.zeros(3)
    p = tmp_path / "shape.pt"
    torch.save(ck, p)
    img = tmp_path / "x.png"
    text_page(60, 80).save(img)
    r = trainer_cli("predict", p, img, *DEV)
    assert r.exit_code == 1 and "1 unexpected, 1 of another shape" in r.output
    assert len(r.output) < 400


def test_the_pickle_refusal_is_a_whole_sentence(trainer_cli, tmp_path, text_page):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    p = tmp_path / "evil.pt"
    torch.save({"format": "docorient-model/1", "model": Evil()}, p)
    img = tmp_path / "x.png"
    text_page(60, 80).save(img)
    r = trainer_cli("predict", p, img, *DEV)
    line = r.output.strip()
    assert r.exit_code == 1 and "refused" in line and len(line.splitlines()) == 1
    assert not line.endswith(("(", ",", ":")) and "Traceback" not in line


# --------------------------------------------------------------------------- 13. pdfium's error state
def test_a_zero_page_pdf_after_an_encrypted_one_says_no_pages(raw_pdf, pdf_stream, tmp_path):
    from datagen.pages import iter_pages, source

    folder = tmp_path / "in"
    folder.mkdir()
    locked = encrypted_pdf(folder, raw_pdf, pdf_stream)
    empty = zero_page_pdf(folder, raw_pdf, pdf_stream)
    a, b = list(iter_pages([source(locked), source(empty)], 32, workers=1))  # one worker: the same process
    assert "password" in a.reason and b.reason == "has no pages"


# --------------------------------------------------------------------------- 15. the same PDF under two names
def test_the_same_pdf_under_two_names_shares_a_split(make_pdf, datagen_cli, tmp_path):
    folder = tmp_path / "in"
    src = make_pdf("paper", pages=1, folder=folder)
    for i in range(6):
        make_pdf(f"other{i}", pages=1, seed=10 + i, folder=folder)
    for name in ("copy-a", "copy-b", "zzz-copy"):
        shutil.copyfile(src, folder / f"{name}.pdf")
    r = datagen_cli("build", folder, "--out", tmp_path / "v", "--rotation", "exact", "--split", "0.4,0.3,0.3", *FAST)
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "v" / "dataset.json").read_text())
    splits = {d["id"]: d["split"] for d in rec["documents"]}
    assert len({splits[i] for i in ("paper", "copy-a", "copy-b", "zzz-copy")}) == 1


# --------------------------------------------------------------------------- 16. OS errors
def test_os_errors_are_one_line(trainer_cli, datagen_cli, tiny_models, make_pdf, tmp_path, text_page):
    img = tmp_path / "x.png"
    text_page(60, 80).save(img)
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    for r in (trainer_cli("predict", tiny_models["exact"], img, *DEV, "--fix", blocker / "sub"),
              trainer_cli("eval", tiny_models["exact"], img, *DEV, "--plots", blocker / "p"),
              datagen_cli("build", make_pdf("a", pages=1, folder=tmp_path / "in"), "--out", blocker / "v",
                          "--rotation", "exact", *FAST)):
        assert r.exit_code == 1 and "Traceback" not in r.output and "Error:" in r.output, r.output
