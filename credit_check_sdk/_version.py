"""The SDK's version, reported in every check record (``sdk_version``)."""

__version__ = "0.1.0"
