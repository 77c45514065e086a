// slatectl reload | pause | resume | wait: live changes to a running slate-replicator, and
// read-your-writes waits.

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"

#include "client/command_common.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/status_format.h"

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace slate::ctl {
namespace {

namespace v1 = ::slate::replicator::v1;

std::string List(const google::protobuf::RepeatedPtrField<std::string>& names) {
  return names.empty() ? "-" : absl::StrJoin(names, ", ");
}

// NOT_FOUND (an unknown destination) is a bad argument: exit 2, with the names the server knows.
int ReportNamedError(const std::string& command, const Connection& conn,
                     const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    std::cerr << "slatectl " << command << ": " << status.error_message() << "\n";
    return kExitUsage;
  }
  return ReportRpcError(command, conn, status);
}

std::string FormatReload(const v1::ReloadResponse& r) {
  std::string out = r.applied() ? "config reloaded\n"
                                : "config kept: this instance is a standby; it applies when it "
                                  "becomes active\n";
  out += "  added:       " + List(r.added()) + "\n";
  out += "  removed:     " + List(r.removed()) + "\n";
  out += "  reconnected: " + List(r.reconnected()) + "\n";
  out += "  unchanged:   " + List(r.unchanged()) + "\n";
  for (const std::string& s : r.needs_restart()) out += "  not applied: " + s + "\n";
  for (const std::string& s : r.warnings()) out += "  warning:     " + s + "\n";
  return out;
}

// pause and resume: the same shape.
template <typename Request, typename Response>
int RunPauseOrResume(const std::string& command, const std::vector<std::string>& args,
                     grpc::Status (v1::ReplicatorService::Stub::*call)(grpc::ClientContext*,
                                                                       const Request&, Response*)) {
  const bool pause = command == "pause";
  const auto flags = WithConnection({
      {"reason", 0, true, "TEXT", "why, shown in status and the log"},
  });
  ParsedArgs parsed;
  const std::string about =
      pause ? "Stops copying to destination NAME once its open batch commits. It keeps its "
              "connections, writer lock and position; status shows it paused, with since when and "
              "by whom, and its lag grows. A restart starts it unpaused unless its config says "
              "\"paused\": true."
            : "Resumes a paused destination NAME from its position.";
  if (auto rc = Parse(command, flags, "NAME [--reason TEXT]", about, args, &parsed, 1)) return *rc;
  if (parsed.positional().size() != 1) {
    std::cerr << "slatectl " << command
              << ": give the destination's name (slatectl status lists them)\n";
    return kExitUsage;
  }
  const std::string& name = parsed.positional()[0];
  Connection conn;
  if (auto rc = Open(command, parsed, &conn)) return *rc;
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  Request request;
  request.set_name(name);
  request.set_reason(parsed.GetOr("reason", ""));
  Response response;
  auto context = conn.Context();
  const grpc::Status s = ((*stub).*call)(context.get(), request, &response);
  if (!s.ok()) return ReportNamedError(command, conn, s);
  if (pause) {
    std::cout << (response.changed() ? "paused " : "already paused: ") << name << "\n";
  } else {
    std::cout << (response.changed() ? "resumed " : "not paused: ") << name << "\n";
  }
  return kExitOk;
}

}  // namespace

int RunReload(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"output", 'o', true, "text|json", "text (default) or json"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse("reload", flags, "[-o text|json]",
                      "Makes the replicator re-read its config file (as SIGHUP does) and apply it "
                      "live: added destinations start after their start-up checks, removed ones "
                      "stop, changed ones reconnect, the others go on untouched. An invalid file "
                      "or a failed check changes nothing (exit 1, every problem listed).",
                      args, &parsed)) {
    return *rc;
  }
  Connection conn;
  if (auto rc = Open("reload", parsed, &conn)) return *rc;
  if (!parsed.Has("timeout")) conn.timeout_seconds = 120;  // the checks connect to every database
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  v1::ReloadResponse response;
  auto context = conn.Context();
  const grpc::Status s = stub->Reload(context.get(), v1::ReloadRequest(), &response);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      std::cerr << "slatectl reload: " << s.error_message() << "\n";
      return kExitFailed;
    }
    return ReportRpcError("reload", conn, s);
  }
  std::cout << (parsed.GetOr("output", "text") == "json" ? Json(response) + "\n"
                                                         : FormatReload(response));
  return kExitOk;
}

int RunPause(const std::vector<std::string>& args) {
  return RunPauseOrResume<v1::PauseDestinationRequest, v1::PauseDestinationResponse>(
      "pause", args, &v1::ReplicatorService::Stub::PauseDestination);
}

int RunResume(const std::vector<std::string>& args) {
  return RunPauseOrResume<v1::ResumeDestinationRequest, v1::ResumeDestinationResponse>(
      "resume", args, &v1::ReplicatorService::Stub::ResumeDestination);
}

int RunWait(const std::vector<std::string>& args) {
  auto flags = WithConnection({
      {"id", 0, true, "N", "the event id to wait for (e.g. the one insert_events returned)"},
      {"destination", 'd', true, "NAME", "wait for this destination (repeatable; default: all)"},
      {"output", 'o', true, "text|json", "text (default) or json"},
  });
  for (FlagSpec& f : flags) {
    if (f.name == "timeout") f.help = "how long to wait, in seconds (default 30)";
  }
  ParsedArgs parsed;
  if (auto rc = Parse("wait", flags, "--id N [--destination NAME ...] [--timeout S]",
                      "Returns as soon as every named destination (default: every one) has "
                      "committed event N or beyond, with the positions reached. Exit 0 reached, 1 "
                      "timed out, 2 unknown destination or bad arguments, 3 unreachable or a "
                      "standby.",
                      args, &parsed)) {
    return *rc;
  }
  int64_t id = 0;
  const auto id_text = parsed.Get("id");
  if (!id_text || !absl::SimpleAtoi(*id_text, &id) || id < 0) {
    std::cerr << "slatectl wait: --id needs a whole number >= 0 (the id to wait for), got '"
              << id_text.value_or("") << "'\n";
    return kExitUsage;
  }
  int64_t timeout = 30;
  if (auto t = parsed.Get("timeout")) {
    if (!absl::SimpleAtoi(*t, &timeout) || timeout <= 0 || timeout > 86400) {
      std::cerr << "slatectl wait: --timeout needs a whole number of seconds from 1 to 86400, got '"
                << *t << "'\n";
      return kExitUsage;
    }
  }
  Connection conn;
  if (auto rc = Open("wait", parsed, &conn)) return *rc;
  conn.timeout_seconds = static_cast<double>(timeout) + 10;  // the server answers the timeout
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  v1::WaitForPositionRequest request;
  request.set_id(id);
  for (const std::string& name : parsed.GetAll("destination")) request.add_destinations(name);
  request.mutable_timeout()->set_seconds(timeout);
  v1::WaitForPositionResponse response;
  auto context = conn.Context();
  const grpc::Status s = stub->WaitForPosition(context.get(), request, &response);
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // The server's answer (with the positions), or this call's own deadline, set later than the
    // wait's: either way the id was not reached in time.
    std::cerr << "slatectl wait: " << s.error_message() << "\n";
    return kExitFailed;
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
      s.error_message().find("standby") != std::string::npos) {
    std::cerr << "slatectl wait: " << s.error_message() << "\n";
    return kExitUnreachable;
  }
  if (!s.ok()) return ReportNamedError("wait", conn, s);
  if (parsed.GetOr("output", "text") == "json") {
    std::cout << Json(response) << "\n";
    return kExitOk;
  }
  std::vector<std::string> at;
  for (const auto& p : response.positions()) {
    at.push_back(p.name() + " at " + std::to_string(p.position()));
  }
  std::cout << "id " << id << " reached: " << absl::StrJoin(at, ", ") << "\n";
  return kExitOk;
}

}  // namespace slate::ctl
