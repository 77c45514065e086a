#pragma once

// Conversions between the core's value types and the API's messages, and of statuses.

#include "absl/status/status.h"
#include <grpcpp/support/status.h>

#include "server/core/control.h"

#include "slate/replicator/v1/replicator.pb.h"

namespace slate::rpc {

namespace v1 = ::slate::replicator::v1;

void ToProto(const core::ServerInfo& info, const core::EngineStatus& status, absl::Time now,
             v1::GetStatusResponse* out);
void ToProto(const core::ValidationReport& report, v1::ValidateResponse* out);
void ToProto(const core::Check& check, v1::Check* out);
void ToProto(const core::ReloadReport& report, v1::ReloadResponse* out);
void ToProto(const core::WaitResult& result, v1::WaitForPositionResponse* out);

// abseil and gRPC number their codes alike; messages are capped so a status fits in a trailer.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace slate::rpc
