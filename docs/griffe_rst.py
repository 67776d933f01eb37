"""Griffe extension for the docs site: the SDK's reST-flavoured docstrings as Markdown.

The docstrings are written to read well in ``help()`` and in an editor: Sphinx roles
(``:class:`~credit_check_sdk.testing.FakePlatform```), doctest examples (``>>>``)
and reST literal blocks (a paragraph ending in ``::``). mkdocstrings renders
Markdown, where a ``>>>`` line is a nested quote and a role is literal text; this
extension rewrites the three, nothing else, when the docs are built. Roles become
code spans (the name as Python would print it), not links: a link to a name the
site does not document would fail the ``--strict`` build.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|mod|exc|obj|const):`(?P<target>[^`]+)`")
_DOCTEST = re.compile(r"^(?P<indent>\s*)>>> ")
_DIRECTIVE = re.compile(r"\s*# doctest:.*$")


def _role(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target.lstrip('.')}`"


def _fence(lines: list[str], lang: str, indent: str) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).splitlines()
    if lang == "pycon":  # doctest directives are for the test runner, not the reader
        body = [_DIRECTIVE.sub("", line) for line in body]
    return [
        f"{indent}```{lang}",
        *(f"{indent}{line}" if line else "" for line in body),
        f"{indent}```",
    ]


def to_markdown(text: str) -> str:
    """Rewrite roles, doctest runs and ``::`` literal blocks of one docstring.

    ``"See :class:`~a.b.C`."`` becomes ``"See `C`."``; a run of ``>>>`` lines and
    their output becomes a ``pycon`` fence (tests/test_docs_site.py has examples).
    """
    lines = _ROLE.sub(_role, text).splitlines()
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence:
            out.append(line)
            i += 1
            continue
        doctest = _DOCTEST.match(line)
        if doctest:
            # The example and its output: up to a blank line.
            start = i
            while i < len(lines) and lines[i].strip():
                i += 1
            out += _fence(lines[start:i], "pycon", doctest["indent"])
            continue
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            # A reST literal block: the indented lines after the blank line.
            indent = len(line) - len(line.lstrip())
            j = i + 2
            block: list[str] = []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
            ):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
                j -= 1
            if block:
                head = line.rstrip()[:-2].rstrip()
                out += [
                    f"{head}:" if head.strip() else "",
                    "",
                    *_fence(block, "text", " " * indent),
                ]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class ReSTDocstrings(griffe.Extension):
    """Rewrites every docstring the site renders (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
