"""The argument parser every benchmark builds from its module docstring."""

from __future__ import annotations

import argparse


def docstring_parser(module, doc):
    """An `ArgumentParser` for `python -m benchmarks.MODULE`: the docstring's
    first paragraph as the description, the rest (commands) as the epilog.

    Example:

    >>> parser = docstring_parser("demo", "One line.\\n\\n    python -m benchmarks.demo")
    >>> parser.prog, parser.description
    ('python -m benchmarks.demo', 'One line.')
    """
    head, _, rest = doc.partition("\n\n")
    return argparse.ArgumentParser(
        prog=f"python -m benchmarks.{module}",
        description=head,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=rest,
    )
