#include "server/config/reload_plan.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slate::config {
namespace {

bool SameConnection(const DatabaseConfig& a, const DatabaseConfig& b) {
  // A new seed rebuilds the destination like a new address does.
  return a.params.ToConnInfo() == b.params.ToConnInfo() && a.seed_from == b.seed_from;
}

// The settings (DescribeConfig lines, in their order) a reload cannot change: all but the
// destinations.
std::vector<std::pair<std::string, std::string>> GlobalSettings(const Config& c) {
  Config no_destinations = c;
  no_destinations.destinations.clear();
  return DescribeConfig(no_destinations);
}

}  // namespace

ReloadPlan PlanReload(const Config& running, const Config& file) {
  ReloadPlan plan;
  plan.next = running;
  plan.next.destinations = file.destinations;
  auto find = [](const std::vector<DatabaseConfig>& v, const std::string& name) {
    return std::find_if(v.begin(), v.end(),
                        [&](const DatabaseConfig& d) { return d.name == name; });
  };
  for (const DatabaseConfig& d : running.destinations) {
    if (find(file.destinations, d.name) == file.destinations.end()) plan.removed.push_back(d.name);
  }
  for (const DatabaseConfig& d : file.destinations) {
    auto old = find(running.destinations, d.name);
    if (old == running.destinations.end()) {
      plan.added.push_back(d.name);
      continue;
    }
    (SameConnection(*old, d) ? plan.unchanged : plan.reconnected).push_back(d.name);
    if (old->paused != d.paused) plan.pause_changed[d.name] = d.paused;
  }
  const auto was = GlobalSettings(running);
  for (const auto& setting : GlobalSettings(file)) {
    const std::string& key = setting.first;
    auto it = std::find_if(was.begin(), was.end(), [&](const auto& kv) { return kv.first == key; });
    if (it != was.end() && it->second != setting.second) {
      plan.needs_restart.push_back(
          absl::StrCat(key, ": ", it->second, " -> ", setting.second, ", needs a restart"));
    }
  }
  return plan;
}

}  // namespace slate::config
