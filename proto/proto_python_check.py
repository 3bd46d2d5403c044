"""Exercises the generated Python stubs: messages round-trip, services expose every method, rich errors decode."""
import sys

import grpc
from google.protobuf import any_pb2

from brook.v1 import admin_pb2, admin_pb2_grpc, errors_pb2, groups_pb2_grpc, log_pb2, log_pb2_grpc, records_pb2


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


req = log_pb2.ProduceRequest(topic="orders", partition=2, producer_id=7, sequence=10, expected_offset=0)
req.records.append(records_pb2.Record(key=b"k", value=b"v" * 10, headers=[records_pb2.Header(key="h", value=b"1")]))
back = log_pb2.ProduceRequest.FromString(req.SerializeToString())
check(back == req, "ProduceRequest round-trip")
check(back.HasField("expected_offset"), "optional expected_offset keeps presence")

detail = any_pb2.Any()
detail.Pack(errors_pb2.NotLeader(topic="orders", partition=2, leader_id=3, leader_address="127.0.0.1:7003", term=5))
status = errors_pb2.ErrorStatus(code=grpc.StatusCode.UNAVAILABLE.value[0], message="not leader", details=[detail])
decoded = errors_pb2.ErrorStatus.FromString(status.SerializeToString())
hint = errors_pb2.NotLeader()
check(decoded.details[0].Unpack(hint) and hint.leader_address == "127.0.0.1:7003", "NotLeader detail decodes")

for module, service, methods in [
    (log_pb2, "Log", {"Produce", "Fetch", "Subscribe", "ListOffsets", "InitProducer"}),
    (admin_pb2, "Admin", {"CreateTopic", "DeleteTopic", "ListTopics", "DescribeTopic", "DescribeCluster",
                          "GetMetadata", "TransferLeadership", "GetLimits", "AlterTopic",
                          "SetLeaderBalancer", "MoveReplicas", "CancelMove", "ListOperations",
                          "AddPartitions", "DecommissionNode"}),
]:
    got = {m.name for m in module.DESCRIPTOR.services_by_name[service].methods}
    check(got == methods, f"{service} methods: {sorted(got)}")
for stub in (log_pb2_grpc.LogStub, admin_pb2_grpc.AdminStub, groups_pb2_grpc.ConsumerGroupsStub):
    check(callable(stub), f"{stub.__name__} generated")
print("python stubs ok")
