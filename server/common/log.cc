#include "server/common/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>

namespace slate::log {
namespace {

std::atomic<Format> g_format{Format::kJson};
std::atomic<spdlog::level::level_enum> g_level{spdlog::level::info};
std::mutex g_mu;  // serialises logger creation and reconfiguration

constexpr char kJsonPattern[] =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n",%v})";
constexpr char kTextPattern[] = "%Y-%m-%d %H:%M:%S.%e %-5l [%n] %v";

void Configure(spdlog::logger& logger) {
  logger.set_pattern(g_format.load() == Format::kJson ? kJsonPattern : kTextPattern,
                     spdlog::pattern_time_type::utc);
  logger.set_level(g_level.load());
  logger.flush_on(spdlog::level::trace);  // console lines must not wait in a buffer
}

}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "text") return Format::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format '", name, "': use json or text"));
}

absl::StatusOr<spdlog::level::level_enum> ParseLevel(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level '", name, "': use debug, info, warn or error"));
}

void Init(Format format, spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_format = format;
  g_level = level;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { Configure(*l); });
}

std::shared_ptr<spdlog::logger> Get(const std::string& component) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto existing = spdlog::get(component)) return existing;
  static const auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(component, sink);
  Configure(*logger);
  spdlog::register_logger(logger);
  return logger;
}

Field::Field(absl::string_view key, absl::string_view value)
    : key_(key), value_(value), quoted_(true) {}
Field::Field(absl::string_view key, const std::string& value)
    : key_(key), value_(value), quoted_(true) {}
Field::Field(absl::string_view key, const char* value)
    : key_(key), value_(value == nullptr ? "" : value), quoted_(true) {}
Field::Field(absl::string_view key, int64_t value)
    : key_(key), value_(absl::StrCat(value)), quoted_(false) {}
Field::Field(absl::string_view key, int value)
    : key_(key), value_(absl::StrCat(value)), quoted_(false) {}
Field::Field(absl::string_view key, uint64_t value)
    : key_(key), value_(absl::StrCat(value)), quoted_(false) {}
Field::Field(absl::string_view key, double value) : key_(key), quoted_(false) {
  if (std::isfinite(value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    value_ = buf;
  } else {
    value_ = "null";
  }
}
Field::Field(absl::string_view key, bool value)
    : key_(key), value_(value ? "true" : "false"), quoted_(false) {}

std::string JsonEscape(absl::string_view in) {
  // nlohmann-json's string escaping (the project's one JSON library), without the quotes; bytes
  // that are not UTF-8 become U+FFFD rather than an exception.
  const std::string quoted = nlohmann::json(std::string(in))
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

std::string Render(absl::string_view message, Fields fields) {
  std::string out;
  if (g_format.load() == Format::kJson) {
    absl::StrAppend(&out, "\"message\":\"", JsonEscape(message), "\"");
    for (const Field& f : fields) {
      absl::StrAppend(&out, ",\"", JsonEscape(f.key()), "\":");
      if (f.quoted()) {
        absl::StrAppend(&out, "\"", JsonEscape(f.value()), "\"");
      } else {
        out += f.value();
      }
    }
  } else {
    out.append(message.data(), message.size());
    for (const Field& f : fields) {
      const bool needs_quotes =
          f.quoted() && (f.value().empty() || f.value().find_first_of(" \"=") != std::string::npos);
      absl::StrAppend(&out, " ", f.key(), "=",
                      needs_quotes ? absl::StrCat("\"", JsonEscape(f.value()), "\"") : f.value());
    }
  }
  return out;
}

void Write(spdlog::logger& logger, spdlog::level::level_enum level, absl::string_view message,
           Fields fields) {
  if (!logger.should_log(level)) return;
  logger.log(level, "{}", Render(message, fields));
}

std::string StatusText(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

}  // namespace slate::log
