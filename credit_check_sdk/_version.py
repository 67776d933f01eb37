"""The SDK's version, reported in every check record (``sdk_version``)."""

__version__ = "0.1.0"
"""The installed SDK's version, as in every check record's ``sdk_version``.

>>> from credit_check_sdk import __version__
>>> __version__.count(".")
2
"""
