"""interpret audit / leak / cues: the cue registry, the interval rule, and validation with known answers.

Known answers:
* a hand-made model that reads black top rows (kornia-zeros' band) is flagged on the bands cue;
* a tiny CNN TRAINED on pages where a dark top bar marks the upright class is flagged on the
  top-bar cue, its flips going to 0 degrees; the same CNN trained with label-blind bars is not;
* the leak probe finds kornia-zeros' bands in the tiny variant's data alone, and nothing in exact's.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from conftest import _text_page, cli_explain
from datagen.preprocess import fit_image, paper_level, square
from interpret import cues as cues_mod
from interpret.audit import cluster_maps, cue_battery, spray, text_ink
from interpret.cues import CUES, REGISTRY, Cue, cue_rng, demo_square, get_cue, register
from interpret.stats import cluster_bootstrap, decide
from trainer.data import Batch, EvalSource, Upright

CPU = torch.device("cpu")
S = 32


# --------------------------------------------------------------------------- helpers
class Pages(EvalSource):
    """Upright synthetic text pages (conftest's text_page), fitted to the model input."""

    def __init__(self, seeds, size: int = S):
        super().__init__()
        self.size = size
        self.pages = []
        for s in seeds:
            im = _text_page(84, 110, seed=s)
            self.pages.append(Upright(f"p{s}", fit_image(im, size), paper_level(im)))

    def upright(self, limit=None):
        yield from self.pages[:limit]

    def describe(self):
        return "synthetic pages"


class Samples(EvalSource):
    """In-memory labelled samples ``(N, 1, S, S)`` for the relevance clusters."""

    def __init__(self, X, Y):
        super().__init__()
        self.X, self.Y, self.size = X, Y, X.shape[-1]

    def _batches(self, bs):
        for i in range(0, len(self.Y), bs):
            yield Batch(self.X[i:i + bs], self.Y[i:i + bs], [str(j) for j in range(i, min(i + bs, len(self.Y)))])

    def describe(self):
        return "samples"


class TopRowsCheater(nn.Module):
    """Answers ``dark_class`` when the top two rows are dark (mean < 0.3), else ``otherwise``."""

    def __init__(self, dark_class: int = 1, otherwise: int = 0):
        super().__init__()
        self.dark, self.other = dark_class, otherwise
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):  # (B, 1, S, S) -> (B, 4)
        top = x[..., :2, :].mean(dim=(1, 2, 3))  # (B,)
        out = torch.zeros(x.shape[0], 4)
        out[:, self.other] = 5.0
        out[top < 0.3] = torch.eye(4)[self.dark] * 5.0
        return out + 0 * self.dummy


class Constant(nn.Module):
    def __init__(self, cls: int = 0):
        super().__init__()
        self.cls = cls
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.eye(4)[self.cls].expand(x.shape[0], 4) * 3.0 + 0 * self.dummy


def four_turns(seeds):
    """Every page of ``seeds`` at its four turns, as model inputs and labels."""
    X, Y = [], []
    for p in Pages(seeds).pages:
        for a in (0, 90, 180, 270):
            X.append(square(p.fitted, S, p.paper, a))
            Y.append(a // 90)
    return torch.from_numpy(np.stack(X))[:, None].float() / 255, torch.tensor(Y)


def train_tiny(mode: str, steps: int = 120) -> nn.Module:
    """A tiny CNN trained for the known answers: ``marked`` (a dark top bar marks every upright
    sample), ``blind`` (label-blind bars) or ``clean``; bench/audit.py's trainer, shared."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.audit import train

    model, _ = train(mode, Pages(range(100, 124)).pages, steps)
    return model


@pytest.fixture(scope="module")
def audit_pages():
    return Pages(range(16))


# --------------------------------------------------------------------------- the cue registry
def test_every_cue_keeps_shape_is_deterministic_and_leaves_its_input_alone():
    sq = demo_square(64)
    paper = int(np.median(sq))
    before = sq.copy()
    assert len(CUES) >= 22 and set(CUES) >= {"bar-top", "bar-right", "bar-bottom", "bar-left", "bands-tb", "bands-lr",
                                             "paper-bands-tb", "frame", "blob-top-left", "layout-blocks",
                                             "page-number-bottom", "squeeze-h", "squeeze-v", "mirror", "blank"}
    for name in CUES:
        c = get_cue(name)
        a = c(sq, paper, cue_rng(0, 3, 90, name))
        b = c(sq, paper, cue_rng(0, 3, 90, name))
        assert a.shape == sq.shape and a.dtype == np.uint8, name
        assert np.array_equal(a, b), f"{name} is not deterministic for one seed"
        assert np.array_equal(sq, before), f"{name} changed its input"
        if name not in ("paper-bands-tb", "paper-bands-lr"):
            assert not np.array_equal(a, sq), f"{name} did nothing"
    assert np.array_equal(get_cue("mirror")(sq, paper, None), sq[:, ::-1])
    assert (get_cue("blank")(sq, paper, None) == paper).all()
    assert not get_cue("mirror").valid and not get_cue("blank").valid and get_cue("bar-top").valid


def test_side_and_corner_cues_sit_where_their_name_says_and_their_anchor_turns_them_on_top():
    """Pins the anchor convention: class k (clockwise 90k) puts side k on top once turned back
    counter-clockwise by 90k (np.rot90 k times), and corner k at the top left."""
    sq = np.full((S, S), 250, np.uint8)
    for k, side in enumerate(cues_mod.SIDES):
        c = get_cue(f"bar-{side}")
        out = c(sq, 250, cue_rng(0, 0, 0, c.name)).astype(float)
        assert c.anchor == k
        mid = slice(S // 4, 3 * S // 4)  # away from the corners, which two sides share
        means = [out[:2, mid].mean(), out[mid, -2:].mean(), out[-2:, mid].mean(), out[mid, :2].mean()]
        assert means[k] < 100 and all(m == 250 for i, m in enumerate(means) if i != k), (side, means)
        back = np.rot90(out, k=c.anchor)  # undo the anchor's clockwise turn
        assert back[:2].mean() < 100, side
    for k, corner in enumerate(cues_mod.CORNERS):
        c = get_cue(f"blob-{corner}")
        out = c(sq, 250, cue_rng(0, 0, 0, c.name))
        q = [out[:S // 2, :S // 2], out[:S // 2, S // 2:], out[S // 2:, S // 2:], out[S // 2:, :S // 2]]
        assert q[k].min() < 100 and all(qq.min() == 250 for i, qq in enumerate(q) if i != k), corner
        assert np.rot90(out, k=c.anchor)[:S // 2, :S // 2].min() < 100
    out = get_cue("page-number-bottom")(sq, 250, cue_rng(0, 0, 0, "page-number-bottom"))
    assert out[-S // 4:].min() < 128 and out[:3 * S // 4].min() == 250


def test_squeeze_changes_the_page_box_and_layout_blocks_keep_the_layout():
    sq = demo_square(64)
    paper = int(np.median(sq))
    ink = np.abs(sq.astype(int) - paper) > 64
    cols = np.flatnonzero(ink.any(0))
    h = get_cue("squeeze-h")(sq, paper, None)
    hcols = np.flatnonzero((np.abs(h.astype(int) - paper) > 64).any(0))
    assert (hcols.max() - hcols.min()) < 0.8 * (cols.max() - cols.min())
    lb = get_cue("layout-blocks")(sq, paper, None)
    assert get_cue("layout-blocks").kind == "remove"
    grey = lb != paper
    assert set(np.unique(lb).tolist()) <= {paper, int(np.unique(lb[grey])[0])}  # one grey level: no glyphs
    assert ink[grey].mean() > 0.4 and grey[ink].all()  # the blocks cover the ink and little else
    assert np.flatnonzero(grey.any(1)).min() == np.flatnonzero(ink.any(1)).min()  # the heading stays on top


def test_a_user_cue_registers_in_a_few_lines_and_bad_cues_are_clear_errors():
    def stamp(square, paper, rng):
        out = square.copy()
        out[4:8, 4:8] = 40
        return out

    try:
        register(Cue("test-stamp", "a dark square stamp", stamp))
        assert get_cue("test-stamp").valid and get_cue("test-stamp").kind == "add"
        with pytest.raises(ValueError, match="already registered"):
            register(Cue("test-stamp", "again", stamp))
        res = cue_battery(Constant(0), Pages(range(2)), CPU, ["test-stamp"], pages=2)
        assert set(res["cues"]) == {"test-stamp"} and res["cues"]["test-stamp"]["flip_rate"] == 0.0
    finally:
        REGISTRY.pop("test-stamp", None)
    with pytest.raises(ValueError, match="unknown cue 'nope'; choose one of: bar-top"):
        get_cue("nope")
    with pytest.raises(ValueError, match="kind must be one of add, remove, invalid"):
        Cue("x", "x", stamp, kind="other")
    bad = Cue("bad", "returns a smaller image", lambda s, p, r: s[1:, 1:])
    with pytest.raises(ValueError, match=r"cue bad: must return a \(32, 32\) uint8 image"):
        bad(np.zeros((32, 32), np.uint8), 255, None)


# --------------------------------------------------------------------------- intervals
def test_decide_respects_the_interval_and_says_how_many_pages_decide():
    assert decide(0.30, [0.20, 0.40], 0.10, 30)["status"] == "above"
    assert decide(0.03, [0.00, 0.08], 0.10, 30)["status"] == "below"
    d = decide(0.12, [0.08, 0.16], 0.10, 30)
    assert d["status"] == "inconclusive" and d["groups_to_decide"] == 120  # (0.04 / 0.02)^2 x 30
    d = decide(0.07, [0.02, 0.13], 0.10, 40)
    assert d["status"] == "inconclusive" and d["groups_to_decide"] == 160  # side 0.06, distance 0.03: 40 x 2^2
    assert decide(0.10, [0.05, 0.15], 0.10, 30)["groups_to_decide"] is None  # on the threshold
    assert decide(0.25, None, 0.10, 5)["status"] == "above"  # no interval: the point estimate
    rate, lo, hi = cluster_bootstrap([0, 4, 0, 4], [4, 4, 4, 4])
    assert rate == 0.5 and lo < 0.5 < hi


# --------------------------------------------------------------------------- known answers: planted cues
def test_the_audit_flags_kornia_zeros_bands_on_a_model_that_reads_them(audit_pages):
    res = cue_battery(TopRowsCheater(dark_class=1), audit_pages, CPU, ["bands-tb", "bands-lr", "paper-bands-tb",
                                                                      "bar-bottom"], pages=8)
    assert res["pages"] == 8 and res["inputs_per_page"] == 4 * 5
    bt = res["cues"]["bands-tb"]
    assert bt["decision"] == "relied on" and bt["flip_rate_ci95"][0] >= 0.10
    assert bt["top_class"] == 90 and bt["top_class_share"] == 1.0  # toward one fixed class
    assert bt["control"] == "paper-bands-tb" and bt["control_flip_rate"] == 0.0  # the darkness, not the occlusion
    assert bt["over_control"] == pytest.approx(bt["flip_rate"])
    for k in ("bands-lr", "paper-bands-tb", "bar-bottom"):
        assert res["cues"][k]["flip_rate"] == 0.0 and res["cues"][k]["decision"] == "not relied on", k


def test_a_model_trained_where_a_bar_marks_upright_is_flagged_on_the_bar_and_flips_toward_upright(audit_pages):
    res = cue_battery(train_tiny("marked"), audit_pages, CPU, ["bar-top", "bar-bottom"], pages=16)
    top = res["cues"]["bar-top"]
    assert top["decision"] == "relied on", top
    assert top["top_class"] == 0 and top["toward_anchor"] >= 0.9  # 0 degrees puts the bar on top
    assert top["flip_rate"] > 0.4  # the pages at 90/180/270 now read as upright
    assert res["cues"]["bar-bottom"]["decision"] != "relied on"


def test_the_same_model_trained_with_label_blind_bars_is_not_flagged(audit_pages):
    res = cue_battery(train_tiny("blind"), audit_pages, CPU, ["bar-top", "bar-bottom", "bar-left", "bar-right"],
                      pages=16)
    assert res["clean_accuracy"] > 0.9
    for side in ("top", "bottom", "left", "right"):
        c = res["cues"][f"bar-{side}"]
        assert c["decision"] == "not relied on" and c["flip_rate"] < 0.05, (side, c["flip_rate"])


def test_a_model_that_ignores_everything_flags_nothing_and_invalid_cues_report_answers(audit_pages):
    res = cue_battery(Constant(2), audit_pages, CPU, None, pages=3)
    assert res["inputs_per_page"] == 4 * (1 + len(CUES))
    for k, c in res["cues"].items():
        if c["valid"]:
            assert c["flip_rate"] == 0.0 and c["decision"] in ("not relied on", "the rest suffices"), k
    m = res["cues"]["mirror"]
    assert m["answers"] == {"0": 0.0, "90": 0.0, "180": 1.0, "270": 0.0} and m["top_answer"] == 180
    assert 0 < m["mean_confidence"] == pytest.approx(res["clean_confidence"])


def test_no_pages_is_a_clear_error():
    with pytest.raises(ValueError, match="no upright, artifact-free pages"):
        cue_battery(Constant(0), Pages([]), CPU, ["bar-top"])


# --------------------------------------------------------------------------- relevance clusters
class SolidLover(nn.Module):
    """Its last conv responds only inside solid dark regions (a 5x5 mean of darkness above 0.8),
    and class 0's logit is their total: Grad-CAM puts the relevance on bars, not on text."""

    def __init__(self, centre_surround: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 5, padding=2, bias=True)
        with torch.no_grad():
            if centre_surround:  # thin dark strokes: darker than the 5x5 surround
                w = -torch.ones(5, 5) / 25
                w[2, 2] += 1
                self.conv.weight.copy_(w[None, None])
                self.conv.bias.fill_(-0.05)
            else:
                self.conv.weight.fill_(1 / 25)
                self.conv.bias.fill_(-0.8)

    def forward(self, x):
        a = torch.relu(self.conv(1 - x))  # (B, 1, S, S)
        z = a.flatten(1).sum(1, keepdim=True)
        return torch.cat([z, torch.zeros_like(z).expand(-1, 3)], 1) + 1e-3


def test_text_ink_leaves_out_solid_bars_and_artifacts():
    img = np.ones((S, S), np.float32)
    img[10, 4:28] = 0.0  # a text line, 1 px
    img[20:22, 4:20] = 0.1  # a 2-px line
    img[:6] = 0.0  # a solid bar
    ink = text_ink(img, 1.0)
    assert ink[10, 10] and ink[21, 10] and not ink[2, 10]
    art = np.zeros((S, S), bool)
    art[20:22] = True
    assert not text_ink(img, 1.0, art)[21, 10]


def test_spray_flags_relevance_on_bars_and_not_on_text():
    X, Y = four_turns(range(200, 208))
    X = X.clone()
    X[:, :, :6] = 0.1  # every sample gets a solid dark top bar, 6 rows deep
    res = spray(SolidLover(), Samples(X, Y), CPU, n_per_class=8, clusters=2)
    assert res["n"] == 32 and res["cam_grid"] == [S, S] and "note" not in res
    assert res["flagged"] and all(cl["flagged"] for v in res["classes"].values() for cl in v["clusters"])
    for v in res["classes"].values():
        for cl in v["clusters"]:
            assert cl["off_ink_mass"] > 0.9 and len(cl["prototype"]) == 16 and len(cl["mean_image"]) == 32
    res = spray(SolidLover(centre_surround=True), Samples(X, Y), CPU, n_per_class=8, clusters=2)
    assert not res["flagged"], res["flagged"]


def test_cluster_maps_separates_two_kinds_of_maps():
    rng = np.random.default_rng(0)
    a = np.zeros((6, 16))
    a[:, :4] = 1
    b = np.zeros((6, 16))
    b[:, -4:] = 1
    feats = np.concatenate([a, b]) + rng.uniform(0, 0.05, (12, 16))
    feats /= feats.sum(1, keepdims=True)
    for k in (2, "auto"):
        labels, kk = cluster_maps(feats, k)
        assert kk == 2 and len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    labels, kk = cluster_maps(np.tile(feats[:1], (5, 1)), 3)  # all alike: one cluster
    assert kk == 1 and (labels == 0).all()


# --------------------------------------------------------------------------- leak test (data alone)
@pytest.fixture(scope="module")
def leaks(tiny_shards):
    from interpret.leak import leak_test

    return {v: leak_test(tiny_shards / v) for v in ("exact", "kornia-zeros")}


def test_kornia_zeros_leaks_its_label_through_the_mask_and_the_turned_back_image(leaks):
    z = leaks["kornia-zeros"]
    assert z["chance"] == 0.25 and z["documents"] == 6 and z["samples"] == 48
    for f in ("mask", "turned-back"):
        r = z["features"][f]
        assert r["status"] == "generator trace" and r["ci95"][0] > 0.25 + 0.1, (f, r)
        assert r["axis_accuracy"] > 0.9 and r["excess_ci95"][0] > 0  # the bands tell the axis, not up from down
    assert z["leaks"] and "LEAKS" in z["verdict"]


def test_exact_leaves_no_generator_trace(leaks):
    e = leaks["exact"]
    for f in ("mask", "turned-back"):
        assert e["features"][f]["status"] == "no leak" and e["features"][f]["accuracy"] <= 0.3, f
    g = e["features"]["geometry"]
    # the letterbox of a portrait page is tall at 0/180 and wide at 90/270: a layout prior that inference
    # sees too, not a trace of the generator
    assert g["axis_accuracy"] == 1.0 and g["accuracy"] == pytest.approx(0.5) and g["status"] == "layout cue"
    assert not e["leaks"] and e["traces"] == [] and "no generator trace" in e["verdict"]


# --------------------------------------------------------------------------- command line
def ok(r):
    assert r.exit_code == 0, cli_explain(r)
    return r


def test_audit_cli_writes_the_report_atomically(interpret_cli, tiny_models, tiny_shards, tmp_path):
    out = tmp_path / "audit"
    r = ok(interpret_cli("audit", tiny_models["kornia-zeros"].parent, tiny_models["exact"], "--clean",
                         tiny_shards / "exact", "--pages", "2", "--spray-n", "4", "--out", out, "--device", "cpu"))
    assert "relies on" in r.stdout and f"report: {out / 'report.md'}" in r.stdout
    names = sorted(p.name for p in out.iterdir())
    assert {"report.md", "report.json", "cues.png", "cue-examples.png", "spray-kornia-zeros.png",
            "spray-exact.png"} <= set(names)
    assert [p.name for p in tmp_path.iterdir()] == ["audit"]  # no temporary folder left
    for png in (n for n in names if n.endswith(".png")):
        with Image.open(out / png) as im:
            assert im.format == "PNG"
    res = json.loads((out / "report.json").read_text())
    assert [x["name"] for x in res["runs"]] == ["kornia-zeros", "exact"] and res["pages"] == 2
    row = res["runs"][0]
    assert row["cues"]["pages"] == 2 and set(row["cues"]["cues"]) == set(CUES)
    assert {lk["variant"] for lk in res["leak"]} == {"exact", "kornia-zeros"}
    for k in row["verdict"]["relied_on"] + row["verdict"]["inconclusive"]:
        assert row["verdict"]["reproduce"][k].startswith(f"interpret audit {row['run']} --cue {k} --pages 2 --seed 0")
    md = (out / "report.md").read_text()
    for s in ("## Verdict per run", "## Cue battery", "## Leak test", "## Relevance clusters", "](cues.png)",
              "](cue-examples.png)", "| bands-tb |"):
        assert s in md, s


def test_audit_cli_one_cue_reproduces_its_row(interpret_cli, tiny_models, tiny_shards, tmp_path):
    args = ("--clean", tiny_shards / "exact", "--pages", "2", "--no-leak", "--no-spray", "--device", "cpu")
    ok(interpret_cli("audit", tiny_models["kornia-zeros"], *args, "--out", tmp_path / "all"))
    r = ok(interpret_cli("audit", tiny_models["kornia-zeros"], *args, "--cue", "bands-tb", "--out", tmp_path / "one",
                         "--json"))
    one = json.loads(r.stdout)["runs"][0]
    full = json.loads((tmp_path / "all" / "report.json").read_text())["runs"][0]
    assert list(one["cues"]["cues"]) == ["bands-tb"]
    assert one["cues"]["cues"]["bands-tb"]["flip_rate"] == full["cues"]["cues"]["bands-tb"]["flip_rate"]
    assert one["spray"] is None and json.loads(r.stdout)["leak"] == []


def test_audit_cli_errors(interpret_cli, tiny_models, tmp_path):
    r = interpret_cli("audit", tiny_models["exact"], "--cue", "bar-top,lamp", "--device", "cpu")
    assert r.exit_code == 2 and "unknown cue 'lamp'" in r.output and "bar-top" in r.output
    r = interpret_cli("audit", tiny_models["exact"], "--device", "tpu")
    assert r.exit_code == 2 and "unknown device 'tpu'" in r.output and "cuda:N" in r.output
    r = interpret_cli("audit", tiny_models["exact"], "--clusters", "0", "--device", "cpu")
    assert r.exit_code == 2 and "'auto'" in r.output
    r = interpret_cli("audit", tmp_path / "nothing", "--out", tmp_path / "o", "--device", "cpu")
    assert r.exit_code == 1 and "no such run folder" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_leak_cli(interpret_cli, tiny_shards, tiny_corpus):
    r = ok(interpret_cli("leak", tiny_shards / "kornia-zeros", tiny_shards / "exact", "--json"))
    res = json.loads(r.stdout)
    assert [x["variant"] for x in res] == ["kornia-zeros", "exact"]
    assert res[0]["traces"] == ["mask", "turned-back"] and res[1]["traces"] == []
    r = ok(interpret_cli("leak", tiny_shards / "kornia-zeros"))
    assert "generator trace" in r.stdout and "LEAKS" in r.stdout
    r = interpret_cli("leak", tiny_corpus)
    assert r.exit_code == 1 and "not a dataset variant" in r.output


def test_cues_cli_lists_the_registry(interpret_cli):
    r = ok(interpret_cli("cues"))
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == list(CUES)
