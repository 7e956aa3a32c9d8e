"""What the planner reads, and a loader for presets that works before `cluster`/`model.architecture`
are part of the run schema: `load_plan_inputs("qwen2_5_14b", "slurm_h100", ["trainer.micro_batch_size=2"])`.

Presets in conf/model/ are `# @package _global_` files with `model:`, `trainer:`, `generation:` and
`cluster:` sections; this loader merges them onto typed dataclasses, so a misspelt key is an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import OmegaConf

from nemo_drift.config.architecture import ArchitectureConfig, resolve_architecture
from nemo_drift.config.cluster import ClusterConfig
from nemo_drift.config.generation import GenerationConfig
from nemo_drift.config.model import ModelConfig
from nemo_drift.config.trainer import TrainerConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
@dataclass
class PlanInputs:
    """The groups the planner uses: model layout, batch/optimizer, vLLM layout, machines."""

    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def architecture(self) -> ArchitectureConfig:
        """config.json of a local hf_path, else the preset's shape (raises ValueError naming the key)."""
        return resolve_architecture(self.model.hf_config(), self.model.architecture, self.model.hf_path)


def inputs_from_config(cfg: Any) -> PlanInputs:
    """PlanInputs from a DriftConfig."""
    return PlanInputs(model=cfg.model, trainer=cfg.trainer, generation=cfg.generation,
                      cluster=cfg.cluster)


def _build(cls: type, values: dict[str, Any], group: str) -> Any:
    """`cls(**values)`, refusing keys the dataclass does not have (the message names `group.key`)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{group}.{unknown[0]}: not a setting of {cls.__name__} (known: {', '.join(sorted(known))})")
    return cls(**values)


def load_plan_inputs(model_preset: str, cluster_preset: Optional[str] = None, overrides: Sequence[str] = (),
                     conf_dir: Path = CONF_DIR) -> PlanInputs:
    """Merge conf/cluster/<preset>.yaml (under `cluster`), then conf/model/<preset>.yaml, then overrides.

    Plain YAML merge then dataclass construction, without Hydra: unknown keys are refused here and
    values are checked by the planner's rules.
    """
    from nemo_drift.config.loader import _register_resolvers

    _register_resolvers()
    preset = OmegaConf.load(conf_dir / "model" / f"{model_preset}.yaml")
    if "model" not in preset:  # a plain `model` package file (smollm2_135m, tiny_qwen2)
        preset = OmegaConf.create({"model": preset})
    tree = OmegaConf.create({"model": {}, "trainer": {}, "generation": {}, "cluster": {}})
    if cluster_preset:  # the machine first; the model preset's recommended allocation on top
        tree = OmegaConf.merge(tree, {"cluster": OmegaConf.load(conf_dir / "cluster" / f"{cluster_preset}.yaml")})
    tree = OmegaConf.merge(tree, preset)
    tree = OmegaConf.merge(tree, OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]))
    raw: dict[str, Any] = OmegaConf.to_container(tree, resolve=True)  # type: ignore[assignment]
    # Presets also size the data and the run (e.g. smollm2_135m's data.max_length); the plan reads the
    # sequence length from model.seq_length, so those groups do not change it.
    raw = {k: v for k, v in raw.items() if k not in ("data", "method", "run", "resume")}
    unknown = sorted(set(raw) - {"model", "trainer", "generation", "cluster"})
    if unknown:
        raise ValueError(f"{unknown[0]}: the planner reads only model, trainer, generation, cluster")
    model = dict(raw["model"])
    arch = model.pop("architecture", None)
    planned = _build(ModelConfig, model, "model")
    planned.architecture = _build(ArchitectureConfig, arch, "model.architecture") if arch else None
    return PlanInputs(model=planned, trainer=_build(TrainerConfig, raw["trainer"], "trainer"),
                      generation=_build(GenerationConfig, raw["generation"], "generation"),
                      cluster=_build(ClusterConfig, raw["cluster"], "cluster"))
