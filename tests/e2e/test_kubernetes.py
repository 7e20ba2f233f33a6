"""deploy/kubernetes: every manifest valid for a current Kubernetes (offline
schemas of kubernetes-validate), the kustomizations complete, the configs
they carry loadable by mictld."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from daemon.config import dns_target, shards
from daemon.config import loader as config
from tests.helpers import BIN

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
VERSION = "1.37.0"  # the newest kubernetes-validate knows; a current release
MANIFESTS = sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")
DEMO_SPLIT = {"demo-1": 0, "demo-3": 0, "demo-2": 1, "demo-6": 1}  # the demo's 2 pods
KUSTOMIZATIONS = sorted(KUBE.rglob("kustomization.yaml"))


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def _validate(doc: dict) -> None:
    try:
        kubernetes_validate.validate(doc, VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        raise AssertionError(f"{name}: {exc.message} at {list(exc.path)}") from None


def test_there_are_the_manifests_the_issue_asks_for() -> None:
    kinds = {d["kind"] for p in MANIFESTS for d in _documents(p.read_text())}
    assert {"StatefulSet", "Deployment", "Service", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(KUBE)))
def test_each_manifest_is_valid_for_a_current_kubernetes(path: Path) -> None:
    for doc in _documents(path.read_text()):
        _validate(doc)


def test_validation_can_fail() -> None:
    doc = _documents((KUBE / "base" / "accounts-statefulset.yaml").read_text())[0]
    doc["spec"]["replicas"] = "two"
    with pytest.raises(AssertionError, match=r"replicas|two"):
        _validate(doc)


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(KUBE)))
def test_the_kustomization_lists_every_file_and_each_exists(path: Path) -> None:
    k = yaml.safe_load(path.read_text())
    here = path.parent
    listed = [r for r in k.get("resources", []) if not (here / r).is_dir()]
    for r in k.get("resources", []):
        assert (here / r).exists(), f"{path}: {r} does not exist"
    used = set(listed)
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for entry in gen.get("files", []):
            source = entry.split("=", 1)[-1]
            assert (here / source).is_file(), f"{path}: {source} does not exist"
            used.add(source)
    present = {
        str(p.relative_to(here))
        for p in here.rglob("*")
        if p.is_file()
        and p.name != "kustomization.yaml"
        and "base" not in p.relative_to(here).parts
    }
    assert present == used, f"{path}: not listed {present - used}, missing {used - present}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl to render with")
@pytest.mark.parametrize("overlay", ["base", "demo"])
def test_the_rendered_kustomization_is_valid(overlay: str) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBE / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    docs = _documents(rendered)
    for doc in docs:
        _validate(doc)
    pods = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]
    names = {d["metadata"]["name"] for d in docs}
    if overlay == "base":  # the user makes these (docs/kubernetes.md); the demo generates them
        names |= {"mictl-api-keys", "mictl-profiles"}
    for workload in pods:
        spec = workload["spec"]["template"]["spec"]
        for volume in spec["volumes"]:  # generated names (hash suffixes) resolve
            ref = volume.get("configMap", volume.get("secret", {}))
            wanted = ref.get("name") or ref.get("secretName")
            assert wanted is None or wanted in names, f"{wanted} is not rendered"
        for c in spec["containers"]:
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["resources"]["requests"]["memory"]
            _check_pre_stop(c["lifecycle"]["preStop"]["exec"]["command"], spec)
    accounts = next(d for d in docs if d["kind"] == "StatefulSet")
    env = {
        e["name"]: e.get("value")
        for e in accounts["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MICTL_PROFILES__SHARDS"] == str(accounts["spec"]["replicas"])


def _check_pre_stop(command: list[str], spec: dict) -> None:
    """preStop is a real drain (`mictl drain --all`), bounded within the
    pod's grace, and a command line mictl takes: run against no daemon it
    exits 3 (daemon unreachable), not 2 (usage)."""
    line = command[-1] if command[0] == "sh" else shlex.join(command)
    drain = shlex.split(line.rpartition(";")[2].strip().removeprefix("exec "))
    assert drain[:3] == ["mictl", "drain", "--all"], command
    timeout = float(drain[drain.index("--timeout") + 1])
    waits = sum(float(w) for w in re.findall(r"sleep (\d+)", line))
    assert waits + timeout + 15 <= spec["terminationGracePeriodSeconds"]  # 15: stopping
    result = subprocess.run(
        [str(BIN / "mictl"), "--socket", "/nonexistent/mictl.sock", *drain[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr


@pytest.mark.parametrize(
    "path", sorted(KUBE.rglob("*.toml")), ids=lambda p: str(p.relative_to(KUBE))
)
def test_the_configs_load(path: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k\n")
    env = {
        "MICTL_ROUTER__API_KEYS_FILE": str(keys),
        "MICTL_PROFILES__SHARDS": "2",
        "MICTL_PROFILES__SHARD": "1",  # "auto" reads the pod's hostname
    }
    cfg = config.load(path, env=env)
    if path.name == "front.toml":
        target = dns_target.parse(cfg.upstreams["accounts"].discover)
        assert target.name == "mictl-accounts.mictl.svc.cluster.local" and target.port == 2048
    else:
        assert shards.mine(cfg.profiles) == (1, 2)
    if path.parent.name == "demo":  # each of the demo's two pods has accounts
        names = {p.stem for p in (path.parent / "profiles").glob("*.json")}
        assert {n: shards.shard_of(n, 2) for n in names} == DEMO_SPLIT
