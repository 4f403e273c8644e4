"""The import rule (docs/DESIGN.md): dependencies point one way, and no two bertlab modules import each other.

    config → model → data → train → pipelines (pretrain, distill, finetune) → cli

The leaves (analysis, interop, family, experiments, reproduce, lessons, homework) may import the core; the
core never imports a leaf, so deleting a leaf never breaks pre-training, distillation or fine-tuning. The
only core modules that name a leaf are the CLI front-ends of leaf commands (``bertlab experiment`` runs
``bertlab.experiments``). Imports sit at the top of modules; the few inside a function say why in a comment.

The checks read the source with ``ast`` (nothing is imported), and a test plants violations in a scratch
tree to show that the checker catches them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = ("analysis", "interop", "family", "experiments", "reproduce", "lessons", "homework")
# a core module that may import a leaf: the command-line front-end of that leaf's command, and only that leaf
FRONT_ENDS = {"bertlab.cli.experiment": "experiments", "bertlab.cli.homework": "homework",
              "bertlab.cli.params": "analysis", "bertlab.cli.reproduce": "reproduce"}
MAX_FUNCTION_LEVEL = 20


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(name: str, root: Path) -> str:
    """``bertlab.x.y`` if it is a module or package under ``root``, else None."""
    path = root.joinpath(*name.split("."))
    return name if path.with_suffix(".py").exists() or (path / "__init__.py").exists() else None


def imports_of(path: Path, root: Path) -> list[tuple[str, int, bool]]:
    """(imported bertlab module, line, inside a function?) for every bertlab import of ``path``."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from . import x / from .y import z
                    parent = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(parent + ([child.module] if child.module else []))
                # "from bertlab.x import y" names the module bertlab.x.y when there is one, else bertlab.x
                names = [_target(f"{base}.{alias.name}", root) or base for alias in child.names]
            for name in names:
                if name == "bertlab" or name.startswith("bertlab."):
                    found.append((name, child.lineno, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(root: Path) -> list[str]:
    """Core → leaf imports (other than a front-end's own leaf), as ``file:line: a imports b``."""
    out = []
    for path in sorted((root / "bertlab").rglob("*.py")):
        module = module_name(path, root)
        if _area(module) in LEAVES:
            continue
        for target, line, _ in imports_of(path, root):
            if _area(target) in LEAVES and FRONT_ENDS.get(module) != _area(target):
                out.append(f"{path.relative_to(root)}:{line}: core module {module} imports leaf {target}")
    return out


def cycles(root: Path) -> list[list[str]]:
    """Groups of bertlab modules that import each other, directly or around a circle (Tarjan's SCCs)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((root / "bertlab").rglob("*.py")):
        module = module_name(path, root)
        graph.setdefault(module, set()).update(t for t, _, _ in imports_of(path, root) if t != module)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def function_level(root: Path) -> list[tuple[str, int, bool]]:
    """(file, line, has a comment saying why) for every bertlab import inside a function."""
    out = []
    for path in sorted((root / "bertlab").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for _, line, inside in imports_of(path, root):
            if inside:
                text, above = lines[line - 1], lines[line - 2].strip() if line > 1 else ""
                out.append((str(path.relative_to(root)), line, "#" in text or above.startswith("#")))
    return sorted(set(out))


def test_the_core_imports_no_leaf():
    assert violations(ROOT) == []


def test_no_two_bertlab_modules_import_each_other():
    assert cycles(ROOT) == []


def test_imports_sit_at_the_top_of_modules():
    inside = function_level(ROOT)
    assert len(inside) <= MAX_FUNCTION_LEVEL, f"{len(inside)} bertlab imports inside functions: {inside}"
    assert [f"{f}:{line}" for f, line, why in inside if not why] == [], "say in a comment why it is not at the top"


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    for package in ("bertlab", "bertlab/model", "bertlab/family", "bertlab/experiments", "bertlab/train",
                    "bertlab/cli"):
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "bertlab/family/unilm.py", "from bertlab.model.attention import X\n")
    _write(tmp_path, "bertlab/model/attention.py", "X = 1\n")
    _write(tmp_path, "bertlab/train/loop.py", "import torch\n")
    _write(tmp_path, "bertlab/cli/experiment.py", "from bertlab import experiments\n")  # its own leaf: allowed
    return tmp_path


def test_the_checker_passes_a_clean_tree(planted):
    assert violations(planted) == [] and cycles(planted) == [] and function_level(planted) == []


def test_the_checker_catches_a_core_module_importing_a_leaf(planted):
    _write(planted, "bertlab/model/attention.py", "X = 1\n\n\ndef f():\n    from bertlab.family.unilm import Y\n")
    found = violations(planted)
    assert len(found) == 1 and "bertlab.model.attention imports leaf bertlab.family.unilm" in found[0]
    assert function_level(planted) == [("bertlab/model/attention.py", 5, False)]  # inside a function, no reason


def test_the_checker_catches_a_front_end_reaching_another_leaf(planted):
    _write(planted, "bertlab/cli/experiment.py", "from bertlab import experiments\nfrom bertlab.family import unilm\n")
    assert violations(planted) == ["bertlab/cli/experiment.py:2: core module bertlab.cli.experiment imports leaf "
                                   "bertlab.family.unilm"]


def test_the_checker_catches_a_circle(planted):
    _write(planted, "bertlab/model/attention.py", "from bertlab.train import loop\n")
    _write(planted, "bertlab/train/loop.py", "def f():\n    from bertlab.model.attention import X  # why\n")
    assert cycles(planted) == [["bertlab.model.attention", "bertlab.train.loop"]]
