"""Imports point one way (docs/architecture.md): layers/models -> ops -> tensor ->
backends. Read from the source (every import statement, at module level or inside a
function), so a hidden circle such as the core importing the layer ops at call time
fails here."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "minigrad"
API = {"layers", "models", "optimizers", "losses", "metrics", "callbacks", "initializers",
       "regularizers", "activations", "distribution", "datasets", "testing", "variables"}


def imports(path: pathlib.Path) -> list:
    """(line, the minigrad module imported) for every import of minigrad in `path`."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = list(parts if path.name == "__init__.py" else parts[:-1])
    if path.name == "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                if node.module:
                    found.append((node.lineno, ".".join(base + [node.module])))
                else:
                    found += [(node.lineno, ".".join(base + [a.name])) for a in node.names]
            elif node.module and node.module.split(".")[0] == "minigrad":
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "minigrad"]
    return found


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def files(*names):
    for name in names:
        target = PACKAGE / name
        yield from sorted(target.rglob("*.py")) if target.is_dir() else [target]


def rel(path):
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", list(files("backends")), ids=rel)
def test_backends_import_only_backends(path):
    bad = [(line, m) for line, m in imports(path) if top(m) != "backends"]
    assert bad == [], f"{rel(path)} imports above the backends: {bad}"


@pytest.mark.parametrize("name", ["tensor.py", "tensor_functions.py", "tensor_args.py"])
def test_the_tensor_core_imports_only_the_backends(name):
    # the core is tensor.py, the Functions behind its methods (tensor_functions.py)
    # and the checks of its arguments (tensor_args.py)
    core = ("backends", "tensor", "tensor_functions", "tensor_args")
    bad = [(line, m) for line, m in imports(PACKAGE / name) if top(m) not in core]
    assert bad == [], f"minigrad/{name} imports above the backends: {bad}"


@pytest.mark.parametrize("path", list(files("ops", "utils", "random.py", "tree.py")), ids=rel)
def test_ops_and_helpers_never_import_the_keras_api(path):
    bad = [(line, m) for line, m in imports(path) if top(m) in API]
    assert bad == [], f"{rel(path)} imports the Keras-level API: {bad}"

