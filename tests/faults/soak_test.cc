// Soak: writers, random faults of every kind and verification, for SLATE_SOAK_MINUTES minutes
// (default 1). Prints a summary: faults injected by kind with recovery times, events written and
// verified, duplicates and lost (both must be 0), the largest lag seen.

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

#include "tests/faults/writers.h"
#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/tcp_proxy.h"

namespace slate::testing {
namespace {

long long MaxId(const std::string& conninfo) {
  try {
    return QueryInt(conninfo, "SELECT coalesce(max(id), 0) FROM events");
  } catch (const std::exception&) {
    return -1;  // being restarted
  }
}

TEST(SoakTest, WritersFaultsAndVerification) {
  const char* env = std::getenv("SLATE_SOAK_MINUTES");
  const double minutes = env != nullptr ? std::atof(env) : 1.0;
  ASSERT_GT(minutes, 0);
  auto source = PgCluster::Start("soaksource");
  auto dest2 = PgCluster::Start("soakdest");
  ASSERT_TRUE(source.ok() && dest2.ok());
  PgCluster& shared = SharedCluster();
  const std::string src = UniqueName("src");
  const std::string d1 = UniqueName("dst");
  const std::string d2 = UniqueName("dst");
  ASSERT_TRUE((*source)->CreateSlateDatabase(src, pg::TableType::kSource).ok());
  ASSERT_TRUE(shared.CreateSlateDatabase(d1, pg::TableType::kDestination).ok());
  ASSERT_TRUE((*dest2)->CreateSlateDatabase(d2, pg::TableType::kDestination).ok());
  auto proxy = TcpProxy::Start(shared.port());  // destination 1 goes through it
  ASSERT_TRUE(proxy.ok());
  ConnParams via_proxy = shared.Params(d1);
  via_proxy.port = (*proxy)->port();
  const std::string fast =
      "\"maxRetryDelay\": 500, \"stallTimeout\": 2000, \"connectTimeout\": 2000, "
      "\"pollInterval\": 1000";
  const std::string config =
      WriteFile(shared.dir(), "soak.json",
                ConfigJson((*source)->Params(src), {via_proxy, (*dest2)->Params(d2)}, fast));
  const std::string direct =
      WriteFile(shared.dir(), "soak-direct.json",
                ConfigJson((*source)->Params(src), {shared.Params(d1), (*dest2)->Params(d2)}));
  const std::string src_ci = (*source)->ConnInfo(src);
  const std::vector<std::string> dests = {shared.ConnInfo(d1), (*dest2)->ConnInfo(d2)};

  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  Writers writers(src_ci, 2);
  const unsigned seed = std::random_device()();
  std::mt19937 random(seed);
  std::map<std::string, std::vector<double>> recovery;  // kind -> seconds
  long long max_lag = 0;
  const std::vector<std::string> kinds = {"kill -9", "destination crash", "connection cut",
                                          "blackhole 3 s", "source restart"};
  const absl::Time end = absl::Now() + absl::Seconds(minutes * 60);
  while (absl::Now() < end) {
    // Quiet time with writers running, then one fault.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(2000, 5000)(random)));
    for (const auto& d : dests) max_lag = std::max(max_lag, MaxId(src_ci) - MaxId(d));
    const std::string kind =
        kinds[std::uniform_int_distribution<size_t>(0, kinds.size() - 1)(random)];
    if (kind == "kill -9") {
      (*replicator)->Signal(SIGKILL);
      ASSERT_TRUE((*replicator)->Wait().ok());
      replicator = ReplicatorProcess::Start(config);
      ASSERT_TRUE(replicator.ok());
    } else if (kind == "destination crash") {
      ASSERT_TRUE((*dest2)->Stop("immediate").ok());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      ASSERT_TRUE((*dest2)->Restart().ok());
    } else if (kind == "connection cut") {
      (*proxy)->Cut();
    } else if (kind == "blackhole 3 s") {
      (*proxy)->Blackhole(true);
      std::this_thread::sleep_for(std::chrono::seconds(3));
      (*proxy)->Blackhole(false);
    } else {
      ASSERT_TRUE((*source)->Stop("fast").ok());
      ASSERT_TRUE((*source)->Restart().ok());
    }
    // Recovered: every destination has what the source had when the fault ended.
    const absl::Time fault_end = absl::Now();
    long long target = -1;
    ASSERT_TRUE(WaitUntil([&] { return (target = MaxId(src_ci)) >= 0; }));
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (const auto& d : dests) {
            if (MaxId(d) < target) return false;
          }
          return true;
        },
        absl::Seconds(120)))
        << kind << "\n"
        << (*replicator)->Log();
    recovery[kind].push_back(absl::ToDoubleSeconds(absl::Now() - fault_end));
  }
  writers.Stop();
  // Caught up (verify then proves the contents equal; a digest of millions of rows would not
  // fit in one value).
  const long long final_max = MaxId(src_ci);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return std::all_of(dests.begin(), dests.end(),
                           [&](const auto& d) { return MaxId(d) == final_max; });
      },
      absl::Seconds(300)))
      << (*replicator)->Log();
  std::string verify;
  const int verify_rc = RunSlatectl({"verify", "-c", direct}, &verify);
  const long long written = Count(src_ci);
  long long duplicates = 0;
  long long lost = 0;
  std::vector<long long> verified;
  for (const auto& d : dests) {
    verified.push_back(Count(d));
    duplicates += QueryInt(d, "SELECT count(*) - count(DISTINCT id) FROM events");
    lost += written - Count(d);
  }

  std::string table = absl::StrFormat(
      "\nsoak summary: %.1f minutes, seed %u, writers committed %lld transactions (%lld retried "
      "through outages)\n%-20s %9s %14s %14s\n",
      minutes, seed, writers.committed(), writers.errors(), "fault", "injected", "recovery p50",
      "recovery max");
  int total_faults = 0;
  for (const std::string& kind : kinds) {
    std::vector<double> r = recovery[kind];
    std::sort(r.begin(), r.end());
    total_faults += static_cast<int>(r.size());
    table += absl::StrFormat("%-20s %9d %13.2fs %13.2fs\n", kind, r.size(),
                             r.empty() ? 0.0 : r[r.size() / 2], r.empty() ? 0.0 : r.back());
  }
  table += absl::StrFormat(
      "events written %lld; events verified %lld and %lld; duplicates %lld; lost %lld; "
      "max lag %lld events; slatectl verify exit %d\n",
      written, verified[0], verified[1], duplicates, lost, max_lag, verify_rc);
  std::cout << table << verify << std::flush;
  EXPECT_GT(total_faults, 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(verify_rc, 0) << verify;
}

}  // namespace
}  // namespace slate::testing
