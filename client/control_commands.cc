// slatectl status | validate | stop | health: calls to a running slate-replicator.

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include <google/protobuf/util/json_util.h>

#include "client/command_common.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/rpc_client.h"
#include "client/status_format.h"

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace slate::ctl {
namespace {

// Exit 1 when a destination lags more than allowed (for scripts and probes).
int LagVerdict(const v1::GetStatusResponse& status, double max_lag_seconds) {
  if (max_lag_seconds < 0) return kExitOk;
  int code = kExitOk;
  for (const auto& d : status.destinations()) {
    if (d.lag_seconds() > max_lag_seconds) {
      std::cerr << "slatectl status: destination " << d.name() << " lags " << d.lag_seconds()
                << " s, more than --max-lag-seconds " << max_lag_seconds << "\n";
      code = kExitFailed;
    }
  }
  return code;
}

}  // namespace

int RunStatus(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"watch", 'w', false, "", "keep showing the status as it changes, until Ctrl-C"},
      {"output", 'o', true, "text|json", "text (default) or json (one object per line)"},
      {"max-lag-seconds", 0, true, "N", "exit 1 if any destination lags more than N seconds"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse("status", flags, "[--watch] [-o text|json] [--max-lag-seconds N]",
                      "Shows the replicator's server, source and destinations: state, position, "
                      "lag, rate, last error.",
                      args, &parsed)) {
    return *rc;
  }
  const std::string output = parsed.GetOr("output", "text");
  if (output != "text" && output != "json") {
    std::cerr << "slatectl status: -o must be text or json, not '" << output << "'\n";
    return kExitUsage;
  }
  double max_lag = -1;
  if (auto m = parsed.Get("max-lag-seconds")) {
    auto n = ParseIntFlag("max-lag-seconds", *m, 0, 1000000000);
    if (!n.ok()) {
      std::cerr << "slatectl status: " << n.status().message() << "\n";
      return kExitUsage;
    }
    max_lag = static_cast<double>(*n);
  }
  Connection conn;
  if (auto rc = Open("status", parsed, &conn)) return *rc;
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  auto print = [&](const v1::GetStatusResponse& s, bool clear) {
    if (output == "json") {
      std::cout << Json(s) << std::endl;
    } else {
      if (clear) std::cout << "\033[H\033[2J";
      std::cout << FormatStatus(s) << std::flush;
    }
  };

  if (!parsed.Has("watch")) {
    v1::GetStatusResponse status;
    auto context = conn.Context();
    const grpc::Status s = stub->GetStatus(context.get(), v1::GetStatusRequest(), &status);
    if (!s.ok()) return ReportRpcError("status", conn, s);
    print(status, false);
    return LagVerdict(status, max_lag);
  }
  auto context = conn.Context(/*with_deadline=*/false);
  auto reader = stub->WatchStatus(context.get(), v1::WatchStatusRequest());
  const bool tty = isatty(STDOUT_FILENO) != 0;
  v1::GetStatusResponse status;
  int code = kExitOk;
  while (reader->Read(&status)) {
    print(status, tty);
    if (!tty && output == "text") std::cout << "\n";
    code = LagVerdict(status, max_lag);
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return ReportRpcError("status", conn, s);
  return code;  // the server stopped: the stream ended
}

int RunValidate(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"config-filename", 'c', true, "FILE", "validate this config instead of the running one"},
      {"output", 'o', true, "text|json", "text (default) or json"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse("validate", flags, "[-c FILE] [-o text|json]",
                      "Runs the replicator's start-up validation (a dry run) on its running "
                      "config or on FILE, touching no data. Exit 0 when every check passes, 1 "
                      "when one fails.",
                      args, &parsed)) {
    return *rc;
  }
  v1::ValidateRequest request;
  if (auto file = parsed.Get("config-filename")) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      std::cerr << "slatectl validate: cannot read config file '" << *file << "'\n";
      return kExitUsage;
    }
    std::ostringstream text;
    text << in.rdbuf();
    request.set_config_json(text.str());
  }
  Connection conn;
  if (auto rc = Open("validate", parsed, &conn)) return *rc;
  if (!parsed.Has("timeout")) conn.timeout_seconds = 120;  // validation connects to every database
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  v1::ValidateResponse response;
  auto context = conn.Context();
  const grpc::Status s = stub->Validate(context.get(), request, &response);
  if (!s.ok()) return ReportRpcError("validate", conn, s);
  std::cout << (parsed.GetOr("output", "text") == "json" ? Json(response) + "\n"
                                                         : FormatValidation(response));
  return response.passed() ? kExitOk : kExitFailed;
}

int RunStop(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"deadline", 0, true, "SECONDS",
       "the server must be done within this long, else it exits at once (default: no limit)"},
      {"no-wait", 0, false, "", "return once the stop is requested"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse("stop", flags, "[--deadline SECONDS] [--no-wait]",
                      "Asks the replicator to stop gracefully: each destination commits or rolls "
                      "back its open batch, then it exits 0. Waits until it has stopped, up to "
                      "--timeout (default 30 s).",
                      args, &parsed)) {
    return *rc;
  }
  v1::StopRequest request;
  if (auto d = parsed.Get("deadline")) {
    auto n = ParseIntFlag("deadline", *d, 1, 86400);
    if (!n.ok()) {
      std::cerr << "slatectl stop: " << n.status().message() << "\n";
      return kExitUsage;
    }
    request.mutable_deadline()->set_seconds(*n);
  }
  Connection conn;
  if (auto rc = Open("stop", parsed, &conn)) return *rc;
  auto stub = v1::ReplicatorService::NewStub(conn.channel);
  v1::StopResponse response;
  {
    auto context = conn.Context();
    const grpc::Status s = stub->Stop(context.get(), request, &response);
    if (!s.ok()) return ReportRpcError("stop", conn, s);
  }
  std::cout << "stop requested" << std::endl;
  if (parsed.Has("no-wait")) return kExitOk;
  // Follow the status until the stream ends (every destination stopped) or the server is gone.
  if (!parsed.Has("timeout")) conn.timeout_seconds = 30;
  auto context = conn.Context();
  auto reader = stub->WatchStatus(context.get(), v1::WatchStatusRequest());
  v1::GetStatusResponse status;
  while (reader->Read(&status)) {
  }
  const grpc::Status s = reader->Finish();
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "slatectl stop: still stopping after " << conn.timeout_seconds << " s\n";
    return kExitFailed;
  }
  for (const auto& d : status.destinations()) {
    std::cout << "  " << d.name() << ": " << StateText(d.state()) << " at " << d.position() << "\n";
  }
  std::cout << "stopped" << std::endl;
  return kExitOk;
}

int RunHealth(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"service", 0, true, "NAME", "service to ask about (default: the whole server)"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse("health", flags, "[--service NAME]",
                      "Asks the standard grpc.health.v1 service. Exit 0 when SERVING, 1 when "
                      "NOT_SERVING, 3 when unreachable. Needs no token.",
                      args, &parsed)) {
    return *rc;
  }
  Connection conn;
  if (auto rc = Open("health", parsed, &conn)) return *rc;
  auto stub = grpc::health::v1::Health::NewStub(conn.channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(parsed.GetOr("service", ""));
  grpc::health::v1::HealthCheckResponse response;
  auto context = conn.Context();
  const grpc::Status s = stub->Check(context.get(), request, &response);
  if (!s.ok()) return ReportRpcError("health", conn, s);
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                             : kExitFailed;
}

}  // namespace slate::ctl
