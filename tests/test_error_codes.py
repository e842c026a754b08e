"""The error-code catalogue is complete and current: every code the source can put on a job is
documented, no entry outlives its code, and docs/troubleshooting.md is what the catalogue
renders.

The source is read, not run: an AST scan finds every construction that carries a code onto a
job (StepError and its subclasses, JobFailed/JobDeferred/AlertFailed codes, JobIgnored reasons,
summary fallback reasons, and the few helper types that hand their code on to one of those)."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from figsync_contracts.error_codes import CATALOGUE, KINDS, SECTIONS, describe
from figsync_contracts.steps import STEP_SERVICES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("services/*/src", "libs/*/src", "tools/*/src")
CATALOGUE_FILE = "libs/contracts/src/figsync_contracts/error_codes.py"

# Step errors: every class deriving from these carries its code as the first argument.
STEP_ERROR_ROOTS = {"StepError"}

# Other constructions whose argument ends up on a job: name → (position, keyword).
CARRIERS: dict[str, tuple[int | None, str]] = {
    "JobFailed": (None, "code"),
    "JobDeferred": (None, "code"),
    "AlertFailed": (None, "code"),
    "JobIgnored": (None, "reason"),
    "LifecycleFailed": (None, "code"),
    # figsync_notion.mapping.Problem: raised as PermanentError(problem.code) by Problem.error().
    "Problem": (0, "code"),
    # The summarizer's model errors: their code becomes a RetryableError/WaitError or the
    # fallback reason.
    "ModelUnavailable": (0, "code"),
    "ModelRejected": (0, "code"),
    # The relay parks an event it cannot publish and appends JobFailed(step="relay", code=…).
    "Unpublishable": (0, "code"),
    # The summarizer's fallback: SummaryGenerated(fallback_reason=reason).
    "_fallback": (3, "reason"),
}
# Keywords that carry a code whatever the call (SummaryGenerated and SummaryRefreshed alike).
KEYWORD_CARRIERS = {"fallback_reason"}

PROVIDERS = ("figma", "notion", "anthropic")  # Budget.for_secret(provider, …)

# Codes the scan cannot read from a literal, keyed by (file, the expression's source): the codes
# the expression can produce, or () when it only passes on a code whose own construction is
# scanned. A new dynamic code fails test_every_code_on_a_job_is_catalogued until it is listed.
DYNAMIC: dict[tuple[str, str], tuple[str, ...]] = {
    # The step runner wraps any unclassified exception.
    ("libs/runtime/src/figsync_runtime/steps.py", "f'{self.step.name}.unexpected_error'"): (
        "<step>.unexpected_error",  # one per step: expanded by codes_on_jobs
    ),
    # The runner re-raises or records the code of the StepError it caught.
    ("libs/runtime/src/figsync_runtime/steps.py", "error.code"): (),
    # Shared breakers and budgets, one per provider's credential.
    ("libs/clients/src/figsync_clients/resilience.py", "f'{self.provider}.circuit_open'"): tuple(
        f"{p}.circuit_open" for p in PROVIDERS
    ),
    ("libs/clients/src/figsync_clients/budget.py", "f'{budget.provider}.circuit_open'"): tuple(
        f"{p}.circuit_open" for p in PROVIDERS
    ),
    ("libs/clients/src/figsync_clients/budget.py", "f'{budget.provider}.budget_exhausted'"): tuple(
        f"{p}.budget_exhausted" for p in PROVIDERS
    ),
    # Notion's own error code for a refusal nothing more specific explains (4xx other than
    # 401, 403, 404, 409 and 429; the official client sends valid JSON and a version).
    (
        "services/notion/src/figsync_notion/schema.py",
        "f\"notion.{error.code or 'bad_request'}\"",
    ): ("notion.validation_error", "notion.invalid_request", "notion.bad_request"),
    # Problem.error() raises the Problem's code; the Problem(...) constructions are scanned.
    ("services/notion/src/figsync_notion/mapping.py", "self.code"): (),
    # The relay's JobFailed takes the Unpublishable's code (scanned).
    ("libs/eventstore/src/figsync_eventstore/relay.py", "why.code"): (),
    # Status codes the Anthropic API refuses with (_REJECTED_CODES) or its default.
    ("services/summarizer/src/figsync_summarizer/adapters/anthropic_api.py", "code"): (
        "anthropic.bad_request",
        "anthropic.unauthorized",
        "anthropic.payment_required",
        "anthropic.forbidden",
        "anthropic.model_not_found",
        "anthropic.request_too_large",
        "anthropic.rejected",
    ),
    # The summarizer passes on ModelUnavailable/ModelRejected/CircuitOpen codes (scanned).
    ("services/summarizer/src/figsync_summarizer/handlers.py", "error.code"): (),
    # _emit(..., reason) passes on the reason _fallback was given (its calls are scanned).
    ("services/summarizer/src/figsync_summarizer/handlers.py", "reason"): (),
    # A preview's fallback reason (SummaryPreviewed): the step's own reasons, or the code of the
    # model error, breaker or rate budget that stopped it (scanned where they are raised).
    ("services/summarizer/src/figsync_summarizer/preview.py", "reason"): (
        "ai_disabled",
        "anthropic.no_api_key",
        "budget_exceeded",
        "invalid_output",
    ),
    # Alerts re-raise or record the Slack adapter's codes (scanned).
    ("services/notifier/src/figsync_notifier/handlers.py", "error.code"): (),
    # The thread-sync step re-raises or records the code of the StepError it caught.
    ("services/notifier/src/figsync_notifier/lifecycle.py", "error.code"): (),
}


@dataclass(frozen=True)
class Site:
    """One place in the source that puts a code on a job."""

    path: str
    line: int
    construct: str
    expression: str
    codes: tuple[str, ...] | None  # None: not resolved statically

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.construct}({self.expression})"


def source_files() -> Iterator[Path]:
    for pattern in SOURCES:
        for src in sorted(ROOT.glob(pattern)):
            yield from sorted(src.rglob("*.py"))


@cache
def parsed_sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(), filename=str(path))
        for path in source_files()
    }


def step_error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """StepError and every class deriving from it, anywhere in the source."""
    found = set(STEP_ERROR_ROOTS)
    while True:
        more = {
            node.name
            for tree in trees.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and node.name not in found
            and any(_name_of(base) in found for base in node.bases)
        }
        if not more:
            return found
        found |= more


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def step_names(trees: dict[str, ast.Module]) -> set[str]:
    """The names of the steps (`Step(name, …)`; a constant name is looked up where it is
    assigned). A step that raises something unclassified fails the job with
    `<step>.unexpected_error`."""
    constants = {
        target.id: node.value.value
        for tree in trees.values()
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    names = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name_of(node.func) == "Step" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
                else:
                    names.add(constants.get(_name_of(first) or "", ast.unparse(first)))
    return names


class _Resolver:
    """The string values an expression can have, when the module itself says so."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents = {
            child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)
        }
        self.functions = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }

    def resolve(self, node: ast.expr, seen: frozenset[int] = frozenset()) -> set[str] | None:
        if id(node) in seen:
            return None
        seen = seen | {id(node)}
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) else set()
        if isinstance(node, ast.IfExp):
            return self._union([node.body, node.orelse], seen)
        if isinstance(node, ast.BoolOp):
            return self._union(node.values, seen)
        if isinstance(node, ast.Name):
            return self._union(self._assignments(node), seen)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            function = self.functions.get(node.func.id)
            if function is not None:
                returns = [
                    r.value
                    for r in ast.walk(function)
                    if isinstance(r, ast.Return) and r.value is not None
                ]
                return self._union(returns, seen)
        return None

    def _union(self, nodes: list[ast.expr], seen: frozenset[int]) -> set[str] | None:
        if not nodes:
            return None
        values: set[str] = set()
        for node in nodes:
            resolved = self.resolve(node, seen)
            if resolved is None:
                return None
            values |= resolved
        return values

    def _assignments(self, name: ast.Name) -> list[ast.expr]:
        """Plain `name = value` in the enclosing function, else at module level. A parameter
        (or any other binding) leaves the name unresolved."""
        scope: ast.AST = name
        while scope in self.parents and not isinstance(
            scope, ast.FunctionDef | ast.AsyncFunctionDef
        ):
            scope = self.parents[scope]
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = scope.args
            parameters = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
            if any(a.arg == name.id for a in parameters):
                return []
        else:
            scope = self.tree
        values = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name.id for t in node.targets
            ):
                values.append(node.value)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Tuple) and name.id in [_name_of(e) for e in t.elts]
                for t in node.targets
            ):
                return []  # unpacked from something: the allow-list says what it holds
        return values


def code_sites(trees: dict[str, ast.Module] | None = None) -> list[Site]:
    """Every construction in the source that carries a code onto a job."""
    trees = trees if trees is not None else parsed_sources()
    carriers = dict(CARRIERS)
    carriers.update({name: (0, "code") for name in step_error_classes(trees)})
    sites = []
    for path, tree in trees.items():
        if path == CATALOGUE_FILE:
            continue
        resolver = _Resolver(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            construct = _name_of(node.func)
            if construct in carriers:
                position, keyword = carriers[construct]
            elif keyword := next((k.arg for k in node.keywords if k.arg in KEYWORD_CARRIERS), ""):
                position = None
            else:
                continue
            argument = next((k.value for k in node.keywords if k.arg == keyword), None)
            if argument is None and position is not None and len(node.args) > position:
                argument = node.args[position]
            if argument is None or isinstance(argument, ast.Starred):
                continue  # a default (None), or an event built from a dict
            resolved = resolver.resolve(argument)
            sites.append(
                Site(
                    path=path,
                    line=node.lineno,
                    construct=construct,
                    expression=ast.unparse(argument),
                    codes=tuple(sorted(resolved)) if resolved is not None else None,
                )
            )
    return sites


def codes_on_jobs(sites: list[Site]) -> dict[str, list[Site]]:
    where: dict[str, list[Site]] = {}
    for site in sites:
        codes = site.codes if site.codes is not None else DYNAMIC.get(_key(site), ())
        if "<step>.unexpected_error" in codes:
            codes = [c for c in codes if not c.startswith("<step>")]
            codes += [f"{step}.unexpected_error" for step in sorted(_steps())]
        for code in codes:
            where.setdefault(code, []).append(site)
    return where


def _key(site: Site) -> tuple[str, str]:
    return (site.path, site.expression)


@pytest.fixture(scope="module")
def sites() -> list[Site]:
    return code_sites()


def test_the_scan_finds_the_codes_it_is_meant_to(sites):
    found = codes_on_jobs(sites)
    for code in [
        "figma.comment_not_found",  # PermanentError in the figma step
        "notion.property_missing",  # PermanentError and Problem
        "anthropic.rate_limited",  # ModelUnavailable, via a helper function's returns
        "store.unavailable",  # WaitError in the runner
        "event.too_large",
        "relay.event_too_large",  # Unpublishable
        "mention_not_tracked",  # JobIgnored(reason=…)
        "ai_disabled",  # _fallback(…, "ai_disabled")
        "notion.unexpected_error",  # an f-string, from DYNAMIC
    ]:
        assert code in found, code


def test_every_code_on_a_job_is_resolved_or_listed(sites):
    unresolved = [s for s in sites if s.codes is None and _key(s) not in DYNAMIC]
    assert not unresolved, (
        "These constructions put a code on a job that the scan cannot read from a literal:\n"
        + "\n".join(f"  {s}" for s in unresolved)
        + "\nPass a string literal, or add the (file, expression) with the codes it can produce "
        "to DYNAMIC in tests/test_error_codes.py, with a comment saying where they come from."
    )


def test_every_code_on_a_job_is_catalogued(sites):
    missing = {
        code: places for code, places in codes_on_jobs(sites).items() if code not in CATALOGUE
    }
    assert not missing, (
        "Codes that can end up on a job but are not in the error-code catalogue:\n"
        + "\n".join(
            f"  {code!r} at {', '.join(f'{s.path}:{s.line}' for s in places)}"
            for code, places in sorted(missing.items())
        )
        + f"\nAdd ErrorCode({next(iter(sorted(missing)))!r}, meaning=…, action=…, kind=…) for each "
        f"to {CATALOGUE_FILE} (what happened, what to do, how figsync treats it), then run "
        "`make docs` to regenerate docs/troubleshooting.md."
    )


def test_no_catalogue_entry_is_stale(sites):
    used = set(codes_on_jobs(sites))
    stale = sorted(set(CATALOGUE) - used)
    assert not stale, (
        f"The catalogue ({CATALOGUE_FILE}) documents codes nothing in the source produces any "
        f"more: {stale}. Remove them (or, if a code is built dynamically, list it in DYNAMIC in "
        "tests/test_error_codes.py), then run `make docs`."
    )


def test_every_dynamic_entry_still_matches_the_source(sites):
    keys = {_key(s) for s in sites if s.codes is None}
    unused = [key for key in DYNAMIC if key not in keys]
    assert not unused, (
        f"DYNAMIC in tests/test_error_codes.py lists expressions no longer in the source: "
        f"{unused}; remove them."
    )


@cache
def _steps() -> frozenset[str]:
    return frozenset(step_names(parsed_sources()))


def test_every_step_s_name_is_found():
    steps = _steps()
    assert {"figma", "sync", "summarizer", "notion", "notifier", "alerts"} <= steps, steps
    unresolved = sorted(name for name in steps if not re.fullmatch(r"[a-z][a-z0-9_-]*", name))
    assert not unresolved, f"Step names the scan cannot read: {unresolved}; use a string constant"


def test_each_code_has_one_entry():
    """The catalogue is a dict by code: a second entry would silently replace the first."""
    codes = [entry.code for section in SECTIONS for entry in section.codes]
    assert len(codes) == len(set(codes)), sorted(c for c in set(codes) if codes.count(c) > 1)


def test_every_step_in_the_source_is_in_the_step_map():
    """figsync_contracts.steps (KEDA's triggers, the catalogue's per-step entries) names every
    step the services define."""
    assert _steps() == set(STEP_SERVICES), _steps() ^ set(STEP_SERVICES)


def test_each_code_is_treated_as_its_kind_says(sites):
    """A code raised only as PermanentError is permanent, only as WaitError waiting, and a
    JobIgnored reason is ignored; codes raised several ways say which in their entry."""
    kind_of = {"PermanentError": "permanent", "WaitError": "waiting", "JobIgnored": "ignored"}
    wrong = []
    for code, places in codes_on_jobs(sites).items():
        kinds = {kind_of.get(s.construct) for s in places}
        if len(kinds) == 1 and None not in kinds and code in CATALOGUE:
            (expected,) = kinds
            if CATALOGUE[code].kind != expected:
                wrong.append(f"{code}: kind {CATALOGUE[code].kind!r}, raised as {expected!r}")
    assert not wrong, "\n".join(wrong)


def test_entries_are_complete_sentences_with_a_known_kind():
    for code, entry in CATALOGUE.items():
        assert entry.code == code
        assert entry.kind in KINDS, code
        assert entry.meaning.strip().endswith("."), code
        assert entry.action.strip().endswith("."), code
    assert describe("figma.comment_not_found") is CATALOGUE["figma.comment_not_found"]
    assert describe("no.such_code") is None


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_troubleshooting", ROOT / "tools" / "gen_troubleshooting.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_troubleshooting_md_is_generated_from_the_catalogue():
    rendered = _generator().render()
    current = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert current == rendered, (
        "docs/troubleshooting.md is not what the catalogue renders; run `make docs` "
        "(tools/gen_troubleshooting.py) and commit the result."
    )
    for code in CATALOGUE:
        assert f"`{code}`" in rendered


def test_the_ingest_refusals_in_troubleshooting_md_are_the_ingest_s_codes():
    """The hand-written table of ingest refusals names every `ingest.*` code the ingest
    answers with, and no other."""
    in_source = {
        node.value
        for path in sorted((ROOT / "services" / "ingest" / "src").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"ingest\.[a-z_]*[a-z]", node.value)
    }
    in_table = set(re.findall(r"`(ingest\.[a-z_]+)`", _generator().INGEST))
    assert in_source - in_table == set(), (
        f"add {sorted(in_source - in_table)} to INGEST in tools/gen_troubleshooting.py "
        "(status, code, what the sender should do), then run `make docs`"
    )
    assert in_table - in_source == set(), (
        f"remove {sorted(in_table - in_source)} from INGEST in tools/gen_troubleshooting.py, "
        "then run `make docs`"
    )
