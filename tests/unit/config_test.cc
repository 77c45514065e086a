#include "server/config/config.h"

#include <algorithm>
#include <fstream>

#include "gtest/gtest.h"

namespace slate::config {
namespace {

SecretLookup Secrets() {
  return {[](const std::string& path) -> absl::StatusOr<std::string> {
            if (path == "/run/secrets/pw") return std::string("from-file");
            return absl::NotFoundError("cannot read password file '" + path + "'");
          },
          [](const std::string& name) -> absl::StatusOr<std::string> {
            if (name == "SLATE_PW") return std::string("from-env");
            return absl::NotFoundError("environment variable " + name + " is not set or empty");
          }};
}

TEST(ConfigTest, OriginalKeysWithDefaults) {
  auto c = ParseConfig(R"({
    "eventSource": {"host": "src", "databaseName": "events", "user": "u", "password": "p"},
    "replicationDestinations": [{"host": "d1", "databaseName": "events"}]
  })",
                       Secrets());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->engine.max_events_per_write, 10000);
  EXPECT_EQ(c->connect_timeout_ms, 15000);
  EXPECT_EQ(c->source.params.connect_timeout_seconds, 15);
  EXPECT_EQ(c->source.params.port, 5432);
  EXPECT_EQ(c->source.params.password, "p");
  ASSERT_EQ(c->destinations.size(), 1u);
  EXPECT_EQ(c->destinations[0].name, "d1:5432/events");
  EXPECT_EQ(c->engine.poll_interval, absl::Seconds(5));
  EXPECT_EQ(c->engine.skip_holes_after, absl::ZeroDuration());
  EXPECT_EQ(c->engine.parallel_writes, 2);
  EXPECT_EQ(c->engine.synchronous_commit, "off");
}

TEST(ConfigTest, WriteTuningKeysAreCheckedAndNamed) {
  const std::string dbs = R"("eventSource": {"host": "s", "databaseName": "e"},
    "replicationDestinations": [{"host": "d", "databaseName": "e"}])";
  auto good =
      ParseConfig("{" + dbs + R"(, "parallelWrites": 1, "synchronousCommit": "on"})", Secrets());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->engine.parallel_writes, 1);
  EXPECT_EQ(good->engine.synchronous_commit, "on");
  auto bad =
      ParseConfig("{" + dbs + R"(, "parallelWrites": 9, "synchronousCommit": "maybe"})", Secrets());
  ASSERT_FALSE(bad.ok());
  const std::string msg(bad.status().message());
  EXPECT_NE(msg.find("parallelWrites"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'maybe' is not a synchronous_commit setting; use one of local, off, on"),
            std::string::npos)
      << msg;
}

TEST(ConfigTest, SmallMaxEventsPerWriteIsRaisedWithANote) {
  auto c = ParseConfig(R"({"maxEventsPerWrite": 500, "connectTimeout": 1500,
    "eventSource": {"host": "s", "databaseName": "e"},
    "replicationDestinations": [{"host": "d", "databaseName": "e", "port": 5433,
                                 "name": "replica", "sslmode": "require",
                                 "passwordFile": "/run/secrets/pw"},
                                {"host": "d", "databaseName": "e2", "passwordEnv": "SLATE_PW"}]})",
                       Secrets());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->engine.max_events_per_write, 10000);
  ASSERT_EQ(c->notes.size(), 1u);
  EXPECT_EQ(c->notes[0], "maxEventsPerWrite 500 raised to the minimum 10000");
  EXPECT_EQ(c->source.params.connect_timeout_seconds, 2);
  EXPECT_EQ(c->destinations[0].params.password, "from-file");
  EXPECT_EQ(c->destinations[0].params.sslmode, "require");
  EXPECT_EQ(c->destinations[0].name, "replica");
  EXPECT_EQ(c->destinations[1].params.password, "from-env");
  for (const auto& [key, value] : DescribeConfig(*c)) {
    EXPECT_EQ(value.find("from-file"), std::string::npos) << key;
    EXPECT_EQ(value.find("from-env"), std::string::npos) << key;
  }
}

TEST(ConfigTest, EveryErrorIsReportedWithItsPath) {
  auto c = ParseConfig(R"({
    "maxEventsPerWrite": "10000",
    "connectTimeout": -1,
    "eventSource": {"host": "", "user": 5},
    "replicationDestinations": [
      {"host": "a", "databaseName": "x", "port": 70000, "sslmode": "sometimes"},
      {"host": "A", "databaseName": "X", "password": "p", "passwordEnv": "P"},
      "nope",
      {"host": "b", "databaseName": "y", "passwordEnv": "MISSING", "colour": "red"}
    ],
    "extra": true
  })",
                       Secrets());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(c.status().message());
  for (const char* expected : {
           "maxEventsPerWrite: must be a whole number of events from 1 to 100000000, not string "
           "(remove the quotes)",
           "connectTimeout: must be a whole number of milliseconds from 1 to 3600000, not -1",
           "eventSource.host: must not be empty",
           "eventSource.databaseName: required; add it as a string",
           "eventSource.user: must be a string, not a whole number",
           "replicationDestinations[0].port: must be a whole number of port from 1 to 65535, not "
           "70000",
           "replicationDestinations[0].sslmode: 'sometimes' is not a libpq sslmode",
           "replicationDestinations[1]: give at most one of password, passwordFile and "
           "passwordEnv",
           "replicationDestinations[2]: must be an object with host and databaseName, not string",
           "replicationDestinations[3].passwordEnv: environment variable MISSING is not set",
           "replicationDestinations[3].colour: unknown key",
           "extra: unknown key",
       }) {
    EXPECT_NE(m.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << m;
  }
}

TEST(ConfigTest, ValuesOutOfRangeAreNamedInTheError) {
  auto c = ParseConfig(R"({"parallelWrites": 9, "maxRetryDelay": 99999999999,
    "eventSource": {"host": "s", "databaseName": "e", "port": 5.5},
    "replicationDestinations": [{"host": "d", "databaseName": "e"}]})",
                       Secrets());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(c.status().message());
  for (const char* expected : {
           "parallelWrites: must be a whole number of sessions from 1 to 8, not 9",
           "maxRetryDelay: must be a whole number of milliseconds from 100 to 3600000, not "
           "99999999999",
           "eventSource.port: must be a whole number of port from 1 to 65535, not 5.5 (a "
           "fraction)",
       }) {
    EXPECT_NE(m.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << m;
  }
}

TEST(ConfigTest, APortWrittenIntoHostIsReadWithAWarning) {
  auto c = ParseConfig(R"({"eventSource": {"host": "127.0.0.1:47432", "databaseName": "e"},
    "replicationDestinations": [{"host": "replica.example:6432", "databaseName": "e"},
                                {"host": "::1", "databaseName": "e"}]})",
                       Secrets());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source.params.host, "127.0.0.1");
  EXPECT_EQ(c->source.params.port, 47432);
  EXPECT_EQ(c->destinations[0].params.host, "replica.example");
  EXPECT_EQ(c->destinations[0].params.port, 6432);
  EXPECT_EQ(c->destinations[1].params.host, "::1");  // an IPv6 address is left alone
  EXPECT_EQ(c->destinations[1].params.port, 5432);
  ASSERT_EQ(c->warnings.size(), 2u);
  EXPECT_EQ(c->warnings[0],
            "eventSource.host: '127.0.0.1:47432' is read as host '127.0.0.1' and port 47432; "
            "write \"host\": \"127.0.0.1\", \"port\": 47432 (this config has a port key)");
}

TEST(ConfigTest, APortInHostAndAPortKeyAreRefused) {
  auto c = ParseConfig(R"({"eventSource": {"host": "s:5433", "port": 5433, "databaseName": "e"},
    "replicationDestinations": [{"host": "d:99999", "databaseName": "e"}]})",
                       Secrets());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(c.status().message());
  EXPECT_NE(m.find("eventSource.host: 's:5433' carries a port and eventSource.port is given too; "
                   "write the host alone: \"s\""),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("replicationDestinations[0].host: 'd:99999' carries port 99999, which must be "
                   "from 1 to 65535"),
            std::string::npos)
      << m;
}

TEST(ConfigTest, TheNodeToolsConfigJsGetsTheCommandThatConvertsIt) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/config.js";
  std::ofstream(path) << "module.exports = {\n  eventSource: { host: 'localhost' },\n};\n";
  auto c = LoadConfigFile(path);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(c.status().message());
  EXPECT_NE(m.find("is a JavaScript module (the Node tool's config.js), not JSON"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("node -e 'process.stdout.write(JSON.stringify(require(process.argv[1])))' " +
                   path + " > config.json"),
            std::string::npos)
      << m;
}

TEST(ConfigTest, DuplicateDestinationsAndTheSourceAreRefused) {
  auto c = ParseConfig(R"({
    "eventSource": {"host": "db", "databaseName": "events"},
    "replicationDestinations": [{"host": "DB", "databaseName": "Events"},
                                {"host": "r", "databaseName": "e"},
                                {"host": "R", "databaseName": "E"}]})",
                       Secrets());
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_NE(m.find("replicationDestinations[0]: is the source database"), std::string::npos) << m;
  EXPECT_NE(m.find("replicationDestinations[2]: is the same database as "
                   "replicationDestinations[1]"),
            std::string::npos)
      << m;
}

TEST(ConfigTest, CommentsAreAllowed) {
  auto c = ParseConfig(R"({
    // the source
    "eventSource": {"host": "s", /* inline */ "databaseName": "e"},
    "replicationDestinations": [{"host": "d", "databaseName": "e"}]
  })",
                       Secrets());
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(ConfigTest, TheShippedSampleIsValid) {
  auto c = LoadConfigFile(SAMPLE_CONFIG);
  // Its passwords come from files and variables that do not exist here: those, and only those,
  // are the errors.
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_NE(m.find("eventSource.passwordFile: cannot read password file"), std::string::npos) << m;
  EXPECT_NE(m.find("replicationDestinations[0].passwordEnv"), std::string::npos) << m;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
}

TEST(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  auto c = ParseConfig("{\n  \"eventSource\": {\n    \"host\": \"a\",\n  }\n}", Secrets());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 4, column 3"), absl::string_view::npos)
      << c.status().message();
  EXPECT_FALSE(ParseConfig("[]", Secrets()).ok());
  EXPECT_FALSE(ParseConfig(R"({"eventSource": {"host": "a", "databaseName": "b"},
                              "replicationDestinations": []})",
                           Secrets())
                   .ok());
}

TEST(ConfigTest, OnlyADestinationCanStartPausedAndPausedIsABoolean) {
  auto ok = ParseConfig(R"({"eventSource": {"host": "s", "databaseName": "e"},
      "replicationDestinations": [{"name": "a", "host": "a", "databaseName": "e", "paused": true},
                                  {"name": "b", "host": "b", "databaseName": "e"}]})",
                        Secrets());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->destinations[0].paused);
  EXPECT_FALSE(ok->destinations[1].paused);
  auto bad = ParseConfig(R"({"eventSource": {"host": "s", "databaseName": "e", "paused": true},
      "replicationDestinations": [{"host": "a", "databaseName": "e", "paused": "yes"}]})",
                         Secrets());
  ASSERT_FALSE(bad.ok());
  const std::string m(bad.status().message());
  EXPECT_NE(m.find("eventSource.paused: only a destination can be paused"), std::string::npos) << m;
  EXPECT_NE(m.find("replicationDestinations[0].paused: must be true or false, not string"),
            std::string::npos)
      << m;
}

}  // namespace
TEST(ConfigTest, ASeedIsAnotherDestinationAndNeedsContinuousVerification) {
  auto ok = ParseConfig(R"({"eventSource": {"host": "s", "databaseName": "e"},
      "replicationDestinations": [{"name": "a", "host": "a", "databaseName": "e"},
                                  {"name": "b", "host": "b", "databaseName": "e", "seedFrom": "a"}]})",
                        Secrets());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->destinations[0].seed_from, "");
  EXPECT_EQ(ok->destinations[1].seed_from, "a");
  bool shown = false;
  for (const auto& [key, value] : DescribeConfig(*ok)) {
    if (key == "destination b")
      shown = value.find("(seeded from a, up to its verified rows)") != std::string::npos;
  }
  EXPECT_TRUE(shown) << "the run parameters name the seed";

  auto bad = ParseConfig(R"({"eventSource": {"host": "s", "databaseName": "e", "seedFrom": "a"},
      "replicationDestinations": [{"name": "a", "host": "a", "databaseName": "e", "seedFrom": "a"},
                                  {"name": "b", "host": "b", "databaseName": "e", "seedFrom": "z"},
                                  {"name": "c", "host": "c", "databaseName": "e", "seedFrom": 3}]})",
                         Secrets());
  ASSERT_FALSE(bad.ok());
  const std::string m(bad.status().message());
  EXPECT_NE(m.find("eventSource.seedFrom: only a destination can be seeded"), std::string::npos)
      << m;
  EXPECT_NE(m.find("replicationDestinations[0].seedFrom: 'a' names this destination itself"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("replicationDestinations[1].seedFrom: 'z' is not a destination of this "
                   "config; name one of a, b, c, or remove the key"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("replicationDestinations[2].seedFrom: must be a string"), std::string::npos)
      << m;

  auto unverified = ParseConfig(R"({"eventSource": {"host": "s", "databaseName": "e"},
      "verifyIdsPerSecond": 0,
      "replicationDestinations": [{"name": "a", "host": "a", "databaseName": "e"},
                                  {"name": "b", "host": "b", "databaseName": "e", "seedFrom": "a"}]})",
                                Secrets());
  ASSERT_FALSE(unverified.ok());
  EXPECT_NE(std::string(unverified.status().message())
                .find("replicationDestinations[1].seedFrom: needs continuous verification "
                      "(verifyIdsPerSecond > 0)"),
            std::string::npos)
      << unverified.status();
}

}  // namespace slate::config
