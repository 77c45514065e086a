// slatectl verify: prove destinations equal their source, by checksums computed in the databases.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>

#include "client/command_common.h"
#include "client/commands.h"
#include "client/diff_format.h"
#include "client/exit_codes.h"
#include "server/common/args.h"
#include "server/common/log.h"
#include "server/config/config.h"
#include "server/core/verify.h"
#include "server/postgres/verify_target.h"

namespace slate::ctl {
namespace {

// Keys stay in the order written (README documents them in that order).
using JsonOut = nlohmann::ordered_json;

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"config-filename", 'c', true, "FILE", "the replicator's config: the databases to compare"},
      {"destination", 0, true, "NAMES", "only these destinations (comma-separated names)"},
      {"up-to-position", 0, false, "", "a destination behind the source but equal so far passes"},
      {"ts-millis", 0, false, "", "compare ts to the millisecond (the original Node replicator's)"},
      {"chunk", 0, true, "IDS", "ids per checksum query (default 100000)"},
      {"output", 'o', true, "text|json", "text (default) or json"},
      {"help", 'h', false, "", "show this help"},
  };
  return flags;
}

void Usage(std::ostream& out) {
  out << "Usage: slatectl verify -c FILE [--destination NAMES] [--up-to-position] [--ts-millis]\n"
         "                       [--chunk IDS] [-o text|json]\n\n"
         "Compares the source with each destination by id range, with checksums computed in the\n"
         "databases (no table transfer): identical, behind (by how much), or every differing row\n"
         "counted by class (ts truncated to the millisecond, content, missing, extra) with the\n"
         "first ids of each, both rows' summaries at the first one, and the next step. Reads "
         "only;\n"
         "works with the replicator running or not.\n"
         "Exit 0 identical, 1 differences found (or behind, without --up-to-position), 2 usage,\n"
         "3 a database unreachable.\n\n"
      << FlagsUsage(Flags());
}

std::string Ts(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

std::string RowText(const std::optional<core::RowSummary>& row) {
  if (!row) return "(no row)";
  return absl::StrCat("id ", row->id, "  ts ", Ts(row->ts_micros), "  ", row->event_bytes,
                      " bytes  md5 ", row->event_md5, "  ", row->event_head);
}

JsonOut RowJson(const std::optional<core::RowSummary>& row) {
  if (!row) return nullptr;
  return JsonOut{{"id", row->id},
                 {"ts", Ts(row->ts_micros)},
                 {"event_bytes", row->event_bytes},
                 {"event_md5", row->event_md5},
                 {"event_head", row->event_head}};
}

const char* OutcomeName(core::VerifyResult::Outcome o) {
  switch (o) {
    case core::VerifyResult::Outcome::kIdentical:
      return "identical";
    case core::VerifyResult::Outcome::kBehind:
      return "behind";
    case core::VerifyResult::Outcome::kDifferent:
      return "different";
  }
  return "unknown";
}

}  // namespace

int RunVerify(const std::vector<std::string>& args) {
  auto parsed = ParseArgs(Flags(), args);
  if (!parsed.ok()) {
    std::cerr << "slatectl verify: " << parsed.status().message() << "\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    Usage(std::cout);
    return kExitOk;
  }
  if (!parsed->Has("config-filename")) {
    std::cerr << "slatectl verify: -c, --config-filename is required\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  const bool json = parsed->GetOr("output", "text") == "json";
  if (!json && parsed->GetOr("output", "text") != "text") {
    std::cerr << "slatectl verify: -o must be text or json\n";
    return kExitUsage;
  }
  core::VerifyOptions options;
  options.up_to_position = parsed->Has("up-to-position");
  if (auto c = parsed->Get("chunk")) {
    auto n = ParseIntFlag("chunk", *c, 64, 100000000);
    if (!n.ok()) {
      std::cerr << "slatectl verify: " << n.status().message() << "\n";
      return kExitUsage;
    }
    options.chunk = *n;
  }
  auto cfg = config::LoadConfigFile(*parsed->Get("config-filename"));
  if (!cfg.ok()) {
    std::cerr << "slatectl verify: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  std::set<std::string> wanted;
  if (auto names = parsed->Get("destination")) {
    for (absl::string_view n : absl::StrSplit(*names, ',', absl::SkipEmpty())) wanted.emplace(n);
    for (const std::string& n : wanted) {
      if (FindDestination("verify", *cfg, n) == nullptr) return kExitUsage;
    }
  }
  const bool ts_millis = parsed->Has("ts-millis");
  const bool tty = isatty(STDERR_FILENO) != 0;
  int unreachable = 0;
  int differing = 0;
  JsonOut json_items = JsonOut::array();
  for (const config::DatabaseConfig& d : cfg->destinations) {
    if (!wanted.empty() && wanted.count(d.name) == 0) continue;
    const auto started = std::chrono::steady_clock::now();
    auto source = pg::NewVerifyTarget(WithLongCalls(cfg->source.params),
                                      "source (" + cfg->source.params.Describe() + ")", ts_millis);
    auto dest = source.ok()
                    ? pg::NewVerifyTarget(
                          WithLongCalls(d.params),
                          "destination " + d.name + " (" + d.params.Describe() + ")", ts_millis)
                    : absl::StatusOr<std::unique_ptr<core::VerifyTarget>>(source.status());
    absl::StatusOr<core::VerifyResult> result =
        dest.ok() ? core::Verify(**source, **dest, options,
                                 [&](int64_t done, int64_t total) {
                                   if (json) return;
                                   std::cerr << (tty ? "\r" : "") << d.name << ": verified " << done
                                             << " of " << total << " ids" << (tty ? "" : "\n")
                                             << std::flush;
                                 })
                  : absl::StatusOr<core::VerifyResult>(dest.status());
    if (tty && !json) std::cerr << "\r\033[K" << std::flush;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!result.ok()) {
      ++unreachable;
      if (json) {
        json_items.push_back(JsonOut{{"name", d.name},
                                     {"outcome", "error"},
                                     {"error", std::string(result.status().message())}});
      } else {
        std::cout << d.name << ": cannot verify: " << result.status().message() << "\n";
      }
      continue;
    }
    if (result->outcome != core::VerifyResult::Outcome::kIdentical) ++differing;
    if (json) {
      json_items.push_back(JsonOut{{"name", d.name},
                                   {"outcome", OutcomeName(result->outcome)},
                                   {"source_max", result->source_max},
                                   {"destination_max", result->destination_max},
                                   {"compared_up_to", result->compared_up_to},
                                   {"first_difference", result->first_difference},
                                   {"differing_rows", result->differences.total()},
                                   {"classes", ClassesJson(result->differences)},
                                   {"behind", result->behind},
                                   {"next_step", core::NextStep(*result, d.name)},
                                   {"source_row", RowJson(result->source_row)},
                                   {"destination_row", RowJson(result->destination_row)},
                                   {"seconds", std::round(secs * 1000) / 1000}});
      continue;
    }
    std::cout << d.name << ": " << core::DescribeOutcome(*result)
              << absl::StrFormat("  [%.1f s]", secs) << "\n";
    if (result->outcome == core::VerifyResult::Outcome::kDifferent) {
      std::cout << ClassesText(result->differences) << "  first difference, id "
                << result->first_difference << ":\n"
                << "  source:      " << RowText(result->source_row) << "\n"
                << "  destination: " << RowText(result->destination_row) << "\n";
    }
    if (const std::string next = core::NextStep(*result, d.name); !next.empty()) {
      std::cout << "  next step: " << next << "\n";
    }
  }
  if (json) {
    const JsonOut out = {{"destinations", json_items}};
    std::cout << out.dump(-1, ' ', false, JsonOut::error_handler_t::replace) << "\n";
  } else if (unreachable + differing > 0) {
    std::cout << "verify: " << differing << " differ or behind, " << unreachable
              << " could not be verified\n";
  }
  if (unreachable > 0) return kExitUnreachable;
  return differing > 0 ? kExitFailed : kExitOk;
}

}  // namespace slate::ctl
