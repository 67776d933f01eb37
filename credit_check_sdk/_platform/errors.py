"""The one error of the platform core: a refusal, answered as an RFC 9457 problem document."""

from __future__ import annotations

import http
import json

__all__ = ["PROBLEM_BASE", "Refusal", "problem_document"]

#: The ``type`` of every problem document is this URL and the refusal's slug.
PROBLEM_BASE = "https://credit.example/problems/"


class Refusal(Exception):  # noqa: N818 - named for what it is: the platform says no
    """A request the platform refuses: ``status``, a ``detail`` for people, a ``slug`` naming
    the kind of problem, and headers (``Retry-After``, ``Allow``) to send with it.

    >>> r = Refusal(409, "entry BL-1 is already under objection", slug="conflict")
    >>> r.status, r.slug
    (409, 'conflict')
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}


def problem_document(status: int, detail: str, slug: str | None = None) -> bytes:
    """The problem document's JSON bytes.

    >>> json.loads(problem_document(404, "no entry BL-1", "not-found"))["title"]
    'Not Found'
    """
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    name = slug or title.lower().replace(" ", "-")
    doc = {"type": PROBLEM_BASE + name, "title": title, "status": status, "detail": detail}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
