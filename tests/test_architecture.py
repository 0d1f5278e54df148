"""The boundaries of the code, read from the source with ``ast`` (nothing is imported):

- durable_rules is imported by one module, engine/run/runtime.py; clipspy (CLIPS) by one,
  engine/run/clips_runtime.py;
- the generic engine imports no case adapter (it asks engine/adapters for one by name);
- cli/ reaches the engine only through engine/api.py;
- service/ (the CDS Hooks service, a front end beside cli/) reaches the engine only through
  engine/api.py too, and cli/ only for the one escaping module; the engine imports neither front
  end; cli/ starts the service through its entry modules only (`serve`, `feedback`), lazily;
- no two modules import each other, directly or round a loop (function-level imports count);
- an import inside a function is there for a reason given in FUNCTION_IMPORTS_ALLOWED;
- the board's web page (engine/board) records decisions only through governance.decide (it never
  opens the ledger for writing), imports no adapter and no durable_rules, and only engine/api.py
  imports it; nothing of the engine below it imports it.

Each check is a function of a module graph, so the tests below also show each one failing
on a graph with a deliberate violation.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The installed package maps these folders under `bmdkb` (pyproject.toml).
PACKAGES = {"engine": "bmdkb.engine", "cli": "bmdkb.cli", "service": "bmdkb.service"}
DURABLE = ("durable", "durable_rules", "durable_rules_engine")
RUNTIME = "bmdkb.engine.run.runtime"
CLIPS = ("clips",)
CLIPS_RUNTIME = "bmdkb.engine.run.clips_runtime"
API = "bmdkb.engine.api"
ADAPTERS = "bmdkb.engine.adapters"
SERVICE = "bmdkb.service"
# What cli/ may import of the service (its commands `serve` and `feedback`): the entry modules.
SERVICE_ENTRIES = {f"{SERVICE}.config", f"{SERVICE}.server", f"{SERVICE}.feedback"}
SERVICE_COMMANDS = {"bmdkb.cli.commands.serve", "bmdkb.cli.commands.feedback"}
# What the service may import of cli/: escaping per output format has one home.
SERVICE_MAY_USE_OF_CLI = {"bmdkb.cli.render.escape"}
# What engine/adapters itself is allowed to be imported for: the registry and the interface.
ADAPTER_SEAM = {ADAPTERS, f"{ADAPTERS}.interface"}

# (importing module, imported module) -> why the import waits until the function runs.
FUNCTION_IMPORTS_ALLOWED = {
    ("bmdkb.engine.adapters.dxa.adapter", "bmdkb.engine.kb.schemas"):
        "jsonschema (a tenth of a second) is imported only for a case the fast check does not vouch for",
    ("bmdkb.engine.kb.knowledge_base", "bmdkb.engine.kb.reader"):
        "a knowledge base from the checked-KB cache never needs the reader, nor jsonschema with it",
    ("bmdkb.engine.kb.reader", "bmdkb.engine.run.compiler"):
        "only a cold read compiles rules; a cached knowledge base never loads the rule compiler",
    ("bmdkb.engine.kb.reader", "bmdkb.engine.run.runtime"):
        "only a cold read compiles rules with durable_rules; a cached knowledge base never loads it",
    ("bmdkb.engine.run.batch", "bmdkb.engine.run.evaluate"):
        "evaluation runs in the workers; the batch parent process never loads durable_rules",
    ("bmdkb.engine.run.engines", "bmdkb.engine.run.runtime"):
        "each rule engine is loaded only when chosen: a CLIPS run never loads durable_rules",
    ("bmdkb.engine.run.engines", "bmdkb.engine.run.clips_runtime"):
        "each rule engine is loaded only when chosen: a durable_rules run never loads CLIPS",
    ("bmdkb.engine.run.registry", "pyarrow"):
        "an optional dependency, needed only for `bmdkb batch --output-format parquet`",
    ("bmdkb.engine.run.registry", "pyarrow.parquet"):
        "an optional dependency, needed only for `bmdkb batch --output-format parquet`",
    ("bmdkb.engine.review.ledger", "bmdkb.engine.kb.schemas"):
        "jsonschema (a tenth of a second) only when ledger entries are checked or written",
    ("bmdkb.engine.review.signing", "cryptography"):
        "cryptography (~15 ms) only when a signature is made or checked: a cached verdict needs none",
    ("bmdkb.engine.review.signing", "cryptography.hazmat.primitives"):
        "cryptography (~15 ms) only when a signature is made or checked: a cached verdict needs none",
    ("bmdkb.engine.review.signing", "cryptography.hazmat.primitives.asymmetric"):
        "cryptography (~15 ms) only when a signature is made or checked: a cached verdict needs none",
    ("bmdkb.engine.adapters.dxa", "bmdkb.engine.adapters.dxa.fhir"):
        "the FHIR mapping (~10 ms) only when a Bundle is read, never for a contract case",
    ("bmdkb.engine.review.rosterlog", "bmdkb.engine.kb.schemas"):
        "jsonschema only when roster-log entries are checked or written, never on a cold evaluate",
    ("bmdkb.engine.review.ledger", "filelock"):
        "only a writer takes the ledger's lock; every reader of rule statuses would pay its import",
    ("bmdkb.engine.run.batch", "ctypes"):
        "Linux only: asks the kernel to end a worker whose parent died",
    ("bmdkb.engine.run.batch", "dask.distributed"):
        "an optional dependency, needed only for `bmdkb batch --dask`",
    ("bmdkb.engine.adapters.dxa", "bmdkb.engine.kb.schemas"):
        "jsonschema is imported only when a --facility file is checked",
    ("bmdkb.engine.fhir.models", "fhir.resources.R4B"):
        "the FHIR models take a fifth of a second to import: only when FHIR is read or written",
    ("bmdkb.engine.fhir.models", "pydantic"):
        "imported with the FHIR models, only when FHIR is read or written",
    ("bmdkb.cli.commands.board", "uvicorn"):
        "the board's web server, loaded only when `bmdkb board` runs",
}
# cli/ commands import the part of the engine they run, and the renderer of its output, when they
# run, so `bmdkb --help` stays fast.
CLI_LAZY_OK = {API, "bmdkb.cli.render.diff", "bmdkb.cli.render.result", "bmdkb.cli.render.explanation",
               "bmdkb.cli.render.ruletests", "bmdkb.cli.render.prov", *SERVICE_ENTRIES}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    in_function: bool
    line: int


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGES[parts[0]]] + parts[1:])


def _modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES:
        for path in sorted((REPO / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = _modules()


def _imports_of(name: str, path: Path) -> list[Import]:
    is_package = path.name == "__init__.py"
    out = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(Import(name, a.name, in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:   # relative: resolve against this module's package
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[:len(package) - (child.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    # `from package import module` imports the module; `from module import name` the module
                    out.append(Import(name, target if target in MODULES else base, in_function, child.lineno))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return out


def _lazy_edges() -> list[Import]:
    """Imports made with importlib: engine/api.py's re-exports and the adapter registry."""
    namespace: dict = {}
    for module, variable in ((API, "EXPORTS"), (ADAPTERS, "REGISTRY")):
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == variable:
                namespace[module] = ast.literal_eval(node.value)
    edges = [Import(API, target, True, 0) for target, _ in namespace[API].values()]
    edges += [Import(ADAPTERS, target, True, 0) for target in namespace[ADAPTERS].values()]
    return edges


def all_imports() -> list[Import]:
    found = [imp for name, path in MODULES.items() for imp in _imports_of(name, path)]
    return found + _lazy_edges()


IMPORTS = all_imports()


# ----------------------------------------------------------------------------- the checks

def durable_importers(imports) -> set[str]:
    return {i.importer for i in imports if i.imported.split(".")[0] in DURABLE}


def clips_importers(imports) -> set[str]:
    return {i.importer for i in imports if i.imported.split(".")[0] in CLIPS}


def adapter_leaks(imports) -> list[Import]:
    """Imports of a particular adapter from outside engine/adapters/."""
    return [i for i in imports
            if i.imported.startswith(ADAPTERS + ".") and i.imported not in ADAPTER_SEAM
            and not i.importer.startswith(ADAPTERS)]


def cli_reaching_past_api(imports) -> list[Import]:
    """cli/ importing anything of bmdkb but cli/ and engine/api.py (the service's commands: its
    entry modules, inside the command function)."""
    return [i for i in imports if i.importer.startswith("bmdkb.cli") and i.imported.startswith("bmdkb.")
            and not i.imported.startswith("bmdkb.cli") and i.imported != API
            and not (i.importer in SERVICE_COMMANDS and i.imported in SERVICE_ENTRIES and i.in_function)]


def service_reaching_past_api(imports) -> list[Import]:
    """service/ importing anything of bmdkb but service/, engine/api.py and the escaping module."""
    return [i for i in imports if i.importer.startswith(SERVICE) and i.imported.startswith("bmdkb.")
            and not i.imported.startswith(SERVICE) and i.imported != API and i.imported not in SERVICE_MAY_USE_OF_CLI]


def engine_importing_front_ends(imports) -> list[Import]:
    """The engine importing cli/ or service/ (data flows one way: the front ends use the engine)."""
    return [i for i in imports if i.importer.startswith("bmdkb.engine")
            and (i.imported.startswith("bmdkb.cli") or i.imported.startswith(SERVICE))]


def cycles(imports) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), and self-imports."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if i.imported in MODULES:
            graph.setdefault(i.importer, set()).add(i.imported)
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return groups


BOARD = "bmdkb.engine.board"


def board_leaks(imports) -> list[Import]:
    """Imports of the board from anywhere but engine/api.py and the board itself."""
    return [i for i in imports if i.imported.startswith(BOARD) and i.importer != API
            and not i.importer.startswith(BOARD)]


def board_writes_the_ledger(sources: dict) -> list[str]:
    """Board modules that write the ledger themselves (``ledger.writing`` / ``session.append``)
    instead of asking ``governance.decide``."""
    return [name for name, text in sources.items() if name.startswith(BOARD)
            and ("ledger.writing" in text or ".append(fields" in text or "serialize(" in text)]


def unexplained_function_imports(imports) -> list[Import]:
    return [i for i in imports if i.in_function and i.line  # line 0: importlib edges, not statements
            and (i.importer, i.imported) not in FUNCTION_IMPORTS_ALLOWED
            and not (i.importer.startswith("bmdkb.cli") and i.imported in CLI_LAZY_OK)]


# ----------------------------------------------------------------------------- the tests

def test_the_modules_are_found():
    assert {RUNTIME, API, ADAPTERS, "bmdkb.cli.main", "bmdkb.engine.kb.reader"} <= set(MODULES)


def test_only_the_runtime_imports_durable_rules():
    assert durable_importers(IMPORTS) == {RUNTIME}


def test_only_the_clips_runtime_imports_clipspy():
    assert clips_importers(IMPORTS) == {CLIPS_RUNTIME}


def test_neither_engine_module_imports_the_other():
    """Choosing one engine never loads the other (durable_rules does not import on Python 3.13)."""
    assert not [i for i in IMPORTS if {i.importer, i.imported} == {RUNTIME, CLIPS_RUNTIME}]


def test_the_generic_engine_imports_no_adapter():
    leaks = adapter_leaks(IMPORTS)
    assert not leaks, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in leaks)


def test_cli_uses_only_the_public_api():
    past = cli_reaching_past_api(IMPORTS)
    assert not past, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in past)


def test_the_service_uses_only_the_public_api():
    past = service_reaching_past_api(IMPORTS)
    assert not past, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in past)
    assert any(i.importer.startswith(SERVICE) and i.imported == API for i in IMPORTS)


def test_the_engine_imports_no_front_end():
    found = engine_importing_front_ends(IMPORTS)
    assert not found, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in found)


def test_no_import_cycles():
    assert cycles(IMPORTS) == []


def test_function_level_imports_have_a_reason():
    hidden = unexplained_function_imports(IMPORTS)
    assert not hidden, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in hidden)


def test_the_board_decides_only_through_governance():
    sources = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
    assert any(name.startswith(BOARD) for name in sources)
    assert board_writes_the_ledger(sources) == []
    assert "governance.decide(" in sources[f"{BOARD}.decisions"]
    assert board_writes_the_ledger({f"{BOARD}.x": "with ledger.writing(path) as s:"}) == [f"{BOARD}.x"]
    leaks = board_leaks(IMPORTS)
    assert not leaks, "\n".join(f"{i.importer} line {i.line} imports {i.imported}" for i in leaks)
    assert not [i for i in IMPORTS if i.importer.startswith(BOARD) and i.imported.split(".")[0] in DURABLE]


def test_every_allowed_function_import_still_exists():
    """An allowance outliving its import would let a new one in unnoticed."""
    present = {(i.importer, i.imported) for i in IMPORTS if i.in_function}
    assert set(FUNCTION_IMPORTS_ALLOWED) <= present


def test_api_exports_resolve():
    from bmdkb.engine import api

    for name in api.EXPORTS:
        assert getattr(api, name) is not None, name


def test_every_registered_adapter_satisfies_the_interface():
    from bmdkb.engine import adapters
    from bmdkb.engine.adapters.interface import CaseAdapter

    for name in adapters.known():
        adapter = adapters.named(name)
        assert isinstance(adapter, CaseAdapter) and adapter.name == name


# ------------------------------------------------------- each check fails on a violation

def _with(*extra: tuple[str, str, bool]) -> list[Import]:
    return IMPORTS + [Import(a, b, f, 1) for a, b, f in extra]


@pytest.mark.parametrize("check, violation", [
    (lambda imps: durable_importers(imps) == {RUNTIME},
     ("bmdkb.engine.run.results", "durable.lang", False)),
    (lambda imps: clips_importers(imps) == {CLIPS_RUNTIME},
     ("bmdkb.engine.run.evaluate", "clips", False)),
    (lambda imps: not adapter_leaks(imps),
     ("bmdkb.engine.run.evaluate", "bmdkb.engine.adapters.dxa.adapter", False)),
    (lambda imps: not adapter_leaks(imps),
     ("bmdkb.engine.explain.explainer", "bmdkb.engine.adapters.dxa", True)),
    (lambda imps: not cli_reaching_past_api(imps),
     ("bmdkb.cli.render.result", "bmdkb.engine.adapters.dxa.adapter", False)),
    (lambda imps: not cli_reaching_past_api(imps),
     ("bmdkb.cli.main", "bmdkb.engine.run.evaluate", True)),
    (lambda imps: cycles(imps) == [],
     ("bmdkb.engine.kb.model", "bmdkb.engine.kb.reader", True)),
    (lambda imps: cycles(imps) == [],
     ("bmdkb.engine.authoring.manifest", "bmdkb.engine.authoring.release", False)),
    (lambda imps: not unexplained_function_imports(imps),
     ("bmdkb.engine.run.evaluate", "bmdkb.engine.run.results", True)),
    (lambda imps: not service_reaching_past_api(imps),
     ("bmdkb.service.cards", "bmdkb.engine.run.document", False)),
    (lambda imps: not service_reaching_past_api(imps),
     ("bmdkb.service.app", "bmdkb.cli.options", False)),
    (lambda imps: not engine_importing_front_ends(imps),
     ("bmdkb.engine.run.evaluate", "bmdkb.service.cards", True)),
    (lambda imps: not cli_reaching_past_api(imps),
     ("bmdkb.cli.commands.serve", "bmdkb.service.app", True)),
    (lambda imps: not cli_reaching_past_api(imps),
     ("bmdkb.cli.commands.evaluate", "bmdkb.service.server", True)),
    (lambda imps: not cli_reaching_past_api(imps),
     ("bmdkb.cli.commands.serve", "bmdkb.service.server", False)),
    (lambda imps: not board_leaks(imps),
     ("bmdkb.engine.review.governance", "bmdkb.engine.board.pages", True)),
    (lambda imps: not adapter_leaks(imps),
     ("bmdkb.engine.board.pages", "bmdkb.engine.adapters.dxa.adapter", False)),
])
def test_each_check_fails_on_a_deliberate_violation(check, violation):
    assert check(IMPORTS)
    assert not check(_with(violation))


def test_the_readme_layout_and_docs_architecture_name_every_package():
    """The layout section of the README and docs/architecture.md describe the packages that exist:
    a package added, renamed or removed without the docs fails here."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("### Exit statuses")]
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.parent.relative_to(REPO).as_posix() for top in ("engine", "cli")
                      for p in (REPO / top).glob("*/__init__.py"))
    assert {"engine/kb", "engine/run", "engine/adapters", "cli/commands"} <= set(packages)
    assert "service/" in layout, "README layout does not name service/"
    assert "`service/" in architecture, "docs/architecture.md does not name service/"
    for package in packages:
        top, name = package.split("/")
        assert f"  {name}/" in layout or f"{top}/{name}/" in layout, f"README layout does not name {package}"
        assert f"`{package}" in architecture, f"docs/architecture.md does not name {package}"
