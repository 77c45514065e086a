#include "server/core/validation.h"

#include "gtest/gtest.h"

namespace slate::core {
namespace {

DatabaseFacts Good(const std::string& label, bool source, int64_t rows) {
  DatabaseFacts f;
  f.label = label;
  f.dsn = "postgres@h:5432/" + label;
  f.reachable = true;
  f.identity = "sys/" + label;
  f.has_events = true;
  f.events_columns = {{"id", "bigint"}, {"ts", "timestamp with time zone"}, {"event", "jsonb"}};
  for (const char* o : {"table id", "function insert_events", "function restore_events",
                        "trigger notify_insert", "function notify_event_insert",
                        "trigger check_sql_command", "function filter_sql_command"}) {
    f.source_objects.emplace_back(o, source);
  }
  f.count = rows;
  f.max_id = rows;
  if (rows > 0) f.first = FirstEvent{1, 1700000000123456, "{\"a\": 1}"};
  return f;
}

void SetObject(DatabaseFacts& f, const std::string& name, bool present) {
  for (auto& [object, has] : f.source_objects) {
    if (object == name) has = present;
  }
}

// The check named `name`.
const Check* Find(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST(ValidationTest, AGoodSetupPassesEveryCheck) {
  const auto checks =
      ValidateFacts(Good("source", true, 10), {Good("d1", false, 10), Good("d2", false, 0)}, {});
  EXPECT_TRUE(AllPassed(checks));
  for (const Check& c : checks) EXPECT_EQ(c.result, CheckResult::kPass) << c.name << c.message;
  EXPECT_NE(Find(checks, "d1: first event"), nullptr);
}

struct Case {
  const char* title;
  std::function<void(DatabaseFacts& src, DatabaseFacts& dst)> mutate;
  const char* check;
  CheckResult result;
  const char* says;
};

TEST(ValidationTest, EachProblemIsNamedWithItsFix) {
  const std::vector<Case> cases = {
      {"unreachable",
       [](auto&, auto& d) {
         d.reachable = false;
         d.error = "refused";
       },
       "d1: connect", CheckResult::kFail, "Check host, port"},
      {"no events", [](auto&, auto& d) { d.has_events = false; }, "d1: events table",
       CheckResult::kFail, "init-db --table-type destination"},
      {"wrong types", [](auto&, auto& d) { d.events_columns[2].second = "json"; },
       "d1: events columns", CheckResult::kFail, "event json"},
      {"source lacks objects",
       [](auto& s, auto&) { SetObject(s, "function restore_events", false); },
       "source: slate objects", CheckResult::kFail, "lacks function restore_events"},
      {"destination is a source", [](auto&, auto& d) { SetObject(d, "table id", true); },
       "d1: not a source", CheckResult::kFail, "looks like a source"},
      {"destination has a hole", [](auto&, auto& d) { d.count = 9; }, "d1: no holes",
       CheckResult::kFail, "ids are missing"},
      {"destination ahead",
       [](auto&, auto& d) {
         d.count = 11;
         d.max_id = 11;
       },
       "d1: not ahead", CheckResult::kFail, "belongs to another source"},
      {"empty source",
       [](auto& s, auto&) {
         s.count = 0;
         s.max_id = 0;
         s.first.reset();
       },
       "d1: first event", CheckResult::kFail, "the source is empty"},
      {"first events differ", [](auto&, auto& d) { d.first->event_text = "{\"a\": 2}"; },
       "d1: first event", CheckResult::kFail, "copy of another source"},
      {"ts truncated to ms", [](auto&, auto& d) { d.first->ts_unix_micros = 1700000000123000; },
       "d1: first event", CheckResult::kWarn, "original Node replicator"},
      {"ts differs by more", [](auto&, auto& d) { d.first->ts_unix_micros = 1700000000122000; },
       "d1: first event", CheckResult::kFail, "another ts"},
      {"same database", [](auto& s, auto& d) { d.identity = s.identity; }, "d1: distinct",
       CheckResult::kFail, "the source database itself"},
      {"second writer", [](auto&, auto& d) { d.writer_lock_holder = "backend pid 7"; },
       "d1: single writer", CheckResult::kFail, "backend pid 7"},
      {"source hole",
       [](auto& s, auto& d) {
         s.count = 9;
         d.count = d.max_id = 5;
       },
       "source: ids", CheckResult::kWarn, "wait at the first missing id"},
  };
  for (const Case& c : cases) {
    DatabaseFacts src = Good("source", true, 10);
    DatabaseFacts dst = Good("d1", false, 10);
    c.mutate(src, dst);
    const auto checks = ValidateFacts(src, {dst}, {});
    const Check* check = Find(checks, c.check);
    ASSERT_NE(check, nullptr) << c.title;
    EXPECT_EQ(check->result, c.result) << c.title << ": " << check->message;
    EXPECT_NE(check->message.find(c.says), std::string::npos) << c.title << ": " << check->message;
    EXPECT_EQ(AllPassed(checks), c.result != CheckResult::kFail) << c.title;
  }
}

TEST(ValidationTest, HolesAreOnlyAWarningWhenSkippingIsOptedIn) {
  DatabaseFacts dst = Good("d1", false, 10);
  dst.count = 9;
  ValidationOptions options;
  options.allow_holes = true;
  const auto checks = ValidateFacts(Good("source", true, 10), {dst}, options);
  EXPECT_EQ(Find(checks, "d1: no holes")->result, CheckResult::kWarn);
  EXPECT_TRUE(AllPassed(checks));
}

TEST(ValidationTest, ALockHeldByThisReplicatorPasses) {
  DatabaseFacts dst = Good("d1", false, 10);
  dst.writer_lock_holder = "backend pid 9, application_name 'slate-replicator/1@h'";
  dst.writer_lock_application_name = "slate-replicator/1@h";
  ValidationOptions options;
  options.own_application_name = "slate-replicator/1@h";
  auto checks = ValidateFacts(Good("source", true, 10), {dst}, options);
  EXPECT_EQ(Find(checks, "d1: single writer")->result, CheckResult::kPass);
  options.own_application_name = "slate-replicator/2@h";
  checks = ValidateFacts(Good("source", true, 10), {dst}, options);
  EXPECT_EQ(Find(checks, "d1: single writer")->result, CheckResult::kFail);
  EXPECT_FALSE(Find(checks, "d1: single writer")->transient);  // another config's writer
  dst.writer_lock_same_config = true;  // an instance of this config: a start waits as standby
  checks = ValidateFacts(Good("source", true, 10), {dst}, options);
  EXPECT_TRUE(Find(checks, "d1: single writer")->transient);
  // A destination loop's own checks leave the lock to its sink.
  options.check_writer_lock = false;
  checks = ValidateFacts(Good("source", true, 10), {dst}, options);
  EXPECT_EQ(Find(checks, "d1: single writer"), nullptr);
  EXPECT_TRUE(AllPassed(checks));
}

TEST(ValidationTest, ALockHeldBySlatectlRepairIsWaitedFor) {
  DatabaseFacts dst = Good("d1", false, 10);
  dst.writer_lock_holder = "backend pid 9, application_name 'slatectl repair'";
  dst.writer_lock_application_name = kRepairApplicationName;
  const auto checks = ValidateFacts(Good("source", true, 10), {dst}, ValidationOptions());
  const Check* c = Find(checks, "d1: single writer");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->result, CheckResult::kFail);
  EXPECT_TRUE(c->transient);  // a start waits for the repair instead of refusing
  EXPECT_NE(c->message.find("being repaired by slatectl repair"), std::string::npos) << c->message;
  EXPECT_FALSE(DecideStart(Good("source", true, 10), {dst}, checks).refuse);
}

TEST(ValidationTest, ARestoreNeedsAnEmptySourceAndABackupWithoutHoles) {
  DatabaseFacts target = Good("source", true, 0);
  DatabaseFacts backup = Good("backup", false, 10);
  EXPECT_TRUE(AllPassed(ValidateRestore(target, backup)));
  backup.identity = target.identity = "same";
  auto checks = ValidateRestore(target, backup);
  EXPECT_EQ(Find(checks, "backup: distinct")->result, CheckResult::kFail);
  backup.identity = "other";
  backup.count = 9;  // a hole
  checks = ValidateRestore(target, backup);
  EXPECT_EQ(Find(checks, "backup: no holes")->result, CheckResult::kFail);
  backup.count = 10;
  target = Good("source", true, 3);
  checks = ValidateRestore(target, backup);
  EXPECT_EQ(Find(checks, "source: empty")->result, CheckResult::kFail);
  target = Good("source", false, 0);  // no source objects
  checks = ValidateRestore(target, backup);
  EXPECT_EQ(Find(checks, "source: slate objects")->result, CheckResult::kFail);
}

}  // namespace
}  // namespace slate::core
