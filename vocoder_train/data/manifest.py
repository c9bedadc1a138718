"""Manifests: the list of audio files a dataset reads.

A manifest is JSON Lines, one object per file::

    {"path": "/abs/path/a.flac", "sample_rate": 44100, "num_channels": 2,
     "num_frames": 441000, "duration": 10.0}

Only ``path`` is required; the probe fields let the dataset do partial reads without
opening the header again. ``vocoder-prepare`` writes them; a plain filelist (one path
per line, optionally ``path|anything``) or a folder is accepted wherever a manifest is.
Relative paths are resolved against the manifest's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from vocoder_train.io.audio import AUDIO_EXTENSIONS, is_audio_file


class ManifestError(ValueError):
    """A manifest, filelist or folder cannot be read. The message names it and the line."""


def read_manifest(source: str | os.PathLike) -> list[dict]:
    """Reads a JSONL manifest, a filelist (.txt/.lst/.csv: one path per line) or a folder.

    Returns:
        one dict per file, each with at least an absolute ``path``.
    """
    src = Path(source).expanduser()
    if src.is_dir():
        items = [
            {"path": str(p.resolve())} for p in sorted(src.rglob("*")) if p.is_file() and is_audio_file(p)
        ]
        if not items:
            raise ManifestError(
                f"{src}: folder holds no audio files (looked for {', '.join(AUDIO_EXTENSIONS)})"
            )
        return items
    if not src.is_file():
        raise ManifestError(f"{src}: no such manifest, filelist or folder")
    items: list[dict] = []
    for _, item in iter_entries(src):
        p = Path(item["path"]).expanduser()
        item["path"] = str(p if p.is_absolute() else (src.parent / p).resolve())
        items.append(item)
    if not items:
        raise ManifestError(f"{src}: manifest is empty")
    return items


def iter_entries(src: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, entry)`` for each entry of a JSONL manifest or filelist, paths as written.

    A filelist line may carry ``|``-separated fields after the path (e.g. LJSpeech's
    ``wav|text``); blank lines and ``#`` comments are skipped."""
    with open(src, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith("{"):
                yield lineno, {"path": line.split("|", 1)[0].strip()}
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{src}:{lineno}: not valid JSON ({e.msg})") from e
            if not isinstance(item, dict) or "path" not in item:
                raise ManifestError(f"{src}:{lineno}: entry has no 'path' key")
            yield lineno, item


def write_manifest(path: str | os.PathLike, items: Iterable[dict]) -> Path:
    """Writes ``items`` as JSONL atomically (temporary file + rename)."""
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    return dst
