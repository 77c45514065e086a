// slate-replicator: flags -> options -> Replicator::Start -> Wait -> Shutdown -> exit code.

#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include "server/common/args.h"
#include "server/common/log.h"
#include "server/common/secrets.h"
#include "server/common/version.h"
#include "server/config/config.h"
#include "server/lifecycle.h"
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

// Flags into options; an exit code when the command line cannot run.
std::optional<int> ParseOptions(const std::vector<std::string>& args, ReplicatorOptions& options,
                                bool& dry_run) {
  auto parsed = ParseArgs(Flags(), args);
  if (!parsed.ok()) {
    std::cerr << "slate-replicator: " << parsed.status().message() << "\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  if (parsed->Has("help") || parsed->Has("version")) {
    if (parsed->Has("help")) Usage(std::cout);
    if (!parsed->Has("help")) std::cout << "slate-replicator " << kVersion << "\n";
    return kExitOk;
  }
  auto format = log::ParseFormat(parsed->GetOr("log-format", "json"));
  auto level = log::ParseLevel(parsed->GetOr("log-level", "info"));
  absl::Status problem = format.ok() ? level.status() : format.status();
  if (problem.ok() && !parsed->Has("config-filename")) {
    problem = absl::InvalidArgumentError("-c, --config-filename is required");
  }
  if (!problem.ok()) {
    std::cerr << "slate-replicator: " << problem.message() << "\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  ServiceOptions& svc = options.services;
  svc.listen = parsed->GetOr("listen", svc.listen);
  svc.tls_cert_file = parsed->GetOr("tls-cert", "");
  svc.tls_key_file = parsed->GetOr("tls-key", "");
  svc.tls_client_ca_file = parsed->GetOr("tls-client-ca", "");
  svc.metrics_listen = parsed->GetOr("metrics-listen", svc.metrics_listen);
  if (auto file = parsed->Get("token-file")) {
    auto token = ReadSecretFile(*file, "token file");
    if (!token.ok()) {
      std::cerr << "slate-replicator: " << token.status().message() << "\n";
      return kExitUsage;
    }
    svc.token = *token;
  } else if (auto env = ReadSecretEnv("SLATE_TOKEN"); env.ok()) {
    svc.token = *env;
  }
  log::Init(*format, *level);
  const std::string config_path = *parsed->Get("config-filename");
  dry_run = parsed->Has("dry-run");
  auto log = log::Get("main");
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
  for (const std::string& warning : cfg->warnings)
    log::Warn(*log, "config warning", {{"problem", warning}});
  for (const auto& [key, value] : config::DescribeConfig(*cfg)) {
    log::Info(*log, "run parameter", {{"name", key}, {"value", value}});
  }
  options.config = *std::move(cfg);
  options.config_path = config_path;
  options.instance_name = InstanceName();
  return std::nullopt;
}

int Run(const std::vector<std::string>& args) {
  StopRequest stop;
  ReloadSignal reload;
  ReplicatorOptions options;
  bool dry_run = false;
  if (std::optional<int> code = ParseOptions(args, options, dry_run)) return *code;
  auto log = log::Get("main");
  // From here on, every new thread blocks SIGINT, SIGTERM and SIGHUP: one thread takes them.
  const SignalThread signal_thread(
      stop, [] { _exit(kExitForced); }, &reload);
  if (dry_run) {
    // One judgement of what is there now: a held writer lock is reported, not waited for.
    const bool valid = ValidateAndLog(options.config, absl::ZeroDuration());
    log::Info(*log, valid ? "dry run passed; nothing was written" : "dry run failed");
    return valid ? kExitOk : kExitValidation;
  }
  options.stop = &stop;
  options.reload = &reload;
  options.on_stop_deadline = [] { _exit(kExitForced); };
  auto replicator = Replicator::Start(std::move(options));
  if (!replicator.ok()) {
    const absl::Status& s = replicator.status();
    switch (s.code()) {
      case absl::StatusCode::kCancelled:
        log::Info(*log, std::string(s.message()));
        return kExitOk;
      case absl::StatusCode::kFailedPrecondition:
        log::Error(*log, std::string(s.message()));
        return kExitValidation;
      default:
        log::Error(*log, "cannot start", {{"error", s.message()}});
        return kExitUsage;
    }
  }
  (*replicator)->Wait();
  const bool stopped_on_request = (*replicator)->Shutdown();
  if (!stopped_on_request) {
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
