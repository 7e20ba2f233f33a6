"""The shape of the code: no import circles, no module over 400 lines, and
the instance runner independent of the daemon."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "daemon", "ctl", "instance_runner")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `name` imports, TYPE_CHECKING ones included."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    # No garbage collection while parsing: under CPython 3.11 a finalizer that
    # formats a traceback (asyncio's "exception never retrieved", from an
    # earlier test) runs ast.parse inside ast.parse and fails it with
    # "SystemError: AST constructor recursion depth mismatch".
    gc.disable()
    try:
        return {name: imports(name, path, known) for name, path in known.items()}
    finally:
        gc.enable()


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_instance_runner_and_common_do_not_import_the_daemon() -> None:
    for name, targets in graph().items():
        if name.startswith(("instance_runner", "common")):
            bad = {t for t in targets if t.startswith("daemon")}
            assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_400_lines(package: str) -> None:
    for path in (REPO / package).rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.relative_to(REPO)} has {lines} lines"


# The rooms (docs/design.md): the router knows the config's vocabulary and the
# shared types, never the supervisor, the fleet or the daemon's glue.
ROUTER_MAY_IMPORT = {
    "daemon",  # its __version__ only: the package holds nothing else
    "daemon.types",
    "daemon.config",  # the package: a docstring
    "daemon.config.schema",
    "daemon.config.keys",
    "daemon.config.dns_target",
}


def router_violations(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} imports {target}"
        for name, targets in sorted(edges.items())
        if name.startswith("daemon.router")
        for target in sorted(targets)
        if target.startswith("daemon")
        and not target.startswith("daemon.router")
        and target not in ROUTER_MAY_IMPORT
    ]


def test_the_router_imports_only_the_config_schema_and_shared_types() -> None:
    assert router_violations(graph()) == []


def test_the_router_rule_sees_a_reach_into_the_supervisor() -> None:
    edges = {"daemon.router.pool": {"daemon.config.schema", "daemon.supervise.supervisor"}}
    assert router_violations(edges) == ["daemon.router.pool imports daemon.supervise.supervisor"]


def test_instance_runner_imports_neither_the_daemon_nor_ctl() -> None:
    for name, targets in graph().items():
        if name.startswith("instance_runner"):
            bad = {t for t in targets if t.startswith(("daemon", "ctl"))}
            assert not bad, f"{name} imports {bad}"


# Wiring at construction: a component takes what it calls in its constructor
# (a listener, hooks, callables); nobody assigns another component's hook later.
CALLBACKS = {
    "after_round",
    "dashboard",
    "drain",
    "emit",
    "event_counts",
    "hooks",
    "listener",
    "max_starting",
    "memory",
    "restart",
    "standby",
    "undrain",
    "warming",
}


def is_hook(attr: str) -> bool:
    return attr.startswith(("on_", "hook")) or attr in CALLBACKS


def hook_assignments(source: str) -> list[str]:
    """`x.on_y = ...`, `x.hook = ...` or `x.<known callback> = ...` where x is
    anything but `self` itself (`self.router.dashboard = ...` counts)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                if not isinstance(t, ast.Attribute) or not is_hook(t.attr):
                    continue
                if isinstance(t.value, ast.Name) and t.value.id == "self":
                    continue
                found.append(f"line {t.lineno}: {ast.unparse(t)} =")
    return found


def hook_subscriptions(source: str) -> list[str]:
    """`x.on_y.append(f)` or `x.listeners.add(f)` (a list of hooks another
    component fills after the fact) where x is anything but `self`. A log
    follower (`program.log_listeners`) comes and goes with a client's
    connection: that is no wiring."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        hooks = node.func.value
        if node.func.attr not in ("append", "add", "extend", "insert"):
            continue
        if not isinstance(hooks, ast.Attribute) or hooks.attr == "log_listeners":
            continue
        if not (is_hook(hooks.attr) or hooks.attr.endswith("listeners")):
            continue
        if isinstance(hooks.value, ast.Name) and hooks.value.id == "self":
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def test_no_hook_of_another_component_is_assigned_after_construction() -> None:
    offenders = []
    paths = [
        p
        for room in ("daemon", "instance_runner", "common", "ctl")
        for p in (REPO / room).rglob("*.py")
    ]
    for path in sorted(paths):
        source = path.read_text()
        for hit in hook_assignments(source) + hook_subscriptions(source):
            offenders.append(f"{path.relative_to(REPO)} {hit}")
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "supervisor.drain = link.drain_for",
        "self.router.dashboard = DaemonFeed(self)",
        "router.pool.on_phase = lambda backend: None",
        "pool.hooks, x = hooks, 1",
        "prober.on_pass: object = f",
    ],
)
def test_the_hook_check_sees(line: str) -> None:
    assert len(hook_assignments(line)) == 1


@pytest.mark.parametrize(
    "line",
    [
        "self.supervisor.listeners.append(self.on_transition)",
        "supervisor.door_listeners.append(stats.through_door)",
        "self.store.on_forget.append(lambda name: None)",
    ],
)
def test_the_subscription_check_sees(line: str) -> None:
    assert len(hook_subscriptions(line)) == 1


@pytest.mark.parametrize(
    "line",
    ["self.listeners.append(f)", "program.log_listeners.add(q)", "self.backends.add(b)"],
)
def test_the_subscription_check_leaves_alone(line: str) -> None:
    assert hook_subscriptions(line) == []


@pytest.mark.parametrize(
    "line", ["self.on_pass = on_pass", "backend.max_concurrent = 3", "saved.desired = x"]
)
def test_the_hook_check_leaves_alone(line: str) -> None:
    assert hook_assignments(line) == []


# Below the fleet: the supervisor knows neither the fleet nor the router, and
# the config knows no room at all (it is what every room reads).
ROOMS_MAY_NOT = {
    "daemon.supervise": ("daemon.fleet", "daemon.router"),
    "daemon.config": ("daemon.supervise", "daemon.fleet", "daemon.router"),
}


def room_violations(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} imports {target}"
        for name, targets in sorted(edges.items())
        for room, banned in ROOMS_MAY_NOT.items()
        if name.startswith(room + ".")
        for target in sorted(targets)
        if target.startswith(banned)
    ]


def test_the_supervisor_and_the_config_do_not_reach_up() -> None:
    assert room_violations(graph()) == []


def test_the_room_rule_sees_a_reach_up() -> None:
    edges = {"daemon.config.fleet": {"daemon.fleet.scale_policy", "daemon.types"}}
    assert room_violations(edges) == ["daemon.config.fleet imports daemon.fleet.scale_policy"]
