"""Container flags derived from the run config: mounts cover every folder a stage touches (nested ones
folded), a folder that is not on the host is refused by its setting, host Python variables stay out of
containerized steps, and one container name per job and image."""
from __future__ import annotations

from pathlib import Path

from nemo_drift.config.loader import load_config
from nemo_drift.config.paths import REPO_ROOT
from nemo_drift.controller.container import (container_flags, container_name, mount_problems, mounts,
                                             stage_paths)
from nemo_drift.controller.srun import replica_env, step_env

IMAGE = "nvcr.io#nvidia/pytorch:25.09-py3"


def _cfg(tmp_path: Path, *extra: str):
    return load_config([f"run.root={tmp_path / 'runs'}", "cluster.launcher=srun", f"cluster.container_image='{IMAGE}'",
                        *extra], validate=False)


def test_mounts_cover_every_stage_folder_once(tmp_path, monkeypatch):
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    reference = tmp_path / "models" / "ref"
    reference.mkdir()
    cfg = _cfg(tmp_path, f"model.hf_path={model}", f"trainer.reference_path={reference}",
               "cluster.container_mounts=/lustre/data:/data:ro")
    paths = stage_paths(cfg)
    assert paths["run.root"] == tmp_path / "runs" and paths["model.hf_path"] == model
    listed = mounts(cfg)
    assert f"{REPO_ROOT}:{REPO_ROOT}" in listed and listed[-1] == "/lustre/data:/data:ro"
    assert f"{model}:{model}" in listed and f"{reference}:{reference}" in listed
    assert len(listed) == len(set(listed))
    nested = _cfg(tmp_path, f"model.hf_path={tmp_path / 'runs' / 'm'}")
    (tmp_path / "runs" / "m").mkdir(parents=True)
    assert not any("/runs/m:" in m for m in mounts(nested))  # inside run.root: folded into its mount


def test_a_folder_not_on_the_host_is_refused_by_its_setting(tmp_path, monkeypatch):
    (tmp_path / "runs").mkdir()
    missing = _cfg(tmp_path, f"model.hf_path={tmp_path / 'nowhere'}")
    assert mount_problems(missing, stage_paths(missing)) == [
        f"model.hf_path: {tmp_path / 'nowhere'} does not exist on this host, so it cannot be mounted into the containers"]
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no_hf_home"))
    hub = _cfg(tmp_path, "model.hf_path=Qwen/Qwen2.5-7B-Instruct")
    (problem,) = mount_problems(hub, stage_paths(hub))
    assert problem.startswith("model.hf_path: Qwen/Qwen2.5-7B-Instruct is a hub id") and "HF_HOME" in problem
    (tmp_path / "no_hf_home").mkdir()
    assert mount_problems(hub, stage_paths(hub)) == []


def test_flags_env_and_names():
    flags = container_flags(IMAGE, ["/a:/a"], "42")
    assert flags == [f"--container-image={IMAGE}", f"--container-name={container_name(IMAGE, '42')}",
                     "--container-mounts=/a:/a", f"--container-workdir={REPO_ROOT}", "--no-container-mount-home"]
    assert container_flags(None, ["/a:/a"], "42") == []
    assert container_name(IMAGE, "42") != container_name("vllm/vllm-openai:v0.33.0", "42")
    env = {"PYTHONPATH": "/users/u/lib", "PYTHONHOME": "/x", "VIRTUAL_ENV": "/v", "HF_HOME": "/h"}
    assert step_env(env, IMAGE) == {"HF_HOME": "/h"}
    assert step_env(env, None) == env
    replica = replica_env({**env, "CUDA_VISIBLE_DEVICES": "0"}, "vllm/vllm-openai:v0.33.0")
    assert replica == {"HF_HOME": "/h", "PYTHONPATH": str(REPO_ROOT)}  # only the mounted checkout
    assert replica_env({**env, "CUDA_VISIBLE_DEVICES": "0"}, None) == env


def test_bad_mount_syntax_and_local_images_are_refused():
    cfg = load_config(["cluster.container_mounts=data:/data"], validate=False)
    assert any(p.startswith("cluster.container_mounts: 'data:/data'") for p in cfg.cluster.validate())
    local = load_config([f"cluster.container_image='{IMAGE}'"], validate=False)
    assert any(p.startswith("cluster.container_image: containers are started by srun") for p in local.cluster.validate())
