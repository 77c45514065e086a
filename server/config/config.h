#pragma once

// The replicator's config: JSON with the original tool's keys and defaults, plus port, sslmode,
// secrets kept outside the file, and engine tuning. Parsing reports every error at once, each with
// its path (replicationDestinations[1].host) and the fix. README.md documents every key.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "server/common/conn_params.h"
#include "server/core/options.h"

namespace slate::config {

struct DatabaseConfig {
  std::string name;  // destinations: "name", default "host:port/databaseName"; source: "source"
  ConnParams params;
  std::string password_origin;  // "", "password", "passwordFile <path>", "passwordEnv <NAME>"
  bool paused = false;  // destinations: "paused": true starts it paused (slatectl resume NAME)
  // Destinations: "seedFrom": another destination's name; the backlog is read from it, up to
  // what continuous verification has proven equal to the source (seeded_source.h). Empty: none.
  std::string seed_from;
};

struct Config {
  DatabaseConfig source;
  std::vector<DatabaseConfig> destinations;
  int64_t connect_timeout_ms = 15000;
  // Readiness: every destination must show a heartbeat this recent. Default: 3 poll intervals,
  // at least 15 s.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  // Instances with the same group elect one active (the leader lock). Empty: derived from the
  // source's and destinations' addresses, so instances sharing one config file agree; set it
  // when instances reach the same databases under different addresses.
  std::string instance_group;
  // The replication settings (defaults in server/core/options.h), sanitized once by ParseConfig.
  core::EngineOptions engine;
  // Facts worth an info line at start-up (e.g. maxEventsPerWrite raised to its minimum).
  std::vector<std::string> notes;
  // Accepted, but worth a warning at start-up (e.g. a port written into host).
  std::vector<std::string> warnings;
};

// How secrets are looked up (tests substitute their own).
struct SecretLookup {
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
  std::function<absl::StatusOr<std::string>(const std::string& name)> read_env;
};
SecretLookup DefaultSecretLookup();

// InvalidArgument listing every problem, one per line, when the text is not a valid config.
absl::StatusOr<Config> ParseConfig(const std::string& json_text, const SecretLookup& secrets);
// As ParseConfig; NotFound when the file cannot be read.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The run parameters as "key: value" lines, for --dry-run and the start-up log. No secrets.
std::vector<std::pair<std::string, std::string>> DescribeConfig(const Config& config);

}  // namespace slate::config
