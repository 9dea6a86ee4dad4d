"""Griffe extension for the docs build: read ``Example:`` as an examples section.

The house docstring style heads doctests with ``Example:``. Griffe's Google parser
knows only the plural ``Examples:`` as an examples section (rendered as code) and
takes the singular for an admonition of Markdown text, where ``>>>`` lines become
block quotes and doctest output such as ``['x', 'y']`` reads as a broken
cross-reference. This renames the header in the text griffe parses; the sources
are untouched. Loaded by mkdocs.yml (``extensions:``); not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
