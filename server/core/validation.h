#pragma once

// Start-up validation (the original tool's checks, plus holes, column types and lock holders), as
// pure functions over facts the postgres adapter gathers (server/postgres/facts.h). Every check
// produces a result, so a dry run shows them all; none stops at the first failure.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

#include "server/core/interfaces.h"

namespace slate::core {

struct DatabaseFacts {
  std::string label;  // "source" or the destination's name
  std::string dsn;    // masked
  bool reachable = false;
  std::string error;       // when not reachable
  bool transient = false;  // not reachable for a reason that may pass (see pg_status.h)
  std::string identity;    // system identifier + database oid, when readable: same means same db
  bool has_events = false;
  std::vector<std::pair<std::string, std::string>> events_columns;  // name, type, in order
  // Each source object ("table id", "function insert_events", ...) and whether it exists,
  // in the schema's order.
  std::vector<std::pair<std::string, bool>> source_objects;
  int64_t count = 0;
  int64_t max_id = 0;
  std::optional<FirstEvent> first;
  std::string writer_lock_holder;  // non-empty: a session holds the destination's writer lock
  std::string writer_lock_application_name;  // that session's application_name
  // That session is an instance of the same config (it holds the config's group lock): a start
  // waits as a standby instead of refusing.
  bool writer_lock_same_config = false;
};

// The application_name of slatectl repair's writing session: a writer lock it holds is waited for.
inline constexpr char kRepairApplicationName[] = "slatectl repair";

enum class CheckResult { kPass, kWarn, kFail };
absl::string_view CheckResultName(CheckResult r);

struct Check {
  std::string name;  // "destination replica1: first event"
  CheckResult result = CheckResult::kPass;
  std::string message;  // what was found, and the fix when it is not a pass
  // A failure that may pass by itself (the database did not answer): a start waits for it; a
  // dry run or a Validate RPC reports it as failed.
  bool transient = false;
};

struct ValidationOptions {
  bool allow_holes = false;  // skipHolesAfter is set: a destination hole is a warning
  // Locks held under this application_name are this replicator's own (validating a running
  // config): they pass.
  std::string own_application_name;
  // False: no "single writer" check (a destination loop's own start-up checks: its sink takes the
  // writer lock when it connects, and waits for it).
  bool check_writer_lock = true;
};

std::vector<Check> ValidateFacts(const DatabaseFacts& source,
                                 const std::vector<DatabaseFacts>& destinations,
                                 const ValidationOptions& options);

// slatectl restore's checks: the target is a slate source and empty, the backup is another
// database with an events table holding ids 1..max without holes (count = max id >= 1).
std::vector<Check> ValidateRestore(const DatabaseFacts& target, const DatabaseFacts& backup);

bool AllPassed(const std::vector<Check>& checks);  // no kFail

// What a real start does with the checks: refuse (a definitive failure: exit 4), or start,
// waiting for the databases that did not answer. A destination whose checks could not all be
// made (it, or the source, did not answer) runs them when both first answer.
struct StartDecision {
  bool refuse = false;
  bool source_waiting = false;
  std::vector<bool> destination_deferred;  // per destination: its checks run when it answers
};
StartDecision DecideStart(const DatabaseFacts& source,
                          const std::vector<DatabaseFacts>& destinations,
                          const std::vector<Check>& checks);

// Compares a destination's first event with the source's: equal passes; equal but for a ts
// truncated to the millisecond (the original Node replicator) warns; anything else fails.
// `who` names the destination in the message.
Check CompareFirstEvents(const FirstEvent& source, const FirstEvent& dest, const std::string& who);

}  // namespace slate::core
