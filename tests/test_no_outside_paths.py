"""The repository points nowhere outside itself.

A user's clone has neither the developers' machines nor their design notes, so a file that names an
absolute path of a developer machine, or cites the notes folder the docs/ files were written from,
sends its reader nowhere. And every `docs/<file>.md` a file cites must exist, with the quoted
section when the citation names one (`docs/<file>.md ("Section")` or `docs/<file>.md, "Section"`).

Cheap on purpose: one walk over the repository's text files, no package imports.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Not part of a clone: VCS data, environments, caches, run outputs (see .gitignore).
SKIP_DIRS = frozenset({".git", ".venv", ".cache", "runs", "outputs", "wandb", "__pycache__", ".pytest_cache",
                       ".whl"})
MAX_BYTES = 5_000_000

# The patterns are spelt so that this file does not match them itself.
OUTSIDE = re.compile(r"(?<![\w.~-])/(?:work|root)/"         # absolute paths of the project's machines
                     r"|(?<![\w.~-])/home/[\w.-]+/"          # a user's home folder
                     r"|shared/note[s]")                      # the developers' design notes
DOC_CITATION = re.compile(r"(?<![\w/.-])docs/([\w.-]+\.md)(?:\)?,?\s*\(?\"(\w[^\"\n]*)\")?")


def text_files(root: Path):
    """(path relative to root, text) of every file a clone carries that decodes as UTF-8."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_file() or path.stat().st_size > MAX_BYTES:
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue
            try:
                yield path.relative_to(root).as_posix(), data.decode("utf-8")
            except UnicodeDecodeError:
                continue


def outside_paths(root: Path) -> list[str]:
    """`file:line: match` for each absolute developer path or notes citation under root."""
    found = []
    for rel, text in text_files(root):
        for match in OUTSIDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{rel}:{line}: {match.group(0)}")
    return found


def _headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def missing_doc_citations(root: Path) -> list[str]:
    """`file:line: docs/<file>.md ...` for each cited doc that does not exist under root/docs, or whose
    quoted section is not the start of one of its headings."""
    found = []
    for rel, text in text_files(root):
        for match in DOC_CITATION.finditer(text):
            name, section = match.group(1), match.group(2)
            doc = root / "docs" / name
            line = text.count("\n", 0, match.start()) + 1
            if not doc.is_file():
                found.append(f"{rel}:{line}: docs/{name} does not exist")
            elif section and not any(h.startswith(section) for h in _headings(doc)):
                found.append(f"{rel}:{line}: docs/{name} has no section {section!r}")
    return found


def test_repository_names_no_outside_path():
    assert outside_paths(REPO) == []


def test_every_cited_doc_and_section_exists():
    assert missing_doc_citations(REPO) == []


def test_checks_catch_planted_paths(tmp_path):
    """The two checks report what they should on a planted tree, and ignore what a clone lacks."""
    machine_path = "/" + "work/main/runs"
    notes = "shared" + "/notes/x.md"
    docs = "docs" + "/"  # spelt apart so that this file cites no doc itself
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("# Real\n\n## Some section\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        f'"""Measured in {notes}; output in {machine_path}.\n'
        f'See {docs}real.md ("Some section"), {docs}real.md, "Other section" and {docs}gone.md."""\n')
    (tmp_path / "pkg" / "home.sh").write_text("cd /" + "home/alice/repo\n")
    (tmp_path / "pkg" / "blob.bin").write_bytes(b"\0" + machine_path.encode())
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "site.py").write_text(machine_path)

    assert outside_paths(tmp_path) == [
        "pkg/home.sh:1: /" + "home/alice/",
        f"pkg/mod.py:1: {notes[:12]}",
        "pkg/mod.py:1: /" + "work/",
    ]
    assert missing_doc_citations(tmp_path) == [
        f"pkg/mod.py:2: {docs}real.md has no section 'Other section'",
        f"pkg/mod.py:2: {docs}gone.md does not exist",
    ]
