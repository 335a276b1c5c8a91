"""The deployment files in infra/deploy: Kubernetes objects valid against Kubernetes' own
schemas (kubernetes-validate, offline), KEDA objects against a schema written from KEDA's
documented fields, and what the objects say checked against the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from adapters.broker import topology
from tests.support.deploy_files import (
    KUBERNETES,
    ROOT,
    WORKER_QUEUES,
    manifests,
    objects,
    pod_specs,
)

#: A Kubernetes release whose schemas kubernetes-validate ships (no network needed).
KUBERNETES_VERSION = "1.31.0"
KEDA_SCHEMA = Path(__file__).with_name("schemas") / "keda-v1alpha1.schema.json"
SECRET_VARIABLES = {
    "CALSYNC_SECRET_KEY",
    "CALSYNC_DATABASE_URL",
    "CALSYNC_BROKER_URL",
    "CALSYNC_CRM_SIGNING_SECRET",
    "CALSYNC_GOOGLE_CLIENT_ID",
    "CALSYNC_GOOGLE_CLIENT_SECRET",
    "CALSYNC_MICROSOFT_CLIENT_ID",
    "CALSYNC_MICROSOFT_CLIENT_SECRET",
}
#: README's benchmark: a worker peaks at 119-125 MiB RSS.
WORKER_PEAK_MIB = 125


def settings_variables() -> set[str]:
    text = (ROOT / "infra" / "settings.py").read_text()
    return set(re.findall(r'"(CALSYNC_[A-Z_]+)"', text))


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    raise ValueError(f"unexpected memory quantity {quantity!r}")


def test_every_core_object_is_valid_against_the_kubernetes_schemas() -> None:
    checked = []
    for path, document in manifests():
        if document["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {document['kind']} {document['metadata']['name']}: {exc}")
        checked.append(document["kind"])
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "ConfigMap"} <= set(checked)


def test_every_keda_object_is_valid_against_the_documented_fields() -> None:
    schema = json.loads(KEDA_SCHEMA.read_text())
    keda = [doc for _path, doc in manifests() if doc["apiVersion"].startswith("keda.sh/")]
    for document in keda:
        jsonschema.validate(document, schema)
    assert {doc["kind"] for doc in keda} == {"ScaledObject", "TriggerAuthentication"}


def test_the_keda_schema_refuses_a_misspelt_field() -> None:
    schema = json.loads(KEDA_SCHEMA.read_text())
    scaled = objects("ScaledObject")[0]
    misspelt = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(misspelt, schema)


def test_there_is_a_deployment_for_serve_the_scheduler_and_every_worker_queue() -> None:
    commands = {
        tuple(spec["containers"][0]["args"])
        for _name, spec in pod_specs()
        if spec.get("restartPolicy") != "Never"
    }
    expected = {("serve",), ("scheduler",)} | {("worker", "--queue", q) for q in WORKER_QUEUES}
    assert commands == expected
    migrations = [
        spec["containers"][0]["args"] for _n, spec in pod_specs() if _n == "calsync-migrate"
    ]
    assert migrations == [["db", "upgrade"]]


def test_each_work_queue_scales_on_its_own_length_with_the_shared_authentication() -> None:
    deployments = {d["metadata"]["name"]: d for d in objects("Deployment")}
    (auth,) = objects("TriggerAuthentication")
    scaled_queues = []
    for scaled in objects("ScaledObject"):
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        (trigger,) = scaled["spec"]["triggers"]
        queue = trigger["metadata"]["queueName"]
        assert target["spec"]["template"]["spec"]["containers"][0]["args"][-1] == queue
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert scaled["spec"]["minReplicaCount"] >= 1  # a hint never waits for a cold start
        scaled_queues.append(queue)
    assert sorted(scaled_queues) == sorted(q.name for q in topology.WORK_QUEUES)


def test_secrets_come_only_from_the_secret_and_settings_only_from_known_variables() -> None:
    assert not objects("Secret"), "no Secret object with values is shipped"
    (config,) = objects("ConfigMap")
    known = settings_variables() | {"PROMETHEUS_MULTIPROC_DIR"}
    assert set(config["data"]) <= known
    assert not set(config["data"]) & SECRET_VARIABLES
    for name, spec in pod_specs():
        container = spec["containers"][0]
        by_name = {env["name"]: env for env in container["env"]}
        assert set(by_name) <= known, name
        for variable in SECRET_VARIABLES:
            assert by_name[variable]["valueFrom"]["secretKeyRef"]["name"] == "calsync", name


def test_every_pod_runs_as_non_root_on_a_read_only_root_with_requests_and_limits() -> None:
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            limit = mebibytes(resources["limits"]["memory"])
            assert limit >= 2 * WORKER_PEAK_MIB, f"{name}: {limit} MiB leaves no headroom"


def test_serve_is_probed_on_healthz_and_readyz_and_kept_available() -> None:
    (serve,) = [d for d in objects("Deployment") if d["metadata"]["name"] == "calsync-serve"]
    container = serve["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (budget,) = objects("PodDisruptionBudget")
    labels = serve["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] < serve["spec"]["replicas"]
    (service,) = objects("Service")
    assert service["spec"]["selector"].items() <= labels.items()


def test_workers_get_their_grace_period_before_kubernetes_kills_them() -> None:
    from workers.runner import DEFAULT_GRACE_SECONDS

    for name, spec in pod_specs():
        assert spec["terminationGracePeriodSeconds"] > DEFAULT_GRACE_SECONDS, name


def test_manifest_files_apply_in_name_order_namespace_first() -> None:
    names = sorted(path.name for path in KUBERNETES.glob("*.yaml"))
    assert names[0].startswith("00-namespace")
    assert names.index("20-migrate-job.yaml") < names.index("30-serve.yaml")
