"""``trainer export --onnx`` and ``--engine onnx``: onnxruntime and torch agree; the ONNX path
runs without torch.  Skipped with a reason where onnx/onnxruntime are absent (CI installs them)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import cli_explain

ort = pytest.importorskip("onnxruntime", reason="the onnx extra (onnxruntime) is not installed")
pytest.importorskip("onnx", reason="the onnx extra (onnx) is not installed")

DEV = ("--device", "cpu")


@pytest.fixture(scope="module")
def exported(tiny_models, tmp_path_factory):
    from trainer.cli import main
    from conftest import cli_invoke

    out = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name, flag in (("half", ()), ("full", ("--fp32",))):
        p = out / f"{name}.onnx"
        r = cli_invoke(main, "export", tiny_models["exact"], "--onnx", p, *flag)
        assert r.exit_code == 0, cli_explain(r)
        paths[name] = p
    return paths


def test_onnxruntime_and_torch_agree_on_a_batch(exported, tiny_models):
    from trainer.infer import OnnxEngine, TorchEngine
    from trainer.models import load_model

    model, ck = load_model(tiny_models["exact"])
    torch_eng = TorchEngine(model, torch.device("cpu"), temperature=ck["temperature"])
    rng = np.random.default_rng(0)
    x = (rng.random((8, ck["input_size"], ck["input_size"])) * 255).astype(np.uint8)
    pt, _ = torch_eng.predict(x)
    for name, tol in (("full", 1e-4), ("half", 5e-3)):
        eng = OnnxEngine(exported[name])
        assert eng.meta["input_size"] == ck["input_size"] and eng.meta["classes"] == [0, 90, 180, 270]
        assert eng.temperature == pytest.approx(ck["temperature"])
        po, _ = eng.predict(x)
        assert np.abs(po - pt).max() < tol, name
        assert (po.argmax(1) == pt.argmax(1)).all()
    # TTA agrees too, view agreement included
    pt, at = TorchEngine(model, torch.device("cpu"), tta=True, temperature=ck["temperature"]).predict(x)
    po, ao = OnnxEngine(exported["full"], tta=True).predict(x)
    assert np.abs(po - pt).max() < 1e-4 and (at == ao).all()


def test_half_weights_halve_the_file(exported):
    assert exported["half"].stat().st_size < 0.6 * exported["full"].stat().st_size


def test_predict_with_the_onnx_engine_matches_torch(trainer_cli, exported, tiny_models, text_page, tmp_path):
    img = tmp_path / "p.png"
    text_page(90, 120, seed=4).save(img)
    r1 = trainer_cli("predict", tiny_models["exact"], img, *DEV, "--json")
    r2 = trainer_cli("predict", exported["full"], img, "--json")
    assert r1.exit_code == 0 and r2.exit_code == 0, cli_explain(r2)
    a, b = json.loads(r1.stdout), json.loads(r2.stdout)
    assert a["angle"] == b["angle"] and abs(a["confidence"] - b["confidence"]) < 1e-3


def test_the_onnx_path_never_imports_torch(exported, text_page, tmp_path):
    img = tmp_path / "p.png"
    text_page(90, 120, seed=5).save(img)
    code = ("import sys\nfrom trainer.cli import main\nsys.argv=['trainer','predict',sys.argv[1],sys.argv[2],'--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('NO_TORCH')")
    p = subprocess.run([sys.executable, "-c", code, str(exported["half"]), str(img)], capture_output=True, text=True)
    assert p.returncode == 0 and "NO_TORCH" in p.stdout, p.stderr[-2000:]


def test_an_onnx_file_without_our_metadata_is_refused(trainer_cli, tmp_path, text_page):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["image"], ["logits"])], "g",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])])
    bare = tmp_path / "bare.onnx"
    onnx.save(helper.make_model(g), bare)
    img = tmp_path / "p.png"
    text_page(60, 80, seed=1).save(img)
    r = trainer_cli("predict", bare, img)
    assert r.exit_code == 1 and "docorient's metadata" in r.output and "Traceback" not in r.output


def test_a_slim_float16_checkpoint_answers_like_the_original(trainer_cli, tiny_models, tmp_path, text_page):
    slim = tmp_path / "slim.pt"
    r = trainer_cli("export", tiny_models["exact"], "--pt", slim)
    assert r.exit_code == 0, cli_explain(r)
    ck = torch.load(slim, weights_only=True)
    assert "optimizer" not in ck and all(v.dtype == torch.float16 for v in ck["model"].values() if v.is_floating_point())
    assert slim.stat().st_size < 0.4 * tiny_models["exact"].stat().st_size
    assert ck["code_version"]["docorient"] and ck["corpus"]["dataset_digest"] and ck["recipe"]["config"]
    img = tmp_path / "p.png"
    text_page(90, 120, seed=7).save(img)
    a = json.loads(trainer_cli("predict", tiny_models["exact"], img, *DEV, "--json").stdout)
    b = json.loads(trainer_cli("predict", slim, img, *DEV, "--json").stdout)
    assert a["angle"] == b["angle"] and abs(a["confidence"] - b["confidence"]) < 5e-3
    r = trainer_cli("export", tiny_models["exact"])
    assert r.exit_code == 2 and "nothing to write" in r.output
