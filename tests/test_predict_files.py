"""``trainer predict --fix`` / ``--in-place`` on files as they come: metadata kept on every turned
copy, the user's paths mirrored (links under their own names, folder links followed once, loops
skipped), per-file failures as rows (the run goes on, status 1), exclusive creation, leftovers of
a killed run, what ``--in-place`` preserves, and paths from stdin.  All files are made here."""
from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin, features

from conftest import cli_explain

DEV = ("--device", "cpu", "--workers", "1")


def cw(arr: np.ndarray, angle: int) -> np.ndarray:
    """``arr`` turned CLOCKWISE by ``angle``."""
    return np.ascontiguousarray(np.rot90(arr, k=-angle // 90))


def ccw(arr: np.ndarray, angle: int) -> np.ndarray:
    """``arr`` turned COUNTER-clockwise by ``angle`` (what the fix does to a page showing ``angle``)."""
    return np.ascontiguousarray(np.rot90(arr, k=angle // 90))


@pytest.fixture
def page(text_page):
    """A small portrait page with a mark in its top-left corner (every turn is visible)."""
    up = np.asarray(text_page(40, 56, seed=5)).copy()
    up[:4, :4] = 90
    return up


def fix(tmp_path, items, in_place=False, overwrite=False, out="out"):
    """``fix_files`` with hand-made answers ``[(path, page, angle), ...]``: (written, review, plan)."""
    from datagen.pages import expand
    from trainer.predict import PagePrediction, fix_files, plan_fix

    files = list(dict.fromkeys(p for p, _, _ in items))
    plan = plan_fix(expand(files, strict=False), None if in_place else tmp_path / out, in_place, overwrite)
    preds = [PagePrediction(str(p), n, a, 0.9) for p, n, a in items]
    written, review = fix_files(preds, plan)
    return written, review, plan


@functools.cache
def icc() -> bytes:
    """One sRGB profile (a profile made anew carries a new creation time)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(**tags) -> Image.Exif:
    ex = Image.Exif()
    for k, v in tags.items():
        ex[int(k[1:])] = v
    return ex


# --------------------------------------------------------------------------- metadata
def test_jpeg_keeps_exif_icc_and_comment_and_swaps_dpi(tmp_path, page):
    rgb = np.stack([page, page, 255 - page], -1)
    src = tmp_path / "photo.jpg"
    ex = _exif(t271="PhoneMaker", t272="Model 7", t306="2024:05:06 07:08:09", t274=1, t282=300.0, t283=150.0)
    ex.get_ifd(0x8769).update({0x9003: "2024:05:06 07:08:09", 0xA002: rgb.shape[1], 0xA003: rgb.shape[0]})
    Image.fromarray(rgb).save(src, exif=ex.tobytes(), icc_profile=icc(), dpi=(300, 150), comment=b"scanned",
                              quality=98)
    written, review, _ = fix(tmp_path, [(src, None, 90)])
    assert written == [tmp_path / "out" / "photo.jpg"] and review == []
    with Image.open(written[0]) as im:
        e = im.getexif()
        assert (e[271], e[272], e[306], e.get(274, 1)) == ("PhoneMaker", "Model 7", "2024:05:06 07:08:09", 1)
        assert (float(e[282]), float(e[283])) == (150.0, 300.0)  # quarter turn: x and y resolution swap
        assert e.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
        assert (e.get_ifd(0x8769)[0xA002], e.get_ifd(0x8769)[0xA003]) == im.size  # the new pixel size
        assert im.info["dpi"] == (150, 300) and im.info["icc_profile"] == icc() and im.info["comment"] == b"scanned"
        got = np.asarray(im.convert("L")).astype(int)
    want = ccw(np.asarray(Image.open(src).convert("L")), 90).astype(int)  # the page as read, turned back
    assert got.shape == want.shape and np.abs(got - want).mean() < 2  # re-encoded at quality 95


def test_exif_orientation_is_applied_then_reset(tmp_path, page):
    """A photo stored sideways with Orientation 6 (shown turned 90 clockwise): the model saw it as
    shown; the copy stores the upright pixels with Orientation 1, its dpi following both turns."""
    src = tmp_path / "sideways.png"
    stored = np.ascontiguousarray(np.rot90(page, k=1))  # Orientation 6: a viewer turns it 90 cw
    Image.fromarray(stored).save(src, exif=_exif(t271="Scanner", t274=6).tobytes(), dpi=(200, 100))
    shown = cw(stored, 90)
    assert np.array_equal(shown, page)
    written, _, _ = fix(tmp_path, [(src, None, 180)])  # the page as shown is upside down
    with Image.open(written[0]) as im:
        assert im.getexif().get(274) == 1 and im.getexif()[271] == "Scanner"
        assert np.array_equal(np.asarray(im), ccw(shown, 180))
        assert [round(v) for v in im.info["dpi"]] == [100, 200]  # the stored axes ended up swapped


def test_png_keeps_text_chunks_icc_gamma_and_exif(tmp_path, page):
    src = tmp_path / "scan.png"
    pi = PngImagePlugin.PngInfo()
    pi.add_text("Title", "Minutes of 3 May")
    pi.add_text("Comment", "long " * 400, zip=True)
    pi.add_itxt("Author", "Zoë Ø", lang="fr", tkey="Auteur")
    pi.add(b"gAMA", (45455).to_bytes(4, "big"))
    Image.fromarray(page).save(src, pnginfo=pi, dpi=(204, 98), icc_profile=icc(),
                               exif=_exif(t271="Fax", t306="2023:01:02 03:04:05").tobytes())
    written, _, _ = fix(tmp_path, [(src, None, 270)])
    with Image.open(written[0]) as im:
        im.load()
        assert im.text["Title"] == "Minutes of 3 May" and im.text["Comment"] == "long " * 400
        author = im.text["Author"]
        assert author == "Zoë Ø" and (author.lang, author.tkey) == ("fr", "Auteur")
        assert im.info["icc_profile"] == icc() and im.info["gamma"] == pytest.approx(0.45455)
        assert im.getexif()[271] == "Fax" and im.getexif()[306] == "2023:01:02 03:04:05"
        assert [round(v) for v in im.info["dpi"]] == [98, 204]
        assert np.array_equal(np.asarray(im), ccw(page, 270))


def test_fax_tiff_keeps_tags_compression_and_dpi_frame_by_frame(tmp_path, page):
    """A two-page G4 fax at 204 x 98 dpi with its descriptive tags; only page 1 is turned: its
    dpi becomes 98 x 204 (no stretching), page 2 keeps 204 x 98, both stay G4 with their tags."""
    src = tmp_path / "fax.tif"
    frames = [Image.fromarray(cw(page, 90)).convert("1"), Image.fromarray(page).convert("1")]
    with open(src, "w+b") as fp, TiffImagePlugin.AppendingTiffWriter(fp, new=True) as tf:
        for i, fr in enumerate(frames):
            ifd = TiffImagePlugin.ImageFileDirectory_v2()
            for tag, v in ((270, f"page {i + 1}"), (305, "FaxServer 2"), (315, "Clerk"), (271, "Fax Co"),
                           (285, f"p{i + 1}")):
                ifd[tag] = v
            fr.save(tf, format="TIFF", compression="group4", dpi=(204, 98), tiffinfo=ifd)
            tf.newFrame()
    written, _, _ = fix(tmp_path, [(src, 1, 90), (src, 2, 0)])
    with Image.open(written[0]) as im:
        assert im.n_frames == 2
        for i in range(2):
            im.seek(i)
            assert im.info["compression"] == "group4", i
            tags = {k: im.tag_v2.get(k) for k in (270, 305, 315, 271, 285)}
            assert tags == {270: f"page {i + 1}", 305: "FaxServer 2", 315: "Clerk", 271: "Fax Co", 285: f"p{i + 1}"}
            assert im.info["dpi"] == ((98.0, 204.0) if i == 0 else (204.0, 98.0)), i
            want = ccw(np.asarray(frames[0]), 90) if i == 0 else np.asarray(frames[1])
            assert np.array_equal(np.asarray(im.convert("1")), want), i


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP codec")
def test_webp_keeps_exif_and_icc_losslessly(tmp_path, page):
    rgb = np.stack([page, 255 - page, page // 2], -1)
    src = tmp_path / "shot.webp"
    Image.fromarray(cw(rgb, 180)).save(src, lossless=True, exif=_exif(t271="Cam", t272="X1").tobytes(),
                                       icc_profile=icc())
    written, _, _ = fix(tmp_path, [(src, None, 180)])
    with Image.open(written[0]) as im:
        assert im.getexif()[271] == "Cam" and im.getexif()[272] == "X1" and im.info["icc_profile"] == icc()
        assert np.array_equal(np.asarray(im.convert("RGB")), rgb)


# --------------------------------------------------------------------------- --in-place preserves
def test_in_place_keeps_mode_and_timestamps_and_syncs_before_the_rename(tmp_path, page, monkeypatch):
    import datagen.atomic as atomic

    src = tmp_path / "scan.png"
    Image.fromarray(cw(page, 90)).save(src)
    os.chmod(src, 0o640)
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_500_000_000_000_000_000))
    events = []
    real_fsync, real_replace = atomic._fsync_path, os.replace
    monkeypatch.setattr(atomic, "_fsync_path", lambda p, directory=False: (events.append(("fsync", Path(p).name)),
                                                                            real_fsync(p, directory))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", Path(b).name)), real_replace(a, b))[1])
    written, review, _ = fix(tmp_path, [(src, None, 90)], in_place=True)
    assert written == [src] and review == []
    st = os.stat(src)
    assert oct(st.st_mode & 0o7777) == "0o640"
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_600_000_000_000_000_000, 1_500_000_000_000_000_000)
    assert np.array_equal(np.asarray(Image.open(src)), page)
    tmp_name = f".scan.png.tmp-{os.getpid()}"
    assert events[:2] == [("fsync", tmp_name), ("rename", "scan.png")]  # the data is on disk before the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.png"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file owned by another user needs root")
def test_in_place_keeps_owner_and_group(tmp_path, page):
    src = tmp_path / "theirs.png"
    Image.fromarray(cw(page, 270)).save(src)
    os.chown(src, 1234, 1234)
    os.chmod(src, 0o640)
    fix(tmp_path, [(src, None, 270)], in_place=True)
    st = os.stat(src)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 1234, 0o640)
    assert np.array_equal(np.asarray(Image.open(src)), page)


def _without_capabilities(*caps):
    """preexec_fn: drop capabilities from the bounding set, so that a root child is held to the
    permission bits (CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_DAC_READ_SEARCH 2); no-op for others."""
    def drop():
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for c in caps:
            if libc.prctl(24, c, 0, 0, 0) != 0 and os.geteuid() == 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")
    return drop


def test_in_place_refuses_where_the_owner_cannot_be_kept(tmp_path, page):
    """Where chown is not permitted (another user's file in a folder we may write), the file is
    left exactly as it was, with a row that says so: never rewritten under a new owner."""
    if os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    src = tmp_path / "theirs.png"
    Image.fromarray(cw(page, 90)).save(src)
    os.chown(src, 1234, 1234)
    before = src.read_bytes(), os.stat(src)
    code = ("import sys\nfrom pathlib import Path\nfrom datagen.pages import expand\n"
            "from trainer.predict import PagePrediction, fix_files, plan_fix\n"
            "f = sys.argv[1]\nplan = plan_fix(expand([f]), None, in_place=True)\n"
            "w, r = fix_files([PagePrediction(f, None, 90, 0.9)], plan)\nprint(len(w), r[-1].error)")
    p = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True,
                       preexec_fn=_without_capabilities(0), timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("0 ") and "owner 1234:1234 cannot be kept" in p.stdout and "chown" in p.stdout
    assert src.read_bytes() == before[0] and os.stat(src).st_mtime_ns == before[1].st_mtime_ns
    assert sorted(x.name for x in tmp_path.iterdir()) == ["theirs.png"]


def test_in_place_through_links_rewrites_each_file_once(tmp_path, page):
    src = tmp_path / "a.png"
    Image.fromarray(cw(page, 90)).save(src)
    (tmp_path / "b.png").symlink_to("a.png")
    hard = tmp_path / "h.png"
    Image.fromarray(cw(page, 90)).save(hard)
    os.link(hard, tmp_path / "h2.png")
    written, review, _ = fix(tmp_path, [(src, None, 90), (tmp_path / "b.png", None, 90), (hard, None, 90)],
                             in_place=True)
    assert written == [src] and (tmp_path / "b.png").is_symlink()  # the link stays a link
    assert np.array_equal(np.asarray(Image.open(src)), page)  # turned once, not twice
    assert [p.file for p in review] == [str(hard)] and "hard links" in review[0].error
    assert np.array_equal(np.asarray(Image.open(hard)), cw(page, 90))  # left as it was


# --------------------------------------------------------------------------- nothing appears under us
def test_a_file_that_appears_after_the_plan_is_never_overwritten(tmp_path, page):
    from datagen.pages import expand
    from trainer.predict import PagePrediction, fix_files, plan_fix

    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    Image.fromarray(page).save(src)
    plan = plan_fix(expand([src]), tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"written meanwhile by someone else")
    written, review = fix_files([PagePrediction(str(src), None, 90, 0.9)], plan)
    assert written == [] and "appeared during the run; not overwritten" in review[0].error
    assert (tmp_path / "out" / "a.png").read_bytes() == b"written meanwhile by someone else"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    plan = plan_fix(expand([src]), tmp_path / "out", overwrite=True)
    written, _ = fix_files([PagePrediction(str(src), None, 90, 0.9)], plan)
    assert written == [tmp_path / "out" / "a.png"] and np.array_equal(np.asarray(Image.open(written[0])),
                                                                        ccw(page, 90))


def test_an_input_changed_while_it_was_read_is_not_written(tmp_path, page):
    from datagen.pages import expand
    from trainer.predict import PagePrediction, fix_files, plan_fix

    src = tmp_path / "a.png"
    Image.fromarray(page).save(src)
    plan = plan_fix(expand([src]), None, in_place=True)
    Image.fromarray(cw(page, 180)).save(src)  # replaced after the plan (and the model) saw it
    written, review = fix_files([PagePrediction(str(src), None, 90, 0.9)], plan)
    assert written == [] and "changed" in review[0].error
    assert np.array_equal(np.asarray(Image.open(src)), cw(page, 180))


# --------------------------------------------------------------------------- the command line
@pytest.fixture
def tree(tmp_path, text_page):
    """in/: a.png, b.png (a link to a.png), c.png (a link to a file outside), sub -> ../shared
    (a folder outside), sub2 -> ../shared again, loop -> . ; and broken inputs."""
    up = np.asarray(text_page(40, 56, seed=2))
    (tmp_path / "in").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(up).save(tmp_path / "in" / "a.png")
    Image.fromarray(cw(up, 90)).save(tmp_path / "elsewhere" / "x.png")
    Image.fromarray(cw(up, 180)).save(tmp_path / "shared" / "p.png")
    (tmp_path / "in" / "b.png").symlink_to("a.png")
    (tmp_path / "in" / "c.png").symlink_to(tmp_path / "elsewhere" / "x.png")
    (tmp_path / "in" / "sub").symlink_to(tmp_path / "shared")
    (tmp_path / "in" / "sub2").symlink_to(tmp_path / "shared")
    (tmp_path / "in" / "loop").symlink_to(".")
    return tmp_path / "in"


def _review(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {Path(r["file"]).name: r["reason"] for r in csv.DictReader(f)}


def test_outputs_mirror_the_given_paths_links_included(trainer_cli, tiny_models, tree, tmp_path):
    out = tmp_path / "out"
    r = trainer_cli("predict", tiny_models["exact"], tree, *DEV, "--fix", out)
    assert r.exit_code == 1, cli_explain(r)  # the loop (and the second link to one folder) are rows
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["a.png", "b.png", "c.png", "review.csv", "sub/p.png"]  # link names, no deep path
    assert not any(p.is_symlink() for p in out.rglob("*"))
    rows = {Path(ln.split("\t")[0]).name: ln.split("\t") for ln in r.stdout.strip().splitlines()[1:]}
    assert set(rows) == {"a.png", "b.png", "c.png", "p.png", "loop", "sub2"}
    assert "symbolic link loop" in rows["loop"][-1] and "already read as" in rows["sub2"][-1]
    assert _review(out / "review.csv")["loop"] == "link loop"


def test_every_failure_is_a_row_and_the_run_goes_on(trainer_cli, tiny_models, tmp_path, text_page):
    """Broken inputs among good ones: each is a row and a line of review.csv with its reason; the
    good files are all written; the status is 1.  A FIFO is never opened (it would block)."""
    folder = tmp_path / "in"
    folder.mkdir()
    text_page(40, 56, seed=1).save(folder / "a.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image at all")
    (folder / "gone.png").symlink_to("nowhere.png")
    os.mkfifo(folder / "pipe.png")
    text_page(40, 56, seed=3).save(folder / "z.png")
    (tmp_path / "out" / "sub").mkdir(parents=True)
    out = tmp_path / "out"
    r = trainer_cli("predict", tiny_models["exact"], folder, tmp_path / "missing.png", *DEV, "--fix", out)
    assert r.exit_code == 1, cli_explain(r)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "review.csv", "sub", "z.png"]
    assert _review(out / "review.csv") == {"empty.png": "not an image", "notes.png": "not an image",
                                           "gone.png": "broken link", "pipe.png": "not a regular file",
                                           "missing.png": "no such file"}
    assert len(r.stdout.strip().splitlines()) == 1 + 7 and "5 of 7 input(s) failed" in r.stderr


def test_a_copy_that_cannot_be_written_is_a_row_too(trainer_cli, tiny_models, tmp_path, text_page):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    text_page(40, 56, seed=1).save(tmp_path / "in" / "sub" / "x.png")
    text_page(40, 56, seed=2).save(tmp_path / "in" / "y.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where the folder would go")
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in", *DEV, "--fix", tmp_path / "out")
    assert r.exit_code == 1, cli_explain(r)
    assert (tmp_path / "out" / "y.png").is_file()
    assert _review(tmp_path / "out" / "review.csv") == {"x.png": "not written"}
    assert (tmp_path / "out" / "sub").read_text() == "a file where the folder would go"


def test_paths_from_stdin_newline_and_nul(trainer_cli, tiny_models, tmp_path, text_page):
    names = ["a.png", "with\nnewline.png", "b.png"]
    for i, n in enumerate(names):
        text_page(40, 56, seed=i).save(tmp_path / n)
    listed = f"{tmp_path / 'b.png'}\n{tmp_path / 'a.png'}\n"
    r = trainer_cli("predict", tiny_models["exact"], "-", *DEV, "--json", input=listed)
    assert r.exit_code == 0, cli_explain(r)
    assert [Path(json.loads(ln)["file"]).name for ln in r.stdout.strip().splitlines()] == ["b.png", "a.png"]
    data = b"\0".join(os.fsencode(tmp_path / n) for n in names) + b"\0"
    r = trainer_cli("predict", tiny_models["exact"], "-", "-0", *DEV, "--fix", tmp_path / "out", input=data)
    assert r.exit_code == 0, cli_explain(r)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names + ["review.csv"])
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "a.png", "-0", *DEV)
    assert r.exit_code == 2 and "-0 applies to '-'" in r.output
    r = trainer_cli("predict", tiny_models["exact"], "-", *DEV, "--json", input=f"{tmp_path / 'gone.png'}\n")
    assert r.exit_code == 1 and json.loads(r.stdout)["error_reason"] == "no such file"


def test_leftovers_of_a_killed_run_are_removed_or_named(trainer_cli, tiny_models, tmp_path, text_page):
    text_page(40, 56, seed=1).save(tmp_path / "a.png")
    out = tmp_path / "out"
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "a.png", *DEV, "--fix", out)
    assert r.exit_code == 0, cli_explain(r)
    ended = subprocess.Popen(["true"])
    ended.wait()  # a process that has ended: no process has its pid
    dead = out / f".p061.png.tmp-{ended.pid}"
    dead.write_bytes(b"half a page")
    live = out / ".q.png.tmp-1"  # pid 1 always runs: another writer's, left alone and named
    live.write_bytes(b"someone else's")
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "a.png", *DEV, "--fix", out, "--overwrite")
    assert r.exit_code == 0, cli_explain(r)
    assert not dead.exists() and live.exists()
    assert "removed 1 temporary file(s) a stopped run left behind" in r.stderr
    assert "left 1 temporary file(s) of a run still going" in r.stderr


def test_usage_errors_exit_2(trainer_cli, tiny_models, tmp_path, text_page):
    text_page(40, 56).save(tmp_path / "a.png")
    for extra in (("--in-place", "--fix", tmp_path / "out"), ("--overwrite",), ("-", "-")):
        r = trainer_cli("predict", tiny_models["exact"], tmp_path / "a.png", *DEV, *extra, input="")
        assert r.exit_code == 2, (extra, cli_explain(r))
    assert not (tmp_path / "out").exists()
