"""Build the training environment inside NVIDIA's PyTorch container, on top of the image's torch.

Run by `env/setup_env.sh train --container IMAGE` with the image's own interpreter (stdlib only). The
venv is made with --system-site-packages, so it sees the image's torch, Transformer Engine and Apex;
our pins are installed around them and can never replace them.
Idempotent: the JSON stamp in the venv records the inputs' hash and the image; while both match,
nothing is touched.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
MIN_PYTHON = (3, 12)
STAMP = ".nemo-drift-stamp"
FREEZE = "image-freeze.txt"
PROTECTED = re.compile(
    r"(torch|torchvision|torchaudio|triton|pytorch-triton|transformer-engine(-.*)?|apex|flash-attn(-.*)?"
    r"|nvidia-(cuda|cublas|cudnn|cufft|curand|cusolver|cusparse|nccl|nvjitlink|nvtx|cufile|nvshmem|npp|nvjpeg)"
    r"[a-z0-9-]*)")
"""Packages the image provides and nemo-drift never installs (names normalised as in PEP 503)."""
PROBE = r"""
import importlib, importlib.metadata as md, json, sys, sysconfig
out = {"purelib": sysconfig.get_paths()["purelib"], "python_version": "%d.%d.%d" % sys.version_info[:3]}
for mod in ("torch", "transformer_engine", "apex"):
    try:
        m = importlib.import_module(mod)
    except Exception as exc:
        out[mod] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        continue
    version = getattr(m, "__version__", None)
    if version is None:
        try:
            version = md.version(mod)
        except md.PackageNotFoundError:
            version = "unknown"
    out[mod] = {"version": str(version), "path": m.__file__}
out["venv_dists"] = {d.metadata["Name"]: d.version for d in md.distributions(path=[out["purelib"]])}
print(json.dumps(out))
"""
"""Run by the venv's interpreter: where torch, TE and Apex import from, and what the venv itself holds."""


class SetupError(Exception):
    """A reason to stop setup; the message is the one line the user sees."""


def log(message: str) -> None:
    """One progress line, in the format env/setup_env.sh uses."""
    print(f"[setup train-container] {message}", flush=True)


def normalize(name: str) -> str:
    """The PEP 503 form of a distribution name: `Transformer_Engine` -> `transformer-engine`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_protected(name: str) -> bool:
    """True for a package the image provides and nemo-drift never replaces."""
    return PROTECTED.fullmatch(normalize(name)) is not None


def requirement_name(line: str) -> Optional[str]:
    """The distribution a requirements-file line names, or None for comments, blanks and options."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
    return match.group(1) if match else None


def shown(path: Path) -> str:
    """`path` relative to the checkout when it lies inside it (as messages name pin files)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line: the image name and the options for tests and air-gapped clusters."""
    parser = argparse.ArgumentParser(prog="env/setup_env.sh train --container IMAGE",
                                     description="Build .venv/train-container inside the image.")
    parser.add_argument("--image", required=True, help="the image this runs in (recorded in the stamp)")
    parser.add_argument("--pins", type=Path, action="append",
                        help="requirements file installed with dependencies (repeatable; default env/train.txt)")
    parser.add_argument("--nodeps-pins", type=Path, default=REPO / "env" / "train-nodeps.txt",
                        help="requirements file installed with --no-deps (default env/train-nodeps.txt)")
    parser.add_argument("--no-editable", action="store_true", help="do not install the checkout itself")
    parser.add_argument("--no-import-check", action="store_true",
                        help="skip importing megatron.core, transformers, hydra and nemo_drift at the end")
    args = parser.parse_args(argv)
    args.pins = args.pins or [REPO / "env" / "train.txt"]
    for path in (*args.pins, args.nodeps_pins):
        if not path.is_file():
            parser.error(f"no such pin file: {path}")
    root = Path(os.environ.get("NEMO_DRIFT_VENV_ROOT") or REPO / ".venv")
    args.venv = root.absolute() / "train-container"
    return args


def inputs_hash(args: argparse.Namespace) -> str:
    """sha256 of the pin files, the setup scripts and the options: a change rebuilds the venv."""
    digest = hashlib.sha256()
    files = [*args.pins, args.nodeps_pins, REPO / "env" / "setup_env.sh", Path(__file__), REPO / "setup.py"]
    for path in files:
        digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(f"editable={not args.no_editable} import_check={not args.no_import_check}".encode())
    return digest.hexdigest()[:16]


def read_stamp(venv: Path) -> dict:
    """The venv's JSON stamp, or {} when there is none (or a host venv's plain-hash stamp)."""
    try:
        record = json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def image_packages() -> dict[str, tuple[str, str]]:
    """What this (the image's) interpreter ships: normalised name -> (name, version); first on sys.path wins."""
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalize(name) not in found:
            found[normalize(name)] = (name, dist.version)
    return found


def filter_pins(source: Path, target: Path, image: dict[str, tuple[str, str]]) -> None:
    """Copy a requirements file without its protected lines, saying for each why it was dropped."""
    kept = []
    for line in source.read_text().splitlines():
        name = requirement_name(line)
        if name is None or not is_protected(name):
            kept.append(line)
            continue
        have = image.get(normalize(name))
        why = f"the image provides {have[0]} {have[1]}" if have else "nemo-drift never installs it over an image"
        log(f"{shown(source)}: dropping '{line.strip()}': {why}")
    target.write_text("\n".join(kept) + "\n")


def pip(venv: Path, *args: str) -> None:
    """Run the venv's pip with NEMO_DRIFT_PIP_ARGS; a failure stops setup after pip printed its own error."""
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args,
           *shlex.split(os.environ.get("NEMO_DRIFT_PIP_ARGS", ""))]
    # The image's PIP_CONSTRAINT (/etc/pip/constraint.txt since 25.03) is not used: our own constraint
    # file, made from the image's protected packages, replaces it (as Megatron-LM's container build
    # clears it). An empty value also overrides a constraint set in a pip config file.
    env = {**os.environ, "PIP_CONSTRAINT": ""}
    code = subprocess.run(cmd, env=env).returncode
    if code != 0:
        raise SetupError(f"pip {' '.join(args[:1])} failed (exit {code}): {shlex.join(cmd)}")


def requirement_args(paths: Sequence[Path]) -> list[str]:
    """pip arguments installing every file of `paths`: -r A -r B ..."""
    return [arg for path in paths for arg in ("-r", str(path))]


def requires(meta: dict, name: str) -> list[str]:
    """The Requires-Dist lines of a pip report entry that name the (normalised) package `name`."""
    return [line for line in meta.get("requires_dist") or [] if normalize(requirement_name(line) or "") == name]


def accepts(requirement: str, version: str) -> bool:
    """True when a Requires-Dist line is known to accept `version` (pip's own packaging library decides)."""
    try:
        from pip._vendor.packaging.requirements import Requirement
        return Requirement(requirement).specifier.contains(version, prereleases=True)
    except Exception:
        return False


def blame(items: list[dict], name: str, have: Optional[tuple[str, str]]) -> str:
    """Why pip would install `name`: the packages requiring it (those the image's version does not satisfy)."""
    by = [m for m in items if requires(m, name)]
    culprits = [m for m in by if not have or not any(accepts(line, have[1]) for line in requires(m, name))]
    names = [f"{m['name']} {m['version']}" for m in culprits or by]
    return f"required by {', '.join(names)}" if names else "pinned there"


def is_cause(items: list[dict], name: str) -> bool:
    """False for a package pulled in only by protected packages (torch's triton): its cause is named instead."""
    by = [m for m in items if requires(m, name)]
    return not by or not all(is_protected(m["name"]) for m in by)


def check_resolution(venv: Path, pins: list[Path], shown_pins: str, image: dict[str, tuple[str, str]]) -> None:
    """Refuse, before installing anything, pins whose resolution (pip --dry-run, without our constraints)
    would install a protected package."""
    report = venv / "pip-dry-run.json"
    pip(venv, "install", "-q", "--dry-run", "--report", str(report), *requirement_args(pins))
    items = [item["metadata"] for item in json.loads(report.read_text()).get("install", [])]
    offenders = [normalize(m["name"]) for m in items if is_protected(m["name"])]
    if not offenders:
        return
    problems = []
    for name in [n for n in offenders if is_cause(items, n)] or offenders:
        meta = next(m for m in items if normalize(m["name"]) == name)
        have, why = image.get(name), blame(items, name, image.get(name))
        if have:
            problems.append(f"replace the image's {have[0]} {have[1]} with {meta['name']} {meta['version']} ({why})")
        else:
            problems.append(f"install {meta['name']} {meta['version']} ({why}), which the image does not provide")
    raise SetupError(f"{shown_pins} would {'; and '.join(problems)}; nemo-drift never replaces the image's "
                     f"torch/TE/Apex; change that pin, or use an image whose packages satisfy it "
                     f"(pip's resolution: {report})")


def probe(venv: Path) -> dict:
    """Ask the venv's interpreter where torch, TE and Apex import from and which packages the venv holds."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"the venv's interpreter does not run: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def verify_torch(found: dict, image: dict[str, tuple[str, str]]) -> None:
    """The venv's torch must be the image's: same file, same version."""
    spec = importlib.util.find_spec("torch")
    expected = os.path.realpath(spec.origin) if spec and spec.origin else None
    torch = found["torch"]
    if "error" in torch:
        raise SetupError(f"torch does not import in the venv: {torch['error']}")
    if os.path.realpath(torch["path"]) != expected or torch["version"] != image["torch"][1]:
        raise SetupError(f"the venv imports torch {torch['version']} from {torch['path']}, not the image's "
                         f"torch {image['torch'][1]} from {expected}")


def report_shadows(found: dict, image: dict[str, tuple[str, str]]) -> None:
    """List the image's packages that the venv now shadows with another version."""
    for name, version in sorted(found["venv_dists"].items()):
        have = image.get(normalize(name))
        if have and have[1] != version:
            log(f"the venv shadows the image's {have[0]} {have[1]} with {name} {version}")


def fresh_venv(venv: Path) -> None:
    """Remove an earlier build (only if it is a venv) and make a --system-site-packages venv."""
    if venv.exists():
        if not (venv / "pyvenv.cfg").is_file():
            raise SetupError(f"{venv} exists and is not a venv; remove it or set NEMO_DRIFT_VENV_ROOT")
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    shim = venv / "bin" / "pip"
    shim.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    shim.chmod(0o755)


def write_json(path: Path, record: dict) -> None:
    """Write `record` to `path` atomically."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        json.dump(record, handle, indent=1)
    os.replace(handle.name, path)


def prepare(args: argparse.Namespace, venv: Path, image: dict[str, tuple[str, str]]) -> tuple[list[Path], Path, Path]:
    """Write the image freeze, our constraint file and the pin files without protected lines into the venv;
    returns (pin files, no-deps pin file, constraint file)."""
    (venv / FREEZE).write_text("".join(f"{n}=={v}\n" for n, v in sorted(image.values(), key=lambda p: p[0].lower())))
    constraints = venv / "nemo-drift-constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for key, (n, v) in sorted(image.items()) if is_protected(key)))
    log(f"PIP_CONSTRAINT={os.environ.get('PIP_CONSTRAINT') or '(unset)'} not used: {shown(constraints)} "
        f"pins the image's protected packages instead")
    folder = venv / "nemo-drift-pins"
    folder.mkdir()
    pins = [folder / f"{i}-{source.name}" for i, source in enumerate(args.pins)]
    for source, target in zip(args.pins, pins):
        filter_pins(source, target, image)
    nodeps = folder / f"nodeps-{args.nodeps_pins.name}"
    filter_pins(args.nodeps_pins, nodeps, image)
    return pins, nodeps, constraints


def install(args: argparse.Namespace, venv: Path, image: dict[str, tuple[str, str]]) -> None:
    """Refuse pins that would replace a protected package, then install ours under the constraint file."""
    pins, nodeps, constraints = prepare(args, venv, image)
    shown_pins = " + ".join(shown(p) for p in args.pins)
    log(f"resolving {shown_pins} against the image (pip --dry-run)")
    check_resolution(venv, pins, shown_pins, image)
    log(f"installing {shown_pins}")
    pip(venv, "install", "-q", *requirement_args(pins), "-c", str(constraints))
    if any(requirement_name(line) for line in nodeps.read_text().splitlines()):
        log(f"installing {shown(args.nodeps_pins)} without dependencies")
        pip(venv, "install", "-q", "--no-deps", "-r", str(nodeps), "-c", str(constraints))
    if not args.no_editable:
        log("installing nemo-drift (editable)")
        pip(venv, "install", "-q", "--no-deps", "-e", str(REPO))


def verify(args: argparse.Namespace, venv: Path, image: dict[str, tuple[str, str]]) -> dict:
    """Check the venv imports the image's torch (and, unless told not to, our core packages); report TE,
    Apex and shadowed image packages; returns what the probe found."""
    found = probe(venv)
    verify_torch(found, image)
    log(f"torch {found['torch']['version']} from the image ({found['torch']['path']})")
    for mod in ("transformer_engine", "apex"):
        result = found[mod]
        log(f"{mod} does not import: {result['error']}" if "error" in result else f"{mod} {result['version']} imports")
    if not args.no_import_check:
        core = "import megatron.core, transformers, hydra, nemo_drift"
        if subprocess.run([str(venv / "bin" / "python"), "-c", core]).returncode != 0:
            raise SetupError("the training environment does not import its core packages (see above)")
    report_shadows(found, image)
    return found


def build(args: argparse.Namespace, digest: str) -> None:
    """Create the venv, install our pins around the image's packages, verify, and stamp it."""
    image = image_packages()
    if "torch" not in image:
        raise SetupError(f"{sys.executable} in {args.image} has no torch; the container path builds on "
                         f"NVIDIA's PyTorch image (nvcr.io#nvidia/pytorch:25.09-py3 or newer)")
    log(f"creating {args.venv} from {sys.executable} (--system-site-packages) in {args.image}")
    fresh_venv(args.venv)
    install(args, args.venv, image)
    found = verify(args, args.venv, image)
    write_json(args.venv / STAMP, {
        "hash": digest, "image": args.image, "base_python": os.path.realpath(sys.executable),
        "python_version": found["python_version"], "torch": found["torch"]["version"],
        "torch_path": found["torch"]["path"],
        "transformer_engine": found["transformer_engine"].get("version"), "apex": found["apex"].get("version"),
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    log(f"ready ({args.venv})")


def main(argv: Sequence[str]) -> int:
    """Check the interpreter, skip an up-to-date venv, otherwise build it; 1 with one line on failure."""
    args = parse_args(argv)
    try:
        if sys.version_info[:2] < MIN_PYTHON:
            raise SetupError(f"{sys.executable} is Python {sys.version.split()[0]}; the training environment "
                             f"needs Python 3.12 or newer (megatron-core 0.19, Megatron-Bridge 0.6): use an image "
                             f"that has it, or set NEMO_DRIFT_IMAGE_PYTHON to its interpreter")
        if sys.prefix != sys.base_prefix:
            raise SetupError(f"{sys.executable} is a venv's interpreter; run with the image's own "
                             f"(NEMO_DRIFT_IMAGE_PYTHON)")
        digest = inputs_hash(args)
        stamp = read_stamp(args.venv)
        if stamp.get("hash") == digest and stamp.get("image") == args.image:
            log(f"up to date ({args.venv}, built in {args.image})")
            return 0
        build(args, digest)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
