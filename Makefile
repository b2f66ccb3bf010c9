# docorient: the two set-up commands are `make demo` (the study on the built-in corpus) and
# `make test`.  Every step below is the command a user would type by hand; a second `make demo`
# after an interruption skips what is complete (datagen keeps up-to-date builds, trainer
# --resume continues or skips finished runs, compare reruns only when a model changed).

PYTHON     ?= python3
STRATEGIES := kornia-zeros kornia-border kornia-reflect kornia-fill exact

# quick profile: CPU, about 25 minutes on 2 cores
QUICK_BUILD   := --max-pages-per-doc 4 --seed 0
QUICK_FIT     := --epochs 4 --workers 1 --seed 0
QUICK_COMPARE := --n 32 --shortcut-pages 30 --ig-steps 16

# paper profile: GPU, larger input, more epochs, scan augmentation
PAPER_BUILD   := --size 224 --seed 0
PAPER_FIT     := --epochs 12 --batch-size 128 --workers 8 --augment scan --seed 0
PAPER_COMPARE := --n 96 --shortcut-pages 100 --ig-steps 32

.PHONY: install test demo model paper clean-demo help

help:
	@echo "make demo    # install what is missing, build 5 variants, train 5 ResNet18s, compare -> reports/demo/"
	@echo "make test    # the test suite (CPU, hermetic)"
	@echo "make model   # the default model: exact variant, all pages, --augment bars -> runs-full/exact/model.pt"
	@echo "make paper   # the full-scale profile, meant for a GPU -> reports/paper/"

install:
	@command -v pdftoppm >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends poppler-utils fonts-dejavu-core; }
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PYTHON) -m pip install -q torch==2.14.1 torchvision==0.29.1
	@command -v datagen >/dev/null && $(PYTHON) -c "import datagen, trainer, interpret, kornia, captum, webdataset" 2>/dev/null \
		|| $(PYTHON) -m pip install -q -e ".[test,onnx]"

test: install
	$(PYTHON) -m pytest tests

demo: install
	@date +"demo started %T"
	@for s in $(STRATEGIES); do datagen build --rotation=$$s $(QUICK_BUILD) || exit 1; done
	trainer fit shards/ $(QUICK_FIT) --resume
	@if [ -f reports/demo/report.json ] && [ -z "$$(find runs -name model.pt -newer reports/demo/report.json)" ]; then \
		echo "reports/demo is up to date (no model changed since)"; \
	else interpret compare $(QUICK_COMPARE) --out reports/demo; fi
	@date +"demo finished %T"

# the default model: exact variant, every page of the corpus, label-blind bar augmentation
# (README: "The default model against Tesseract" says why).
# `make model MODEL_SIZE=192 MODEL_FIT=` trains README's 192 px row (no augmentation, shards-full/exact192).
MODEL_SIZE ?= 128
MODEL_FIT  ?= --augment bars
MODEL_DIR  := exact$(if $(filter 128,$(MODEL_SIZE)),,$(MODEL_SIZE))

model: install
	datagen build --rotation=exact --size $(MODEL_SIZE) --out shards-full/$(MODEL_DIR)
	trainer fit shards-full/$(MODEL_DIR) --out runs-full/$(MODEL_DIR) --resume $(MODEL_FIT)

paper: install
	@for s in $(STRATEGIES); do datagen build --rotation=$$s --out shards-paper/$$s $(PAPER_BUILD) || exit 1; done
	trainer fit shards-paper/ --out runs-paper $(PAPER_FIT) --resume
	interpret compare runs-paper/* --probe shards-paper/kornia-zeros $(PAPER_COMPARE) --out reports/paper

clean-demo:
	rm -rf shards runs reports/demo
