"""deploy/: the container image definition and the Kubernetes manifests agree with each other and
with the code, checked offline.

- Every manifest validates (strict: unknown fields are errors) against the schemas of a pinned
  Kubernetes version, with `kubernetes-validate` (PyPI), which ships the schemas: no network.
- The Dockerfile's CMD reads the config from where the Deployment mounts the ConfigMap, on the
  port the Deployment and Service expose; the readiness probe and HEALTHCHECK run the script
  the image installs.
- The ConfigMap's servers.yaml passes `mcproute check` with the environment the pod gets (the
  Deployment's env plus the Secret's keys), and uses only variables the pod gets.
- The probe script, run against a real `mcproute serve` with a token, passes with the token and
  fails without it.

The image itself is not built here (no container runtime on the test machines).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runtime_support import child_env
from scaleout_support import serve, write_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"  # pinned: a version most managed clusters run; bump on purpose
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def docs() -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def dockerfile_instruction(name: str) -> list[str]:
    """The JSON (exec) form of a Dockerfile instruction, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    rest = line[len(name) :].strip()
    if name == "HEALTHCHECK":
        rest = rest[rest.index("CMD ") + 4 :]
    return list(json.loads(rest))


def gateway_container() -> dict[str, Any]:
    spec = one("Deployment", "mcproute")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_validates_against_the_pinned_kubernetes_schemas(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert documents
    for doc in documents:
        # Raises ValidationError naming the field; strict makes unknown fields errors too.
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_does_reject_a_broken_manifest() -> None:
    broken = one("Deployment", "mcproute")
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_deployment_has_three_replicas_probes_and_no_affinity() -> None:
    assert one("Deployment", "mcproute")["spec"]["replicas"] == 3
    assert one("Service", "mcproute")["spec"].get("sessionAffinity", "None") == "None"
    c = gateway_container()
    assert c["readinessProbe"] and c["livenessProbe"]
    assert "--appendonly" in one("StatefulSet", "redis")["spec"]["template"]["spec"]["containers"][0]["args"]


def test_the_image_cmd_reads_the_config_where_the_deployment_mounts_it() -> None:
    cmd = dockerfile_instruction("CMD")
    assert cmd[:2] == ["mcproute", "serve"]
    flag = {cmd[i]: cmd[i + 1] for i in range(2, len(cmd) - 1) if cmd[i].startswith("--")}
    assert flag["--transport"] == "http" and flag["--host"] == "0.0.0.0"
    config = Path(flag["--config"])
    assert config == Path("/etc/mcproute/servers.yaml")
    c = gateway_container()
    volumes = one("Deployment", "mcproute")["spec"]["template"]["spec"]["volumes"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == str(config.parent)]
    (volume,) = [v for v in volumes if v["name"] == mount["name"]]
    configmap = one("ConfigMap", volume["configMap"]["name"])
    assert config.name in configmap["data"]
    # One port everywhere: the CMD, the container, the Service, the probe's env, the config.
    port = int(flag["--port"])
    assert [p["containerPort"] for p in c["ports"]] == [port]
    assert {e["name"]: e.get("value") for e in c["env"]}["MCPROUTE_PORT"] == str(port)
    assert yaml.safe_load(configmap["data"][config.name])["gateway"]["http"]["port"] == port
    assert one("Service", "mcproute")["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]


def test_the_probes_run_the_script_the_image_installs() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    (copied,) = re.findall(r"^COPY deploy/healthcheck.py (\S+)$", text, re.M)
    assert dockerfile_instruction("HEALTHCHECK") == ["python", copied]
    assert gateway_container()["readinessProbe"]["exec"]["command"] == ["python", copied]


def pod_environment() -> dict[str, str]:
    """What the gateway container's environment holds: its env values and the Secret's keys."""
    c = gateway_container()
    env = {e["name"]: e["value"] for e in c["env"]}
    for source in c["envFrom"]:
        secret = one("Secret", source["secretRef"]["name"])
        env |= {k: f"test-{k.lower()}" for k in secret["stringData"]}
    return env


def test_the_mounted_servers_yaml_passes_mcproute_check_with_the_pods_environment(tmp_path: Path) -> None:
    text = one("ConfigMap", "mcproute-config")["data"]["servers.yaml"]
    used = set(re.findall(r"\$\{(\w+)", text))
    env = pod_environment()
    assert used <= env.keys(), f"the config reads variables the pod does not get: {used - env.keys()}"
    path = tmp_path / "servers.yaml"
    path.write_text(text)
    base = {k: v for k, v in child_env().items() if k not in used}
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path)],
        capture_output=True, text=True, timeout=120, env={**base, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(text)
    assert config["state"]["backend"] == "redis"
    # Without the pod's environment the same file is refused, naming what is missing.
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path)],
        capture_output=True, text=True, timeout=120, env=base,
    )  # fmt: skip
    assert done.returncode != 0 and "MCPROUTE_TOKEN" in done.stdout + done.stderr


def test_the_probe_script_passes_with_the_token_and_fails_without(tmp_path: Path) -> None:
    config = write_config(tmp_path, gateway={"http": {"token": "probe-secret"}})
    probe = [sys.executable, str(DEPLOY / "healthcheck.py")]
    with serve(config, workers=None) as served:
        port = served.url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPROUTE_")} | {"MCPROUTE_PORT": port}
        ok = subprocess.run(
            probe, capture_output=True, text=True, timeout=30, env=env | {"MCPROUTE_TOKEN": "probe-secret"}
        )
        assert ok.returncode == 0, ok.stderr
        for token in ("wrong", ""):
            bad = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=env | {"MCPROUTE_TOKEN": token})
            assert bad.returncode == 1 and "401" in bad.stderr, (token, bad.stderr)
    # And when nothing listens any more.
    gone = subprocess.run(
        probe, capture_output=True, text=True, timeout=30, env=env | {"MCPROUTE_TOKEN": "probe-secret"}
    )
    assert gone.returncode == 1 and "refused" in gone.stderr.lower(), gone.stderr


def test_the_dockerfile_names_no_secret_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
