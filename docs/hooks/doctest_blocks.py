"""Griffe extension: Keras-format examples shown as code.

Keras docstrings put an `Example:` heading over `>>>` lines at the
docstring's own margin, which the Google parser leaves as Markdown text:
`>>>` becomes a quotation and an output such as `[0.9, 0.7, 0.5]` a link to
nothing, which `mkdocs build --strict` refuses. This wraps each doctest run
(from its first `>>>` line to the next blank line) in a `pycon` code block,
as it is indented, before the docstring is parsed. The sources stay as the
doctests and Keras's own docstrings have them.
"""

from __future__ import annotations

import griffe


def fence_doctests(text):
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].lstrip().startswith(">>>"):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out.extend([f"{indent}```pycon", *lines[i:j], f"{indent}```"])
            i = j
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs):  # noqa: ARG002
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
