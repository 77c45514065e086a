#pragma once

// What a config reload changes: decided from the running config and the file's, without I/O
// (the replicator validates the file's databases and applies the plan; server/replicator.h).

#include <map>
#include <string>
#include <vector>

#include "server/config/config.h"

namespace slate::config {

// What a reload changes, from the running config and the file's. Destinations are matched by name:
// added, removed, reconnected (any connection setting differs, the password included), unchanged.
// Every other setting that differs is reported in needs_restart and keeps its running value, so
// `next` is `running` with the file's destinations. Pure: no I/O.
struct ReloadPlan {
  Config next;
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> reconnected;
  std::vector<std::string> unchanged;
  std::vector<std::string> needs_restart;
  // Destinations whose "paused" key changed in the file (name -> paused now).
  std::map<std::string, bool> pause_changed;
};
ReloadPlan PlanReload(const Config& running, const Config& file);

}  // namespace slate::config
