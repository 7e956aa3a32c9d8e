"""Ask the training environment what it can do before validating settings that depend on it.

On srun runs the Megatron stages run in the training image (or the nodes' own environment), not where
the controller runs. Unless `cluster.capabilities` names a probe file already, `nemo-drift run` starts
one single-task step there (`python -m nemo_drift.runtime.probe`), writes its answer to
`<run folder>/capabilities.json` and validates Transformer Engine settings against it. The step uses
the same named container as the later stages, so the image is unpacked once either way.
"""
from __future__ import annotations

import json
from pathlib import Path

from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.launcher import LaunchSpec


def needs_probe(cfg: DriftConfig) -> bool:
    """True for a real (not dry) srun run without a probe file."""
    return cfg.cluster.launcher == "srun" and not cfg.cluster.capabilities and not cfg.run.dry_run


def probe_stage_environment(cfg: DriftConfig, out: Path | None = None) -> Path:
    """Run the probe as one task where the Megatron stages run; returns the probe file."""
    from nemo_drift.config.loader import ConfigError
    from nemo_drift.controller.preflight import launch_problems
    from nemo_drift.controller.run_command import make_launcher

    run_dir = Path(cfg.run.root).resolve() / cfg.run.name
    out = out or run_dir / "capabilities.json"
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    problems = launch_problems(cfg, generation=False)
    if problems:
        raise ConfigError(problems)
    image = cfg.cluster.container_image
    spec = LaunchSpec(name="probe", module="nemo_drift.runtime.probe",
                      args=["--out", str(out), *(["--image", image] if image else [])],
                      python=cfg.cluster.train_python, image=image, log_path=run_dir / "logs" / "probe.log",
                      timeout_s=1800)
    make_launcher(cfg).run(spec)
    return out


def describe(path: Path) -> str:
    """One line about a probe file, for the console."""
    record = json.loads(path.read_text())
    gpus = f"{record.get('gpus_visible', 0)} x {record.get('gpu_name')}" if record.get("gpus_visible") else "no GPU"
    return (f"probe {path}: torch {record.get('torch')} (CUDA {record.get('cuda')}), Transformer Engine "
            f"{record.get('transformer_engine') or 'absent'}, Apex {record.get('apex') or 'absent'}, {gpus}, "
            f"image {record.get('image') or 'none'}")
