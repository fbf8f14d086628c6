"""What the diarization room raises; the service maps these onto the contract's envelope."""

from __future__ import annotations


class DiarizerError(Exception):
    """Base of the room's errors."""


class EncoderNotInstalled(DiarizerError):
    """The speaker encoder's weights are not on this machine."""


class WeightsInvalid(DiarizerError):
    """The weights file is not the one expected (checksum) or cannot be read."""


class BadReference(DiarizerError):
    """A known speaker's reference clip cannot be used (too short, too long, silent)."""
