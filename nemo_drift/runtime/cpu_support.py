"""Run megatron-core on a CPU-only machine: narrow patches, scoped to `megatron.core.*` modules.

(Plus two modules outside megatron.core that the bridge uses on CPU paths, see SCOPES.)

megatron-core 0.19.2 hard-codes CUDA in places a CPU run reaches (measured facts and upstream lines in
docs/megatron-on-cpu.md, "Where upstream hard-codes CUDA"):
- models/common/embeddings/rotary_pos_embedding.py:162 moves inv_freq to torch.cuda.current_device();
- pipeline_parallel/schedules.py:749, 1121, 2292 `torch.zeros([], ..., device="cuda")`;
- pipeline_parallel/p2p_communication.py:211-223, 334, 342 current_device(), :263, :419 synchronize();
- utils.py GlobalMemoryBuffer allocates on torch.cuda.current_device();
- dist_checkpointing/strategies/filesystem_async.py:248 torch.cuda.synchronize();
- models/common/language_module/language_module.py:307 `weight.data.cuda()` (tied embeddings, PP > 1);
- tensor_parallel/random.py:104 `_get_cuda_rng_state` / :135 `_set_cuda_rng_state` (used by
  activation recomputation, tensor_parallel/random.py:581 CheckpointFunction).

How they are scoped (docs/megatron-on-cpu.md: a GLOBAL patch of torch factories or `Tensor.to` corrupted
transformers' RoPE buffers in the same process): every module under `megatron.core` gets, as its
module-global name `torch`, a proxy that forwards everything to the real torch except (a) tensor
factories, whose `device="cuda..."` becomes CPU, (b) `torch.device`, which maps CUDA devices to CPU,
(c) `torch.cuda`, whose current_device() is "cpu" and whose synchronize/streams/events are no-ops.
Modules imported later get the proxy through an import hook. Nothing else in the process (torch
itself, transformers, the bridge, our code) sees any of it. `Tensor.cuda` is a method, not a module
global: it is made an identity only while LanguageModule.setup_embeddings_and_output_layer runs (on a
CPU-only build `.cuda()` can only raise, so no working behaviour changes). The RNG functions are
replaced inside megatron.core.tensor_parallel.random only.

`apply_cpu_support()` does nothing when CUDA is available, and is idempotent.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable, Iterator

import torch

# megatron.core, plus two modules outside it that reach CUDA on our CPU paths:
# - megatron/bridge/models/conversion/param_mapping.py:1297-1298 (ReplicatedMapping.hf_to_megatron calls
#   torch.cuda.current_device() when loading HF weights at TP > 1);
# - megatron/training/models/dist_utils.py:303-306 (the DDP wrap used by the bridge's
#   provide_distributed_model(wrap_with_ddp=True) creates a torch.cuda.Stream and enters it).
SCOPES = ("megatron.core", "megatron.bridge.models.conversion.param_mapping", "megatron.training.models.dist_utils")
_FACTORIES = (
    "zeros", "ones", "empty", "full", "tensor", "as_tensor", "arange", "rand", "randn", "randint",
    "randperm", "eye", "linspace", "zeros_like", "ones_like", "empty_like", "full_like", "empty_strided",
)
_STATE = {"applied": False}


def _is_cuda(device: Any) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.startswith("cuda")
    return isinstance(device, int) and not isinstance(device, bool)  # a bare index means a CUDA device


class _DeviceMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, torch.device)


class _CpuDevice(metaclass=_DeviceMeta):
    """Stands in for `torch.device` inside megatron.core: any CUDA device becomes the CPU."""

    def __new__(cls, *args: Any, **kwargs: Any) -> torch.device:  # type: ignore[misc]
        if args and (_is_cuda(args[0]) or args[0] == "cuda"):
            return torch.device("cpu")
        return torch.device(*args, **kwargs)


def _cpu_factory(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        return fn(*args, **kwargs)

    return wrapper


class _NullStream:
    """A CUDA stream/event stand-in: every method is a no-op, usable as a context manager."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def __enter__(self) -> "_NullStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class _CudaProxy(types.ModuleType):
    """`torch.cuda` as seen from megatron.core on a CPU-only machine."""

    def __init__(self) -> None:
        super().__init__("torch.cuda")
        self.current_device = lambda: "cpu"
        for name in ("synchronize", "empty_cache", "set_device", "reset_peak_memory_stats",
                     "manual_seed", "manual_seed_all", "record_function"):
            setattr(self, name, _noop)
        for name in ("Stream", "Event", "ExternalStream"):
            setattr(self, name, _NullStream)
        for name in ("current_stream", "default_stream"):
            setattr(self, name, lambda *a, **k: _NullStream())
        self.stream = lambda *a, **k: contextlib.nullcontext()
        self.get_rng_state = lambda *a, **k: torch.get_rng_state()
        self.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cuda, name)


class _TorchProxy(types.ModuleType):
    """`torch` as seen from megatron.core on a CPU-only machine (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.cuda = _CudaProxy()
        self.device = _CpuDevice
        for name in _FACTORIES:
            setattr(self, name, _cpu_factory(getattr(torch, name)))

    def __getattr__(self, name: str) -> Any:
        value = getattr(torch, name)
        setattr(self, name, value)  # cache: later lookups skip __getattr__
        return value


_PROXY = _TorchProxy()


def torch_proxy() -> types.ModuleType:
    """The proxy installed as `torch` in megatron.core modules (for tests and diagnostics)."""
    return _PROXY


def _patch_module(module: types.ModuleType) -> None:
    if module.__name__.startswith(SCOPES) and module.__dict__.get("torch") is torch:
        module.torch = _PROXY  # type: ignore[attr-defined]


class _ScopeFinder(importlib.abc.MetaPathFinder):
    """Gives megatron.core modules imported after `apply_cpu_support()` the torch proxy too."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(SCOPES):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _PatchingLoader(spec.loader)
                return spec
            if spec is not None:
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... for tracebacks and inspect
        return getattr(self._inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        _patch_module(module)


@contextlib.contextmanager
def _tensor_cuda_is_identity() -> Iterator[None]:
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def _patch_language_module() -> None:
    # language_module.py:307 `weight.data = weight.data.cuda()` when embeddings are tied and PP > 1.
    from megatron.core.models.common.language_module.language_module import LanguageModule

    original = LanguageModule.setup_embeddings_and_output_layer

    @functools.wraps(original)
    def setup_on_cpu(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _tensor_cuda_is_identity():
            return original(self, *args, **kwargs)

    LanguageModule.setup_embeddings_and_output_layer = setup_on_cpu  # type: ignore[method-assign]


def _patch_rng_state_functions() -> None:
    # tensor_parallel/random.py:104 and :135 read/write the CUDA generator (activation recompute,
    # _fork_rng); on CPU the CPU generator plays that role.
    from megatron.core.tensor_parallel import random as mrandom

    mrandom._get_cuda_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    mrandom._set_cuda_rng_state = lambda new_state, *args, **kwargs: torch.set_rng_state(new_state)


def cpu_support_applied() -> bool:
    """True once the CPU patches are in place in this process."""
    return _STATE["applied"]


def apply_cpu_support() -> bool:
    """Patch megatron.core for CPU when CUDA is unavailable. Returns True if patches are in place."""
    if torch.cuda.is_available():
        return False
    if _STATE["applied"]:
        return True
    import megatron.core  # noqa: F401  (computes its HAVE_TE/HAVE_APEX flags with the real torch)
    import megatron.core.models.common.language_module.language_module  # noqa: F401
    import megatron.core.tensor_parallel  # noqa: F401

    sys.meta_path.insert(0, _ScopeFinder())
    for name, module in list(sys.modules.items()):
        if name.startswith(SCOPES) and isinstance(module, types.ModuleType):
            _patch_module(module)
    _patch_language_module()
    _patch_rng_state_functions()
    _STATE["applied"] = True
    return True
