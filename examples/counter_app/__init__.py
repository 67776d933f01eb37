"""A small web approval service for the counter (窗口): check, then apply or override.

>>> from examples.counter_app import create_app  # doctest: +SKIP
>>> app = create_app(checker)  # doctest: +SKIP

Run it with ``python -m examples.counter_app --port 8080`` from the repository
root; the platform settings come from the ``CREDIT_CHECK_*`` variables.
"""

from .app import create_app

__all__ = ["create_app"]
