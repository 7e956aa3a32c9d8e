"""What the environment a training stage runs in can do: torch, CUDA, Transformer Engine, Apex, GPUs.

Settings such as sequence parallelism or FP8 need Transformer Engine (TE) in the environment where the
Megatron stages run, which on a cluster is the training image, not the controller's host. The answer
comes from one of three places:
  - a probe file (`cluster.capabilities`): written by `python -m nemo_drift.runtime.probe` run in the
    training image as a one-task srun step (`nemo-drift probe`); the only writer of this record;
  - this machine, when stages run here (`cluster.launcher=local`);
  - nowhere yet: srun stages without a probe file. Settings that need TE are then refused, naming the
    image, because nothing on the host can say what the image holds.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Optional

PROBE_SCHEMA = 1
"""Version of the probe record; a file with another version is refused."""


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def have_transformer_engine() -> bool:
    """True when Transformer Engine is installed in this process's environment (not imported)."""
    return _importable("transformer_engine")


@dataclass(frozen=True)
class Capabilities:
    """One environment's answer. `known=False` means nobody has asked it yet."""

    where: str
    """The environment in words, for messages ("this machine", "the training image X")."""
    known: bool = True
    transformer_engine: Optional[str] = None
    """TE version, "installed" when found without importing it, or None."""
    apex: Optional[str] = None
    torch: Optional[str] = None
    cuda: Optional[str] = None
    gpu_name: Optional[str] = None
    gpus_visible: int = 0
    image: Optional[str] = None
    """The image the probe ran in (None: the node's own environment)."""
    python: Optional[str] = None
    """The interpreter the probe ran with, as given and as resolved inside the step."""
    source: str = ""
    """The probe file, or "" for this machine."""

    @property
    def has_transformer_engine(self) -> bool:
        return self.transformer_engine is not None

    @classmethod
    def of_this_machine(cls) -> "Capabilities":
        """This process's environment, checked without importing TE or Apex (both are slow to import)."""
        return cls(where="this machine", transformer_engine="installed" if have_transformer_engine() else None,
                   apex="installed" if _importable("apex") else None)

    @classmethod
    def unknown(cls, where: str) -> "Capabilities":
        return cls(where=where, known=False)

    @classmethod
    def load(cls, path: str | Path) -> "Capabilities":
        """A probe file; raises ValueError naming the file when it is missing or not a probe record."""
        path = Path(path)
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read the probe file {path}: {err}") from err
        if not isinstance(record, dict) or record.get("schema") != PROBE_SCHEMA:
            raise ValueError(f"{path} is not a probe record of schema {PROBE_SCHEMA} "
                             "(write it with `nemo-drift probe`)")
        names = {f.name for f in fields(cls)} - {"where", "known", "source"}
        values = {k: v for k, v in record.items() if k in names}
        image = values.get("image")
        where = f"the training image {image}" if image else "the training environment on the nodes"
        return cls(where=where, source=str(path), **values)

    def to_record(self) -> dict[str, Any]:
        """The probe file's content (written by nemo_drift.runtime.probe)."""
        record = {k: v for k, v in asdict(self).items() if k not in ("where", "known", "source")}
        return {"schema": PROBE_SCHEMA, **record}
