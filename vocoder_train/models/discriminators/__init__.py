"""Discriminators: one output contract and the shared pieces in :mod:`.base`; the classes that
configs name as ``_target_``."""

from vocoder_train.models.discriminators.cqt import MultiScaleSubBandCQTDiscriminator
from vocoder_train.models.discriminators.msd import MultiScaleDiscriminator
from vocoder_train.models.discriminators.msstft import MultiScaleSTFTDiscriminator
from vocoder_train.models.discriminators.vocos import MultiPeriodDiscriminator, MultiResolutionDiscriminator

__all__ = [
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "MultiScaleDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "MultiScaleSubBandCQTDiscriminator",
]
