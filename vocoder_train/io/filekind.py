"""What a path holds, judged from its first bytes: the one place that recognises a file's kind, for every
tool that must tell a wrong file from a damaged one or say what a file it cannot read is.

    sniff("a.npy")            # FileKind("npy", "a numpy array (a mel?)")
    sniff("exports/vocos")    # FileKind("model-folder", "a folder with config.yaml")

A tool given the wrong kind raises :class:`WrongFileKind`, whose message is one line naming the file,
what it looks like, what was expected and the fix. Names are never trusted: a ``.npy`` holding text
is text. Sniffing reads at most :data:`HEAD_BYTES` and, for a zip, its member names.
"""

from __future__ import annotations

import codecs
import itertools
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 4096
FOLDER_ENTRIES = 1000  # a folder is judged by its first entries: a corpus folder may hold millions
LEGACY_TORCH_MAGIC = (
    b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickled magic number of torch.save before 1.6
)
_AUDIO_MAGIC = {
    b"RIFF": "a WAV audio file",
    b"RF64": "a WAV audio file",
    b"fLaC": "a FLAC audio file",
    b"OggS": "an Ogg audio file",
    b"ID3": "an MP3 audio file",
    b"FORM": "an AIFF audio file",
}
# ONNX ModelProto starts with ir_version (field 1, varint) and then one of these fields' tags
_ONNX_NEXT_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x52, 0x5A, 0x62, 0x72}
# kinds that are inputs to a model (audio, mels), not models: a tool given one as its model had its arguments
# swapped
INPUT_KINDS = ("npy", "npz", "audio", "audio-folder")


@dataclass(frozen=True)
class FileKind:
    """What :func:`sniff` found.

    Args:
        name (str): "missing", "folder", "model-folder", "audio-folder", "empty", "torch", "torchscript",
            "damaged-zip", "zip", "npz", "pickle", "safetensors", "onnx", "npy", "audio", "text" or "binary".
        description (str): for messages, e.g. "a numpy array (a mel?)".
    """

    name: str
    description: str


class WrongFileKind(ValueError):
    """A file of another kind than the tool takes; ``str()`` is one line: the file, what it looks like,
    what was expected and the fix. :meth:`line` gives it with another fix (a tool's own usage)."""

    def __init__(self, path: str | os.PathLike, found: FileKind, expected: str, fix: str):
        self.path, self.found, self.expected, self.fix = Path(path), found, expected, fix
        super().__init__(self.line())

    def line(self, fix: str | None = None) -> str:
        return f"{self.path} is {self.found.description}, not {self.expected}: {fix or self.fix}"


def sniff(path: str | os.PathLike) -> FileKind:
    """The kind of file or folder at ``path``, from its content (a folder: from its entries' names)."""
    p = Path(path)
    if p.is_dir():
        return _folder_kind(p)
    if not p.is_file():
        return FileKind("missing", "no such file or folder")
    with open(p, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return FileKind("empty", "an empty file")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(p)
    return (
        _binary_kind(head)
        or _text_kind(head, p.suffix.lower())
        or FileKind("binary", "binary data of unknown kind")
    )


def _binary_kind(head: bytes) -> FileKind | None:
    if head.startswith(b"\x93NUMPY"):
        return FileKind("npy", "a numpy array (a mel?)")
    if head.startswith(LEGACY_TORCH_MAGIC):
        return FileKind("pickle", "a PyTorch checkpoint (legacy pickle format)")
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:  # pickle protocols 2-5
        return FileKind("pickle", "a Python pickle")
    for magic, description in _AUDIO_MAGIC.items():
        if head.startswith(magic):
            return FileKind("audio", description)
    if head[4:8] == b"ftyp":
        return FileKind("audio", "an MP4/M4A audio file")
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return FileKind("audio", "an MP3 or AAC audio file")
    if _is_safetensors(head):
        return FileKind("safetensors", "a safetensors file")
    if len(head) > 2 and head[0] == 0x08 and 1 <= head[1] <= 0x7F and head[2] in _ONNX_NEXT_TAGS:
        return FileKind("onnx", "an ONNX model")
    return None


def _is_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then the JSON header (a truncated file still passes)."""
    if len(head) < 10:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return 2 <= size < 100_000_000 and head[8:10] in (b'{"', b"{}")


def _text_kind(head: bytes, suffix: str) -> FileKind | None:
    if b"\x00" in head:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(
            head, final=False
        )  # a cut multi-byte character is fine
    except UnicodeDecodeError:
        return None
    if suffix in (".yaml", ".yml"):
        return FileKind("text", "a YAML file")
    if suffix in (".json", ".jsonl") or head.lstrip()[:1] in (b"{", b"["):
        return FileKind("text", "a JSON file")
    return FileKind("text", "a text file")


def _zip_kind(p: Path) -> FileKind:
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return FileKind("damaged-zip", "a damaged or truncated zip archive (a checkpoint cut short?)")
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return FileKind("torchscript", "a TorchScript archive")
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return FileKind("torch", "a PyTorch checkpoint")
    if names and all(n.endswith(".npy") for n in names):
        return FileKind("npz", "a numpy .npz archive")
    return FileKind("zip", "a zip archive")


def _folder_kind(p: Path) -> FileKind:
    from vocoder_train.io.audio import AUDIO_EXTENSIONS  # torchaudio is imported only for a folder

    if (p / "config.yaml").is_file():
        return FileKind("model-folder", "a folder with config.yaml")
    entries = itertools.islice(p.iterdir(), FOLDER_ENTRIES)
    if any(e.suffix.lower() in (*AUDIO_EXTENSIONS, ".npy") for e in entries):
        return FileKind("audio-folder", "a folder of audio or mel files")
    return FileKind("folder", "a folder without config.yaml")
