// PlanReload: what a reload changes, decided from the running config and the file's, without I/O.

#include "server/config/reload_plan.h"

#include "gtest/gtest.h"

namespace slate::config {
namespace {

SecretLookup NoSecrets() {
  return {
      [](const std::string& p) -> absl::StatusOr<std::string> { return absl::NotFoundError(p); },
      [](const std::string& n) -> absl::StatusOr<std::string> { return absl::NotFoundError(n); }};
}

Config Parse(const std::string& destinations, const std::string& extra = "") {
  auto c = ParseConfig("{" + extra + R"("eventSource": {"host": "s", "databaseName": "e"},
          "replicationDestinations": [)" +
                           destinations + "]}",
                       NoSecrets());
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Config{};
}

TEST(ReloadPlanTest, DestinationsAreMatchedByName) {
  const Config running = Parse(R"({"name": "a", "host": "ha", "databaseName": "d"},
      {"name": "b", "host": "hb", "databaseName": "d"},
      {"name": "c", "host": "hc", "databaseName": "d"})");
  const Config file = Parse(R"({"name": "a", "host": "ha", "databaseName": "d"},
      {"name": "c", "host": "hc", "databaseName": "d", "sslmode": "require"},
      {"name": "n", "host": "hn", "databaseName": "d", "paused": true})");
  const ReloadPlan plan = PlanReload(running, file);
  EXPECT_EQ(plan.added, std::vector<std::string>{"n"});
  EXPECT_EQ(plan.removed, std::vector<std::string>{"b"});
  EXPECT_EQ(plan.reconnected, std::vector<std::string>{"c"});
  EXPECT_EQ(plan.unchanged, std::vector<std::string>{"a"});
  EXPECT_TRUE(plan.needs_restart.empty());
  EXPECT_TRUE(plan.pause_changed.empty()) << "a new destination's pause is not a change";
  ASSERT_EQ(plan.next.destinations.size(), 3u);
  EXPECT_EQ(plan.next.destinations[2].name, "n");
  EXPECT_TRUE(plan.next.destinations[2].paused);
}

TEST(ReloadPlanTest, APasswordChangeReconnectsAndAPauseKeyChangeIsReported) {
  const Config running =
      Parse(R"({"name": "a", "host": "ha", "databaseName": "d", "password": "old"})");
  const Config file = Parse(
      R"({"name": "a", "host": "ha", "databaseName": "d", "password": "new", "paused": true})");
  const ReloadPlan plan = PlanReload(running, file);
  EXPECT_EQ(plan.reconnected, std::vector<std::string>{"a"});
  ASSERT_EQ(plan.pause_changed.size(), 1u);
  EXPECT_TRUE(plan.pause_changed.at("a"));
}

TEST(ReloadPlanTest, ANewSeedRebuildsTheDestination) {
  const std::string a = R"({"name": "a", "host": "ha", "databaseName": "d"}, )";
  const Config running = Parse(a + R"({"name": "b", "host": "hb", "databaseName": "d"})");
  const Config file =
      Parse(a + R"({"name": "b", "host": "hb", "databaseName": "d", "seedFrom": "a"})");
  const ReloadPlan plan = PlanReload(running, file);
  EXPECT_EQ(plan.reconnected, std::vector<std::string>{"b"});
  EXPECT_EQ(plan.unchanged, std::vector<std::string>{"a"});
  EXPECT_EQ(plan.next.destinations[1].seed_from, "a");
}

TEST(ReloadPlanTest, GlobalSettingsKeepTheirRunningValuesAndAreNamed) {
  const std::string dest = R"({"name": "a", "host": "ha", "databaseName": "d"})";
  const Config running = Parse(dest);
  const Config file = Parse(dest, R"("pollInterval": 2500, "parallelWrites": 4, )");
  const ReloadPlan plan = PlanReload(running, file);
  ASSERT_EQ(plan.needs_restart.size(), 2u);
  EXPECT_EQ(plan.needs_restart[0], "pollInterval: 5s -> 2.5s, needs a restart");
  EXPECT_EQ(plan.needs_restart[1], "parallelWrites: 2 -> 4, needs a restart");
  EXPECT_EQ(plan.next.engine.poll_interval, absl::Seconds(5)) << "the running value stays";
  EXPECT_EQ(plan.next.engine.parallel_writes, 2);
  EXPECT_EQ(plan.unchanged, std::vector<std::string>{"a"});
}

TEST(ReloadPlanTest, ANewSourceNeedsARestart) {
  const std::string dest = R"({"name": "a", "host": "ha", "databaseName": "d"})";
  const Config running = Parse(dest);
  Config file = Parse(dest);
  file.source.params.host = "elsewhere";
  const ReloadPlan plan = PlanReload(running, file);
  ASSERT_EQ(plan.needs_restart.size(), 1u);
  EXPECT_EQ(plan.needs_restart[0].rfind("eventSource: ", 0), 0u) << plan.needs_restart[0];
  EXPECT_EQ(plan.next.source.params.host, "s");
}

}  // namespace
}  // namespace slate::config
