"""Scanning the inputs of ``vocoder-prepare`` (folders, filelists, manifests, audio files, a --val-list
folder, a corpus's own split folders) into the list of files to check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vocoder_train.data.manifest import ManifestError
from vocoder_train.data.prepare_options import DEFAULT_OPTIONS, PrepareError, PrepareOptions

# Top-level folders of an input folder that name a split (matched case-insensitively).
SPLIT_FOLDERS = dict(train="train", val="val", valid="val", validation="val", dev="val", test="test")


@dataclass(frozen=True)
class Entry:
    """One file to check: its absolute path and where it was found."""

    path: str
    source: str
    index: int  # position among all listings, so that rejected.jsonl follows the input order
    split: str | None = None  # "train" or "val" when the corpus's own split folders decide it


@dataclass
class Scan:
    """What the inputs name: the files to check, duplicates and missing files, ignored files."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # duplicates and missing files, with their "index"
    ignored: int = 0
    roots: list[str] = field(default_factory=list)  # folders whose common path is the split's root
    fixed: dict[str, str] = field(default_factory=dict)  # path -> "train" / "val" from the corpus's own split
    held_out: list[str] = field(default_factory=list)  # files of test/ folders, in neither manifest
    notes: list[str] = field(default_factory=list)  # one line for each input folder with split folders
    val_paths: set[str] | None = None  # resolved paths of a --val-list folder's audio files
    tags: dict[str, dict] = field(default_factory=dict)  # path -> {"speaker": ...} from Lhotse manifests

    def next_index(self) -> int:
        return len(self.entries) + len(self.rejected)


@dataclass
class Layout:
    """An input folder whose top-level folders name splits (``SPLIT_FOLDERS``)."""

    folder: str
    roles: dict[str, str]  # subfolder name -> "train" / "val" / "test"
    used: bool  # its train/ and val folders decide the split
    held_out: list[str] = field(default_factory=list)
    loose: int = 0  # files outside the split folders


def _is_hidden(path: Path, root: Path) -> bool:
    # ._name.wav (macOS resource forks) and .tmp files of interrupted writes are not audio to train on
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    from vocoder_train.io.audio import is_audio_file

    found, ignored = [], 0
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if is_audio_file(p) and not _is_hidden(p, folder):
            found.append(p)
        else:
            ignored += 1
    return found, ignored


def _read_list(src: Path, scan: Scan | None = None) -> list[str]:
    from vocoder_train.data.lhotse_input import is_lhotse_manifest, read_lhotse_manifest
    from vocoder_train.data.manifest import read_manifest

    if is_lhotse_manifest(src):  # its speakers become tags of the files (--shards stores them)
        try:
            listed, left_out = read_lhotse_manifest(src)
        except ValueError as e:
            raise PrepareError(str(e)) from None
        if scan is not None:
            scan.ignored += left_out
            scan.tags.update((path, tags) for path, tags in listed if tags)
        return [path for path, _ in listed]
    try:
        return [item["path"] for item in read_manifest(src)]
    except (ManifestError, UnicodeDecodeError) as e:
        raise PrepareError(f"{src}: cannot be read as a filelist or JSONL manifest ({e})") from e


def split_folders(folder: Path) -> dict[str, str]:
    """{subfolder name: "train" | "val" | "test"} when ``folder`` has a top-level train/ folder next to a
    validation or test folder (a corpus that ships its own split), else {}."""
    found = {
        p.name: SPLIT_FOLDERS[p.name.lower()]
        for p in folder.iterdir()
        if p.name.lower() in SPLIT_FOLDERS and p.is_dir()
    }
    roles = set(found.values())
    return found if "train" in roles and roles & {"val", "test"} else {}


def _expand_folder(
    scan: Scan, src: Path, layouts: list[Layout], opts: PrepareOptions
) -> list[tuple[str, str | None]]:
    """(path, own split or None) of each audio file under ``src``; test/ files are held out."""
    files, ignored = _scan_folder(src)
    scan.ignored += ignored
    scan.roots.append(os.path.abspath(src))
    roles = split_folders(src)
    if not roles:
        return [(str(p), None) for p in files]
    layout = Layout(os.path.abspath(src), roles, used=opts.split_override is None and "val" in roles.values())
    layouts.append(layout)
    listed = []
    for p in files:
        top, *below = p.relative_to(src).parts
        role = roles.get(top) if below else None
        if role == "test":
            layout.held_out.append(os.path.abspath(p))
            continue
        layout.loose += role is None
        listed.append((str(p), role if layout.used else None))
    return listed


def _layout_note(layout: Layout, seen: dict[str, Entry], opts: PrepareOptions) -> str:
    """One line on what an input folder's split folders did."""

    def names(role: str) -> str:
        return ", ".join(f"{n}/" for n, r in sorted(layout.roles.items()) if r == role)

    if layout.used:
        parts = [f"the corpus's own split is used: {names('train')} -> train, {names('val')} -> val"]
        parts += [f"{layout.loose} files outside them split by hash"] if layout.loose else []
    elif "val" in layout.roles.values():
        parts = [f"{names('train')} and {names('val')} do not decide the split ({opts.split_override} given)"]
    else:
        parts = ["no validation folder (val/, valid/, validation/ or dev/): val is chosen by hash"]
    held = sum(os.path.realpath(p) not in seen for p in layout.held_out)
    if held:
        parts.append(
            f"{names('test')} held out ({held} files in neither manifest; name it as an INPUT to use it)"
        )
    elif layout.held_out:
        parts.append(f"{names('test')} named as an input too: checked and split like the rest")
    return f"{layout.folder}: " + "; ".join(parts)


def _val_folder(opts: PrepareOptions) -> Path | None:
    src = None if opts.val_list is None else Path(opts.val_list).expanduser()
    return src if src is not None and src.is_dir() else None


def _add_val_folder(scan: Scan, seen: dict[str, Entry], folder: Path, input_dirs: list[str]) -> None:
    """A --val-list folder: its audio files are the validation files, and inputs where not listed already."""
    from vocoder_train.io.audio import AUDIO_EXTENSIONS

    files, ignored = _scan_folder(folder)
    if not files:
        raise PrepareError(
            f"{folder}: --val-list folder holds no audio files (looked for "
            f"{' '.join(AUDIO_EXTENSIONS)}) - give the folder of validation audio"
        )
    real = os.path.realpath(folder)
    if not any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in input_dirs):
        scan.ignored += ignored  # not counted already by an input folder that holds it
    scan.roots.append(os.path.abspath(folder))
    scan.val_paths = {os.path.realpath(p) for p in files}
    for p in files:
        if os.path.realpath(p) not in seen:  # a val file that an input lists too is no duplicate
            _add(scan, seen, Entry(os.path.abspath(p), f"--val-list {folder}", scan.next_index()))


def collect(inputs: Sequence[str | os.PathLike], opts: PrepareOptions = DEFAULT_OPTIONS) -> Scan:
    """Expands folders, filelists, manifests, audio files and a --val-list folder into the files to check.

    The first listing of a file wins; later ones are rejected as ``duplicate``, listed files that
    do not exist as ``unreadable``. Raises :class:`PrepareError` for an input that does not exist.
    """
    from vocoder_train.io.audio import is_audio_file

    scan, seen, layouts, input_dirs = Scan(), {}, [], []
    for raw in inputs:
        src = Path(raw).expanduser()
        if src.is_dir():
            listed = _expand_folder(scan, src, layouts, opts)
            input_dirs.append(os.path.realpath(src))
        elif src.is_file():
            # a listed file is checked whatever its extension: naming a non-audio file is a mistake to report
            paths = [str(src)] if is_audio_file(src) else _read_list(src, scan)
            scan.roots.extend(os.path.dirname(os.path.abspath(p)) for p in paths)
            listed = [(p, None) for p in paths]
        else:
            raise PrepareError(
                f"{src}: no such file or folder (give folders, filelists, JSONL manifests or audio files)"
            )
        for path, role in listed:
            _add(scan, seen, Entry(os.path.abspath(path), str(src), scan.next_index(), role))
    val_dir = _val_folder(opts)
    if val_dir is not None:
        _add_val_folder(scan, seen, val_dir, input_dirs)
    # a held-out file that an input or the --val-list folder names is checked like any other
    scan.held_out = [p for layout in layouts for p in layout.held_out if os.path.realpath(p) not in seen]
    scan.notes = [_layout_note(layout, seen, opts) for layout in layouts]
    return scan


def _add(scan: Scan, seen: dict[str, Entry], entry: Entry) -> None:
    if not os.path.isfile(entry.path):
        what = "no such file" if not os.path.exists(entry.path) else "not a regular file"
        scan.rejected.append(
            dict(
                path=entry.path,
                reason="unreadable",
                message=f"{what} (listed in {entry.source})",
                index=entry.index,
            )
        )
        return
    key = os.path.realpath(entry.path)
    if key in seen:
        first = seen[key]
        scan.rejected.append(
            dict(
                path=entry.path,
                reason="duplicate",
                index=entry.index,
                duplicate_of=first.path,
                message=f"same file as {first.path} (from {first.source}), listed again in {entry.source}",
            )
        )
        return
    seen[key] = entry
    scan.entries.append(entry)
    if entry.split is not None:
        scan.fixed[entry.path] = entry.split
