"""``python -m credit_check_sandbox``: run the sandbox platform (see :mod:`.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
