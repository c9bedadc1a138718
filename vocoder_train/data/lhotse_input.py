"""Lhotse manifests as ``vocoder-prepare`` inputs: a RecordingSet or CutSet in JSONL, gzipped or not.

Each recording's audio file is listed once, in manifest order, with the speaker of its first
supervision as its ``speaker`` tag (what ``--shards`` stores). ``vocoder-prepare`` checks and trains on
whole files, so a cut stands for its whole recording: the segments that cuts and supervisions mark
are not cut out. Relative paths are resolved against the manifest's folder, as in a filelist.
Recordings whose audio is not a file (a URL, a command, bytes in memory) are left out and counted.
Lhotse (``pip install 'vocoder_train[scale]'``) reads the manifest.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path


def _first_object(path: Path) -> dict | None:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    obj = json.loads(line)
                    return obj if isinstance(obj, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, EOFError):
        return None
    return None


def is_lhotse_manifest(path: str | os.PathLike) -> bool:
    """True when the first JSON object of ``path`` is a Lhotse Recording or Cut."""
    obj = _first_object(Path(path))
    if obj is None:
        return False
    return (
        ("sources" in obj and "sampling_rate" in obj)
        or "recording" in obj
        or str(obj.get("type")).endswith("Cut")
    )


def read_lhotse_manifest(path: str | os.PathLike) -> tuple[list[tuple[str, dict]], int]:
    """``([(audio file, tags)], left out)`` for a Lhotse RecordingSet or CutSet manifest.

    Raises ValueError naming the manifest when lhotse is missing or cannot read it."""
    path = Path(path)
    try:
        from lhotse import load_manifest_lazy
    except ImportError as e:
        raise ValueError(
            f"{path}: a Lhotse manifest; reading it needs lhotse: pip install 'vocoder_train[scale]'"
        ) from e
    try:
        items = load_manifest_lazy(path)
    except Exception as e:  # noqa: BLE001 - lhotse's own errors for a manifest it cannot parse
        raise ValueError(f"{path}: not a Lhotse RecordingSet or CutSet manifest ({e})") from e
    listed, seen, left_out = [], set(), 0
    for item in items:
        recording = getattr(item, "recording", None) or item
        if getattr(recording, "id", None) in seen:
            continue  # cuts of one recording: the file once
        seen.add(recording.id)
        files = [s.source for s in recording.sources if s.type == "file"]
        if not files:
            left_out += 1
            continue
        supervisions = getattr(item, "supervisions", None) or []
        speaker = next((s.speaker for s in supervisions if s.speaker), None)
        for file in files:
            p = Path(file).expanduser()
            p = p if p.is_absolute() else path.parent / p
            listed.append((os.path.abspath(p), {"speaker": speaker} if speaker else {}))
    return listed, left_out
