from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xiaoer.llm.model_files import ModelFileError, ensure_gguf


def _parts(tmp_path: Path) -> tuple[list[Path], str]:
    parts = []
    for i, data in enumerate([b"GGUF" * 1000, b"part-two" * 500, b"end"]):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        parts.append(p)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    return parts, digest


def test_joins_once_and_trusts_the_verified_marker(tmp_path: Path) -> None:
    parts, digest = _parts(tmp_path)
    seen: list[tuple[int, int]] = []
    path = ensure_gguf(
        tmp_path / "cache",
        parts=parts,
        sha256=digest,
        name="m.gguf",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size
    for p in parts:  # a second start must not read the parts again
        p.unlink()
    assert ensure_gguf(tmp_path / "cache", parts=parts, sha256=digest, name="m.gguf") == path


def test_a_changed_file_is_rebuilt(tmp_path: Path) -> None:
    parts, digest = _parts(tmp_path)
    path = ensure_gguf(tmp_path / "c", parts=parts, sha256=digest, name="m.gguf")
    path.write_bytes(b"corrupted")
    ensure_gguf(tmp_path / "c", parts=parts, sha256=digest, name="m.gguf")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_wrong_hash_fails_and_leaves_nothing(tmp_path: Path) -> None:
    parts, _ = _parts(tmp_path)
    with pytest.raises(ModelFileError, match="expected"):
        ensure_gguf(tmp_path / "c", parts=parts, sha256="0" * 64, name="m.gguf")
    assert list((tmp_path / "c").iterdir()) == []
