#include "server/grpc/service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#include "server/common/log.h"
#include "server/grpc/convert.h"

namespace slate::rpc {
namespace {

constexpr absl::Duration kWatchMinInterval = absl::Milliseconds(100);
constexpr absl::Duration kWatchMaxInterval = absl::Seconds(1);

// Compares without an early exit, so timing does not reveal how much of a token matched.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// The last word: a stop began and every destination has ended.
bool Finished(const core::EngineStatus& s) { return s.stopping && core::AllDestinationsEnded(s); }

}  // namespace

ReplicatorServiceImpl::ReplicatorServiceImpl(core::Control* control, std::string token)
    : control_(control), token_(std::move(token)) {}

grpc::Status ReplicatorServiceImpl::Authorize(const grpc::ServerContext& context) const {
  if (token_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  const std::string given =
      it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
  if (!SameSecret(given, absl::StrCat("Bearer ", token_))) {
    log::Warn(*log::Get("rpc"), "rejected a call without the right bearer token",
              {{"peer", context.peer()}});
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        it == metadata.end()
                            ? "this server requires a bearer token: pass --token or SLATE_TOKEN"
                            : "wrong bearer token: check --token or SLATE_TOKEN");
  }
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::GetStatus(grpc::ServerContext* context,
                                              const v1::GetStatusRequest*,
                                              v1::GetStatusResponse* response) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  ToProto(control_->Info(), control_->Status(), absl::Now(), response);
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::WatchStatus(grpc::ServerContext* context,
                                                const v1::WatchStatusRequest*,
                                                grpc::ServerWriter<v1::GetStatusResponse>* writer) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  const core::ServerInfo info = control_->Info();
  uint64_t version = 0;
  while (!context->IsCancelled()) {
    const absl::Time sent = absl::Now();
    const core::EngineStatus status = control_->Status();
    v1::GetStatusResponse response;
    ToProto(info, status, sent, &response);
    if (!writer->Write(response)) break;  // the client went away
    if (Finished(status)) break;          // the last word: every destination has stopped
    // Pushed on change, but at most every kWatchMinInterval; at least every second.
    control_->AwaitChange(&version, kWatchMaxInterval);
    const absl::Duration since = absl::Now() - sent;
    if (since < kWatchMinInterval) absl::SleepFor(kWatchMinInterval - since);
  }
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::Validate(grpc::ServerContext* context,
                                             const v1::ValidateRequest* request,
                                             v1::ValidateResponse* response) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  auto report = control_->Validate(request->config_json());
  if (!report.ok()) return ToGrpc(report.status());
  ToProto(*report, response);
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::Stop(grpc::ServerContext* context,
                                         const v1::StopRequest* request, v1::StopResponse*) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  if (request->deadline().seconds() < 0 || request->deadline().nanos() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "deadline must not be negative; leave it unset for no limit");
  }
  const absl::Duration deadline =
      absl::Seconds(request->deadline().seconds()) + absl::Nanoseconds(request->deadline().nanos());
  log::Info(*log::Get("rpc"), "stop requested over the API",
            {{"peer", context->peer()}, {"deadline_seconds", absl::ToDoubleSeconds(deadline)}});
  control_->Stop(deadline);  // only requests: main stops the engine and then this server
  return grpc::Status::OK;
}

}  // namespace slate::rpc
