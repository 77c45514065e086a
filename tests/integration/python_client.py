#!/usr/bin/python3
"""Calls slate-replicator's control API from Python (Debian's python3-grpcio), with stubs made
from proto/ by protoc and grpc_python_plugin: the API is usable from another gRPC implementation.
Prints one JSON object: the status it read and the services server reflection lists."""
import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("--server", required=True)
parser.add_argument("--proto-root", required=True)
parser.add_argument("--reflection-proto", required=True)
args = parser.parse_args()

out = tempfile.mkdtemp(prefix="slate-py-")
atexit.register(shutil.rmtree, out, ignore_errors=True)
subprocess.check_call([
    "protoc", "-I" + args.proto_root, "-I" + os.path.dirname(args.reflection_proto),
    "-I/usr/include", "--python_out=" + out, "--grpc_python_out=" + out,
    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
    "slate/replicator/v1/replicator.proto", os.path.basename(args.reflection_proto)])
sys.path.insert(0, out)

import grpc  # noqa: E402
from slate.replicator.v1 import replicator_pb2, replicator_pb2_grpc  # noqa: E402
import reflection_v1alpha_pb2 as reflection_pb2  # noqa: E402
import reflection_v1alpha_pb2_grpc as reflection_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(args.server)
stub = replicator_pb2_grpc.ReplicatorServiceStub(channel)
status = stub.GetStatus(replicator_pb2.GetStatusRequest(), timeout=10)
reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
responses = reflection.ServerReflectionInfo(
    iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
services = sorted(s.name for r in responses for s in r.list_services_response.service)
print(json.dumps({
    "version": status.server.version,
    "state": replicator_pb2.ServerStatus.State.Name(status.server.state),
    "source_max_id": status.source.max_id,
    "destinations": [{
        "name": d.name,
        "state": replicator_pb2.DestinationStatus.State.Name(d.state),
        "position": d.position,
        "lag_events": d.lag_events,
    } for d in status.destinations],
    "services": services,
}))
