"""The capability probe: run in the training environment (one srun task in the training image), it
writes what that environment has (torch, CUDA, Transformer Engine, Apex, GPUs) as the JSON record
nemo_drift/config/capabilities.py reads. Launched by `nemo-drift probe`; never imports megatron.

    <cluster.train_python> -m nemo_drift.runtime.probe --out FILE [--image IMAGE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Optional


def _version(module: str) -> Optional[str]:
    """The module's version when it imports, else None (a TE built for another torch fails here, at
    import, with an undefined-symbol error: that counts as absent)."""
    try:
        imported = __import__(module)
    except Exception:  # noqa: BLE001 (any import failure means the stage could not use it either)
        return None
    return str(getattr(imported, "__version__", "installed"))


def probe(image: Optional[str]) -> dict:
    """The capabilities record of this process's environment."""
    import torch

    from nemo_drift.config.capabilities import Capabilities

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    caps = Capabilities(where="probe", transformer_engine=_version("transformer_engine"), apex=_version("apex"),
                        torch=torch.__version__, cuda=torch.version.cuda, gpus_visible=gpus,
                        gpu_name=torch.cuda.get_device_name(0) if gpus else None, image=image,
                        python=f"{sys.executable} -> {os.path.realpath(sys.executable)}")
    return {**caps.to_record(), "host": socket.gethostname(), "python_version": platform.python_version()}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nemo_drift.runtime.probe", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON record")
    parser.add_argument("--image", default=None, help="the image this runs in, recorded for the controller")
    args = parser.parse_args(argv)
    record = probe(args.image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
