"""The Kubernetes manifests: they render, validate, and configure each process.

Every overlay is rendered with `kubectl kustomize` (or `kustomize build`);
without either tool the tests skip and say so.
"""

from __future__ import annotations

import ast
import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = K8S / "base" / "secret.example.yaml"
OVERLAYS = ["base", "overlays/dev", "overlays/prod"]
KUBERNETES_VERSION = "1.32"

# Workload name -> (process, the command that runs it).
PROCESSES = {
    "xobito-gateway": ("gateway", ["python", "-m", "gateway"]),
    "xobito-ingest": ("ingest", ["python", "-m", "services.ingest"]),
    "xobito-metrics": ("metrics", ["python", "-m", "services.metrics"]),
    "xobito-contacts": ("contacts", ["python", "-m", "services.contacts"]),
    "xobito-migrate": ("migrate", ["xobito", "migrate"]),
}

# Variables the code reads that no process in the cluster is given.
NOT_IN_CLUSTER = {
    "XOBITO_DATA_DIR": "only where `make run` keeps its local servers' data",
    "XOBITO_POSTGRES_PORT": "only the port of `make run`'s local PostgreSQL",
    "XOBITO_VALKEY_PORT": "only the port of `make run`'s local Valkey",
    "DEV_API_KEY": "makes the dev workspace's key at start; never in a cluster",
}

# Secrets are given only to the processes that read them.
SECRETS_READ = {
    "gateway": {"DATABASE_URL", "REDIS_URL", "API_KEY_PEPPER"},
    "ingest": {"DATABASE_URL", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"},
    "metrics": {"DATABASE_URL", "REDIS_URL", "ERASURE_KEY"},
    "contacts": {"DATABASE_URL", "ERASURE_KEY"},
    "migrate": {"DATABASE_URL"},
}
SECRET_VARIABLES = set().union(*SECRETS_READ.values())
SOURCES = {
    "gateway": ROOT / "gateway",
    "ingest": ROOT / "services" / "ingest",
    "metrics": ROOT / "services" / "metrics",
    "contacts": ROOT / "services" / "contacts",
}

GRPC_PORTS = {"ingest": 50051, "metrics": 50052, "contacts": 50053}
TARGETS = ("METRICS_TARGET", "CONTACTS_TARGET", "INGEST_TARGET")
HTTP_PORTS = {"gateway": 8000, "ingest": 8080}


def settings_variables() -> set[str]:
    """Every variable name Settings.from_env reads."""
    tree = ast.parse((ROOT / "xobito" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            args = node.args[:1]
        elif (
            node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "env"
        ):
            # A helper reading env: _int(env, "NAME", ...) and its kind.
            args = node.args[1:2]
        else:
            continue
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    return names


def required_settings(package: Path) -> set[str]:
    """The variables the code under package passes to Settings.require."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "require"
            ):
                names |= {
                    arg.value.upper()
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                }
    return names


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    if kubectl := shutil.which("kubectl"):
        command = [kubectl, "kustomize", str(K8S / overlay)]
    elif kustomize := shutil.which("kustomize"):
        command = [kustomize, "build", str(K8S / overlay)]
    else:
        pytest.skip("skipped: neither kubectl nor kustomize is installed")
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return render(request.param)


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> Iterator[Any]:
    return (obj for obj in objects if obj["kind"] == kind)


def workloads(objects: tuple[dict[str, Any], ...]) -> Iterator[Any]:
    """Each Deployment or Job of ours with its process name."""
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] in {"Deployment", "Job"} and name in PROCESSES:
            yield PROCESSES[name][0], obj


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def config(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    (found,) = of_kind(objects, "ConfigMap")
    return dict(found["data"])


def template_keys() -> set[str]:
    return set(yaml.safe_load(SECRET_TEMPLATE.read_text())["stringData"])


def test_the_settings_parser_finds_every_kind_of_variable() -> None:
    found = settings_variables()

    assert {"DATABASE_URL", "METRICS_GRPC_PORT", "GRAPHIQL", "LOG_FORMAT"} <= found


@pytest.mark.parametrize("process", sorted(SOURCES))
def test_each_process_is_given_the_secrets_it_requires(process: str) -> None:
    required = required_settings(SOURCES[process]) & SECRET_VARIABLES

    assert required
    assert required <= SECRETS_READ[process]


def test_every_object_is_valid_for_kubernetes(objects: Any) -> None:
    validate = pytest.importorskip(
        "kubernetes_validate",
        reason="skipped: kubernetes-validate is not installed",
    ).validate
    template = yaml.safe_load(SECRET_TEMPLATE.read_text())

    for obj in [*objects, template]:
        validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_process_is_given_every_setting_it_reads(objects: Any) -> None:
    plain = settings_variables() - set(NOT_IN_CLUSTER) - SECRET_VARIABLES
    configmaps = {
        c["metadata"]["name"]: c["data"] for c in of_kind(objects, "ConfigMap")
    }
    missing = {}

    for process, workload in workloads(objects):
        spec = container(workload)
        given = {env["name"] for env in spec.get("env", [])}
        for source in spec.get("envFrom", []):
            given |= set(configmaps[source["configMapRef"]["name"]])
        if lacking := (plain | SECRETS_READ[process]) - given:
            missing[process] = sorted(lacking)

    assert missing == {}


def test_no_process_is_given_a_secret_it_does_not_read(objects: Any) -> None:
    for process, workload in workloads(objects):
        given = {env["name"] for env in container(workload).get("env", [])}

        assert given & SECRET_VARIABLES == SECRETS_READ[process], process


def test_secret_references_are_keys_of_the_template(objects: Any) -> None:
    secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    for _, workload in workloads(objects):
        for env in container(workload).get("env", []):
            if "secretKeyRef" not in env.get("valueFrom", {}):
                continue
            ref = env["valueFrom"]["secretKeyRef"]

            assert ref["name"] == "xobito"
            assert ref["key"] in template_keys()
            if "xobito" in secrets:
                assert ref["key"] in secrets["xobito"]["stringData"]


def test_the_secret_template_holds_placeholders_only() -> None:
    values = yaml.safe_load(SECRET_TEMPLATE.read_text())["stringData"]

    assert all("REPLACE-ME" in value for value in values.values())
    assert "API_KEY_PEPPER" in values


def test_each_workload_runs_its_process(objects: Any) -> None:
    names = {obj["metadata"]["name"] for _, obj in workloads(objects)}

    assert names == set(PROCESSES)
    for _, workload in workloads(objects):
        expected = PROCESSES[workload["metadata"]["name"]][1]
        assert container(workload)["command"] == expected


def test_services_leave_migrations_to_the_job(objects: Any) -> None:
    settings = config(objects)

    assert settings["MIGRATE_ON_START"] == "false"
    assert settings["BIND_HOST"] == "0.0.0.0"


def test_graphiql_is_served_only_in_dev() -> None:
    for overlay in OVERLAYS:
        expected = "true" if overlay == "overlays/dev" else "false"

        assert config(render(overlay))["GRAPHIQL"] == expected, overlay


def test_containers_run_unprivileged_on_a_read_only_filesystem(
    objects: Any,
) -> None:
    for obj in [*of_kind(objects, "Deployment"), *of_kind(objects, "Job")]:
        pod = obj["spec"]["template"]["spec"]["securityContext"]
        context = container(obj)["securityContext"]
        mounts = container(obj)["volumeMounts"]

        assert pod["runAsNonRoot"] is True
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"name": "tmp", "mountPath": "/tmp"} in mounts


def test_every_container_has_resource_requests_and_limits(objects: Any) -> None:
    for kind in ("Deployment", "StatefulSet", "Job"):
        for obj in of_kind(objects, kind):
            resources = container(obj)["resources"]
            name = obj["metadata"]["name"]

            for bound in ("requests", "limits"):
                assert set(resources[bound]) == {"cpu", "memory"}, name


def test_grpc_services_are_probed_on_grpc_health(objects: Any) -> None:
    for process, workload in workloads(objects):
        spec = container(workload)
        if process in {"metrics", "contacts"}:
            port = GRPC_PORTS[process]
            assert spec["readinessProbe"]["grpc"]["port"] == port
            assert spec["livenessProbe"]["grpc"]["port"] == port
        elif process == "ingest":
            assert spec["livenessProbe"]["grpc"]["port"] == GRPC_PORTS[process]


def test_http_services_are_probed_on_healthz(objects: Any) -> None:
    for process, workload in workloads(objects):
        if process in HTTP_PORTS:
            probe = container(workload)["readinessProbe"]["httpGet"]

            assert probe["path"] == "/healthz"
            assert probe["port"] == "http"


def test_container_ports_are_the_configured_ports(objects: Any) -> None:
    settings = config(objects)
    configured = {
        "gateway": {int(settings["GATEWAY_PORT"])},
        "ingest": {
            int(settings["INGEST_HTTP_PORT"]),
            int(settings["INGEST_GRPC_PORT"]),
        },
        "metrics": {
            int(settings["METRICS_GRPC_PORT"]),
            int(settings["METRICS_PROMETHEUS_PORT"]),
        },
        "contacts": {
            int(settings["CONTACTS_GRPC_PORT"]),
            int(settings["CONTACTS_PROMETHEUS_PORT"]),
        },
    }

    for process, workload in workloads(objects):
        declared = container(workload).get("ports", [])
        ports = {port["containerPort"] for port in declared}

        assert ports == configured.get(process, set()), process


def test_targets_name_services_of_the_right_port(objects: Any) -> None:
    settings = config(objects)
    services = {
        svc["metadata"]["name"]: {p["port"] for p in svc["spec"]["ports"]}
        for svc in of_kind(objects, "Service")
    }

    for variable in TARGETS:
        host, port = settings[variable].removeprefix("dns:///").split(":")
        assert int(port) in services[host], variable


def test_grpc_clients_balance_over_every_pod_of_a_headless_service(
    objects: Any,
) -> None:
    settings = config(objects)
    services = {svc["metadata"]["name"]: svc for svc in of_kind(objects, "Service")}

    for variable in TARGETS:
        scheme, _, address = settings[variable].partition(":///")
        host = address.split(":")[0]
        assert scheme == "dns", variable
        assert services[host]["spec"]["clusterIP"] == "None", variable


def test_every_process_is_scraped_on_a_port_it_serves_metrics_on(
    objects: Any,
) -> None:
    settings = config(objects)
    served = {
        "gateway": settings["GATEWAY_PORT"],
        "ingest": settings["INGEST_HTTP_PORT"],
        "metrics": settings["METRICS_PROMETHEUS_PORT"],
        "contacts": settings["CONTACTS_PROMETHEUS_PORT"],
    }

    for process, workload in workloads(objects):
        if process not in served:
            continue
        pod = workload["spec"]["template"]["metadata"]
        annotations = pod["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", process
        assert annotations["prometheus.io/path"] == "/metrics", process
        assert annotations["prometheus.io/port"] == served[process], process


def test_ingest_and_gateway_autoscale_with_a_disruption_budget_for_each(
    objects: Any,
) -> None:
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in of_kind(objects, "HorizontalPodAutoscaler")
    }
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for pdb in of_kind(objects, "PodDisruptionBudget")
    }

    assert scaled == {"xobito-gateway", "xobito-ingest"}
    assert budgets == {"gateway", "ingest", "metrics", "contacts"}


def test_only_gateway_and_ingest_accept_traffic_from_anywhere(
    objects: Any,
) -> None:
    open_to_all = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        rules = policy["spec"].get("ingress", [])
        if any("from" not in rule for rule in rules):
            labels = policy["spec"]["podSelector"]["matchLabels"]
            open_to_all.add(labels["app.kubernetes.io/name"])

    assert open_to_all == {"gateway", "ingest"}


def test_every_pod_of_ours_is_under_the_default_deny(objects: Any) -> None:
    (deny,) = (
        p
        for p in of_kind(objects, "NetworkPolicy")
        if p["metadata"]["name"] == "xobito-default-deny"
    )
    selector = deny["spec"]["podSelector"]["matchLabels"].items()

    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for _, workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector <= labels.items()


def test_only_the_stores_clients_may_reach_the_stores(objects: Any) -> None:
    for process, workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        reads = SECRETS_READ[process]

        postgres = labels.get("xobito.io/postgres-client") == "true"
        redis = labels.get("xobito.io/redis-client") == "true"
        assert postgres == ("DATABASE_URL" in reads), process
        assert redis == ("REDIS_URL" in reads), process


def test_the_image_runs_as_a_non_root_user_without_dev_extras() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert dockerfile.count("\nFROM ") == 2
    assert "\nUSER 10001:10001\n" in dockerfile
    assert "[dev]" not in dockerfile
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
