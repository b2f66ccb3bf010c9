"""``trainer fit`` end to end on the session's tiny variants (CliRunner, CPU, --size 32, workers 0):
run folder contents, the checkpoint contract, determinism, --resume, DDP under torchrun, errors."""
from __future__ import annotations

import json

import numpy as np
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import TINY_FIT, cli_explain

CKPT_KEYS = ("arch", "classes", "input_size", "in_channels", "variant", "dataset_digest", "metrics", "optimizer",
             "scheduler", "model")


def fit_ok(trainer_cli, *args):
    r = trainer_cli(*args, *TINY_FIT)
    assert r.exit_code == 0, cli_explain(r)
    return r


def state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"


def upright_variant(datagen_cli, make_pdf, folder: Path, out: Path, seed: int, size: int, split: str):
    """Four 2-page PDFs in ``folder`` built into an upright-only exact variant at ``out``."""
    for i in range(4):
        make_pdf(f"d{i}", pages=2, seed=seed + i, folder=folder)
    r = datagen_cli("build", folder, "--out", out, "--rotation", "exact", "--angles", "0", "--size", str(size),
                    "--split", split, "--device", "cpu", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    return folder, out


# --------------------------------------------------------------------------- happy path
def test_fit_folder_of_variants_writes_one_run_per_variant(tiny_fit, tiny_shards):
    r, runs = tiny_fit
    assert sorted(p.name for p in runs.iterdir()) == ["exact", "kornia-zeros"]
    for name in ("exact", "kornia-zeros"):
        run = runs / name
        for f in ("model.pt", "last.pt", "metrics.jsonl", "curves.png", "confusion.png", "summary.json"):
            assert (run / f).is_file(), f"{run}/{f} missing"
        for png in ("curves.png", "confusion.png"):
            with Image.open(run / png) as im:
                assert im.format == "PNG" and im.size[0] > 100
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [row["epoch"] for row in rows] == [1, 2]  # one line per epoch
        assert [row["step"] for row in rows] == [2, 4]  # 16 train samples / batch 8 = 2 steps an epoch
        for row in rows:
            for k in ("train_loss", "train_acc", "val_acc", "images_per_s"):
                assert isinstance(row[k], float), (k, row)
            assert row["train_loss"] > 0 and 0 <= row["train_acc"] <= 1 and 0 <= row["val_acc"] <= 1
            assert row["images_per_s"] > 0 and row["train_samples"] == 16 and row["val_n"] == 16
        summary = json.loads((run / "summary.json").read_text())
        assert summary["variant"] == name and summary["strategy"] == name
        assert summary["epochs"] == 2 and summary["steps"] == 4
        assert summary["best_val_acc"] == max(row["val_acc"] for row in rows)
    # the summary table on stdout: a header and one row per variant, with its run folder
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["variant", "strategy", "epochs"]
    body = [ln for ln in lines[2:] if ln.strip()]
    assert [ln.split()[0] for ln in body] == ["exact", "kornia-zeros"]
    assert str(runs / "exact") in body[0] and str(runs / "kornia-zeros") in body[1]


def test_fit_single_variant_out_goes_exactly_there(trainer_cli, tiny_shards, tmp_path):
    out = tmp_path / "my-run"
    fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", out, "--epochs", "1", "--max-steps", "2")
    assert (out / "model.pt").is_file() and not (out / "exact").exists()


def test_checkpoint_is_a_plain_dict_loadable_with_weights_only(tiny_models, tiny_shards):
    from datagen.contract import load_variant

    for name, path in tiny_models.items():
        ck = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(ck, dict)
        for k in CKPT_KEYS:
            assert k in ck, k
        assert ck["arch"] == "resnet18" and ck["classes"] == [0, 90, 180, 270]
        assert ck["input_size"] == 32 and ck["in_channels"] == 1 and ck["variant"] == name
        assert ck["dataset_digest"] == load_variant(tiny_shards / name).digest
        assert len(ck["dataset_digest"]) == 64
        assert ck["metrics"]["best_val_acc"] == max(h["val_acc"] for h in ck["metrics"]["history"])
        assert ck["optimizer"]["state"] and "param_groups" in ck["optimizer"]
        assert ck["scheduler"]["last_epoch"] == ck["step"]
        # it rebuilds the model: 1-channel input, 4 classes
        from trainer.models import model_from_checkpoint

        model = model_from_checkpoint(ck)
        assert model(torch.rand(2, 1, 32, 32)).shape == (2, 4)


class _Payload:
    """Unpickling this creates ``marker`` (what an attacker's checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_checkpoint_is_refused_and_never_unpickled(trainer_cli, tiny_shards, tmp_path):
    from trainer.models import FORMAT

    # the payload is live: an unsafe load would run it
    probe = tmp_path / "probe-created"
    torch.save({"format": FORMAT, "x": _Payload(probe)}, tmp_path / "probe.pt")
    torch.load(tmp_path / "probe.pt", weights_only=False)
    assert probe.exists()

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "arch": "resnet18", "model": _Payload(marker)}, evil)
    r = trainer_cli("eval", evil, tiny_shards / "exact", "--device", "cpu")
    assert r.exit_code == 1, cli_explain(r)
    assert "refused" in r.output and "unpickling" in r.output
    assert "Traceback" not in r.output
    assert not marker.exists()
    r = trainer_cli("predict", evil, tmp_path / "probe.pt", "--device", "cpu")
    assert r.exit_code == 1 and "refused" in r.output and not marker.exists()


def test_checkpoint_that_is_not_ours_or_missing_is_a_clear_error(trainer_cli, tiny_shards, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    r = trainer_cli("eval", other, tiny_shards / "exact", "--device", "cpu")
    assert r.exit_code == 1 and "not a docorient checkpoint" in r.output
    r = trainer_cli("eval", tmp_path / "nope.pt", tiny_shards / "exact", "--device", "cpu")
    assert r.exit_code == 1 and "no such checkpoint" in r.output


# --------------------------------------------------------------------------- determinism and resume
def test_same_seed_gives_identical_models_on_cpu(trainer_cli, tiny_shards, tmp_path):
    args = (tiny_shards / "kornia-zeros", "--epochs", "1", "--max-steps", "2", "--seed", "3")
    fit_ok(trainer_cli, "fit", *args, "--out", tmp_path / "a")
    fit_ok(trainer_cli, "fit", *args, "--out", tmp_path / "b")
    a, b = state(tmp_path / "a" / "model.pt"), state(tmp_path / "b" / "model.pt")
    assert_same_state(a, b)
    # and the comparison can tell models apart: another seed gives another model
    fit_ok(trainer_cli, "fit", tiny_shards / "kornia-zeros", "--epochs", "1", "--max-steps", "2", "--seed", "4",
           "--out", tmp_path / "c")
    c = state(tmp_path / "c" / "model.pt")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_resume_continues_after_the_last_finished_epoch(trainer_cli, tiny_shards, tmp_path):
    """A run killed after epoch 1 of 2, resumed with --resume, ends where an uninterrupted run ends."""
    from datagen.contract import load_variant
    from trainer.engine import FitConfig, fit

    class Killed(Exception):
        pass

    def log(msg):  # the epoch line is logged after the epoch's checkpoints are written
        if "epoch 1/2" in msg:
            raise Killed(msg)

    run = tmp_path / "run"
    cfg = FitConfig(epochs=2, batch_size=8, device="cpu", workers=0, seed=0)
    with pytest.raises(Killed):
        fit(load_variant(tiny_shards / "exact"), run, cfg, progress=False, log=log)
    assert not (run / "summary.json").exists()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1

    r = fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", run, "--epochs", "2", "--seed", "0", "--resume")
    assert "resuming exact after epoch 1 (step 2)" in r.stderr
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert [row["step"] for row in rows] == [2, 4]  # the step count continues
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["epoch"] == 2 and ck["step"] == 4 and ck["scheduler"]["last_epoch"] == 4

    full = tmp_path / "full"
    fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", full, "--epochs", "2", "--seed", "0")
    assert_same_state(state(run / "last.pt"), state(full / "last.pt"))


def test_resume_on_a_finished_run_does_not_train_again(trainer_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    run = tmp_path / "done"
    shutil.copytree(runs / "exact", run)
    before = {f: (run / f).read_bytes() for f in ("model.pt", "last.pt", "metrics.jsonl")}
    r = fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", run, "--epochs", "2", "--max-steps", "4", "--resume")
    for f, data in before.items():
        assert (run / f).read_bytes() == data, f"{f} changed: the finished run was trained again"
    assert "exact" in r.stdout  # still summarised


def test_resume_refuses_a_run_of_another_dataset_build(trainer_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    run = tmp_path / "other"
    shutil.copytree(runs / "exact", run)
    r = trainer_cli("fit", tiny_shards / "kornia-zeros", "--out", run, "--epochs", "3", "--resume", *TINY_FIT)
    assert r.exit_code == 1 and "--resume refused" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("augment", ["scan", "scan+bars"])
def test_fit_with_augment_runs(trainer_cli, tiny_shards, tmp_path, augment):
    out = tmp_path / "aug"
    fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", out, "--epochs", "1", "--max-steps", "2",
           "--augment", augment)
    ck = torch.load(out / "model.pt", weights_only=True)
    assert ck["config"]["augment"] == augment and ck["step"] == 2


def test_fit_other_arch_mobilenet_and_eval_loads_it(trainer_cli, tiny_shards, tmp_path):
    out = tmp_path / "mnv3"
    fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", out, "--epochs", "1", "--max-steps", "2",
           "--arch", "mobilenet_v3_small")
    ck = torch.load(out / "model.pt", weights_only=True)
    assert ck["arch"] == "mobilenet_v3_small" and ck["step"] == 2
    r = trainer_cli("eval", out / "model.pt", tiny_shards / "exact", "--device", "cpu", "--json")
    assert r.exit_code == 0, cli_explain(r)
    assert json.loads(r.stdout)["n"] == 16


def test_fit_size_option_resizes_the_input(trainer_cli, tiny_shards, tmp_path):
    out = tmp_path / "s48"
    fit_ok(trainer_cli, "fit", tiny_shards / "exact", "--out", out, "--epochs", "1", "--max-steps", "2", "--size", "48")
    assert torch.load(out / "model.pt", weights_only=True)["input_size"] == 48


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, code, text", [
    (["--augment", "bogus"], 2, "none"),
    (["--arch", "bogus"], 2, "resnet18"),
    (["--device", "tpu"], 2, "auto"),
    (["--epochs", "0"], 2, "epochs"),
])
def test_fit_bad_options_exit_2(trainer_cli, tiny_shards, tmp_path, args, code, text):
    r = trainer_cli("fit", tiny_shards / "exact", "--out", tmp_path / "x", *args)
    assert r.exit_code == code, cli_explain(r)
    assert text in r.output and not (tmp_path / "x").exists()


def test_fit_on_a_folder_without_variants_is_a_clear_error(trainer_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    r = trainer_cli("fit", tmp_path / "empty", "--out", tmp_path / "o", *TINY_FIT)
    assert r.exit_code == 1 and "neither a dataset variant nor a folder of variants" in r.output
    r = trainer_cli("fit", tmp_path / "missing", "--out", tmp_path / "o", *TINY_FIT)
    assert r.exit_code == 1 and "no such folder" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()


def test_fit_on_a_variant_with_an_empty_train_split_is_a_clear_error(trainer_cli, tiny_corpus, tmp_path):
    from datagen.build import BuildConfig, build

    v = tmp_path / "testonly"
    build([str(tiny_corpus / "doc0.pdf")], v, BuildConfig(rotation="exact", size=32, dpi=50, split=(0, 0, 1),
                                                          device="cpu", workers=1), progress=False, log=lambda s: None)
    r = trainer_cli("fit", v, "--out", tmp_path / "o", "--epochs", "1", *TINY_FIT)
    assert r.exit_code == 1 and "train split is empty" in r.output, cli_explain(r)


# --------------------------------------------------------------------------- DDP
def _gloo() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_gloo_available()


@pytest.mark.skipif(not _gloo(), reason="torch.distributed with the gloo backend is not available in this torch build")
def test_ddp_under_torchrun_gives_a_working_checkpoint(trainer_cli, tiny_shards, tmp_path):
    out = tmp_path / "ddp"
    cmd = ([shutil.which("torchrun")] if shutil.which("torchrun") else [sys.executable, "-m", "torch.distributed.run"])
    cmd += ["--standalone", "--nproc-per-node", "2", "-m", "trainer", "fit", str(tiny_shards / "kornia-zeros"),
            "--out", str(out), "--epochs", "2", "--max-steps", "2", "--size", "32", *TINY_FIT]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr[-4000:]}"
    # only rank 0 writes and prints: one summary table
    assert p.stdout.count("variant ") == 1 and "kornia-zeros" in p.stdout
    ck = torch.load(out / "model.pt", weights_only=True)
    assert ck["variant"] == "kornia-zeros" and not any(k.startswith("module.") for k in ck["model"])
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["step"] == 2 and last["epoch"] == 2  # 16 train samples / (batch 8 x 2 ranks): 1 step an epoch
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    r = trainer_cli("eval", out / "model.pt", tiny_shards / "kornia-zeros", "--device", "cpu", "--json")
    assert r.exit_code == 0, cli_explain(r)
    assert json.loads(r.stdout)["n"] == 16


def test_train_stream_caches_the_decoded_split_after_one_complete_pass(tiny_shards):
    """Epoch 0 streams through webdataset; later epochs draw the same samples from memory in a
    new seeded order; an interrupted pass never becomes the cache; --cache off always streams."""
    from datagen.contract import load_variant
    from trainer.data import TrainStream

    v = load_variant(tiny_shards / "exact")
    n = v.count("train")

    def rows(batches):
        return [tuple(x.flatten().tolist()) + (int(y),) for xb, yb in batches for x, y in zip(xb, yb)]

    s = TrainStream(v.shards("train"), n, v.size, 4, seed=0, workers=0)
    it = s.epoch(0)
    next(it)
    it.close()  # stopped early (e.g. --max-steps): no cache from a partial pass
    assert not s.cached
    first = rows(s.epoch(0))
    assert s.cached and len(first) == n
    second, third = rows(s.epoch(1)), rows(s.epoch(2))
    assert sorted(second) == sorted(first) and second != first and third != second
    again = TrainStream(v.shards("train"), n, v.size, 4, seed=0, workers=0)
    again.fill()
    assert rows(again.epoch(1)) == second  # deterministic: what --resume relies on
    off = TrainStream(v.shards("train"), n, v.size, 4, seed=0, workers=0, cache="off")
    assert sorted(rows(off.epoch(0))) == sorted(first) and not off.cached
    with pytest.raises(ValueError, match="cache must be one of"):
        TrainStream(v.shards("train"), n, v.size, 4, seed=0, workers=0, cache="maybe")


def test_resume_refuses_changed_options_naming_them(trainer_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    run = tmp_path / "changed"
    shutil.copytree(runs / "exact", run)
    before = (run / "last.pt").read_bytes()
    r = trainer_cli("fit", tiny_shards / "exact", "--out", run, "--epochs", "2", "--max-steps", "4", "--seed", "0",
                    "--resume", "--lr", "0.01", "--augment", "bars", *TINY_FIT)
    assert r.exit_code == 1 and "--resume refused" in r.output, cli_explain(r)
    assert "lr 0.002 -> 0.01" in r.output and "augment 'none' -> 'bars'" in r.output
    assert (run / "last.pt").read_bytes() == before


def test_a_diverging_run_stops_and_saves_no_nan(trainer_cli, tiny_shards, tmp_path, monkeypatch):
    """A loss that turns NaN in epoch 2 stops the run with a clear error; epoch 1's checkpoints,
    all finite, are what stays; nothing of epoch 2 is saved."""
    import torch.nn.functional as F

    from datagen.contract import load_variant
    from trainer import engine

    calls = {"n": 0}
    real = F.cross_entropy

    def poisoned(*a, **kw):
        calls["n"] += 1
        loss = real(*a, **kw)
        return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setattr(engine.F, "cross_entropy", poisoned)
    out = tmp_path / "nan"
    cfg = engine.FitConfig(epochs=2, batch_size=8, device="cpu", workers=0, max_steps=4)
    with pytest.raises(RuntimeError, match="diverged"):
        engine.fit(load_variant(tiny_shards / "exact"), out, cfg, progress=False, log=lambda s: None)
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["epoch"] == 1 and all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    r = trainer_cli("fit", tiny_shards / "exact", "--out", tmp_path / "inf", "--lr", "inf", *TINY_FIT)
    # --lr is range-checked by click (0 < lr <= 10), so an infinite rate never reaches the run.
    assert r.exit_code != 0 and "--lr" in r.output and "range" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "inf").exists()


def test_turns_train_all_four_classes_from_upright_samples(trainer_cli, datagen_cli, make_pdf, tmp_path):
    from trainer.engine import random_turns

    # the draw moves every label with its turn, and is the same for the same (seed, step)
    x = torch.zeros(8, 1, 4, 4)
    x[:, :, 0, 0] = 1  # a mark top-left
    y = torch.zeros(8, dtype=torch.long)
    tx, ty = random_turns(x, y, seed=3, step=7)
    for img, lab in zip(tx, ty):
        assert torch.equal(img, torch.rot90(x[0], k=-int(lab), dims=(-2, -1)))  # clockwise by the label
    tx2, ty2 = random_turns(x, y, seed=3, step=7)
    assert torch.equal(ty, ty2) and len(set(ty.tolist())) > 1

    folder, v = upright_variant(datagen_cli, make_pdf, tmp_path / "pdfs", tmp_path / "up", 20, 32, "0.5,0.5,0")
    out = tmp_path / "run"
    r = trainer_cli("fit", v, "--out", out, "--epochs", "1", "--turns", *TINY_FIT)
    assert r.exit_code == 0, cli_explain(r)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    conf = np.array(rows[-1]["val_confusion"])
    assert conf.sum(1).tolist() == [conf.sum() // 4] * 4  # val holds all four classes, equally
    ck = torch.load(out / "model.pt", weights_only=True)
    assert ck["config"]["turns"] is True
    r = trainer_cli("fit", tmp_path / "up", "--out", tmp_path / "r2", "--epochs", "1", "--turns", *TINY_FIT)
    assert r.exit_code == 0
    assert_same_state(state(out / "last.pt"), state(tmp_path / "r2" / "last.pt"))  # reproducible


def test_a_multi_view_model_trains_evaluates_predicts_and_exports(trainer_cli, datagen_cli, make_pdf, tmp_path,
                                                                  close_cached_pdfium_documents, monkeypatch):
    """--crops: the whole page plus ink windows of the full-resolution page.  Training, eval on
    the shards and on the PDFs, predict and the Python API all see the same views."""
    from trainer.engine import random_views

    x = torch.ones(4, 1, 64, 64)
    x[:, :, 20:40:4, 8:56] = 0  # text lines
    v = random_views(x, 32, 0.5, seed=0, step=0)
    assert v.shape == (4, 1, 32, 32) and torch.equal(v, random_views(x, 32, 0.5, seed=0, step=0))

    folder, var = upright_variant(datagen_cli, make_pdf, tmp_path / "pdfs", tmp_path / "v64", 40, 64, "0.5,0.25,0.25")
    out = tmp_path / "mv"
    r = trainer_cli("fit", var, "--out", out, "--epochs", "1", "--turns", "--size", "32", "--crops", "2",
                    "--arch", "mobilenet_v3_small", *TINY_FIT)
    assert r.exit_code == 0, cli_explain(r)
    ck = torch.load(out / "model.pt", weights_only=True)
    assert (ck["input_size"], ck["page_side"], ck["crops"]) == (32, 64, 2)
    r = trainer_cli("eval", out / "model.pt", folder, "--device", "cpu", "--json")
    assert r.exit_code == 0, cli_explain(r)
    assert json.loads(r.stdout)["n"] == 4 * 8
    r = trainer_cli("predict", out / "model.pt", folder / "d0.pdf", "--device", "cpu", "--json")
    assert r.exit_code == 0, cli_explain(r)
    pages = [json.loads(x) for x in r.stdout.splitlines()]
    from trainer.api import Orienter

    api = Orienter(out / "model.pt", device="cpu").predict((folder / "d0.pdf", 1))
    assert api.angle == pages[0]["angle"] and abs(api.confidence - pages[0]["confidence"]) < 1e-4
    # trainer calibrate reads the val split through the same views as fit's own calibration did
    from trainer import engine

    seen, real = {}, engine.calibrate_model
    monkeypatch.setattr(engine, "calibrate_model", lambda m, d, dev, **kw: seen.update(kw) or real(m, d, dev, **kw))
    r = trainer_cli("calibrate", out / "model.pt", var, "--split", "val", "--out", tmp_path / "cal.pt",
                    "--device", "cpu")
    assert r.exit_code == 0, cli_explain(r)
    assert seen["spec"] == (32, 64, 2)
    cal = json.loads(r.stdout)["calibration"]
    assert cal["n"] == ck["calibration"]["n"] and abs(cal["ece_before"] - ck["calibration"]["ece_before"]) < 1e-6


def test_init_starts_from_a_checkpoint_and_refuses_a_mismatch(trainer_cli, tiny_shards, tmp_path):
    """--init CKPT starts from CKPT's weights (checked with a rate too small to move them), is
    recorded in the checkpoint's config, and a checkpoint of another arch or a missing file is a
    one-line error that writes nothing."""
    from trainer.infer import DEFAULT_PT

    base = (tiny_shards / "exact", "--epochs", "1", "--max-steps", "1")
    fit_ok(trainer_cli, "fit", *base, "--seed", "3", "--out", tmp_path / "a")
    a = state(tmp_path / "a" / "model.pt")
    still = ("--lr", "1e-12", "--weight-decay", "0", "--seed", "4")
    fit_ok(trainer_cli, "fit", *base, *still, "--init", tmp_path / "a" / "model.pt", "--out", tmp_path / "b")
    fit_ok(trainer_cli, "fit", *base, *still, "--out", tmp_path / "c")
    b, c = state(tmp_path / "b" / "model.pt"), state(tmp_path / "c" / "model.pt")
    learned = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in learned)
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in learned)  # the check can fail
    ck = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert ck["config"]["init"] == str(tmp_path / "a" / "model.pt")

    r = trainer_cli("fit", *base, "--init", tmp_path / "a" / "model.pt", "--arch", "mobilenet_v3_small",
                    "--out", tmp_path / "d", *TINY_FIT)
    assert r.exit_code == 1 and "--init is a resnet18" in r.output and "Traceback" not in r.output, cli_explain(r)
    r = trainer_cli("fit", *base, "--init", tmp_path / "nope.pt", "--out", tmp_path / "e", *TINY_FIT)
    assert r.exit_code == 1 and "nope.pt: no such checkpoint file" in r.output, cli_explain(r)
    assert not (tmp_path / "d").exists() and not (tmp_path / "e").exists()
    if DEFAULT_PT.is_file():  # the shipped model is a start too, at any input size
        fit_ok(trainer_cli, "fit", *base, "--init", "default", "--out", tmp_path / "f")
        assert torch.load(tmp_path / "f" / "model.pt", weights_only=True)["config"]["init"] == "default"
