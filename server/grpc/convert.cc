#include "server/grpc/convert.h"

#include <algorithm>

namespace slate::rpc {
namespace {

constexpr size_t kMaxMessage = 4096;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

// Sets the field only for a real time (InfinitePast means "never").
template <typename Msg, typename Mutable>
void SetIfKnown(absl::Time t, Msg* msg, Mutable mutable_field) {
  if (t != absl::InfinitePast() && t != absl::InfiniteFuture()) SetTime(t, (msg->*mutable_field)());
}

v1::DestinationStatus::State ToProto(core::DestinationState s) {
  switch (s) {
    case core::DestinationState::kStarting:
      return v1::DestinationStatus::STATE_STARTING;
    case core::DestinationState::kConnecting:
      return v1::DestinationStatus::STATE_CONNECTING;
    case core::DestinationState::kCatchingUp:
      return v1::DestinationStatus::STATE_CATCHING_UP;
    case core::DestinationState::kInSync:
      return v1::DestinationStatus::STATE_IN_SYNC;
    case core::DestinationState::kRetrying:
      return v1::DestinationStatus::STATE_RETRYING;
    case core::DestinationState::kWaitingAtHole:
      return v1::DestinationStatus::STATE_WAITING_AT_HOLE;
    case core::DestinationState::kFailed:
      return v1::DestinationStatus::STATE_FAILED;
    case core::DestinationState::kStopped:
      return v1::DestinationStatus::STATE_STOPPED;
    case core::DestinationState::kPaused:
      return v1::DestinationStatus::STATE_PAUSED;
    case core::DestinationState::kDiverged:
      return v1::DestinationStatus::STATE_DIVERGED;
  }
  return v1::DestinationStatus::STATE_UNSPECIFIED;
}

v1::Check::Result ToProto(core::CheckResult r) {
  switch (r) {
    case core::CheckResult::kPass:
      return v1::Check::RESULT_PASS;
    case core::CheckResult::kWarn:
      return v1::Check::RESULT_WARN;
    case core::CheckResult::kFail:
      return v1::Check::RESULT_FAIL;
  }
  return v1::Check::RESULT_UNSPECIFIED;
}

}  // namespace

void ToProto(const core::ServerInfo& info, const core::EngineStatus& status, absl::Time now,
             v1::GetStatusResponse* out) {
  v1::ServerStatus* server = out->mutable_server();
  server->set_version(info.version);
  server->set_build(info.build);
  server->set_pid(info.pid);
  SetTime(status.start_time, server->mutable_start_time());
  const int64_t uptime_us =
      std::max<int64_t>(0, absl::ToInt64Microseconds(now - status.start_time));
  server->mutable_uptime()->set_seconds(uptime_us / 1000000);
  server->mutable_uptime()->set_nanos(static_cast<int32_t>(uptime_us % 1000000) * 1000);
  const bool all_failed = core::AllDestinationsFailed(status);
  server->set_state(status.stopping  ? v1::ServerStatus::STATE_STOPPING
                    : status.standby ? v1::ServerStatus::STATE_STANDBY
                    : all_failed     ? v1::ServerStatus::STATE_FAILED
                                     : v1::ServerStatus::STATE_REPLICATING);
  server->set_role(status.standby ? v1::ServerStatus::ROLE_STANDBY : v1::ServerStatus::ROLE_ACTIVE);
  server->set_active_instance(status.active_instance);
  SetIfKnown(status.last_takeover, server, &v1::ServerStatus::mutable_last_takeover_time);

  v1::SourceStatus* src = out->mutable_source();
  src->set_dsn(status.source.dsn);
  src->set_listening(status.source.listening);
  src->set_max_id(status.source.max_id);
  SetIfKnown(status.source.newest_event_time, src, &v1::SourceStatus::mutable_newest_event_time);
  src->set_notifications_total(status.source.notifications_total);
  src->set_malformed_notifications_total(status.source.malformed_notifications_total);
  src->set_passes_total(status.source.passes_total);
  src->set_last_error(status.source.last_error);
  SetIfKnown(status.source.last_error_time, src, &v1::SourceStatus::mutable_last_error_time);
  if (!status.source.listening) {
    SetIfKnown(status.source.next_retry, src, &v1::SourceStatus::mutable_next_retry_time);
  }

  for (const core::DestinationStatus& d : status.destinations) {
    v1::DestinationStatus* o = out->add_destinations();
    o->set_name(d.name);
    o->set_dsn(d.dsn);
    o->set_state(ToProto(d.state));
    SetIfKnown(d.state_since, o, &v1::DestinationStatus::mutable_state_since);
    o->set_position(d.position);
    o->set_lag_events(d.lag_events);
    o->set_lag_seconds(d.lag_seconds);
    o->set_events_per_second(d.events_per_second);
    o->set_events_total(d.events_total);
    o->set_bytes_total(d.bytes_total);
    o->set_batches_total(d.batches_total);
    SetIfKnown(d.last_batch_time, o, &v1::DestinationStatus::mutable_last_batch_time);
    o->set_last_error(d.last_error);
    SetIfKnown(d.last_error_time, o, &v1::DestinationStatus::mutable_last_error_time);
    o->set_retries(d.retries);
    o->set_retries_total(d.retries_total);
    if (d.state == core::DestinationState::kRetrying) {
      SetIfKnown(d.next_retry, o, &v1::DestinationStatus::mutable_next_retry_time);
    }
    o->set_hole_at_id(d.hole_at);
    if (d.hole_at != 0) SetIfKnown(d.hole_since, o, &v1::DestinationStatus::mutable_hole_since);
    o->set_paused(d.paused);
    if (d.paused) {
      SetIfKnown(d.paused_since, o, &v1::DestinationStatus::mutable_paused_since);
      o->set_paused_by(d.paused_by);
    }
    o->set_verify_enabled(d.verify_enabled);
    o->set_verified_position(d.verified_position);
    SetIfKnown(d.last_full_verify, o, &v1::DestinationStatus::mutable_last_full_verify_time);
    o->set_verify_passes(d.verify_passes);
    o->set_diverged(d.diverged);
    o->set_diverged_at_id(d.diverged_at);
    o->set_diverged_class(d.diverged_class);
    o->set_differing_rows(d.differing_rows);
    o->set_verify_error(d.verify_error);
    o->set_verify_waits_for_catch_up(d.verify_waits_for_catch_up);
    o->set_phase(d.phase);
    for (const std::string& name : d.indexes_building) o->add_indexes_building(name);
    o->set_indexes_built(d.indexes_built);
    o->set_indexes_total(d.indexes_total);
    o->set_seed_from(d.seed_from);
    o->set_seed_rows(d.seed_rows);
  }
}

void ToProto(const core::Check& c, v1::Check* check) {
  check->set_name(c.name);
  check->set_result(ToProto(c.result));
  check->set_message(c.message);
}

void ToProto(const core::ReloadReport& report, v1::ReloadResponse* out) {
  out->set_applied(report.applied);
  for (const std::string& s : report.added) out->add_added(s);
  for (const std::string& s : report.removed) out->add_removed(s);
  for (const std::string& s : report.reconnected) out->add_reconnected(s);
  for (const std::string& s : report.unchanged) out->add_unchanged(s);
  for (const std::string& s : report.needs_restart) out->add_needs_restart(s);
  for (const std::string& s : report.warnings) out->add_warnings(s);
  for (const core::Check& c : report.checks) ToProto(c, out->add_checks());
}

void ToProto(const core::WaitResult& result, v1::WaitForPositionResponse* out) {
  for (const auto& [name, position] : result.positions) {
    v1::DestinationPosition* p = out->add_positions();
    p->set_name(name);
    p->set_position(position);
  }
}

void ToProto(const core::ValidationReport& report, v1::ValidateResponse* out) {
  out->set_passed(report.passed());
  for (const core::Check& c : report.checks) ToProto(c, out->add_checks());
  for (const std::string& p : report.parameters) out->add_parameters(p);
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + "...";
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

}  // namespace slate::rpc
