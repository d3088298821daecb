"""The documentation site builds under --strict, and its commands are real.

`mkdocs build --strict` fails on a broken link or anchor, a missing page, an
mkdocstrings reference it cannot resolve or a docstring it cannot parse, and a
recipe page that names code the source no longer has (docs/hooks/source.py).
Every `python -m ...` command of a bash block on the README and the docs pages
(their rendered form, so the recipes' own docstrings count too) must name a
module whose parser accepts its flags as written. The commands are parsed, not
run: tests/test_readme.py runs the ones that make and use a model.
"""

import argparse
import html
import importlib
import importlib.util
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# The hook that expands the recipe pages' directives, loaded by path (docs/ is
# not a package).
_spec = importlib.util.spec_from_file_location(
    "docs_source_hook", ROOT / "docs" / "hooks" / "source.py"
)
source_hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source_hook)


def test_the_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    layers = (site / "api" / "layers" / "index.html").read_text()
    assert "Maxout" in layers and "LocalResponseNormalization" in layers
    # A recipe page holds the recipe's own narration and code, as the source
    # has them now.
    yolo = html.unescape(
        re.sub(r"<[^>]+>", "", (site / "recipes" / "yolo" / "index.html").read_text())
    )
    summary = source_hook.module_docstring(
        (ROOT / "recipes" / "yolo.py").read_text()
    ).splitlines()[0]
    assert summary in yolo and "def main(" in yolo
    assert (site / "images" / "yolo" / "targets.png").is_file()


def bash_blocks(markdown):
    return re.findall(r"```bash\n(.*?)```", markdown, re.S)


def command_lines(block):
    """The commands of a bash block: continuation lines joined, quotes that
    span lines kept together, comments dropped."""
    commands, pending = [], ""
    for line in block.splitlines():
        pending += line + "\n"
        if line.rstrip().endswith("\\"):
            continue
        try:
            argv = shlex.split(pending.replace("\\\n", " "), comments=True)
        except ValueError:  # a quotation still open
            continue
        if argv:
            commands.append(argv)
        pending = ""
    assert not pending.strip(), pending
    return commands


def python_commands(argv):
    """The `python -m MODULE ARGS` commands in `argv`, a launcher's inner one
    included: (module, args) pairs."""
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0], re.S):
        argv = argv[1:]  # VAR=value prefixes
    if len(argv) < 3 or not argv[0].endswith("python") or argv[1] != "-m":
        return []
    module, args = argv[2], argv[3:]
    found = [(module, args)]
    inner = args[args.index("--") + 1 :] if "--" in args else []
    if module == "recipes.launch":
        found += python_commands(inner)
    # The flags these pass on to a recipe are that recipe's.
    if module == "recipes.doctor" and "--recipe" in args:
        found.append((f"recipes.{args[args.index('--recipe') + 1]}", inner))
    if module == "tuning.search" and "--recipe-args" in args:
        recipe_args = shlex.split(args[args.index("--recipe-args") + 1])
        found.append((f"recipes.{args[0]}", recipe_args))
    return found


def documented_commands():
    found = {}
    for page in PAGES:
        markdown = source_hook.expand(page.read_text())
        for block in bash_blocks(markdown):
            for argv in command_lines(block):
                for module, args in python_commands(argv):
                    name = f"{page.relative_to(ROOT)}: {module} {' '.join(args)}"
                    found[name] = (module, args)
    return found


COMMANDS = documented_commands()


class Parsed(Exception):
    """Raised once the command's own parser has accepted its flags."""


@pytest.fixture
def parse_only(monkeypatch):
    """Stops a `main` as soon as its outermost parser has parsed the flags.

    argparse's own errors still exit 2 as on the command line, an unknown
    flag included (`parse_args` checks for leftovers after
    `parse_known_args`, so both are wrapped).
    """
    depth = [0]

    def stopping(original):
        def parse(self, args=None, namespace=None):
            depth[0] += 1
            try:
                result = original(self, args, namespace)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                raise Parsed(result)
            return result

        return parse

    for name in ("parse_args", "parse_known_args"):
        original = getattr(argparse.ArgumentParser, name)
        monkeypatch.setattr(argparse.ArgumentParser, name, stopping(original))


def test_the_pages_have_commands():
    modules = {module for module, _ in COMMANDS.values()}
    assert {
        "recipes.classify",
        "recipes.yolo",
        "recipes.rcnn",
        "recipes.predict",
    } <= modules
    assert {
        "recipes.export",
        "recipes.doctor",
        "recipes.claims",
        "tuning.search",
    } <= modules


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_documented_command_parses(name, parse_only):
    module, args = COMMANDS[name]
    main = importlib.import_module(module).main
    try:
        main(args)
    except Parsed:
        return
    except SystemExit as stop:
        # `--help` exits 0; a flag the parser refuses exits 2.
        assert stop.code in (0, None), f"{name}: exit {stop.code}"
        return
    pytest.fail(f"{name}: main returned without parsing its flags")


@pytest.mark.parametrize(
    "module, args",
    [
        ("recipes.classify", ["--epochz", "3"]),
        ("recipes.yolo", ["--val-evry", "2"]),
        ("recipes.predict", ["runs/photos", "new/", "--topk", "2"]),
        ("recipes.export", ["runs/photos", "--format", "litert", "--quantise", "int8"]),
        ("tuning.search", ["classify", "--max-trails", "3"]),
        ("recipes.launch", ["--worker-count", "2", "--", "python", "-m", "x"]),
    ],
)
def test_a_misspelt_flag_is_caught(module, args, parse_only, capsys):
    """The check has teeth: a flag the command does not have exits 2."""
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(args)
    assert stop.value.code == 2
    assert "error" in capsys.readouterr().err
