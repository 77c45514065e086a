#pragma once

// Structured console logging over spdlog: one named logger per component ("main", "engine",
// "pg", "rpc"), each line a message plus typed fields. JSON lines by default:
//   {"time":"2026-11-24T01:02:03.456789Z","level":"info","component":"engine",
//    "message":"batch committed","destination":"replica1","events":10000}
// or human text: 2026-11-24 01:02:03.456 info  [engine] batch committed destination=replica1 ...
// Thread-safe. Never pass a password as a field: callers log ConnParams::Describe().

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include <spdlog/spdlog.h>

namespace slate::log {

enum class Format { kJson, kText };

absl::StatusOr<Format> ParseFormat(absl::string_view name);
absl::StatusOr<spdlog::level::level_enum> ParseLevel(absl::string_view name);

// Sets the format and level of every component logger, existing and future. Call once early in
// main; without it loggers use JSON at info level.
void Init(Format format, spdlog::level::level_enum level);

// The logger of a component, created on first use.
std::shared_ptr<spdlog::logger> Get(const std::string& component);

// One structured field. Numbers and booleans are written bare in JSON, strings quoted.
class Field {
 public:
  Field(absl::string_view key, absl::string_view value);
  Field(absl::string_view key, const std::string& value);
  Field(absl::string_view key, const char* value);
  Field(absl::string_view key, int64_t value);
  Field(absl::string_view key, int value);
  Field(absl::string_view key, uint64_t value);
  Field(absl::string_view key, double value);
  Field(absl::string_view key, bool value);

  absl::string_view key() const { return key_; }
  const std::string& value() const { return value_; }
  bool quoted() const { return quoted_; }

 private:
  absl::string_view key_;
  std::string value_;
  bool quoted_;
};

using Fields = std::initializer_list<Field>;

// The spdlog payload ("%v") for a message and its fields in the current format.
std::string Render(absl::string_view message, Fields fields);

void Write(spdlog::logger& logger, spdlog::level::level_enum level, absl::string_view message,
           Fields fields = {});

inline void Debug(spdlog::logger& l, absl::string_view m, Fields f = {}) {
  Write(l, spdlog::level::debug, m, f);
}
inline void Info(spdlog::logger& l, absl::string_view m, Fields f = {}) {
  Write(l, spdlog::level::info, m, f);
}
inline void Warn(spdlog::logger& l, absl::string_view m, Fields f = {}) {
  Write(l, spdlog::level::warn, m, f);
}
inline void Error(spdlog::logger& l, absl::string_view m, Fields f = {}) {
  Write(l, spdlog::level::err, m, f);
}

// JSON string escaping (without the surrounding quotes); invalid UTF-8 is passed through.
std::string JsonEscape(absl::string_view in);

// "Internal: message" with the status code's name, for the "error" field.
std::string StatusText(const absl::Status& status);

}  // namespace slate::log
