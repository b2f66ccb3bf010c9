"""bench/peers.py and its contenders: the pure parts (labels, parsing, cluster bootstrap, scoring),
hermetic end-to-end runs with a fake ``trainer``, a fake contender and a fake occular-deskew
(no peers, no network)."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench import contenders, peers  # noqa: E402


def _write_labels(folder: Path, rows: list[dict], touch: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    if touch:
        for r in rows:
            (folder / r["file"]).write_bytes(b"")
    return folder / "labels.csv"


def _rows(specs):
    """specs: (doc, page, kind, script) -> the four turns of that page as label rows."""
    return [{"file": f"{d}-p{p}-r{a}.png", "angle": a, "kind": k, "script": s, "doc": d}
            for d, p, k, s in specs for a in peers.ANGLES]


# --------------------------------------------------------------------------- docorient output
def test_parse_docorient_json_document():
    text = json.dumps({"model": "m.pt", "tta": False, "fixed": [], "pages": [
        {"file": "a.png", "page": None, "angle": 90, "prob": 0.9, "probs": {"0": 0.1, "90": 0.9}},
        {"file": "b.png", "page": None, "angle": None, "prob": None, "probs": None, "error": "not readable"},
        {"file": "c.png", "page": None, "angle": 45, "prob": 0.5}]}, indent=2)
    out = peers.parse_docorient_output(text)
    assert [o["file"] for o in out] == ["a.png", "b.png", "c.png"]
    assert out[0]["angle"] == 90 and out[0]["error"] is None and out[0]["prob"] == 0.9
    assert out[1]["angle"] is None and out[1]["error"] == "not readable"
    assert out[2]["angle"] is None and "unexpected angle" in out[2]["error"]


def test_parse_docorient_json_lines():
    text = "\n".join([json.dumps({"file": "a.png", "page": None, "angle": 270, "prob": 0.7}),
                      "some log line that is not JSON",
                      json.dumps({"file": "doc.pdf", "page": 2, "angle": "180", "confidence": 0.6,
                                  "needs_review": True}),
                      json.dumps({"summary": True}), ""])
    out = peers.parse_docorient_output(text)
    assert [(o["file"], o["page"], o["angle"]) for o in out] == [("a.png", None, 270), ("doc.pdf", 2, 180)]
    assert out[1]["prob"] == 0.6 and out[1]["needs_review"] is True and "needs_review" not in out[0]


def test_parse_docorient_bare_list_and_garbage():
    assert peers.parse_docorient_output(json.dumps([{"file": "x.png", "angle": 0}]))[0]["angle"] == 0
    with pytest.raises(ValueError, match="no page records"):
        peers.parse_docorient_output("Traceback: boom")
    with pytest.raises(ValueError):
        peers.parse_docorient_output("")


# --------------------------------------------------------------------------- Tesseract output
OSD = """Page number: 0
Orientation in degrees: {o}
Rotate: {r}
Orientation confidence: 4.60
Script: Latin
Script confidence: 2.00
"""


@pytest.mark.parametrize("label", peers.ANGLES)
def test_parse_osd_orientation_is_our_label(label):
    got = peers.parse_osd(OSD.format(o=label, r=(360 - label) % 360), "", 0)
    assert got == (label, None, True)


def test_parse_osd_inconsistent_rotate_is_flagged():
    assert peers.parse_osd(OSD.format(o=90, r=90), "", 0) == (90, None, False)


def test_parse_osd_failures():
    err = ("Warning: Invalid resolution 0 dpi. Using 70 instead.\nEstimating resolution as 142\n"
           "Too few characters. Skipping this page\nError during processing.\n")
    label, why, _ = peers.parse_osd("", err, 1)
    assert label is None and why.startswith("Too few characters")
    assert peers.parse_osd("", "", 1)[1] == "exit 1, no orientation"
    assert peers.parse_osd(OSD.format(o=45, r=315), "", 0)[:2] == (None, "unexpected orientation 45")


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_all_correct_and_all_wrong():
    cl = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    assert peers.cluster_bootstrap([True] * 12, cl) == (1.0, 1.0)
    assert peers.cluster_bootstrap([False] * 12, cl) == (0.0, 0.0)


def test_bootstrap_two_clusters_known_case():
    # cluster a: 2/2 right, b: 0/2.  Resampling 2 clusters: aa (p=1/4) -> 1, ab/ba (1/2) -> 0.5,
    # bb (1/4) -> 0; the 2.5 and 97.5 percentiles are 0 and 1.
    lo, hi = peers.cluster_bootstrap([1, 1, 0, 0], ["a", "a", "b", "b"], n_boot=4000, seed=1)
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_one_cluster_is_zero_width_and_seed_fixed():
    assert peers.cluster_bootstrap([1, 0, 1, 1], ["x"] * 4) == (0.75, 0.75)
    ok = [i % 3 != 0 for i in range(40)]
    cl = [str(i // 4) for i in range(40)]
    assert peers.cluster_bootstrap(ok, cl, seed=3) == peers.cluster_bootstrap(ok, cl, seed=3)


def test_bootstrap_clusters_widen_the_interval():
    # 10 documents of 4 images, each document all right or all wrong: correlated within a document.
    ok = [d < 7 for d in range(10) for _ in range(4)]
    by_doc = peers.cluster_bootstrap(ok, [str(d) for d in range(10) for _ in range(4)])
    by_image = peers.cluster_bootstrap(ok, [str(i) for i in range(40)])
    assert by_doc[0] < by_image[0] <= 0.7 <= by_image[1] < by_doc[1]


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        peers.cluster_bootstrap([], [])
    with pytest.raises(ValueError):
        peers.cluster_bootstrap([1, 0], ["a"])


def test_paired_difference():
    ok = [1, 1, 0, 0, 1, 0, 1, 1]
    cl = ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert peers.paired_difference(ok, ok, cl) == (0.0, 0.0, 0.0)
    d, lo, hi = peers.paired_difference([1] * 8, ok, cl)
    assert d == pytest.approx(3 / 8) and 0 <= lo <= d <= hi <= 1


# --------------------------------------------------------------------------- labels and scoring
def test_read_labels_clusters_and_kinds(tmp_path):
    rows = _rows([("d1", 1, "Born_Digital", "Latn"), ("d1", 2, "scan", "Latn"), ("d2", 1, "photo", "Cyrl")])
    lab = peers.read_labels(_write_labels(tmp_path / "set", rows))
    assert lab["cluster_by"] == "doc" and len(lab["rows"]) == 12
    assert {r["kind"] for r in lab["rows"]} == {"born-digital", "scan", "photo"}
    assert {r["page_key"] for r in lab["rows"]} == {"d1-p1", "d1-p2", "d2-p1"}
    assert lab["rows"][0]["path"] == str((tmp_path / "set" / "d1-p1-r0.png").resolve())


def test_read_labels_falls_back_to_the_upright_page(tmp_path):
    rows = [{"file": f"sub/pg{p}_rot{a}.jpg", "angle": a} for p in (1, 2) for a in peers.ANGLES]
    (tmp_path / "s" / "sub").mkdir(parents=True)
    lab = peers.read_labels(_write_labels(tmp_path / "s", rows))
    assert lab["cluster_by"] == "page"
    assert {r["cluster"] for r in lab["rows"]} == {"sub/pg1", "sub/pg2"}


def test_upright_key():
    assert peers.upright_key("x-p10-r0.png", 0) == "x-p10"
    assert peers.upright_key("x-p10-r90.png", 90) == "x-p10"
    assert peers.upright_key("x-p10.png", 0) == "x-p10"
    assert peers.upright_key("a/b_270.tif", 270) == "a/b"
    assert peers.upright_key("x-r90.png", 180) == "x-r90"  # a token that is not its label stays


def test_read_labels_errors(tmp_path):
    with pytest.raises(ValueError, match="missing column"):
        peers.read_labels(_write_labels(tmp_path / "a", [{"file": "x.png", "label": 0}]))
    with pytest.raises(ValueError, match="not one of"):
        peers.read_labels(_write_labels(tmp_path / "b", [{"file": "x.png", "angle": 45}]))
    with pytest.raises(ValueError, match="missing"):
        peers.read_labels(_write_labels(tmp_path / "c", [{"file": "x.png", "angle": 0}], touch=False))
    with pytest.raises(ValueError, match="no such labels file"):
        peers.read_labels(tmp_path / "nope.csv")


def test_first_pages(tmp_path):
    lab = peers.read_labels(_write_labels(tmp_path, _rows([("a", 1, "", ""), ("b", 1, "", ""), ("a", 2, "", "")])))
    sel = peers.first_pages(lab["rows"], 2)
    assert len(sel) == 8 and {r["page_key"] for r in sel} == {"a-p1", "b-p1"}
    assert peers.first_pages(lab["rows"], 0) == lab["rows"]


def test_score_per_kind_and_script(tmp_path):
    lab = peers.read_labels(_write_labels(tmp_path, _rows([("d1", 1, "born-digital", "Latn"),
                                                           ("d2", 1, "scan", "Latn"),
                                                           ("d3", 1, "scan", "Cyrl")])))
    rows = lab["rows"]
    preds = {r["file"]: r["angle"] for r in rows}
    preds["d2-p1-r90.png"] = 270  # a 180-degree flip
    preds["d2-p1-r0.png"] = 90    # another error
    preds["d3-p1-r0.png"] = None  # no answer
    s = peers.score(rows, preds, n_boot=500)
    assert s["all"]["n"] == 12 and s["all"]["correct"] == 9 and s["all"]["clusters"] == 3
    assert s["kind"]["born-digital"]["accuracy"] == 1.0 and s["kind"]["born-digital"]["ci95"] == [1.0, 1.0]
    assert s["kind"]["scan"]["correct"] == 5 and s["kind"]["scan"]["n"] == 8
    assert list(s["kind"]) == ["born-digital", "scan"]
    assert s["script"]["Cyrl"]["accuracy"] == 0.75 and s["script"]["Latn"]["accuracy"] == 0.75
    assert (s["wrong_answers"], s["flips_180"], s["flip_share"], s["no_answer"]) == (2, 1, 0.5, 1)
    assert s["per_class"] == {"0": 1 / 3, "90": 2 / 3, "180": 1.0, "270": 1.0}


def test_parse_only():
    assert peers.parse_only(None) == list(peers.CONTENDERS)
    assert peers.parse_only("tesseract, docorient") == ["docorient", "tesseract-1x", "tesseract-2x"]
    with pytest.raises(ValueError, match="unknown contender"):
        peers.parse_only("docorient,easyocr")


# --------------------------------------------------------------------------- measurement and plumbing
def test_run_many_measures_each_child_alone():
    touch = "b = bytearray(120 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('ok')"  # 120 MiB, resident
    big = peers.run_measured([sys.executable, "-S", "-c", touch])
    small = peers.run_measured(["true"])
    assert big["rc"] == 0 and big["stdout"].strip() == "ok" and big["max_rss_mib"] > 110
    assert small["rc"] == 0 and small["max_rss_mib"] < 40  # not this test process's RSS
    many = peers.run_many([["sh", "-c", f"echo {i}; exit {i}"] for i in range(3)], jobs=2)
    assert [(r["rc"], r["stdout"].strip()) for r in many["results"]] == [(0, "0"), (1, "1"), (2, "2")]
    assert peers.run_measured(["sleep", "5"], timeout=0.3)["rc"] == -9


def test_docorient_command_files_or_a_folder_of_links(tmp_path, monkeypatch):
    monkeypatch.setattr(contenders, "trainer_cmd", lambda: ["trainer"])
    imgs = []
    for i in range(3):
        imgs.append(str(tmp_path / f"p{i}.PNG"))
        Path(imgs[-1]).write_bytes(b"")
    cmd, folder = contenders.docorient_command("m.pt", imgs, ["--tta"], tmp_path / "links")
    assert cmd == ["trainer", "predict", "m.pt", *imgs, "--json", "--tta"] and not folder
    cmd, _ = contenders.docorient_command("default", imgs, [], tmp_path / "links")
    assert cmd[:2] == ["trainer", "predict"] and cmd[2] == imgs[0]
    monkeypatch.setattr(contenders, "_ARG_CHARS", 10)
    cmd, folder = contenders.docorient_command("m.pt", imgs, [], tmp_path / "links")
    assert folder and cmd == ["trainer", "predict", "m.pt", str(tmp_path / "links"), "--json"]
    links = sorted((tmp_path / "links").iterdir())
    assert [str(q.resolve()) for q in links] == imgs and links[0].suffix == ".png"


FAKE_TRAINER = r"""
import json, re, sys
files = [a for a in sys.argv[1:] if a.endswith(".png")]
for f in files:  # JSON Lines; every r180 image answered 0 (wrong)
    a = int(re.search(r"-r(\d+)\.png$", f).group(1))
    print(json.dumps({"file": f, "page": None, "angle": 0 if a == 180 else a, "prob": 0.9}))
"""


def test_main_end_to_end_with_a_fake_trainer(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "fake_trainer.py"
    fake.write_text(FAKE_TRAINER)
    monkeypatch.setattr(contenders, "trainer_cmd", lambda: [sys.executable, str(fake)])
    csv_path = _write_labels(tmp_path / "set", _rows([("d1", 1, "born-digital", "Latn"), ("d2", 1, "scan", "Latn"),
                                                      ("d3", 1, "scan", "Cyrl")]))
    out = tmp_path / "out.json"
    rc = peers.main(["--labels", str(csv_path), "--only", "docorient", "--model", "default", "--boot", "200",
                     "--limit", "2", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    row = "| docorient (`trainer predict`) | " + " | ".join(["75.0 % [75.0–75.0]"] * 3) + " |"
    assert row in text  # all, born-digital, scan
    res = json.loads(out.read_text())
    c = res["contenders"][0]
    assert c["status"] == "ok" and c["n"] == 8 and len(c["predictions"]) == 8
    assert c["predictions"]["d1-p1-r180.png"] == {"truth": 180, "kind": "born-digital", "script": "Latn", "doc": "d1",
                                                  "angle": 0, "error": None, "prob": 0.9, "correct": False}
    assert c["scores"]["own"]["flips_180"] == 2 and c["max_rss_mib"] > 0
    assert res["labels"]["cluster_by"] == "doc" and res["labels"]["n"] == 8


def test_main_rejects_an_unavailable_named_contender(tmp_path, capsys):
    csv_path = _write_labels(tmp_path / "set", _rows([("d1", 1, "", "")]))
    rc = peers.main(["--labels", str(csv_path), "--only", "docorient-peer",
                     "--docorient-peer-python", str(tmp_path / "no-python")])
    assert rc == 2 and "no such file" in capsys.readouterr().err


# --------------------------------------------------------------------------- the contender interface
class FakeContender(contenders.Contender):
    """Answers every image's label, except that it reads every 90 as 270; counts its calls."""
    name, label, family = "fake", "a fake contender", "fake"
    convention = "answers our label, 90 read as 270"

    def __init__(self):
        self.calls: list[str] = []

    def prepare(self, rows, tmp, log):
        self.calls.append(f"prepare {len(rows)}")
        return {"prep_s": 0.5}

    def run(self, rows, work, run):
        self.calls.append(f"run {len(rows)}")
        m = contenders.run_measured(["true"])
        m["preds"] = {r["file"]: {"angle": 270 if r["angle"] == 90 else r["angle"], "error": None} for r in rows}
        m["meta"] = {"fake_version": "1.2"}
        return m

    def notes(self, c, run):
        return [f"fake: {c['n']} images, {len(c['runs'])} runs"]

    def machine(self, meta):
        return {"fake": meta["fake_version"]}


class Unavailable(contenders.Contender):
    name, label, family = "gone", "an absent contender", "gone"

    def unavailable(self, args):
        return "not installed here"


def test_main_runs_any_contender_through_the_interface(tmp_path, monkeypatch, capsys):
    fake = FakeContender()
    monkeypatch.setattr(peers, "registry", lambda: {"fake": fake, "gone": Unavailable()})
    csv_path = _write_labels(tmp_path / "set", _rows([("d1", 1, "scan", "Latn"), ("d2", 1, "scan", "Latn")]))
    out = tmp_path / "out.json"
    rc = peers.main(["--labels", str(csv_path), "--boot", "200", "--repeat", "2", "--json", str(out)])
    assert rc == 0 and fake.calls == ["prepare 8", "run 8", "run 8"]
    text = capsys.readouterr().out
    assert "| a fake contender | 75.0 % [75.0–75.0] | 75.0 % [75.0–75.0] |" in text
    assert "an absent contender: **skipped**: not installed here" in text
    assert "- fake: answers our label, 90 read as 270" in text and "- fake: 8 images, 2 runs" in text
    res = json.loads(out.read_text())
    c, gone = res["contenders"]
    assert c["prep_s"] == 0.5 and c["scores"]["own"]["per_class"]["90"] == 0.0 and len(c["wall_s_all"]) == 2
    assert gone["status"] == "skipped" and res["machine"]["fake"] == "1.2"
    assert peers.parse_only("fake", tuple(peers.registry())) == ["fake"]


@pytest.mark.parametrize("raw, label", [(0.0, 0), (1.1, 0), (358.7, 0), (44.9, 0), (91.11, 90), (181.06, 180),
                                        (271.04, 270), (315.2, 0), (None, None)])
def test_occular_angle_snaps_to_our_label(raw, label):
    assert contenders.occular_label(raw) == label


FAKE_OCCULAR = r"""
print("a library that prints on stdout at import")
def detect_angle(image):   # the counter-clockwise correction, with a little skew; the gray level tells the turn
    turn = (image.getpixel((0, 0))[0] - 100) // 10 * 90
    return {0: 1.5, 90: 91.0, 180: 179.2, 270: 271.3}[turn]
"""
# an interpreter for the worker: drops -I so that PYTHONPATH brings the fake occular_deskew
FAKE_PYTHON = """#!/bin/sh
[ "$1" = -I ] && shift
PYTHONPATH={fake} exec {python} "$@"
"""


def test_occular_worker_end_to_end_with_a_fake_library(tmp_path, capsys):
    from PIL import Image

    lib = tmp_path / "lib"
    (lib / "occular_deskew").mkdir(parents=True)
    (lib / "occular_deskew" / "__init__.py").write_text(FAKE_OCCULAR)
    dist = lib / "occular_deskew-0.5.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: occular-deskew\nVersion: 0.5.0\n")
    py = tmp_path / "python"
    py.write_text(FAKE_PYTHON.format(fake=lib, python=sys.executable))
    py.chmod(0o755)
    rows = _rows([("d1", 1, "scan", "Latn")])
    (tmp_path / "set").mkdir()
    for r in rows:
        Image.new("L", (40, 30), 100 + r["angle"] // 90 * 10).save(tmp_path / "set" / r["file"])
    csv_path = _write_labels(tmp_path / "set", rows, touch=False)
    out = tmp_path / "out.json"
    rc = peers.main(["--labels", str(csv_path), "--only", "occular", "--occular-python", str(py), "--boot", "200",
                     "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    c = json.loads(out.read_text())["contenders"][0]
    assert c["status"] == "ok" and c["scores"]["own"]["all"]["accuracy"] == 1.0
    assert c["predictions"]["d1-p1-r270.png"]["raw"] == 271.3 and c["predictions"]["d1-p1-r270.png"]["angle"] == 270


def test_occular_is_skipped_with_a_reason_when_its_python_lacks_it(tmp_path, capsys):
    csv_path = _write_labels(tmp_path / "set", _rows([("d1", 1, "", "")]))
    rc = peers.main(["--labels", str(csv_path), "--only", "occular", "--occular-python", sys.executable])
    assert rc == 2 and "does not import occular_deskew" in capsys.readouterr().err
