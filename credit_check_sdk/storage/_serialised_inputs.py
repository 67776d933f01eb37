"""A check's inputs serialised once: :class:`SerialisedInputs`.

The journal stores what each check was decided from as canonical JSON text
(sorted keys) with its SHA-256; checks decided from the same inputs share one
object, so that the text is made and hashed once (see
``credit_check_sdk._check_inputs``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["ReadOnlyDict", "SerialisedInputs"]


class ReadOnlyDict(dict[str, Any]):
    """A dict filled once, at construction, whose every writer raises ``TypeError``
    (its ``_refusal``): what is serialised and hashed must not change after.

    >>> d = ReadOnlyDict({"a": 1})
    >>> d.update(a=2)
    Traceback (most recent call last):
    ...
    TypeError: read-only
    """

    __slots__ = ()
    _refusal = "read-only"

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(self._refusal)

    # Every writer of dict refuses.
    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only


class SerialisedInputs(ReadOnlyDict):
    """A check's inputs, read-only, with their canonical JSON ``text`` and its SHA-256
    ``key`` computed once: the checks decided from the same inputs share one object
    (see ``credit_check_sdk._check_inputs``), and :func:`prepare_record` takes the text
    as it is instead of serialising the inputs at every check.

    >>> inputs = SerialisedInputs({"on": "2026-12-03", "profile": None})
    >>> inputs.text, inputs["on"]
    ('{"on": "2026-12-03", "profile": null}', '2026-12-03')
    >>> inputs["on"] = "2026-12-04"
    Traceback (most recent call last):
    ...
    TypeError: a check's inputs are read-only
    """

    __slots__ = ("key", "text")

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        #: As prepare_record() serialises any inputs (raises TypeError/ValueError if not JSON).
        self.text = _inputs_text(values)
        # A lone surrogate fails here, not in a group commit; the bytes are hashed.
        self.key = hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    _refusal = "a check's inputs are read-only"


def _inputs_text(inputs: dict[str, Any]) -> str:
    # What json.dumps(inputs, sort_keys=True, allow_nan=False, ensure_ascii=False) gives,
    # through one encoder made once (json.dumps with options makes one per call).
    return _inputs_dumps(inputs)


_inputs_dumps = json.JSONEncoder(sort_keys=True, allow_nan=False, ensure_ascii=False).encode
