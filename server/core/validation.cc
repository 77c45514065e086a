#include "server/core/validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slate::core {
namespace {

const std::vector<std::pair<std::string, std::string>>& ExpectedColumns() {
  static const std::vector<std::pair<std::string, std::string>> cols = {
      {"id", "bigint"}, {"ts", "timestamp with time zone"}, {"event", "jsonb"}};
  return cols;
}

std::string Columns(const std::vector<std::pair<std::string, std::string>>& cols) {
  return absl::StrJoin(cols, ", ", [](std::string* out, const auto& c) {
    absl::StrAppend(out, c.first, " ", c.second);
  });
}

class Checks {
 public:
  void Add(std::string name, CheckResult r, std::string message, bool transient = false) {
    out_.push_back({std::move(name), r, std::move(message), transient});
  }
  std::vector<Check> Take() { return std::move(out_); }

 private:
  std::vector<Check> out_;
};

// Reachable, an events table with the right columns. False when nothing more can be checked.
bool CheckBasics(const DatabaseFacts& db, Checks& checks, absl::string_view init_type) {
  const std::string who = absl::StrCat(db.label, " (", db.dsn, ")");
  if (!db.reachable) {
    checks.Add(
        absl::StrCat(db.label, ": connect"), CheckResult::kFail,
        absl::StrCat("cannot connect to ", who, ": ", db.error,
                     db.transient ? ". It did not answer: a start waits for it (retrying), a "
                                    "dry run reports it. If it should be up, check host and port "
                                    "in the config"
                                  : ". Check host, port, databaseName, user and password in the "
                                    "config"),
        db.transient);
    return false;
  }
  checks.Add(absl::StrCat(db.label, ": connect"), CheckResult::kPass,
             absl::StrCat("connected to ", who));
  if (!db.has_events) {
    checks.Add(absl::StrCat(db.label, ": events table"), CheckResult::kFail,
               absl::StrCat(who,
                            " has no events table: create the database with `slatectl init-db "
                            "--table-type ",
                            init_type, "`"));
    return false;
  }
  if (db.events_columns != ExpectedColumns()) {
    checks.Add(absl::StrCat(db.label, ": events columns"), CheckResult::kFail,
               absl::StrCat(who, " has events (", Columns(db.events_columns), "), expected (",
                            Columns(ExpectedColumns()), "): it was not made by init-db"));
    return false;
  }
  checks.Add(absl::StrCat(db.label, ": events table"), CheckResult::kPass,
             absl::StrCat("events (", Columns(db.events_columns), "), ", db.count, " rows, max id ",
                          db.max_id));
  return true;
}

std::vector<std::string> Present(const DatabaseFacts& db, bool present) {
  std::vector<std::string> out;
  for (const auto& [name, has] : db.source_objects) {
    if (has == present) out.push_back(name);
  }
  return out;
}

}  // namespace

absl::string_view CheckResultName(CheckResult r) {
  switch (r) {
    case CheckResult::kPass:
      return "pass";
    case CheckResult::kWarn:
      return "warn";
    case CheckResult::kFail:
      return "fail";
  }
  return "fail";
}

StartDecision DecideStart(const DatabaseFacts& source,
                          const std::vector<DatabaseFacts>& destinations,
                          const std::vector<Check>& checks) {
  StartDecision d;
  d.refuse = std::any_of(checks.begin(), checks.end(), [](const Check& c) {
    return c.result == CheckResult::kFail && !c.transient;
  });
  d.source_waiting = !source.reachable;
  for (const DatabaseFacts& dest : destinations) {
    d.destination_deferred.push_back(d.source_waiting || !dest.reachable);
  }
  return d;
}

bool AllPassed(const std::vector<Check>& checks) {
  return std::none_of(checks.begin(), checks.end(),
                      [](const Check& c) { return c.result == CheckResult::kFail; });
}

std::vector<Check> ValidateFacts(const DatabaseFacts& source,
                                 const std::vector<DatabaseFacts>& destinations,
                                 const ValidationOptions& options) {
  Checks checks;
  const bool source_ok = CheckBasics(source, checks, "source");
  if (source_ok) {
    const std::vector<std::string> missing = Present(source, false);
    if (missing.empty()) {
      checks.Add("source: slate objects", CheckResult::kPass,
                 "id table, insert_events, restore_events, notify_insert and check_sql_command "
                 "triggers and their functions present");
    } else {
      checks.Add("source: slate objects", CheckResult::kFail,
                 absl::StrCat("the source lacks ", absl::StrJoin(missing, ", "),
                              ": it is not a slate source. Point eventSource at a database made "
                              "with `slatectl init-db --table-type source`"));
    }
    if (source.count != source.max_id) {
      checks.Add("source: ids", CheckResult::kWarn,
                 absl::StrCat("the source has ", source.count, " events but max id ", source.max_id,
                              ": some ids are missing (an insert bypassed insert_events, or is "
                              "not committed yet). Destinations wait at the first missing id"));
    }
  }

  for (const DatabaseFacts& dest : destinations) {
    const std::string who = absl::StrCat(dest.label, " (", dest.dsn, ")");
    if (!dest.identity.empty() && dest.identity == source.identity) {
      checks.Add(absl::StrCat(dest.label, ": distinct"), CheckResult::kFail,
                 absl::StrCat(who,
                              " is the source database itself (reached under another name): "
                              "remove it from replicationDestinations"));
      continue;
    }
    for (const DatabaseFacts& other : destinations) {
      if (&other != &dest && !dest.identity.empty() && dest.identity == other.identity &&
          &other < &dest) {
        checks.Add(absl::StrCat(dest.label, ": distinct"), CheckResult::kFail,
                   absl::StrCat(who, " is the same database as ", other.label,
                                " (reached under another name): list each database once"));
      }
    }
    if (!CheckBasics(dest, checks, "destination")) continue;

    const std::vector<std::string> found = Present(dest, true);
    if (!found.empty()) {
      checks.Add(absl::StrCat(dest.label, ": not a source"), CheckResult::kFail,
                 absl::StrCat(who, " has source objects (", absl::StrJoin(found, ", "),
                              "): it looks like a source. Replicate only into databases made "
                              "with `slatectl init-db --table-type destination`"));
    } else {
      checks.Add(absl::StrCat(dest.label, ": not a source"), CheckResult::kPass,
                 "no source objects");
    }

    if (!options.check_writer_lock) {
      // Not judged here: the caller takes the lock itself.
    } else if (!dest.writer_lock_holder.empty() && !options.own_application_name.empty() &&
               dest.writer_lock_application_name == options.own_application_name) {
      checks.Add(absl::StrCat(dest.label, ": single writer"), CheckResult::kPass,
                 "its writer lock is held by this replicator");
    } else if (!dest.writer_lock_holder.empty()) {
      if (dest.writer_lock_application_name == kRepairApplicationName) {
        // slatectl repair holds it while it mends rows: it ends by itself.
        checks.Add(absl::StrCat(dest.label, ": single writer"), CheckResult::kFail,
                   absl::StrCat(who, " is being repaired by slatectl repair (",
                                dest.writer_lock_holder, "): a start waits until it ends"),
                   /*transient=*/true);
      } else if (dest.writer_lock_same_config) {
        // Another instance of this config: a start waits as its standby.
        checks.Add(absl::StrCat(dest.label, ": single writer"), CheckResult::kFail,
                   absl::StrCat(who, " is being written by another instance of this config (",
                                dest.writer_lock_holder,
                                "): a start waits as its standby and takes over when it stops"),
                   /*transient=*/true);
      } else {
        checks.Add(absl::StrCat(dest.label, ": single writer"), CheckResult::kFail,
                   absl::StrCat(who, " is being written by another slate-replicator (",
                                dest.writer_lock_holder,
                                "), not one of this config: two configs would race. Stop that "
                                "one first, or remove this destination from one of the configs"));
      }
    } else {
      checks.Add(absl::StrCat(dest.label, ": single writer"), CheckResult::kPass,
                 "no other replicator holds its writer lock");
    }

    if (dest.count != dest.max_id) {
      checks.Add(absl::StrCat(dest.label, ": no holes"),
                 options.allow_holes ? CheckResult::kWarn : CheckResult::kFail,
                 absl::StrCat(who, " has ", dest.count, " events but max id ", dest.max_id,
                              ": ids are missing. Rebuild it (drop, init-db, replicate) or verify "
                              "it against the source"));
    } else {
      checks.Add(absl::StrCat(dest.label, ": no holes"), CheckResult::kPass,
                 absl::StrCat("count = max id = ", dest.count));
    }

    if (!source_ok) continue;
    if (dest.count > 0 && source.count == 0) {
      checks.Add(absl::StrCat(dest.label, ": first event"), CheckResult::kFail,
                 absl::StrCat(who, " has ", dest.count,
                              " events but the source is empty: wrong source, or restore the "
                              "source from this backup with restore_events"));
      continue;
    }
    if (dest.count > source.count || dest.max_id > source.max_id) {
      checks.Add(absl::StrCat(dest.label, ": not ahead"), CheckResult::kFail,
                 absl::StrCat(who, " has ", dest.count, " events up to id ", dest.max_id,
                              ", more than the source (", source.count, " up to ", source.max_id,
                              "): it belongs to another source"));
      continue;
    }
    checks.Add(absl::StrCat(dest.label, ": not ahead"), CheckResult::kPass,
               absl::StrCat(dest.max_id, " <= source ", source.max_id));
    if (!dest.first.has_value() || !source.first.has_value()) continue;

    Check first = CompareFirstEvents(*source.first, *dest.first, who);
    first.name = absl::StrCat(dest.label, ": first event");
    checks.Add(std::move(first.name), first.result, std::move(first.message));
  }
  return checks.Take();
}

std::vector<Check> ValidateRestore(const DatabaseFacts& target, const DatabaseFacts& backup) {
  Checks checks;
  const std::string target_who = absl::StrCat(target.label, " (", target.dsn, ")");
  if (CheckBasics(target, checks, "source")) {
    const std::vector<std::string> missing = Present(target, false);
    if (!missing.empty()) {
      checks.Add(absl::StrCat(target.label, ": slate objects"), CheckResult::kFail,
                 absl::StrCat(target_who, " lacks ", absl::StrJoin(missing, ", "),
                              ": it is not a slate source. Restore into a database made with "
                              "`slatectl init-db --table-type source`"));
    } else if (target.count != 0) {
      checks.Add(absl::StrCat(target.label, ": empty"), CheckResult::kFail,
                 absl::StrCat(target_who, " already has ", target.count,
                              " events: restore only into an empty, freshly initialised source "
                              "(`slatectl init-db --table-type source`)"));
    } else {
      checks.Add(absl::StrCat(target.label, ": empty"), CheckResult::kPass,
                 "an empty slate source");
    }
  }
  if (!target.identity.empty() && target.identity == backup.identity) {
    checks.Add(absl::StrCat(backup.label, ": distinct"), CheckResult::kFail,
               absl::StrCat(backup.label, " (", backup.dsn,
                            ") is the target database itself: name the backup to restore from"));
    return checks.Take();
  }
  if (CheckBasics(backup, checks, "destination")) {
    if (backup.count < 1 || backup.count != backup.max_id) {
      checks.Add(absl::StrCat(backup.label, ": no holes"), CheckResult::kFail,
                 absl::StrCat(backup.label, " (", backup.dsn, ") has ", backup.count,
                              " events and max id ", backup.max_id,
                              ": a backup must hold ids 1..max without holes (count = max id >= "
                              "1). Verify it, or restore from another backup"));
    } else {
      checks.Add(absl::StrCat(backup.label, ": no holes"), CheckResult::kPass,
                 absl::StrCat("count = max id = ", backup.count));
    }
  }
  return checks.Take();
}

Check CompareFirstEvents(const FirstEvent& s, const FirstEvent& d, const std::string& who) {
  if (d.id != s.id || d.event_text != s.event_text) {
    return {"first event", CheckResult::kFail,
            absl::StrCat(who, "'s first event (id ", d.id, ") differs from the source's (id ", s.id,
                         "): it is a copy of another source")};
  }
  if (d.ts_unix_micros == s.ts_unix_micros) {
    return {"first event", CheckResult::kPass, absl::StrCat("equal (id ", d.id, ")")};
  }
  const int64_t diff = s.ts_unix_micros - d.ts_unix_micros;
  if (d.ts_unix_micros % 1000 == 0 && diff >= 0 && diff < 1000) {
    return {"first event", CheckResult::kWarn,
            "equal but for ts truncated to the millisecond: written by the original Node "
            "replicator. New rows are copied with microseconds; `slatectl repair` rewrites the "
            "old ones from the source"};
  }
  return {"first event", CheckResult::kFail,
          absl::StrCat(who,
                       "'s first event has another ts than the source's: it is a copy of "
                       "another source")};
}

}  // namespace slate::core
