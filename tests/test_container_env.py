"""The training environment built inside NVIDIA's PyTorch container (env/container_env.py), against a
simulated image: a copy of this machine's Python 3.12 with stub torch / Transformer Engine / Apex
packages that pip sees as installed, and a local wheelhouse of tiny hand-made wheels (no network)."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGE_TORCH = "2.9.0a0+nv25.09"
PYTHON_311 = Path.home() / ".pyenv" / "versions" / "3.11.7" / "bin" / "python3.11"


def _load_container_env():
    spec = importlib.util.spec_from_file_location("container_env", REPO / "env" / "container_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _metadata(name: str, version: str, requires: tuple[str, ...]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    return "\n".join(lines + [f"Requires-Dist: {r}" for r in requires]) + "\n"


def _install_stub(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    """Write a package into `site` with a dist-info that pip and importlib.metadata treat as installed."""
    info = f"{name.replace('-', '_')}-{version}.dist-info"
    content = {**files, f"{info}/METADATA": _metadata(name, version, ()), f"{info}/INSTALLER": "pip\n"}
    for rel, text in content.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    record = [_record_line(rel, text.encode()) for rel, text in content.items()] + [f"{info}/RECORD,,"]
    (site / info / "RECORD").write_text("\n".join(record) + "\n")


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (),
           files: dict[str, str] | None = None) -> None:
    """A pure-Python wheel `name-version` in `folder`, made by hand."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    content = dict(files or {f"{dist}/__init__.py": f"__version__ = {version!r}\n"})
    content[f"{info}/METADATA"] = _metadata(name, version, requires)
    content[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [_record_line(rel, text.encode()) for rel, text in content.items()] + [f"{info}/RECORD,,"]
    content[f"{info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(folder / f"{dist}-{version}-py3-none-any.whl", "w") as whl:
        for rel, text in content.items():
            whl.writestr(rel, text)


def _base_prefix() -> Path:
    """The Python 3.12 tree the dev venv was made from (the stand-in for the image's interpreter)."""
    out = subprocess.run([sys.executable, "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return Path(out)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """The simulated NGC image: a copied Python 3.12 with torch, TE and Apex stubs; returns its python."""
    root = tmp_path_factory.mktemp("image") / "usr"
    if subprocess.run(["cp", "-al", str(_base_prefix()), str(root)], capture_output=True).returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["cp", "-a", str(_base_prefix()), str(root)], check=True)
    python = root / "bin" / "python3.12"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    _install_stub(site, "torch", IMAGE_TORCH, {"torch/__init__.py": f"__version__ = {IMAGE_TORCH!r}\n"})
    _install_stub(site, "transformer_engine", "2.7.0",
                  {"transformer_engine/__init__.py": "__version__ = '2.7.0'\n"})
    _install_stub(site, "apex", "0.1", {"apex/__init__.py": ""})
    _install_stub(site, "shadowme", "1.0", {"shadowme/__init__.py": "__version__ = '1.0'\n"})
    return python


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    _wheel(folder, "needs-any-torch", "1.0", ("torch>=2.6",))
    _wheel(folder, "needs-new-torch", "1.0", ("torch==2.14.1",))
    _wheel(folder, "torch", "2.14.1", ("triton==3.5.0",))
    _wheel(folder, "triton", "3.5.0")
    _wheel(folder, "shadowme", "2.0")
    _wheel(folder, "plain-nodeps", "1.0", ("needs-new-torch",))
    return folder


def _setup(image_python: Path, wheels: Path, tmp_path: Path, image_name: str, pins: list[str],
           nodeps: list[str] = ()) -> subprocess.CompletedProcess:
    """`env/setup_env.sh train --container IMAGE` with the simulated image's interpreter, offline."""
    pin_file, nodeps_file = tmp_path / "pins.txt", tmp_path / "nodeps.txt"
    pin_file.write_text("\n".join(["# test pins", *pins]) + "\n")
    nodeps_file.write_text("\n".join(nodeps) + "\n")
    ngc_constraint = tmp_path / "ngc-constraint.txt"
    ngc_constraint.write_text("needs-any-torch==0.5\nshadowme==1.0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(NEMO_DRIFT_IMAGE_PYTHON=str(image_python), NEMO_DRIFT_VENV_ROOT=str(tmp_path / "venvs"),
               NEMO_DRIFT_PIP_ARGS=f"--no-index --find-links {wheels}", PIP_CONFIG_FILE=os.devnull,
               PIP_CONSTRAINT=str(ngc_constraint))
    cmd = ["bash", str(REPO / "env/setup_env.sh"), "train", "--container", image_name, "--pins", str(pin_file),
           "--nodeps-pins", str(nodeps_file), "--no-editable", "--no-import-check"]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _venv_python(tmp_path: Path) -> Path:
    return tmp_path / "venvs" / "train-container" / "bin" / "python"


def _in_venv(tmp_path: Path, code: str) -> dict:
    proc = subprocess.run([str(_venv_python(tmp_path)), "-c", f"import json\n{code}"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _venv_site(tmp_path: Path) -> Path:
    return next((tmp_path / "venvs" / "train-container" / "lib").glob("python3*/site-packages"))


@pytest.mark.slow
def test_venv_builds_on_the_image_torch_and_is_cached(image, wheelhouse, tmp_path):
    proc = _setup(image, wheelhouse, tmp_path, "nvcr.io#nvidia/pytorch:25.09-py3",
                  ["needs-any-torch", "shadowme==2.0"], ["plain-nodeps"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ngc-constraint.txt not used" in proc.stdout
    assert "shadows the image's shadowme 1.0 with shadowme 2.0" in proc.stdout
    seen = _in_venv(tmp_path, "import torch, transformer_engine, apex, needs_any_torch, plain_nodeps\n"
                              "print(json.dumps({'torch': torch.__version__, 'torch_file': torch.__file__,"
                              " 'te': transformer_engine.__version__, 'apex': apex.__file__}))")
    image_root = image.parent.parent
    venv = tmp_path / "venvs" / "train-container"
    assert seen["torch"] == IMAGE_TORCH
    assert Path(seen["torch_file"]).is_relative_to(image_root)
    assert not Path(seen["torch_file"]).resolve().is_relative_to(venv.resolve())
    assert seen["te"] == "2.7.0" and Path(seen["apex"]).is_relative_to(image_root)
    assert not (_venv_site(tmp_path) / "torch").exists()
    assert f"torch=={IMAGE_TORCH}" in (venv / "image-freeze.txt").read_text().splitlines()

    stamp_path = venv / ".nemo-drift-stamp"
    stamp = json.loads(stamp_path.read_text())
    assert stamp["image"] == "nvcr.io#nvidia/pytorch:25.09-py3"
    assert (stamp["torch"], stamp["transformer_engine"], stamp["apex"]) == (IMAGE_TORCH, "2.7.0", "0.1")
    assert stamp["base_python"] == os.path.realpath(image) and stamp["python_version"].startswith("3.12")

    before = (stamp_path.stat().st_ino, stamp_path.stat().st_mtime_ns)
    again = _setup(image, wheelhouse, tmp_path, "nvcr.io#nvidia/pytorch:25.09-py3",
                   ["needs-any-torch", "shadowme==2.0"], ["plain-nodeps"])
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout and "creating" not in again.stdout
    assert (stamp_path.stat().st_ino, stamp_path.stat().st_mtime_ns) == before

    other = _setup(image, wheelhouse, tmp_path, "nvcr.io#nvidia/pytorch:26.06-py3",
                   ["needs-any-torch", "shadowme==2.0"], ["plain-nodeps"])
    assert other.returncode == 0, other.stderr
    assert "creating" in other.stdout and "up to date" not in other.stdout
    assert json.loads(stamp_path.read_text())["image"] == "nvcr.io#nvidia/pytorch:26.06-py3"


def test_pin_that_pulls_another_torch_is_refused_before_installing(image, wheelhouse, tmp_path):
    proc = _setup(image, wheelhouse, tmp_path, "img", ["needs-any-torch", "needs-new-torch"])
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert f"replace the image's torch {IMAGE_TORCH} with torch 2.14.1 (required by needs-new-torch 1.0)" in errors[0]
    assert "triton" not in errors[0]
    site = _venv_site(tmp_path)
    assert not (site / "torch").exists() and not (site / "needs_new_torch").exists()
    assert not (site / "needs_any_torch").exists()
    assert not (tmp_path / "venvs" / "train-container" / ".nemo-drift-stamp").exists()


def test_direct_torch_pin_is_dropped_and_the_image_torch_stays(image, wheelhouse, tmp_path):
    proc = _setup(image, wheelhouse, tmp_path, "img", ["torch==2.14.1", "needs-any-torch"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"dropping 'torch==2.14.1': the image provides torch {IMAGE_TORCH}" in proc.stdout
    seen = _in_venv(tmp_path, "import torch; print(json.dumps(torch.__version__))")
    assert seen == IMAGE_TORCH
    assert not (_venv_site(tmp_path) / "torch").exists()


def test_python_311_image_is_refused(tmp_path):
    env = {**os.environ, "NEMO_DRIFT_IMAGE_PYTHON": str(PYTHON_311), "NEMO_DRIFT_VENV_ROOT": str(tmp_path)}
    proc = subprocess.run(["bash", str(REPO / "env/setup_env.sh"), "train", "--container", "old:1"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "needs Python 3.12" in proc.stderr and "3.11" in proc.stderr
    assert not (tmp_path / "train-container").exists()


def test_protected_names():
    module = _load_container_env()
    for name in ("torch", "Transformer_Engine", "transformer-engine-cu12", "transformer_engine_torch", "apex",
                 "flash_attn", "flash-attn-3", "triton", "torchvision", "nvidia-cublas-cu12", "nvidia-nccl-cu12",
                 "nvidia-cudnn-cu12", "nvidia-cuda-runtime"):
        assert module.is_protected(name), name
    for name in ("torchmetrics", "nvidia-modelopt", "nvidia-ml-py", "megatron-core", "apexx", "torch-geometric"):
        assert not module.is_protected(name), name


@pytest.mark.parametrize("args, message", [
    (["gen", "--target", "bogus"], "unknown generation target 'bogus' (expected cpu or gpu)"),
    (["gen", "--target"], "usage: env/setup_env.sh"),
    (["train", "--container"], "usage: env/setup_env.sh"),
    (["train", "--container", "--pins"], "usage: env/setup_env.sh"),
    (["train", "extra"], "usage: env/setup_env.sh"),
])
def test_bad_setup_arguments_are_refused(tmp_path, args, message):
    env = {**os.environ, "NEMO_DRIFT_VENV_ROOT": str(tmp_path)}
    proc = subprocess.run(["bash", str(REPO / "env/setup_env.sh"), *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_failed_pip_install_stops_host_setup_with_pips_error(tmp_path):
    """The host path (here `gen --target gpu`: .venv/gen-gpu, Python 3.12) shows pip's own error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(NEMO_DRIFT_VENV_ROOT=str(tmp_path / "venvs"), PIP_CONFIG_FILE=os.devnull,
               NEMO_DRIFT_PIP_ARGS=f"--no-index --find-links {tmp_path}")
    proc = subprocess.run(["bash", str(REPO / "env/setup_env.sh"), "gen", "--target", "gpu"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "No matching distribution found for vllm==0.33.0" in proc.stderr
    venv = tmp_path / "venvs" / "gen-gpu"
    assert (venv / "bin" / "python3.12").exists() and not (tmp_path / "venvs" / "gen").exists()
    assert not (venv / ".nemo-drift-stamp").exists()
