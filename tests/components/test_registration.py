"""`import components` alone registers every class the project saves."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def registered_classes():
    """`(module, class)` of every class decorated with
    `register_keras_serializable` under components/, read from the source."""
    found = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(d)
                for d in node.decorator_list
            ):
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append((module, node.name))
    return found


def test_import_components_registers_every_serializable_class():
    classes = registered_classes()
    assert len(classes) >= 15  # the scan finds them (18 when written)
    names = [f"components>{name}" for _, name in classes]
    # A fresh process: nothing imported but the package itself.
    script = (
        "import sys, keras, components\n"
        f"names = {names!r}\n"
        "missing = [n for n in names if keras.saving.get_registered_object(n) is None]\n"
        "print(missing)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
