"""A recipe's flags: a `Config` dataclass turned into its command line.

Each field of a recipe's `Config` is a flag (`flag(default, help)`), typed by
its annotation; `parse_config` parses and validates once, applies `--quick`,
and turns a bad flag into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import types
import typing

from recipes.run import distribution


def flag(default, help):
    """A config field: its default and its `--help` text."""
    return dataclasses.field(default=default, metadata={"help": help})


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    """Each flag's default shown once: not where its help already speaks of
    its default, nor a default of `None` (the help says what happens then);
    the description and the examples kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def examples(doc, count=3):
    """The `--help` epilog of a recipe: the first `count` command lines of
    its docstring (indented `python -m ...` lines)."""
    lines = [
        line.strip()
        for line in (doc or "").splitlines()
        if line.startswith("    python -m ")
    ][:count]
    if not lines:
        return None
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _field_type(hint):
    """Returns `(python_type, optional)` for a dataclass field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def build_parser(config_cls, prog, description, epilog=None):
    """Builds an argument parser whose flags are the fields of `config_cls`.

    Each field `some_name` becomes `--some-name`, typed by its annotation, with
    its default and the `help` of its metadata shown by `--help`. Booleans get
    `--flag / --no-flag`.
    """
    parser = OneLineParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        kind, _ = _field_type(hints[field.name])
        help_text = field.metadata.get("help", " ")
        if kind is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=field.default,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag,
                type=kind,
                default=field.default,
                help=help_text,
                metavar=field.name.upper(),
            )
    return parser


def parse_config(config_cls, argv, prog, description, quick=None, epilog=None):
    """Parses `argv` into a validated `config_cls` instance.

    With `quick` (a dict of settings), `--quick` applies them first
    (`apply_quick`). Invalid flags, and any `ValueError` raised by the
    config's `validate()`, end the program with a one-line error and exit
    status 2 (`SystemExit`). This is the one place a config is validated.
    """
    parser = build_parser(config_cls, prog, description, epilog)
    namespace = parser.parse_args(argv)
    given = _given(parser, argv)
    config = apply_quick(config_cls(**vars(namespace)), quick or {}, given)
    with usage_errors(parser):
        if hasattr(config, "strategy"):
            # First of all: a multi-worker strategy must be made before any
            # TensorFlow op runs (validation builds an optimizer).
            distribution.make_strategy(config.strategy)
        config.validate()
    return config, parser


def _given(parser, argv):
    """The flags `argv` sets itself, even to their default value."""
    for action in parser._actions:
        action.default, action.saved_default = argparse.SUPPRESS, action.default
    try:
        return set(vars(parser.parse_args(argv)))
    finally:
        for action in parser._actions:
            action.default = action.saved_default
            del action.saved_default


def apply_quick(config, quick, given=None):
    """`--quick`: the settings of `quick` for every flag not given.

    A flag given on the command line wins, even at its default value
    (`--quick --monitors` keeps the monitors `--quick` turns off); without
    `given`, a flag counts as given when its value is not the default.
    """
    if not getattr(config, "quick", False):
        return config
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    if given is None:
        given = {k for k in quick if getattr(config, k) != defaults[k]}
    changes = {k: v for k, v in quick.items() if k not in given}
    return dataclasses.replace(config, **changes)


@contextlib.contextmanager
def usage_errors(parser):
    """Turns `ValueError`s raised inside the block into a one-line CLI error."""
    try:
        yield
    except ValueError as error:
        parser.error(str(error).splitlines()[0])
