"""What a teacher-forced pair manifest pairs with the audio: mels (``--mels``) or other precomputed
features (``--features``), with the words messages use for each. Plain Python: ``vocoder-prepare``
reads these before it imports torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PairKind:
    """What is paired with the audio: its manifest key (also the prefix of ``vocoder-prepare``'s
    rejection reasons) and the words that messages use for it."""

    key: str  # "mel" | "features"
    name: str  # "mel pairs" | "feature pairs"
    item: str  # one file's array: "mel" | "features array"
    frames: str  # "mel frames" | "feature frames"
    size: str  # the first axis: "mel bins" | "feature channels"
    symbol: str  # the first axis in a shape, and its data.<key>: "n_mels" | "channels"
    size_reason: str  # the reason suffix for a wrong first axis: "bins" | "channels"
    subject: str  # the file's content as a subject: "the mel is" | "the features are"
    grid: str  # what sets the frame grid: "hop length" | "frame rate"
    option: str  # what writes pair manifests of this kind
    flag: str  # the data setting that reads them

    @property
    def reasons(self) -> tuple[str, ...]:
        """``vocoder-prepare``'s rejection reasons for this kind: missing, unreadable, size, frames."""
        return tuple(f"{self.key}_{r}" for r in ("missing", "unreadable", self.size_reason, "frames"))


MEL = PairKind(
    "mel",
    "mel pairs",
    "mel",
    "mel frames",
    "mel bins",
    "n_mels",
    "bins",
    "the mel is",
    "hop length",
    "--mels DIR",
    "data.mels=true",
)
FEATURES = PairKind(
    "features",
    "feature pairs",
    "features array",
    "feature frames",
    "feature channels",
    "channels",
    "channels",
    "the features are",
    "frame rate",
    "--features DIR --frame-rate R",
    "data.features=true",
)
