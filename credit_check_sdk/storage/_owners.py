"""Who holds a claim: ``host:pid:token`` owner names, and whether such a process has ended.

Claims (on records to upload, on re-checks to run) name their owner so that
other processes skip what it is doing, and so that the claims of a process
killed on this host can be released at once instead of waiting for their lease.

>>> owner = owner_name()
>>> owner.split(":")[1] == str(os.getpid()), owner_is_gone(owner)
(True, False)
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["owner_is_gone", "owner_name"]


def owner_name() -> str:
    """A claim owner for this process: host and pid, plus a token that differs after a fork.

    >>> owner_name().count(":")
    2
    """
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:token``) names a process of this host that has ended.

    Its claims need not wait for their lease. Unsure (another host, a pid in use
    again, no permission to ask) means not gone: the lease decides.

    >>> owner_is_gone(f"{socket.gethostname()}:{os.getpid()}:x")
    False
    """
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
