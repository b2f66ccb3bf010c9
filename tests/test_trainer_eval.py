"""``trainer eval`` on a variant, a file,angle CSV and PDFs (CliRunner), and rotation-consistent TTA."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from conftest import cli_explain

DEV = ("--device", "cpu")


def eval_json(trainer_cli, *args):
    r = trainer_cli("eval", *args, *DEV, "--json")
    assert r.exit_code == 0, cli_explain(r)
    return json.loads(r.stdout)


def check_consistent(res: dict, n: int):
    """accuracy, per-class accuracy and the confusion matrix agree with each other and with n."""
    cm = np.array(res["confusion"]["rows_true_cols_pred"])
    assert res["confusion"]["labels"] == [0, 90, 180, 270]
    assert cm.shape == (4, 4) and cm.sum() == n == res["n"]
    assert res["accuracy"] == pytest.approx(np.trace(cm) / n)
    for c, a in enumerate((0, 90, 180, 270)):
        row = cm[c].sum()
        assert res["per_class_accuracy"][str(a)] == (pytest.approx(cm[c, c] / row) if row else None)


# --------------------------------------------------------------------------- variants
def test_eval_variant_default_test_split_and_val(trainer_cli, tiny_models, tiny_shards):
    model, v = tiny_models["exact"], tiny_shards / "exact"
    res = eval_json(trainer_cli, model, v)
    assert res["data"].endswith("[test]") and res["errors"] == 0
    check_consistent(res, 16)
    assert (np.array(res["confusion"]["rows_true_cols_pred"]).sum(1) == 4).all()  # 4 samples per class
    res_val = eval_json(trainer_cli, model, v, "--split", "val")
    assert res_val["data"].endswith("[val]")
    check_consistent(res_val, 16)
    # val accuracy is what training logged for the best epoch of this checkpoint
    ck = torch.load(model, weights_only=True)
    assert res_val["accuracy"] == pytest.approx(ck["metrics"]["best_val_acc"])


def test_eval_text_output(trainer_cli, tiny_models, tiny_shards):
    r = trainer_cli("eval", tiny_models["kornia-zeros"], tiny_shards / "kornia-zeros", *DEV)
    assert r.exit_code == 0, cli_explain(r)
    assert "accuracy" in r.stdout and "per class" in r.stdout and "confusion" in r.stdout
    assert "[test]" in r.stdout.splitlines()[0]


def test_eval_empty_split_is_a_clear_error(trainer_cli, tiny_models, tiny_corpus, tmp_path):
    from datagen.build import BuildConfig, build

    v = tmp_path / "trainonly"
    build([str(tiny_corpus / "doc0.pdf")], v, BuildConfig(rotation="exact", size=32, dpi=50, split=(1, 0, 0),
                                                          device="cpu", workers=1), progress=False, log=lambda s: None)
    r = trainer_cli("eval", tiny_models["exact"], v, *DEV)
    assert r.exit_code == 1, cli_explain(r)
    assert "'test' split is empty" in r.output and "--split" in r.output and "Traceback" not in r.output
    assert eval_json(trainer_cli, tiny_models["exact"], v, "--split", "train")["n"] == 8


def test_eval_split_option_is_refused_for_non_variant_data(trainer_cli, tiny_models, tiny_corpus):
    r = trainer_cli("eval", tiny_models["exact"], tiny_corpus / "doc0.pdf", "--split", "val", *DEV)
    assert r.exit_code == 1 and "--split applies to a variant folder only" in r.output


# --------------------------------------------------------------------------- CSV
@pytest.fixture
def labelled(tmp_path, text_page):
    """A labelled folder: 2 pages x 4 angles as PNG (turned clockwise by the label), a broken PNG,
    and labels.csv with columns file, angle, source."""
    folder = tmp_path / "real"
    (folder / "img").mkdir(parents=True)
    rows = []
    for i in range(2):
        up = np.asarray(text_page(120, 160, seed=50 + i))
        for angle in (0, 90, 180, 270):
            name = f"img/p{i}-r{angle}.png"
            Image.fromarray(np.ascontiguousarray(np.rot90(up, k=-angle // 90))).save(folder / name)  # clockwise
            rows.append({"file": name, "angle": angle, "source": f"scanner{i}"})
    (folder / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    rows.append({"file": "img/broken.png", "angle": 90, "source": "scanner1"})
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "angle", "source"])
        w.writeheader()
        w.writerows(rows)
    return folder / "labels.csv"


def test_eval_csv_counts_unreadable_images_and_groups(trainer_cli, tiny_models, labelled):
    res = eval_json(trainer_cli, tiny_models["exact"], labelled, "--group-by", "source")
    check_consistent(res, 8)
    assert res["errors"] == 1
    assert res["error_items"][0]["item"] == "img/broken.png" and "not a readable image" in res["error_items"][0]["reason"]
    g = res["groups"]["source"]
    assert set(g) == {"scanner0", "scanner1"} and g["scanner0"]["n"] == 4 and g["scanner1"]["n"] == 4
    cm = np.array(res["confusion"]["rows_true_cols_pred"])
    assert np.trace(cm) == round(4 * g["scanner0"]["accuracy"] + 4 * g["scanner1"]["accuracy"])
    r = trainer_cli("eval", tiny_models["exact"], labelled, "--group-by", "source", *DEV)
    assert r.exit_code == 0, cli_explain(r)
    assert "errors: 1" in r.stdout and "broken.png" in r.stdout and "by source:" in r.stdout and "scanner0: " in r.stdout


@pytest.mark.parametrize("content, text", [
    ("path,label\na.png,0\n", "needs columns 'file' and 'angle'"),
    ("file,angle\na.png,45\n", "angle must be one of"),
    ("file,angle\na.png,up\n", "is not a number"),
    ("file,angle\n", "has no rows"),
])
def test_eval_bad_csv_is_a_clear_error(trainer_cli, tiny_models, tmp_path, content, text):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    r = trainer_cli("eval", tiny_models["exact"], p, *DEV)
    assert r.exit_code == 1, cli_explain(r)
    assert text in r.output and "Traceback" not in r.output


def test_eval_group_by_unknown_column_lists_columns(trainer_cli, tiny_models, labelled):
    r = trainer_cli("eval", tiny_models["exact"], labelled, "--group-by", "camera", *DEV)
    assert r.exit_code == 1 and "'camera' not in the CSV" in r.output and "source" in r.output


def test_eval_csv_where_nothing_is_readable_fails(trainer_cli, tiny_models, tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    (tmp_path / "l.csv").write_text("file,angle\nx.png,0\nmissing.png,90\n")
    r = trainer_cli("eval", tiny_models["exact"], tmp_path / "l.csv", *DEV)
    assert r.exit_code == 1 and "could be evaluated (2 errors)" in r.output


# --------------------------------------------------------------------------- PDFs
def test_eval_pdfs_turns_every_page_to_four_angles(trainer_cli, tiny_models, make_pdf, tmp_path):
    folder = tmp_path / "pdfs"
    one = make_pdf("a", pages=2, seed=7, folder=folder)
    make_pdf("b", pages=3, seed=8, folder=folder, blank=(2,))  # a blank page is skipped, not an error
    res = eval_json(trainer_cli, tiny_models["exact"], one)
    check_consistent(res, 8)
    assert (np.array(res["confusion"]["rows_true_cols_pred"]).sum(1) == 2).all()
    res = eval_json(trainer_cli, tiny_models["exact"], folder)
    check_consistent(res, 16)
    assert res["errors"] == 0


def test_eval_bad_data_paths_are_clear_errors(trainer_cli, tiny_models, tmp_path):
    r = trainer_cli("eval", tiny_models["exact"], tmp_path / "nothing", *DEV)
    assert r.exit_code == 1 and "no such file or folder" in r.output
    (tmp_path / "empty").mkdir()
    r = trainer_cli("eval", tiny_models["exact"], tmp_path / "empty", *DEV)
    assert r.exit_code == 1 and "holds no images or PDFs" in r.output
    (tmp_path / "notes.txt").write_text("hi")
    r = trainer_cli("eval", tiny_models["exact"], tmp_path / "notes.txt", *DEV)
    assert r.exit_code == 1 and "DATA is a variant folder, a file,angle CSV, a manifest, or PDFs and images" in r.output
    r = trainer_cli("eval", tiny_models["exact"], *DEV)
    assert r.exit_code == 2  # DATA is required


def test_eval_corrupt_pdf_is_reported_not_a_crash(trainer_cli, tiny_models, make_pdf, tmp_path):
    folder = tmp_path / "mixed"
    make_pdf("good", pages=1, folder=folder)
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage")
    res = eval_json(trainer_cli, tiny_models["exact"], folder)
    assert res["n"] == 4 and res["errors"] == 1 and "bad.pdf" in res["error_items"][0]["item"]


# --------------------------------------------------------------------------- TTA
class CornerModel(nn.Module):
    """Logits from how dark each corner quadrant is, corners in CLOCKWISE order (TL, TR, BR, BL):
    a page whose dark mark sits top-left when upright, turned clockwise by 90k, has its mark in
    corner k, so this model is right by construction (and exactly rotation-equivariant)."""

    def forward(self, x):  # (B, 1, S, S) -> (B, 4)
        h = x.shape[-1] // 2
        q = [x[..., :h, :h], x[..., :h, h:], x[..., h:, h:], x[..., h:, :h]]
        return torch.stack([-10 * c.mean(dim=(1, 2, 3)) for c in q], 1)


def test_tta_aligns_the_four_turns(asym_page):
    from trainer.evaluate import predict_probs

    page = asym_page(16, 16, block=5)
    page[..., :3, 8:14] = 0.5  # a lighter mark top-right too: all four corner scores differ
    images = torch.cat([torch.rot90(page, k=-a // 90, dims=(-2, -1)) for a in (0, 90, 180, 270)])  # clockwise
    model, cpu = CornerModel(), torch.device("cpu")
    plain = predict_probs(model, images, cpu)
    tta = predict_probs(model, images, cpu, tta=True)
    assert plain.argmax(1).tolist() == [0, 1, 2, 3]
    assert tta.argmax(1).tolist() == [0, 1, 2, 3]
    assert torch.allclose(tta.sum(1), torch.ones(4))
    # the model is equivariant, so the four aligned answers agree: their mean log-probability is
    # the plain answer itself (TTA averages, so it is no more confident than the views it combines)
    assert torch.allclose(tta, plain, atol=1e-6)


def test_eval_tta_flag(trainer_cli, tiny_models, tiny_shards):
    res = eval_json(trainer_cli, tiny_models["exact"], tiny_shards / "exact", "--tta")
    assert res["tta"] is True
    check_consistent(res, 16)


def test_an_eval_source_of_upright_pages_gets_four_turn_batches_by_default():
    """EvalSource's default batches: every upright page at its four lossless turns, labelled by
    the turn; a source without upright pages says so in one line."""
    import numpy as np
    import pytest

    from datagen.preprocess import square
    from trainer.data import EvalSource, Upright

    class Two(EvalSource):
        size = 16

        def upright(self, limit=None):
            page = np.full((16, 10), 230, np.uint8)
            page[2:4, 1:9] = 0  # a line near the top: each turn looks different
            yield from [Upright("a", page, 230), Upright("b", page[::-1].copy(), 230)][:limit]

    batches = list(Two().batches(3))
    assert [len(b.keys) for b in batches] == [3, 3, 2]
    keys = [k for b in batches for k in b.keys]
    labels = [int(x) for b in batches for x in b.labels]
    assert keys[:4] == ["a-r0", "a-r90", "a-r180", "a-r270"] and labels == [0, 1, 2, 3] * 2
    first = batches[0].images[1, 0].mul(255).round().byte().numpy()
    page = next(Two().upright())
    assert np.array_equal(first, square(page.fitted, 16, 230, 90))
    assert Two().describe() == "Two"

    class NoPages(EvalSource):
        size = 16

    with pytest.raises(TypeError, match="NoPages: holds labelled samples only"):
        next(NoPages().upright())
