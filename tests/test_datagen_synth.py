"""``datagen synth``: synthetic upright pages.  Hermetic: the text comes from .mo catalogues the
tests write themselves, the fonts are DejaVu only (copied from fonts-dejavu-core into tmp_path),
system fonts are switched off and the cache lives in tmp_path."""
from __future__ import annotations

import json
import random
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen import synth as S

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CORE = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")
SIZE = 420  # long side of the test pages: small and fast

ALPHABETS = {
    "de": "abcdefghijklmnopqrstuvwxyzäöüß",
    "ru": "абвгдежзийклмнопрстуфхцчшщыэюя",
    "el": "αβγδεζηθικλμνξοπρστυφχψω",
    "he": "אבגדהוזחטיכלמנסעפצקרשת",
    "zh_CN": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可",
}


def write_mo(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """A little-endian GNU .mo catalogue of ``pairs`` (plus the empty-msgid header)."""
    pairs = sorted([("", "Content-Type: text/plain; charset=UTF-8\n")] + pairs)
    ids = [k.encode() for k, _ in pairs]
    strs = [v.encode() for _, v in pairs]
    n = len(pairs)
    start = 28 + 16 * n
    blob, oi, ti = b"", [], []
    for s in ids:
        oi.append((len(s), start + len(blob)))
        blob += s + b"\0"
    for s in strs:
        ti.append((len(s), start + len(blob)))
        blob += s + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, start)
    body = b"".join(struct.pack("<2I", *x) for x in oi) + b"".join(struct.pack("<2I", *x) for x in ti)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + body + blob)
    return path


def _words(r: random.Random, alphabet: str, n: int, dense: bool = False) -> str:
    if dense:
        return "".join(r.choice(alphabet) for _ in range(n * 3)) + "。"
    return " ".join("".join(r.choice(alphabet) for _ in range(r.randint(2, 8))) for _ in range(n))


@pytest.fixture(scope="module")
def locale_dir(tmp_path_factory) -> Path:
    """Catalogues for German, Russian, Greek, Hebrew and Chinese (random words in each alphabet),
    with format directives and mnemonics to clean."""
    root = tmp_path_factory.mktemp("locale")
    for lang, alphabet in ALPHABETS.items():
        r = random.Random(lang)
        dense = lang == "zh_CN"
        pairs = []
        for i in range(90):
            sentence = _words(r, alphabet, r.randint(7, 14), dense) + " %s."
            pairs.append((f"Sentence number {i} about %s things", sentence))
        for i in range(70):
            pairs.append((f"_Label {i}", "_" + _words(r, alphabet, r.randint(1, 3), False).capitalize()))
        write_mo(root / lang / "LC_MESSAGES" / "test.mo", pairs[:80])
        write_mo(root / lang / "LC_MESSAGES" / "other.mo", pairs[80:])
    return root


@pytest.fixture(scope="module")
def fonts_dir(tmp_path_factory) -> Path:
    missing = [f for f in CORE if not (DEJAVU / f).is_file()]
    if missing:
        pytest.skip(f"DejaVu fonts (fonts-dejavu-core) not installed: {', '.join(missing)}")
    d = tmp_path_factory.mktemp("fonts")
    for f in CORE:
        shutil.copy(DEJAVU / f, d / f)
    return d


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    c = tmp_path / "cache"
    monkeypatch.setenv("DOCORIENT_CACHE", str(c))
    return c


@pytest.fixture
def run(locale_dir, fonts_dir, cache):
    """``synth(out, pages, **kw)`` on the hermetic fonts and catalogues; returns the record."""

    def go(out, pages=3, **kw):
        kw.setdefault("size_px", SIZE)
        kw.setdefault("log", lambda s: None)
        return S.synth(out, pages, fonts_dirs=[fonts_dir], system_fonts=False, locale_dirs=[locale_dir], **kw)

    return go


@pytest.fixture
def gen(locale_dir, fonts_dir, tmp_path):
    def make(**kw):
        kw.setdefault("size_px", SIZE)
        return S.Generator(fonts_dirs=[fonts_dir], system_fonts=False, locale_dirs=[locale_dir],
                           cache_dir=tmp_path / "gcache", **kw)

    return make


def _ink(path_or_im) -> np.ndarray:
    im = Image.open(path_or_im) if not isinstance(path_or_im, Image.Image) else path_or_im
    a = np.asarray(im, dtype=np.float64)
    return (a.max() - a) / 255.0   # ink = 1, paper = 0 (works for dark slides too: their paper is the max... not used)


# --------------------------------------------------------------------------- building blocks
def test_read_mo_drops_header_and_plural_forms(tmp_path):
    p = write_mo(tmp_path / "x.mo", [("File", "Datei"), ("one\0many", "eins\0viele"), ("ctx\x04Open", "Öffnen")])
    assert S.read_mo(p) == [("File", "Datei"), ("Open", "Öffnen"), ("one", "eins")]
    assert 1 <= len(S.read_mo(p, limit=2)) <= 2
    (tmp_path / "bad.mo").write_bytes(b"not a catalogue at all, really not")
    with pytest.raises(ValueError, match="not a .mo catalogue"):
        S.read_mo(tmp_path / "bad.mo")


def test_clean_removes_directives_mnemonics_and_junk():
    assert S._clean("Could not open “%s”: %d errors.") == ["Could not open: errors."]
    assert S._clean("_Save As…") == ["Save As…"]
    assert S._clean("ファイルを開く(_O)") == ["ファイルを開く"]
    assert S._clean("<b>Bold</b> text\nsecond line") == ["Bold text", "second line"]
    assert S._clean("See https://example.org for more") == []
    assert S._clean("  -v, --verbose   print more") == []


def test_char_script_and_language_script():
    assert [S.char_script(c) for c in "aЖλאक中あ가1 ."] == ["latin", "cyrillic", "greek", "hebrew", "devanagari",
                                                          "han", "kana", "hangul", "", "", ""]
    assert S._language_script(["ファイルを開けません", "設定を保存"]) == "japanese"
    assert S._language_script(["Файл не найден", "GTK"]) == "cyrillic"


def test_text_never_keeps_a_string_with_an_unmapped_character():
    ascii_only = S.Face("x.ttf", 0, "X", "Regular", 400, False, False, [32, 126])
    lang = S.Language("xx", "latin", ["plain words here", "naïve café au lait"] * 6, ["ok", "déjà"] * 5)
    t = S.Text(lang, ascii_only, S.SCRIPTS["latin"])
    assert t.lines and all(ascii_only.covers(s) for s in t.lines + t.short)
    assert "naïve café au lait" not in t.lines and "déjà" not in t.short


def test_line_breaking_units():
    assert S.units("ab cd", S.SCRIPTS["latin"]) == [("ab", " "), ("cd", " ")]
    u = S.units("文件（测试）。GTK 好", S.SCRIPTS["han"])
    assert [p for p, _ in u] == ["文", "件", "（测", "试）。", "GTK", "好"]   # brackets stick to their neighbours
    assert S.clusters("กิน") == ["กิ", "น"]          # a mark never starts a piece


# --------------------------------------------------------------------------- the command's contract
def test_same_seed_same_bytes_other_seed_differs(run, tmp_path):
    a = run(tmp_path / "a", 4, seed=3)
    run(tmp_path / "b", 4, seed=3, cache=False)           # cold, uncached: same bytes
    c = run(tmp_path / "c", 4, seed=4)
    for item in a["items"]:
        assert (tmp_path / "a" / item["file"]).read_bytes() == (tmp_path / "b" / item["file"]).read_bytes()
    assert (tmp_path / "a" / "synth.json").read_bytes() == (tmp_path / "b" / "synth.json").read_bytes()
    pa = [(tmp_path / "a" / i["file"]).read_bytes() for i in a["items"]]
    pc = [(tmp_path / "c" / i["file"]).read_bytes() for i in c["items"]]
    assert not set(pa) & set(pc)
    assert c["items"][0]["file"] == "synth-s4-00000.png"


def test_page_depends_only_on_seed_and_index_and_workers_agree(run, tmp_path):
    run(tmp_path / "a", 4, seed=1)
    b = run(tmp_path / "b", 2, seed=1, start=2, workers=2)
    assert [i["file"] for i in b["items"]] == ["synth-s1-00002.png", "synth-s1-00003.png"]
    for item in b["items"]:
        assert (tmp_path / "a" / item["file"]).read_bytes() == (tmp_path / "b" / item["file"]).read_bytes()


def test_synth_json_lists_every_file_and_pages_are_gray_pngs(run, tmp_path):
    rec = run(tmp_path / "o", 5, seed=2)
    out = tmp_path / "o"
    d = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in out.iterdir() if p.name != "synth.json")
    assert sorted(i["file"] for i in d["items"]) == files and len(files) == 5
    assert d["seed"] == 2 and d["pages"] == 5 and d["generator"] == S.GENERATOR
    for item in d["items"]:
        assert item["layout"] in S.LAYOUTS and item["script"] in d["scripts"] and item["fonts"]
        assert set(item["fonts"]) <= set(CORE) and item["seed"] == 2
        im = Image.open(out / item["file"])
        assert im.format == "PNG" and im.mode == "L" and max(im.size) == SIZE
        assert (item["width"], item["height"]) == im.size
    assert rec["items"] == d["items"]


def test_refuses_a_non_empty_folder_unless_forced_and_accepts_an_empty_one(run, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    run(out, 1)                                   # empty folder: fine
    (out / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        run(out, 1)
    run(out, 2, force=True)
    assert not (out / "keep.txt").exists() and len(list(out.glob("*.png"))) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp or old folder left


def test_output_is_atomic_when_a_page_fails(run, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = S.Generator.page

    def flaky(self, i):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(self, i)

    monkeypatch.setattr(S.Generator, "page", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        run(tmp_path / "o", 5)
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.*"))


def test_no_fonts_is_a_clear_error(locale_dir, tmp_path):
    empty = tmp_path / "nofonts"
    empty.mkdir()
    with pytest.raises(ValueError, match="no usable fonts found in .*nofonts.*--fonts-dir"):
        S.synth(tmp_path / "o", 1, fonts_dirs=[empty], system_fonts=False, locale_dirs=[locale_dir], cache=False,
                log=lambda s: None)
    assert not (tmp_path / "o").exists()


def test_script_without_a_font_is_skipped_with_a_note(run, tmp_path):
    rec = run(tmp_path / "o", 2, scripts=["han", "greek"])
    assert rec["scripts"] == ["greek"]
    assert any(n.startswith("script han: no installed font covers it") for n in rec["notes"])
    assert all(i["script"] == "greek" for i in rec["items"])
    with pytest.raises(ValueError, match="none of the requested scripts"):
        run(tmp_path / "p", 1, scripts=["han"])
    with pytest.raises(ValueError, match="unknown script.*klingon.*choose among.*latin"):
        run(tmp_path / "q", 1, scripts=["klingon"])
    with pytest.raises(ValueError, match="unknown layout.*poster.*choose among"):
        run(tmp_path / "q", 1, layouts=["poster"])


@pytest.mark.parametrize("layout", S.LAYOUTS)
def test_every_layout_draws_an_inked_page_of_the_right_size(gen, layout):
    g = gen(layouts=[layout], seed=11)
    for i in range(3):
        im, rec = g.page(i)
        assert rec["layout"] == layout and im.mode == "L" and max(im.size) == SIZE
        a = np.asarray(im)
        assert a.std() > 5, f"{layout} page {i} is blank"
        if rec["theme"] == "light":
            assert np.median(a) > 200, "light pages are white-ish paper"


def test_text_lines_are_horizontal(gen):
    """Upright-ish: on text pages, the ink varies far more from row to row (lines and gaps)
    than from column to column."""
    ratios = []
    for layout in ("book", "letter", "manual", "note"):
        g = gen(layouts=[layout], scripts=["latin", "cyrillic", "greek"], seed=5, size_px=700)
        for i in range(4):
            im, _ = g.page(i)
            ink = _ink(im)
            y0, y1 = int(im.height * 0.15), int(im.height * 0.85)
            x0, x1 = int(im.width * 0.15), int(im.width * 0.85)
            core = ink[y0:y1, x0:x1]
            rows, cols = core.mean(axis=1), core.mean(axis=0)
            ratios.append(rows.var() / max(cols.var(), 1e-12))
    assert min(ratios) > 1.5, sorted(ratios)


def test_right_to_left_pages_are_mirrored(gen):
    """Ragged handwritten notes start at the start edge: left for Greek, right for Hebrew."""
    def centroid(script):
        g = gen(layouts=["note"], scripts=[script], seed=2)
        xs = []
        for i in range(4):
            im, rec = g.page(i)
            ink = _ink(im)
            col = ink.sum(axis=0)
            xs.append((col * np.arange(im.width)).sum() / col.sum() / im.width)
        return rec, float(np.mean(xs))

    rec_he, c_he = centroid("hebrew")
    rec_el, c_el = centroid("greek")
    assert rec_he["direction"] == "rtl" and rec_el["direction"] == "ltr"
    assert c_el < 0.5 < c_he, (c_el, c_he)


def test_page_numbers_land_top_and_bottom_left_centre_and_right(gen, monkeypatch):
    """Label-blind furniture: page numbers of book pages are drawn at the top and at the bottom,
    at the start, the centre and the end, not always in one place."""
    seen = []
    real = S.Page.draw_num

    def spy(self, x, y, s, st, fill=None, align="start"):
        seen.append((y / self.h, align))
        return real(self, x, y, s, st, fill, align)

    monkeypatch.setattr(S.Page, "draw_num", spy)
    g = gen(layouts=["book"], scripts=["latin"], seed=0)
    first = []   # furniture comes first on a book page: its number is the first one drawn
    for i in range(30):
        seen.clear()
        g.page(i)
        if seen:
            first.append(seen[0])
    ys = [y for y, _ in first]
    assert min(ys) < 0.15 and max(ys) > 0.85, ys
    assert {a for _, a in first} >= {"start", "center", "end"}


def test_fonts_are_mapped_to_scripts_by_coverage(gen):
    g = gen()
    assert {"latin", "cyrillic", "greek", "hebrew"} <= set(g.scripts) and "han" not in g.scripts
    assert "DejaVu Sans Mono" in g.fonts.families("latin", "mono")
    d = g.describe()
    assert set(d["languages"]["latin"]) >= {"de", "en"}
    assert any("no handwriting font" in n for n in g.notes)


# --------------------------------------------------------------------------- CLI
def test_cli_synth_writes_pages(datagen_cli, locale_dir, fonts_dir, cache, tmp_path):
    out = tmp_path / "o"
    r = datagen_cli("synth", "--out", out, "--pages", 3, "--seed", 7, "--size-px", SIZE, "--fonts-dir", fonts_dir,
                    "--no-system-fonts", "--locale-dir", locale_dir, "--layouts", "book,slide", "-q")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    assert "3 pages" in r.stderr and "pages/s" in r.stderr
    d = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    assert {i["layout"] for i in d["items"]} <= {"book", "slide"} and len(list(out.glob("*.png"))) == 3
    assert cache.is_dir() and (cache / "synth-fonts.json").is_file()

    r = datagen_cli("synth", "--out", out, "--pages", 1, "--fonts-dir", fonts_dir, "--no-system-fonts",
                    "--locale-dir", locale_dir, "-q")
    assert r.exit_code == 1 and "not empty" in r.output and "Traceback" not in r.output

    r = datagen_cli("synth", "--list-scripts", "--fonts-dir", fonts_dir,
                    "--no-system-fonts", "--locale-dir", locale_dir)
    assert r.exit_code == 0 and "hebrew" in r.stdout and "latin" in r.stdout


def test_cli_no_fonts_error_is_one_line(datagen_cli, locale_dir, tmp_path, cache):
    empty = tmp_path / "nofonts"
    empty.mkdir()
    r = datagen_cli("synth", "--out", tmp_path / "o", "--pages", 2, "--fonts-dir", empty, "--no-system-fonts",
                    "--locale-dir", locale_dir, "-q")
    assert r.exit_code == 1
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(err) == 1 and "no usable fonts found" in err[0]


def test_cli_requires_out_and_pages(datagen_cli):
    r = datagen_cli("synth", "--pages", 1)
    assert r.exit_code == 2 and "--out and --pages are required" in r.output
