"""Every module of the package imports in the training environment (a module that fails at import
slipped into torchtune once), and the layering rules of DESIGN.md hold: only `generation/` mentions
vllm, only `megatron/` (and the runtime that patches it) imports megatron, `data/` and `methods/`
stay free of torch.distributed and megatron."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import nemo_drift

PACKAGE = Path(nemo_drift.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="nemo_drift.")
                 if not m.name.endswith("__main__"))  # entry points run on import by design


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def test_only_generation_imports_vllm():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "generation" not in p.parts and any(n.split(".")[0] == "vllm" for n in _imported_roots(p))]
    assert offenders == []


def test_only_megatron_and_runtime_import_megatron():
    allowed = {"megatron", "runtime"}
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if not allowed & set(p.relative_to(PACKAGE).parts[:1])
                 and any(n.split(".")[0] == "megatron" for n in _imported_roots(p))]
    assert offenders == []


@pytest.mark.parametrize("sub", ["data", "methods"])
def test_plain_python_layers(sub):
    banned = ("torch.distributed", "megatron", "vllm")
    offenders = [(str(p.relative_to(PACKAGE)), n) for p in _files(sub) for n in _imported_roots(p)
                 if n.startswith(banned)]
    assert offenders == []
