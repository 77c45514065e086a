#include <fstream>

#include "gtest/gtest.h"

#include "server/common/args.h"
#include "server/common/conn_params.h"
#include "server/common/log.h"
#include "server/common/secrets.h"
#include "server/postgres/schema.h"

namespace slate {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"config-filename", 'c', true, "FILE", "config"},
    {"dry-run", 0, false, "", "dry"},
    {"port", 0, true, "PORT", "port"},
};

TEST(ArgsTest, ParsesLongShortInlineAndBooleanFlags) {
  auto parsed = ParseArgs(kSpecs, {"-c", "a.json", "--dry-run", "--port=5433"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->GetOr("config-filename", ""), "a.json");
  EXPECT_TRUE(parsed->Has("dry-run"));
  EXPECT_EQ(parsed->GetOr("port", ""), "5433");
  EXPECT_FALSE(parsed->Has("missing"));
}

TEST(ArgsTest, RejectsUnknownMissingValueAndStrayArguments) {
  EXPECT_EQ(ParseArgs(kSpecs, {"--nope"}).status().message(), "unknown argument '--nope'");
  EXPECT_EQ(ParseArgs(kSpecs, {"-c"}).status().message(), "--config-filename needs a value (FILE)");
  EXPECT_EQ(ParseArgs(kSpecs, {"stray"}).status().message(), "unexpected argument 'stray'");
  EXPECT_EQ(ParseArgs(kSpecs, {"--dry-run=yes"}).status().message(), "--dry-run takes no value");
  auto positional = ParseArgs(kSpecs, {"--", "-x"}, 1);
  ASSERT_TRUE(positional.ok());
  EXPECT_EQ(positional->positional(), std::vector<std::string>{"-x"});
}

TEST(ArgsTest, IntFlagsAreRangeChecked) {
  EXPECT_EQ(*ParseIntFlag("port", "5432", 1, 65535), 5432);
  EXPECT_FALSE(ParseIntFlag("port", "0", 1, 65535).ok());
  EXPECT_FALSE(ParseIntFlag("port", "12x", 1, 65535).ok());
}

TEST(ConnParamsTest, ConnInfoQuotesEveryValueAndDescribeHidesThePassword) {
  ConnParams p;
  p.host = "db.example";
  p.port = 5433;
  p.database = "ev'ents";
  p.user = "slate";
  p.password = "s3cr\\et pass";
  p.sslmode = "require";
  p.connect_timeout_seconds = 1;
  const std::string info = p.ToConnInfo();
  EXPECT_NE(info.find("dbname='ev\\'ents'"), std::string::npos) << info;
  EXPECT_NE(info.find("password='s3cr\\\\et pass'"), std::string::npos) << info;
  EXPECT_NE(info.find("connect_timeout=2"), std::string::npos) << info;
  EXPECT_NE(info.find("sslmode='require'"), std::string::npos) << info;
  EXPECT_EQ(p.Describe(), "slate@db.example:5433/ev'ents");
  EXPECT_EQ(p.Describe().find("s3cr"), std::string::npos);
}

TEST(ConnParamsTest, SameDatabaseIgnoresCaseOfHostAndName) {
  ConnParams a;
  a.host = "DB.example";
  a.database = "Events";
  ConnParams b;
  b.host = "db.EXAMPLE";
  b.database = "events";
  EXPECT_TRUE(a.SameDatabaseAs(b));
  b.port = 5433;
  EXPECT_FALSE(a.SameDatabaseAs(b));
}

TEST(SchemaNameTest, AcceptsLowerCaseIdentifiersOnly) {
  EXPECT_TRUE(pg::ValidateNewDatabaseName("events_2").ok());
  EXPECT_TRUE(pg::ValidateNewDatabaseName("_x$1").ok());
  for (const char* bad : {"", "Events", "9lives", "with-dash", "sp ace", "$x", "a;drop"}) {
    EXPECT_EQ(pg::ValidateNewDatabaseName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(pg::ValidateNewDatabaseName(std::string(64, 'a')).ok());
  EXPECT_TRUE(pg::ValidateNewDatabaseName(std::string(63, 'a')).ok());
}

TEST(LogTest, RendersJsonFieldsTypedAndEscaped) {
  log::Init(log::Format::kJson, spdlog::level::info);
  EXPECT_EQ(
      log::Render("batch \"done\"", {{"destination", "r1"}, {"events", int64_t{42}}, {"ok", true}}),
      R"("message":"batch \"done\"","destination":"r1","events":42,"ok":true)");
  log::Init(log::Format::kText, spdlog::level::info);
  EXPECT_EQ(log::Render("started", {{"name", "a b"}, {"n", 3}}), R"(started name="a b" n=3)");
  log::Init(log::Format::kJson, spdlog::level::info);
  EXPECT_EQ(log::JsonEscape("a\nb\x01"), "a\\nb\\u0001");
}

TEST(LogTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*log::ParseLevel("WARN"), spdlog::level::warn);
  EXPECT_FALSE(log::ParseLevel("loud").ok());
  EXPECT_EQ(*log::ParseFormat("text"), log::Format::kText);
  EXPECT_FALSE(log::ParseFormat("xml").ok());
}

TEST(SecretsTest, ReadsAFileWithoutItsTrailingNewline) {
  const std::string path = ::testing::TempDir() + "/secret";
  std::ofstream(path) << "hunter2\n";
  EXPECT_EQ(*ReadSecretFile(path), "hunter2");
  std::ofstream(path) << "";
  EXPECT_EQ(ReadSecretFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = ReadSecretFile(path + ".missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("secret.missing"), absl::string_view::npos);
  EXPECT_NE(missing.status().message().find("cannot read password file"), absl::string_view::npos);
  // A token file is called what it is.
  auto token = ReadSecretFile(path + ".missing", "token file");
  EXPECT_NE(token.status().message().find("cannot read token file"), absl::string_view::npos);
  EXPECT_EQ(token.status().message().find("password"), absl::string_view::npos);
}

}  // namespace
}  // namespace slate
