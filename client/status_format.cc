#include "client/status_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace slate::ctl {
namespace {

std::string ServerState(v1::ServerStatus::State s) {
  switch (s) {
    case v1::ServerStatus::STATE_REPLICATING:
      return "replicating";
    case v1::ServerStatus::STATE_STOPPING:
      return "stopping";
    case v1::ServerStatus::STATE_FAILED:
      return "failed";
    case v1::ServerStatus::STATE_STANDBY:
      return "standby";
    default:
      return "unknown";
  }
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s;
}

}  // namespace

std::string Bar(double fraction, int width) {
  const int filled = static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * width));
  return absl::StrCat("[", std::string(static_cast<size_t>(filled), '#'),
                      std::string(static_cast<size_t>(width - filled), '.'), "]");
}

std::string HumanDuration(double seconds) {
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const auto s = static_cast<int64_t>(seconds);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string StateText(v1::DestinationStatus::State state) {
  std::string name = v1::DestinationStatus::State_Name(state);
  if (name.rfind("STATE_", 0) == 0) name = name.substr(6);
  return absl::AsciiStrToLower(name);
}

std::string FormatStatus(const v1::GetStatusResponse& status) {
  const auto& server = status.server();
  const auto& source = status.source();
  std::string out = absl::StrCat(
      "server  slate-replicator ", server.version(), "  ", ServerState(server.state()), "  up ",
      HumanDuration(static_cast<double>(server.uptime().seconds())), "  pid ", server.pid(), "\n");
  // A standby whose source answers waits for the active; one whose source does not answer shows
  // the source and the destinations connecting.
  const bool standby = server.role() == v1::ServerStatus::ROLE_STANDBY;
  const bool source_down = standby && !source.last_error().empty();
  if (standby && !source_down) {
    absl::StrAppend(&out, "        standby: writes nothing; takes over when the active stops\n",
                    "        active  ",
                    server.active_instance().empty() ? "(unknown)" : server.active_instance(),
                    "\n");
    return out;
  }
  if (source_down) {
    absl::StrAppend(&out, "        no instance can be active until the source answers\n");
  } else if (server.has_last_takeover_time()) {
    absl::StrAppend(&out, "        active since ", Time(server.last_takeover_time()), "\n");
  }
  absl::StrAppend(&out, "source  ", source.dsn(), "  ",
                  source.listening() ? "listening" : "connecting (not listening)", "  max id ",
                  source.max_id(), "  newest event ", Time(source.newest_event_time()), "\n");
  if (!source.last_error().empty() && !source.listening()) {
    absl::StrAppend(&out, "        last error ", Time(source.last_error_time()), ": ",
                    source.last_error(), "\n");
    if (source.has_next_retry_time()) {
      absl::StrAppend(&out, "        next retry ", Time(source.next_retry_time()), "\n");
    }
  }
  size_t name_width = 11;
  size_t state_width = 15;
  std::vector<std::string> states;
  for (const auto& d : status.destinations()) {
    name_width = std::max(name_width, d.name().size());
    std::string state = StateText(d.state());
    if (d.state() == v1::DestinationStatus::STATE_WAITING_AT_HOLE) {
      absl::StrAppend(&state, " ", d.hole_at_id());
    }
    state_width = std::max(state_width, state.size());
    states.push_back(std::move(state));
  }
  absl::StrAppend(&out, "\n", Pad("DESTINATION", name_width + 2), Pad("STATE", state_width + 2),
                  Pad("POSITION", 12), Pad("LAG EVENTS", 12), Pad("LAG S", 9), Pad("RATE/S", 10),
                  "LAST ERROR\n");
  for (int i = 0; i < status.destinations_size(); ++i) {
    const auto& d = status.destinations(i);
    absl::StrAppend(&out, Pad(d.name(), name_width + 2),
                    Pad(states[static_cast<size_t>(i)], state_width + 2),
                    Pad(absl::StrCat(d.position()), 12), Pad(absl::StrCat(d.lag_events()), 12),
                    Pad(absl::StrFormat("%.1f", d.lag_seconds()), 9),
                    Pad(absl::StrFormat("%.0f", d.events_per_second()), 10),
                    d.last_error().empty() ? "-" : d.last_error(), "\n");
    if (d.state() == v1::DestinationStatus::STATE_CATCHING_UP && source.max_id() > 0) {
      const double fraction =
          static_cast<double>(d.position()) / static_cast<double>(source.max_id());
      std::string eta = "ETA -";
      if (d.events_per_second() > 0) {
        eta = absl::StrCat(
            "ETA ", HumanDuration(static_cast<double>(d.lag_events()) / d.events_per_second()));
      }
      absl::StrAppend(&out, Pad("", name_width + 2), Bar(fraction, 30),
                      absl::StrFormat(" %5.1f%%  ", fraction * 100), eta, "\n");
    }
    if (d.phase() == "bulk_loading") {
      absl::StrAppend(&out, Pad("", name_width + 2), "bulk loading: ", d.indexes_total(),
                      d.indexes_total() == 1 ? " index" : " indexes",
                      " set aside, built after the backlog\n");
    } else if (d.phase() == "building_indexes" && d.indexes_total() > 0) {
      const double fraction =
          static_cast<double>(d.indexes_built()) / static_cast<double>(d.indexes_total());
      absl::StrAppend(&out, Pad("", name_width + 2), Bar(fraction, 30), "  building indexes ",
                      d.indexes_built(), "/", d.indexes_total(), " built",
                      d.indexes_building().empty() ? "" : ", now: ",
                      absl::StrJoin(d.indexes_building(), ", "), "\n");
    }
    if (!d.seed_from().empty()) {
      absl::StrAppend(&out, Pad("", name_width + 2), "seeded from ", d.seed_from(), ": ",
                      d.seed_rows(), d.seed_rows() == 1 ? " row" : " rows",
                      " read from it (verified there), the rest from the source\n");
    }
    if (d.state() == v1::DestinationStatus::STATE_RETRYING ||
        (d.state() == v1::DestinationStatus::STATE_CONNECTING && d.retries() > 0)) {
      absl::StrAppend(&out, Pad("", name_width + 2), "retry ", d.retries(), " at ",
                      Time(d.next_retry_time()), "\n");
    }
    if (d.paused()) {
      absl::StrAppend(&out, Pad("", name_width + 2), "paused",
                      d.has_paused_since() ? absl::StrCat(" since ", Time(d.paused_since())) : "",
                      d.paused_by().empty() ? "" : absl::StrCat(" by ", d.paused_by()),
                      " (slatectl resume ", d.name(), ")\n");
    }
    if (d.diverged()) {
      absl::StrAppend(&out, Pad("", name_width + 2), "DIVERGED: ", d.differing_rows(),
                      d.differing_rows() == 1 ? " row differs" : " rows differ",
                      " from the source, the first at id ", d.diverged_at_id(), " (",
                      d.diverged_class(), "); see slatectl verify -c FILE --destination ", d.name(),
                      "\n");
    }
    if (d.verify_enabled()) {
      absl::StrAppend(
          &out, Pad("", name_width + 2), "verified 1..", d.verified_position(), ", last full pass ",
          Time(d.last_full_verify_time()),
          d.verify_error().empty() ? "" : absl::StrCat(" (held back: ", d.verify_error(), ")"),
          d.verify_waits_for_catch_up() ? " (waits for the catch-up to end)" : "", "\n");
    }
  }
  return out;
}

std::string FormatValidation(const v1::ValidateResponse& response) {
  std::string out;
  int failed = 0;
  int warned = 0;
  for (const auto& c : response.checks()) {
    const char* label = "PASS";
    if (c.result() == v1::Check::RESULT_WARN) {
      label = "WARN";
      ++warned;
    } else if (c.result() == v1::Check::RESULT_FAIL) {
      label = "FAIL";
      ++failed;
    }
    absl::StrAppend(&out, label, "  ", c.name(), ": ", c.message(), "\n");
  }
  if (!response.parameters().empty()) {
    absl::StrAppend(&out, "\nRun parameters:\n");
    for (const auto& p : response.parameters()) absl::StrAppend(&out, "  ", p, "\n");
  }
  absl::StrAppend(&out, "\n", response.passed() ? "validation passed" : "validation FAILED", ": ",
                  response.checks_size(), " checks, ", failed, " failed, ", warned, " warnings\n");
  return out;
}

}  // namespace slate::ctl
