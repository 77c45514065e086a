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

namespace slate::config {

struct DatabaseConfig {
  std::string name;  // destinations: "name", default "host:port/databaseName"; source: "source"
  ConnParams params;
  std::string password_origin;  // "", "password", "passwordFile <path>", "passwordEnv <NAME>"
};

struct Config {
  int64_t max_events_per_write = 10000;
  int64_t connect_timeout_ms = 15000;
  DatabaseConfig source;
  std::vector<DatabaseConfig> destinations;
  absl::Duration poll_interval = absl::Seconds(5);
  absl::Duration max_retry_delay = absl::Seconds(30);
  absl::Duration skip_holes_after = absl::ZeroDuration();  // zero: never
  // Readiness: every destination must show a heartbeat this recent. Default: 3 poll intervals,
  // at least 15 s.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  // A database call with no progress for this long is interrupted and retried.
  absl::Duration stall_timeout = absl::Seconds(60);
  // Sessions writing each destination in parallel (consecutive batches, committed in id order).
  int parallel_writes = 2;
  // The destination sessions' synchronous_commit. "off" (like a logical replication
  // subscription's default) is safe: after a destination crash the position is read back and a
  // lost tail is copied again.
  std::string synchronous_commit = "off";
  // Facts worth an info line at start-up (e.g. maxEventsPerWrite raised to its minimum).
  std::vector<std::string> notes;
};

inline constexpr int64_t kMinEventsPerWrite = 10000;

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
