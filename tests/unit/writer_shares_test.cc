#include "server/core/writer_shares.h"

#include <optional>

#include "gtest/gtest.h"

#include "server/common/conn_params.h"

namespace slate::testing {
namespace {

TEST(WriterSharesTest, DestinationsCopyingOnOneMachineSplitTheirSessions) {
  core::WriterShares shares;
  std::optional<core::WriterShares::Claim> a;
  a.emplace(shares, "db1");
  EXPECT_EQ(a->Share(2), 2);  // alone: all of them
  {
    core::WriterShares::Claim b(shares, "db1");
    EXPECT_EQ(shares.Copying("db1"), 2);
    EXPECT_EQ(a->Share(2), 1);
    EXPECT_EQ(b.Share(2), 1);
    EXPECT_EQ(b.Share(4), 2);
    core::WriterShares::Claim c(shares, "db1");
    EXPECT_EQ(c.Share(2), 1);  // never below one
    EXPECT_EQ(c.Share(6), 2);
    core::WriterShares::Claim elsewhere(shares, "db2");
    EXPECT_EQ(elsewhere.Share(2), 2);  // another machine's destinations do not count
  }
  EXPECT_EQ(shares.Copying("db1"), 1);  // the claims ended with their passes
  EXPECT_EQ(a->Share(2), 2);
  a.reset();
  EXPECT_EQ(shares.Copying("db1"), 0);
}

TEST(WriterSharesTest, AnEmptyMachineSharesWithNone) {
  core::WriterShares shares;
  core::WriterShares::Claim a(shares, "");
  core::WriterShares::Claim b(shares, "");
  EXPECT_EQ(shares.Copying(""), 0);
  EXPECT_EQ(a.Share(2), 2);
  EXPECT_EQ(b.Share(3), 3);
}

TEST(WriterSharesTest, TheMachineKeyNamesEveryLocalAddressAlike) {
  auto key = [](const std::string& host) {
    ConnParams p;
    p.host = host;
    return p.MachineKey();
  };
  for (const char* local :
       {"", "/var/run/postgresql", "localhost", "LOCALHOST", "127.0.0.1", "127.0.1.1", "::1"}) {
    EXPECT_EQ(key(local), "local") << local;
  }
  EXPECT_EQ(key("DB1.example.com"), "db1.example.com");
  EXPECT_NE(key("db1.example.com"), key("db2.example.com"));
  EXPECT_EQ(key("10.0.0.7"), "10.0.0.7");
}

}  // namespace
}  // namespace slate::testing
