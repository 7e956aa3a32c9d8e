"""Import Megatron-Bridge's AutoBridge, also where Transformer Engine is not installed.

megatron-bridge 0.6.2 imports `transformer_engine.pytorch` unconditionally in peft/lora_layers.py:20
(and models/gpt_full_te_layer_autocast_spec.py:28 `from transformer_engine.pytorch import
TransformerLayer`), so `from megatron.bridge import AutoBridge` fails without TE. Per
docs/megatron-on-cpu.md ("Versions and installs"), a temporary stub module for
`transformer_engine` in `sys.modules`, removed right after the import and only after megatron.core
computed its own HAVE_TE flags, works. Any module-level `HAVE_TE` flag that flipped to True while the
stub was present is set back to False afterwards, so nothing believes TE exists when it does not.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
import types
from typing import Any

_TE_NAMES = ("transformer_engine", "transformer_engine.pytorch")


class _PlaceholderMeta(type):
    """Any attribute of a placeholder class is another placeholder class (te.ops.Sequential, ...)."""

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _PlaceholderMeta(attr, (), {"__module__": cls.__module__})


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
    module.__path__ = []  # type: ignore[attr-defined]

    def __getattr__(attr: str) -> Any:  # any class/function TE would provide: an inert placeholder class
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _PlaceholderMeta(attr, (), {"__module__": name})

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


def _te_flags_snapshot() -> dict[str, bool]:
    return {name: bool(getattr(module, "HAVE_TE", False)) for name, module in list(sys.modules.items())
            if name.startswith("megatron") and module is not None and hasattr(module, "HAVE_TE")}


def import_auto_bridge() -> type:
    """Return megatron.bridge.AutoBridge, importing the bridge with a TE stub when TE is absent."""
    if "megatron.bridge" in sys.modules:
        from megatron.bridge import AutoBridge

        return AutoBridge
    if importlib.util.find_spec("transformer_engine") is not None:
        from megatron.bridge import AutoBridge

        return AutoBridge
    import megatron.core  # noqa: F401  (its HAVE_TE flags are computed without the stub)
    import megatron.core.models.gpt.gpt_layer_specs  # noqa: F401
    import megatron.core.transformer.transformer_layer  # noqa: F401
    import megatron.core.models.hybrid.hybrid_layer_specs  # noqa: F401  (builds TE specs at import if HAVE_TE)
    import megatron.training  # noqa: F401  (the bridge imports it; it imports the hybrid specs above)

    before = _te_flags_snapshot()
    for name in _TE_NAMES:
        sys.modules[name] = _stub_module(name)
    sys.modules["transformer_engine"].pytorch = sys.modules["transformer_engine.pytorch"]  # type: ignore[attr-defined]
    # Without TE the bridge logs a full traceback at INFO for every optional TE symbol it probes
    # (e.g. FP8GlobalStateManager): expected here, so INFO records are muted for this import only.
    logging.disable(logging.INFO)
    try:
        from megatron.bridge import AutoBridge
    finally:
        logging.disable(logging.NOTSET)
        for name in _TE_NAMES:
            sys.modules.pop(name, None)
        for name, module in list(sys.modules.items()):
            if name.startswith("megatron") and getattr(module, "HAVE_TE", False) and not before.get(name, False):
                module.HAVE_TE = False  # type: ignore[attr-defined]
    return AutoBridge
