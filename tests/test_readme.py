"""The README's "use the components in your own model" snippet runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def snippet(marker):
    text = README.read_text()
    start = text.index(marker)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_components_snippet_trains_and_scores():
    namespace = {}
    exec(
        compile(snippet("<!-- snippet: own-model -->"), "README.md", "exec"), namespace
    )
    assert namespace["accuracy"] > 0.8
    assert namespace["model"].loss.__class__.__name__ == "MulticlassSVM"
