"""Discriminators: one output contract (:class:`DiscOutput`), one conv-stack helper."""

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
