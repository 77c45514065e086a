// slate-replicator: flags -> config -> validation -> engine -> wait -> ordered shutdown.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

#include "server/common/args.h"
#include "server/common/log.h"
#include "server/common/secrets.h"
#include "server/common/version.h"
#include "server/config/config.h"
#include "server/core/engine.h"
#include "server/core/validation.h"
#include "server/grpc/rpc_server.h"
#include "server/metrics/exporter.h"
#include "server/replicator.h"

namespace slate {
namespace {

// Exit codes, documented in README.md.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;      // every destination failed
constexpr int kExitUsage = 2;       // bad command line
constexpr int kExitConfig = 3;      // config file unreadable or invalid
constexpr int kExitValidation = 4;  // start-up checks failed
constexpr int kExitForced = 130;    // a second signal: exit at once

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"config-filename", 'c', true, "FILE", "JSON config file (required)"},
      {"dry-run", 0, false, "", "validate, print the run parameters and every check, then exit"},
      {"log-level", 0, true, "LEVEL", "debug, info (default), warn or error"},
      {"log-format", 0, true, "FORMAT", "json (default) or text"},
      {"listen", 0, true, "HOST:PORT",
       "control API address (default 127.0.0.1:50051; 'none' to disable)"},
      {"tls-cert", 0, true, "FILE", "serve the control API over TLS with this certificate (PEM)"},
      {"tls-key", 0, true, "FILE", "and this private key (PEM)"},
      {"tls-client-ca", 0, true, "FILE", "require client certificates signed by this CA (mTLS)"},
      {"metrics-listen", 0, true, "HOST:PORT",
       "Prometheus /metrics address (default 127.0.0.1:9466; 'none' to disable)"},
      {"token-file", 0, true, "FILE",
       "require this bearer token (first line) on every RPC but health; or SLATE_TOKEN"},
      {"version", 0, false, "", "print the version and exit"},
      {"help", 'h', false, "", "show this help"},
  };
  return flags;
}

void Usage(std::ostream& out) {
  out << "Usage: slate-replicator -c FILE [--dry-run] [--log-level LEVEL] [--log-format FORMAT]\n"
         "                        [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE\n"
         "                        [--tls-client-ca FILE]] [--token-file FILE]\n"
         "                        [--metrics-listen HOST:PORT]\n\n"
         "Replicates the events table of a slate source database into every destination.\n\n"
      << FlagsUsage(Flags())
      << "\nEnvironment: SLATE_TOKEN (the bearer token, when --token-file is not given).\n"
         "\nExit codes: 0 stopped cleanly (or dry run passed), 1 every destination failed,\n"
         "2 usage error (also an unusable --listen or TLS file), 3 config error,\n"
         "4 validation failed, 130 forced (a second signal, or a Stop deadline passed).\n";
}

bool RunValidation(const config::Config& cfg, bool dry_run, spdlog::logger& log) {
  // A real start waits (up to connectTimeout) for a crashed predecessor's session to release a
  // destination's writer lock; a dry run reports what it finds at once.
  const std::vector<core::Check> checks = ValidateDatabases(
      cfg, dry_run ? absl::ZeroDuration() : absl::Milliseconds(cfg.connect_timeout_ms));
  int failed = 0;
  int warned = 0;
  for (const core::Check& c : checks) {
    const log::Fields fields = {
        {"check", c.name}, {"result", core::CheckResultName(c.result)}, {"detail", c.message}};
    switch (c.result) {
      case core::CheckResult::kPass:
        log::Info(log, "check passed", fields);
        break;
      case core::CheckResult::kWarn:
        ++warned;
        log::Warn(log, "check warning", fields);
        break;
      case core::CheckResult::kFail:
        ++failed;
        log::Error(log, "check failed", fields);
        break;
    }
  }
  log::Write(
      log, failed > 0 ? spdlog::level::err : spdlog::level::info, "validation finished",
      {{"checks", static_cast<int64_t>(checks.size())}, {"failed", failed}, {"warnings", warned}});
  return failed == 0;
}

std::atomic<bool> g_exiting{false};
std::atomic<int> g_signals{0};
// The running replicator, for the signal thread; the mutex keeps it alive while Stop() runs.
std::mutex g_replicator_mu;
Replicator* g_replicator = nullptr;  // guarded by g_replicator_mu

void SetReplicator(Replicator* r) {
  std::lock_guard<std::mutex> lock(g_replicator_mu);
  g_replicator = r;
}

// The one thread that takes SIGINT and SIGTERM (every other thread blocks them): the first asks
// for a graceful stop, the second exits at once.
void SignalLoop(sigset_t signals) {
  auto log = log::Get("main");
  const timespec tick{0, 200 * 1000 * 1000};
  while (!g_exiting.load()) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig < 0) continue;  // timeout or EINTR: look at g_exiting again
    if (g_signals.fetch_add(1) == 0) {
      log::Info(*log, "signal received; stopping (a second signal exits at once)",
                {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      std::lock_guard<std::mutex> lock(g_replicator_mu);
      if (g_replicator != nullptr) g_replicator->Stop(absl::ZeroDuration());
    } else {
      log::Warn(*log, "second signal; exiting now (open batches roll back)");
      _exit(kExitForced);
    }
  }
}

absl::StatusOr<rpc::RpcOptions> RpcOptionsFrom(const ParsedArgs& args) {
  rpc::RpcOptions options;
  options.listen = args.GetOr("listen", options.listen);
  options.tls_cert_file = args.GetOr("tls-cert", "");
  options.tls_key_file = args.GetOr("tls-key", "");
  options.tls_client_ca_file = args.GetOr("tls-client-ca", "");
  if (auto file = args.Get("token-file")) {
    auto token = ReadSecretFile(*file);
    if (!token.ok()) return token.status();
    options.token = *token;
  } else if (auto env = ReadSecretEnv("SLATE_TOKEN"); env.ok()) {
    options.token = *env;
  }
  return options;
}

int Run(const std::vector<std::string>& args) {
  auto parsed = ParseArgs(Flags(), args);
  if (!parsed.ok()) {
    std::cerr << "slate-replicator: " << parsed.status().message() << "\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    Usage(std::cout);
    return kExitOk;
  }
  if (parsed->Has("version")) {
    std::cout << "slate-replicator " << kVersion << "\n";
    return kExitOk;
  }
  auto format = log::ParseFormat(parsed->GetOr("log-format", "json"));
  auto level = log::ParseLevel(parsed->GetOr("log-level", "info"));
  for (const absl::Status& s : {format.status(), level.status()}) {
    if (!s.ok()) {
      std::cerr << "slate-replicator: " << s.message() << "\n\n";
      Usage(std::cerr);
      return kExitUsage;
    }
  }
  if (!parsed->Has("config-filename")) {
    std::cerr << "slate-replicator: -c, --config-filename is required\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  auto rpc_options = RpcOptionsFrom(*parsed);
  if (!rpc_options.ok()) {
    std::cerr << "slate-replicator: " << rpc_options.status().message() << "\n";
    return kExitUsage;
  }
  log::Init(*format, *level);
  auto log = log::Get("main");
  const std::string config_path = *parsed->Get("config-filename");
  const bool dry_run = parsed->Has("dry-run");
  log::Info(*log, "slate-replicator starting",
            {{"version", kVersion},
             {"config", config_path},
             {"dry_run", dry_run},
             {"pid", static_cast<int64_t>(getpid())}});

  auto cfg = config::LoadConfigFile(config_path);
  if (!cfg.ok()) {
    for (absl::string_view line : absl::StrSplit(cfg.status().message(), '\n')) {
      log::Error(*log, "config error", {{"problem", line}});
    }
    return kExitConfig;
  }
  for (const std::string& note : cfg->notes) log::Info(*log, note);
  for (const auto& [key, value] : config::DescribeConfig(*cfg)) {
    log::Info(*log, "run parameter", {{"name", key}, {"value", value}});
  }

  // Signals are taken by one thread; every thread started from here on (validation, gRPC, the
  // engine) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread signal_thread(SignalLoop, signals);
  struct JoinSignalThread {
    std::thread& t;
    ~JoinSignalThread() {
      g_exiting = true;
      t.join();
    }
  } join_signal_thread{signal_thread};

  const bool valid = RunValidation(*cfg, dry_run, *log);
  if (dry_run) {
    log::Info(*log, valid ? "dry run passed; nothing was written" : "dry run failed");
    return valid ? kExitOk : kExitValidation;
  }
  if (!valid) {
    log::Error(*log, "not starting: fix the failed checks above (--dry-run repeats them)");
    return kExitValidation;
  }
  if (g_signals.load() > 0) {
    log::Info(*log, "stopped before replicating");
    return kExitOk;
  }

  Replicator replicator(*cfg, InstanceName());
  std::unique_ptr<rpc::RpcServer> rpc_server;
  if (rpc_options->listen != "none") {
    auto started = rpc::RpcServer::Start(*rpc_options, &replicator);
    if (!started.ok()) {
      log::Error(*log, "cannot serve the control API", {{"error", started.status().message()}});
      return kExitUsage;
    }
    rpc_server = std::move(*started);
    log::Info(*log, "control API listening",
              {{"address", rpc_options->listen},
               {"port", rpc_server->port()},
               {"tls", rpc_server->tls()},
               {"client_certificates", !rpc_options->tls_client_ca_file.empty()},
               {"token_required", !rpc_options->token.empty()}});
  }

  std::unique_ptr<metrics::Exporter> exporter;
  if (const std::string address = parsed->GetOr("metrics-listen", "127.0.0.1:9466");
      address != "none") {
    auto started = metrics::Exporter::Start(address, &replicator, cfg->heartbeat_timeout);
    if (!started.ok()) {
      log::Error(*log, "cannot serve metrics", {{"error", started.status().message()}});
      return kExitUsage;
    }
    exporter = std::move(*started);
    log::Info(*log, "metrics listening",
              {{"address", address}, {"port", exporter->port()}, {"path", "/metrics"}});
  }

  core::Engine& engine = replicator.engine();
  SetReplicator(&replicator);
  if (g_signals.load() > 0) replicator.Stop(absl::ZeroDuration());
  engine.Start();
  if (rpc_server) rpc_server->SetHealth(/*ready=*/false, /*live=*/true);
  log::Info(*log, "replicating",
            {{"destinations", static_cast<int64_t>(cfg->destinations.size())}});
  // Until a stop (or every destination failed): judge readiness every second, for health.
  bool ready = false;
  while (true) {
    const bool done = engine.board().Await(
        [&](const core::EngineStatus& s) {
          if (s.stopping) return true;
          for (const auto& d : s.destinations) {
            if (d.state != core::DestinationState::kFailed) return false;
          }
          return true;
        },
        absl::Seconds(1));
    const core::Readiness r =
        core::AssessReadiness(replicator.Status(), absl::Now(), cfg->heartbeat_timeout);
    if (r.ready != ready) {
      ready = r.ready;
      if (ready) {
        log::Info(*log, "ready: every destination is replicating");
      } else {
        log::Warn(*log, "not ready", {{"reason", r.reason}});
      }
    }
    if (rpc_server && !done) rpc_server->SetHealth(ready, /*live=*/true);
    if (done) break;
  }
  const bool stop_requested = engine.board().stopping();
  if (rpc_server) rpc_server->SetServing(false);  // NOT_SERVING once a stop begins

  // A Stop RPC may bound the shutdown: past its deadline, exit at once.
  absl::Notification stopped;
  std::thread watchdog([&] {
    const absl::Time deadline = replicator.stop_deadline();
    if (deadline == absl::InfiniteFuture()) return;
    if (!stopped.WaitForNotificationWithDeadline(deadline)) {
      log::Warn(*log, "stop deadline passed; exiting now (open batches roll back)");
      _exit(kExitForced);
    }
  });
  log::Info(*log, "shutting down: finishing or rolling back open batches");
  engine.RequestStop();
  engine.Join();
  log::Info(*log, "engine stopped; connections closed");
  stopped.Notify();
  watchdog.join();
  if (rpc_server) {
    rpc_server->Shutdown(absl::Seconds(1));
    log::Info(*log, "control API stopped");
  }
  SetReplicator(nullptr);
  if (!stop_requested) {
    log::Error(*log, "every destination failed; exiting");
    return kExitFailed;
  }
  log::Info(*log, "slate-replicator stopped");
  return kExitOk;
}

}  // namespace
}  // namespace slate

int main(int argc, char** argv) {
  return slate::Run(std::vector<std::string>(argv + 1, argv + argc));
}
