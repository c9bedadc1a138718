"""The train/val split of ``vocoder-prepare``: by --val-list (a folder or a list), by the corpus's own
split folders, or by a hash of each path."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from vocoder_train.data.manifest import ManifestError, iter_entries
from vocoder_train.data.prepare_options import PrepareError, PrepareOptions
from vocoder_train.data.probe import FileStats
from vocoder_train.data.scan import Scan


def common_root(roots: Sequence[str]) -> str:
    """The deepest folder that holds every root (the split hashes paths relative to it)."""
    return os.path.commonpath(roots) if roots else os.sep


def split_key(path: str, root: str, seed: int) -> float:
    """A number in [0, 1) from the path relative to ``root``: the same file always gets the same one."""
    rel = Path(os.path.relpath(path, root)).as_posix()
    digest = hashlib.sha256(f"{seed}:{rel}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_by_hash(
    good: list[FileStats], root: str, opts: PrepareOptions, fixed: dict[str, str] | None = None
) -> tuple[list[bool], list[str]]:
    """is_val for each file: ``fixed`` (the corpus's own split) where it names the file, else the hash.

    At least one val file (and one train file) when there are >= 2 files, taken from the hashed ones.
    """
    if len(good) == 1:
        return [False], ["only one good file: it goes to train and val.jsonl is empty"]
    fixed = fixed or {}
    keys = [split_key(s.path, root, opts.seed) for s in good]
    is_val = [fixed[s.path] == "val" if s.path in fixed else k < opts.fraction for s, k in zip(good, keys)]
    free = [i for i, s in enumerate(good) if s.path not in fixed]
    if free and not any(is_val):
        is_val[min(free, key=keys.__getitem__)] = True
    if free and all(is_val):
        is_val[max(free, key=keys.__getitem__)] = False
    if all(is_val):  # nothing hashed to move: every good file is in a val folder
        raise PrepareError(
            f"{root}: every good file is in a validation folder (val/, valid/, validation/, dev/), "
            "none is left for training - check train/ in rejected.jsonl, or split by hash "
            "with --val-fraction"
        )
    if not any(is_val):
        return is_val, ["no good file in the corpus's validation folders: val.jsonl is empty"]
    return is_val, []


def _read_val_list(src: Path) -> list[str]:
    try:
        return [str(item["path"]) for _, item in iter_entries(src)]
    except ManifestError as e:
        raise PrepareError(str(e)) from e


def split_by_folder(good: list[FileStats], val_paths: set[str], folder: str) -> tuple[list[bool], list[str]]:
    """is_val for each file whose resolved path is one of a --val-list folder's ``val_paths``."""
    is_val = [os.path.realpath(s.path) in val_paths for s in good]
    if all(is_val):
        raise PrepareError(
            f"{folder}: every good file is under --val-list, none is left for training - "
            "give the training files as INPUT"
        )
    if any(is_val):
        return is_val, []
    return is_val, [
        f"--val-list {folder}: none of its {len(val_paths)} audio files is good, val.jsonl is empty"
    ]


def choose_split(
    good: list[FileStats], root: str, scan: Scan, opts: PrepareOptions
) -> tuple[list[bool], list[str], str]:
    """(is_val for each file, warnings, the method: "val_list", "corpus" or "hash")."""
    if scan.val_paths is not None:
        return *split_by_folder(good, scan.val_paths, str(opts.val_list)), "val_list"
    if opts.val_list:
        return *split_by_list(good, root, opts.val_list), "val_list"
    return *split_by_hash(good, root, opts, scan.fixed), "corpus" if scan.fixed else "hash"


def split_by_list(good: list[FileStats], root: str, val_list: str) -> tuple[list[bool], list[str]]:
    """is_val for each file named in ``val_list``: absolute paths, paths relative to the list's
    folder or to the common root, or bare file names (which match in any folder)."""
    src = Path(val_list).expanduser()
    if not src.is_file():
        raise PrepareError(f"{src}: --val-list file not found")
    names, paths, entries = set(), {}, _read_val_list(src)
    for e in entries:
        if "/" not in e and os.sep not in e:
            names.add(e)
        for base in (src.parent, Path(root)):
            paths[os.path.realpath(os.path.join(base, os.path.expanduser(e)))] = e
    is_val, used = [], set()
    for s in good:
        hit = paths.get(os.path.realpath(s.path))
        if hit is None and os.path.basename(s.path) in names:
            hit = os.path.basename(s.path)
        is_val.append(hit is not None)
        used.add(hit)
    unused = [e for e in entries if e not in used]
    warnings = (
        [f"--val-list {src}: {len(unused)} entries match no good file, e.g. {unused[:3]}"] if unused else []
    )
    if not any(is_val):
        warnings.append(f"--val-list {src}: no good file is in it, val.jsonl is empty")
    if good and all(is_val):
        raise PrepareError(f"{src}: every good file is in --val-list, none is left for training")
    return is_val, warnings
