#include "server/grpc/service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

constexpr absl::Duration kDefaultWaitTimeout = absl::Seconds(30);
constexpr absl::Duration kMaxWaitTimeout = absl::Hours(24);

// "who asked" for status and the log: the RPC, the peer and the reason given.
std::string Requester(const char* rpc, const grpc::ServerContextBase& context,
                      const std::string& reason) {
  std::string by = absl::StrCat(rpc, " from ", context.peer());
  if (!reason.empty()) absl::StrAppend(&by, ": ", reason.substr(0, 200));
  return by;
}

grpc::Status NeedName(const std::string& name) {
  if (!name.empty()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "name is required: a destination's config name (slatectl status lists them)");
}

// The last word: a stop began and every destination has ended.
bool Finished(const core::EngineStatus& s) { return s.stopping && core::AllDestinationsEnded(s); }

}  // namespace

ReplicatorServiceImpl::ReplicatorServiceImpl(core::Control* control, std::string token)
    : control_(control), token_(std::move(token)) {}

grpc::Status ReplicatorServiceImpl::Authorize(const grpc::ServerContextBase& context) const {
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

grpc::Status ReplicatorServiceImpl::Reload(grpc::ServerContext* context, const v1::ReloadRequest*,
                                           v1::ReloadResponse* response) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  log::Info(*log::Get("rpc"), "reload requested over the API", {{"peer", context->peer()}});
  auto report = control_->Reload();
  if (!report.ok()) return ToGrpc(report.status());
  ToProto(*report, response);
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::PauseDestination(grpc::ServerContext* context,
                                                     const v1::PauseDestinationRequest* request,
                                                     v1::PauseDestinationResponse* response) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  if (grpc::Status s = NeedName(request->name()); !s.ok()) return s;
  bool changed = false;
  if (absl::Status s = control_->Pause(
          request->name(), Requester("PauseDestination", *context, request->reason()), &changed);
      !s.ok()) {
    return ToGrpc(s);
  }
  response->set_changed(changed);
  return grpc::Status::OK;
}

grpc::Status ReplicatorServiceImpl::ResumeDestination(grpc::ServerContext* context,
                                                      const v1::ResumeDestinationRequest* request,
                                                      v1::ResumeDestinationResponse* response) {
  if (grpc::Status s = Authorize(*context); !s.ok()) return s;
  if (grpc::Status s = NeedName(request->name()); !s.ok()) return s;
  bool changed = false;
  if (absl::Status s = control_->Resume(
          request->name(), Requester("ResumeDestination", *context, request->reason()), &changed);
      !s.ok()) {
    return ToGrpc(s);
  }
  response->set_changed(changed);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* ReplicatorServiceImpl::WaitForPosition(
    grpc::CallbackServerContext* context, const v1::WaitForPositionRequest* request,
    v1::WaitForPositionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status s = Authorize(*context); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  if (request->id() < 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("id must not be negative (got ", request->id(),
                                              "): pass the id insert_events returned")));
    return reactor;
  }
  absl::Duration timeout = kDefaultWaitTimeout;
  if (request->has_timeout()) {
    timeout =
        absl::Seconds(request->timeout().seconds()) + absl::Nanoseconds(request->timeout().nanos());
    if (timeout <= absl::ZeroDuration()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "timeout must be positive; leave it unset for 30 seconds"));
      return reactor;
    }
    timeout = std::min(timeout, kMaxWaitTimeout);
  }
  std::vector<std::string> names(request->destinations().begin(), request->destinations().end());
  const int64_t id = request->id();
  absl::Status s = control_->WaitForPosition(
      id, std::move(names), timeout, [reactor, response, id](core::WaitResult r) {
        ToProto(r, response);
        if (r.status.ok()) {
          reactor->Finish(grpc::Status::OK);
          return;
        }
        std::vector<std::string> at;
        for (const auto& [name, position] : r.positions) {
          at.push_back(absl::StrCat(name, " at ", position));
        }
        reactor->Finish(ToGrpc(absl::Status(
            r.status.code(), absl::StrCat(r.status.message(), " (waiting for id ", id,
                                          "; positions: ", absl::StrJoin(at, ", "), ")"))));
      });
  if (!s.ok()) reactor->Finish(ToGrpc(s));
  return reactor;
}

}  // namespace slate::rpc
