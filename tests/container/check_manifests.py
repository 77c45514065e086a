#!/usr/bin/python3
"""Checks deploy/'s compose file, Kubernetes manifests and systemd unit: valid YAML, and that the
image, ports, probes, mounts and flags agree with deploy/Dockerfile and with the binary's own
--help. Usage: check_manifests.py REPO_ROOT SLATE_REPLICATOR_BINARY"""
import json
import re
import subprocess
import sys

import yaml

root, binary = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
flags = set(re.findall(r"--[a-z][a-z-]+", help_text))


def flags_ok(args, where):
    used = [a.split("=")[0] for a in args if a.startswith("--")]
    check(all(f in flags for f in used), f"{where}: flags {used} are slate-replicator's")


def port_of(args, flag):
    return int(args[args.index(flag) + 1].rsplit(":", 1)[1])


# The Dockerfile: its CMD is the contract the others follow.
dockerfile = open(f"{root}/deploy/Dockerfile").read()
cmd = json.loads(re.search(r"^CMD (\[.*?\])", dockerfile, re.S | re.M).group(1).replace("\\\n", ""))
flags_ok(cmd, "Dockerfile CMD")
config_path = cmd[cmd.index("-c") + 1]
api_port, metrics_port = port_of(cmd, "--listen"), port_of(cmd, "--metrics-listen")
exposed = set(int(p) for p in re.search(r"^EXPOSE (.*)$", dockerfile, re.M).group(1).split())
check(exposed == {api_port, metrics_port}, f"Dockerfile EXPOSE {exposed} = CMD ports")
check("USER 10001" in dockerfile, "Dockerfile runs as a non-root user")
check(re.search(r"HEALTHCHECK .*\n.*slatectl\", \"health", dockerfile) is not None,
      "Dockerfile HEALTHCHECK uses slatectl health")

# docker-compose.yml
compose = yaml.safe_load(open(f"{root}/deploy/docker-compose.yml"))
services = compose["services"]
check({"source", "replica1", "replica2", "init", "replicator", "standby"} <= set(services),
      "compose has source, replica1, replica2, init, replicator and standby")
check(services["standby"]["volumes"] == services["replicator"]["volumes"] and
      services["standby"]["image"] == services["replicator"]["image"],
      "compose: the standby runs the same image with the same config")
rep, init = services["replicator"], services["init"]
check(rep["image"] == init["image"], "compose: init and replicator run the same image")
check(init["build"]["dockerfile"] == "deploy/Dockerfile", "compose builds deploy/Dockerfile")
check(rep["depends_on"]["init"]["condition"] == "service_completed_successfully",
      "compose: the replicator waits for init")
ports = {int(p.split(":")[-1]): p for p in rep["ports"]}
check(set(ports) == {api_port, metrics_port}, f"compose publishes {set(ports)} = the image's ports")
check(all(p.startswith("127.0.0.1:") for p in ports.values()), "compose publishes on loopback only")
mount = next(v for v in rep["volumes"] if v.split(":")[1] == config_path)
config_text = open(f"{root}/deploy/{mount.split(':')[0]}").read()
config = json.loads("\n".join(l for l in config_text.splitlines() if not l.lstrip().startswith("//")))
hosts = [config["eventSource"]["host"]] + [d["host"] for d in config["replicationDestinations"]]
check(all(h in services for h in hosts), f"compose config's hosts {hosts} are compose services")
init_script = init["command"][0].replace("$$", "$")
check(subprocess.run(["sh", "-n", "-c", init_script]).returncode == 0, "compose init script parses")
check("slatectl init-db --table-type $type --host $host" in init_script,
      "compose init uses slatectl init-db")

# Kubernetes
docs = {}
for name in ["configmap", "secret", "deployment", "service"]:
    d = yaml.safe_load(open(f"{root}/deploy/k8s/{name}.yaml"))
    docs[d["kind"]] = d
deployment = docs["Deployment"]
check(deployment["spec"]["replicas"] == 2, "k8s: two replicas (active and standby)")
check(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0,
      "k8s: a rolling update replaces one pod at a time")
pdb = yaml.safe_load(open(f"{root}/deploy/k8s/pdb.yaml"))
check(pdb["kind"] == "PodDisruptionBudget" and pdb["spec"]["maxUnavailable"] == 1 and
      pdb["spec"]["selector"] == deployment["spec"]["selector"],
      "k8s: a PodDisruptionBudget keeps one of the two pods")
c = deployment["spec"]["template"]["spec"]["containers"][0]
flags_ok(c["args"], "k8s args")
check(c["args"][c["args"].index("-c") + 1] == config_path, "k8s passes the image's config path")
cports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(cports == {"grpc": port_of(c["args"], "--listen"), "metrics": port_of(c["args"], "--metrics-listen")},
      f"k8s container ports {cports} = its --listen/--metrics-listen")
check(c["readinessProbe"]["grpc"]["port"] == cports["grpc"] and "service" not in c["readinessProbe"]["grpc"],
      "k8s readiness: gRPC health, default service (readiness)")
check(c["livenessProbe"]["grpc"] == {"port": cports["grpc"], "service": "slate.replicator.v1.ReplicatorService"},
      "k8s liveness: gRPC health of the service name (liveness)")
mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
check(f"{mount['mountPath']}/config.json" == config_path, "k8s mounts the config where the image reads it")
secret_keys = set(docs["Secret"]["stringData"])
used_keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if "valueFrom" in e}
check(used_keys <= secret_keys, f"k8s env uses Secret keys {used_keys}")
envs = {e["name"] for e in c["env"]}
cm = json.loads(docs["ConfigMap"]["data"]["config.json"])  # raises if it is not JSON
pw_envs = {cm["eventSource"]["passwordEnv"]} | {d["passwordEnv"] for d in cm["replicationDestinations"]}
check(pw_envs <= envs, f"k8s sets every passwordEnv {pw_envs}")
check(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001, "k8s runs as uid 10001")
svc_ports = {p["targetPort"] for p in docs["Service"]["spec"]["ports"]}
check(svc_ports <= set(cports), "k8s Service targets the container's named ports")

# systemd
unit = open(f"{root}/deploy/slate-replicator.service").read()
exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
check(exec_start[0] == "/usr/local/bin/slate-replicator", "systemd runs /usr/local/bin/slate-replicator")
flags_ok(exec_start[1:], "systemd ExecStart")
check("KillSignal=SIGTERM" in unit, "systemd stops with SIGTERM")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
