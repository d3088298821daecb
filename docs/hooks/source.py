"""MkDocs hook: the recipes' own source, shown on their pages as it is.

A page names what it shows and the build reads it from the source tree, so
the code on the site is the code that runs, never a copy that drifts:

- `<!-- walkthrough: recipes/yolo.py -->`: the module read as keras-io's
  examples read. Its docstring is the introduction; each `# ----` / `# Title`
  / `# ----` header of the file becomes a section; a comment block at the
  left margin followed by a blank line becomes the section's prose, and the
  code between is shown as code.
- `<!-- docstring: recipes/doctor.py -->`: the module docstring alone.
- `<!-- source: recipes/classify.py::load_data -->`: one top-level function,
  class or assignment, by name.

Indented command lines of a docstring (`python -m ...`) are shown as bash
blocks, so `tests/test_docs.py` checks them with the pages' own commands. A
name or file that does not exist fails the build.
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(
    r"^<!-- (walkthrough|docstring|source): (\S+?)(?:::(\w+))? -->$", re.M
)
RULE = re.compile(r"^# -{10,}$")


def read(path):
    file = ROOT / path
    if not file.is_file():
        raise ValueError(f"docs: no source file {path}")
    return file.read_text()


def docstring_markdown(doc, level=3):
    """A module docstring as Markdown: indented blocks of commands become
    bash blocks, other indented blocks stay code."""
    lines, out, block = doc.strip("\n").splitlines(), [], []

    def flush():
        if block:
            code = "\n".join(line[4:] for line in block).rstrip()
            kind = "bash" if "python -m " in code else "text"
            out.extend(["", f"```{kind}", code, "```", ""])
            block.clear()

    for line in lines:
        if line.startswith("    ") and (block or not out or not out[-1].strip()):
            block.append(line)
        elif not line.strip() and block:
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out).strip() + "\n"


def module_docstring(source):
    return ast.get_docstring(ast.parse(source), clean=True) or ""


def named_source(path, name):
    """The source of a top-level definition or assignment called `name`."""
    source = read(path)
    for node in ast.parse(source).body:
        names = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        if name in names:
            start = min(
                [d.lineno for d in getattr(node, "decorator_list", [])] or [node.lineno]
            )
            lines = source.splitlines()[start - 1 : node.end_lineno]
            return f'```python title="{path}"\n' + "\n".join(lines) + "\n```\n"
    raise ValueError(f"docs: {path} has no top-level {name!r}")


def sections(source):
    """`(title, lines)` pairs: the code before the first header (title None),
    then each headed section of the file."""
    lines = source.splitlines()
    out, title, current, i = [], None, [], 0
    while i < len(lines):
        if (
            RULE.match(lines[i])
            and i + 2 < len(lines)
            and lines[i + 1].startswith("# ")
            and RULE.match(lines[i + 2])
        ):
            out.append((title, current))
            title, current, i = lines[i + 1][2:].strip(), [], i + 3
            continue
        current.append(lines[i])
        i += 1
    out.append((title, current))
    return out


def prose_and_code(lines):
    """Splits a section into prose (left-margin comment blocks followed by a
    blank line, or ending the section) and code."""
    parts, code, i = [], [], 0
    while i < len(lines):
        if lines[i].startswith("#") and not lines[i].startswith("#!"):
            j = i
            while j < len(lines) and lines[j].startswith("#"):
                j += 1
            if j == len(lines) or not lines[j].strip():
                if "\n".join(code).strip():
                    parts.append(("code", "\n".join(code).strip("\n")))
                code = []
                text = "\n".join(re.sub(r"^# ?", "", line) for line in lines[i:j])
                parts.append(("prose", text))
                i = j
                continue
            code.extend(lines[i:j])
            i = j
            continue
        code.append(lines[i])
        i += 1
    if "\n".join(code).strip():
        parts.append(("code", "\n".join(code).strip("\n")))
    return parts


def without_docstring(source):
    """The source with its module docstring removed."""
    tree = ast.parse(source)
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return "\n".join(source.splitlines()[first.end_lineno :])
    return source


def walkthrough(path):
    source = read(path)
    out = [docstring_markdown(module_docstring(source))]
    for title, lines in sections(without_docstring(source)):
        parts = prose_and_code(lines)
        if not parts:
            continue
        out.append(f"### {title or 'Imports'}\n")
        for kind, text in parts:
            if kind == "prose":
                out.append(text + "\n")
            else:
                out.append(f"```python\n{text}\n```\n")
    return "\n".join(out)


def expand(markdown):
    """The page's Markdown with every directive replaced by what it names."""

    def replace(match):
        kind, path, name = match.groups()
        if kind == "source":
            if not name:
                raise ValueError(f"docs: `source: {path}` needs ::NAME")
            return named_source(path, name)
        if kind == "docstring":
            return docstring_markdown(module_docstring(read(path)))
        return walkthrough(path)

    return DIRECTIVE.sub(replace, markdown)


def on_page_markdown(markdown, page, config, files):  # MkDocs' hook
    return expand(markdown)
