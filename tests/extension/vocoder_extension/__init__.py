"""A discriminator, a feature front end and a data source written outside vocoder_train."""

from vocoder_extension.discriminator import EnvelopeDiscriminator
from vocoder_extension.frontend import LinearSpectrogramFeatures
from vocoder_extension.tones import ToneData

__all__ = ["EnvelopeDiscriminator", "LinearSpectrogramFeatures", "ToneData"]
