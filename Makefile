# nemo-drift: the Makefile owns environment creation. Every target is idempotent and cached.
#   make run    the main job: DRIFT on the embedded default (SmolLM2-135M-Instruct, CPU ok)
#   make test   the test suite (what CI runs)
#   make setup  both environments + offline model assets (run implicitly by the two above)
#   make setup-gen GEN_TARGET=gpu          the generation environment for GPU nodes (.venv/gen-gpu)
#   make setup-container IMAGE=nvcr.io#nvidia/pytorch:25.09-py3 [SRUN_ARGS="-p PART -A ACCOUNT"]
#               the training environment built inside NVIDIA's PyTorch image on a cluster node
#               (.venv/train-container, on the image's torch/TE/Apex)
SHELL := /bin/bash
VENV  ?= .venv
TRAIN_PY := $(VENV)/train/bin/python
GEN_PY   := $(VENV)/gen/bin/python
CACHE ?= .cache
export NEMO_DRIFT_VENV_ROOT := $(abspath $(VENV))
PYTEST_ARGS ?=
ARGS ?=
GEN_TARGET ?= cpu
IMAGE ?=
SRUN_ARGS ?=

.PHONY: setup setup-train setup-gen setup-container assets run test test-fast bench lint clean-venv

setup: setup-train setup-gen assets

setup-train:
	@env/setup_env.sh train

setup-gen:
	@env/setup_env.sh gen --target $(GEN_TARGET)

# The venv must land on the shared filesystem: the checkout is mounted, and VENV too when it lies outside.
comma := ,
CONTAINER_MOUNTS := $(CURDIR):$(CURDIR)$(if $(filter $(CURDIR)/%,$(NEMO_DRIFT_VENV_ROOT)),,$(comma)$(NEMO_DRIFT_VENV_ROOT):$(NEMO_DRIFT_VENV_ROOT))
setup-container:
	@if [ -z '$(IMAGE)' ]; then echo "error: set IMAGE to the training image, e.g. make setup-container IMAGE='nvcr.io#nvidia/pytorch:25.09-py3'" >&2; exit 2; fi
	@mkdir -p $(NEMO_DRIFT_VENV_ROOT)
	env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV srun --ntasks=1 --nodes=1 $(SRUN_ARGS) --container-image='$(IMAGE)' \
	  --container-mounts=$(CONTAINER_MOUNTS) --no-container-mount-home --container-workdir=$(CURDIR) \
	  env/setup_env.sh train --container '$(IMAGE)'

assets: setup-train
	@$(TRAIN_PY) tools/make_assets.py --cache $(CACHE)/models

run: setup
	$(VENV)/train/bin/nemo-drift run $(ARGS)

# pytest exits 5 when it collected no tests: that must fail, never pass silently.
test: setup
	@$(TRAIN_PY) -m pytest tests $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: setup
	@$(TRAIN_PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

lint:
	@$(VENV)/train/bin/shellcheck slurm/*.sh env/*.sh bench/*.sh .ci/run

clean-venv:
	rm -rf $(VENV)
