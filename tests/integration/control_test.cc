// The control plane end to end: slate-replicator on real PostgreSQL, driven by slatectl (and by
// a Python client generated from proto/).

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

class ControlTest : public SourceAndDestinations {
 protected:
  PgCluster& cluster() { return SharedCluster(); }
  // Starts the replicator and returns its control address ("" on failure).
  std::string StartReplicator(const std::vector<std::string>& args = {},
                              const std::vector<std::string>& env = {}) {
    auto r = ReplicatorProcess::Start(Config(), args, env);
    EXPECT_TRUE(r.ok());
    replicator_ = std::move(*r);
    const int port = replicator_->WaitForControlPort();
    EXPECT_GT(port, 0) << replicator_->Log();
    return absl::StrCat("127.0.0.1:", port);
  }
  int Ctl(std::vector<std::string> args, std::string* out,
          const std::vector<std::string>& env = {}) {
    args.insert(args.begin() + 1, {"--server", server_});
    return RunSlatectl(args, out, env);
  }
  std::unique_ptr<ReplicatorProcess> replicator_;
  std::string server_;
};

TEST_F(ControlTest, StatusShowsLagFallingToZeroDuringACatchUp) {
  FillSource(Source(), 3000, 20, 60);
  const long long total = Count(Source());
  server_ = StartReplicator();
  std::string out;
  long long max_lag = 0;
  bool saw_catching_up = false;
  ASSERT_TRUE(WaitUntil([&] {
    if (Ctl({"status", "-o", "json"}, &out) != 0) return false;
    max_lag = std::max({max_lag, JsonField(out, "lag_events", 0), JsonField(out, "lag_events", 1)});
    saw_catching_up |= out.find("STATE_CATCHING_UP") != std::string::npos;
    return JsonField(out, "position", 0) == total && JsonField(out, "position", 1) == total &&
           JsonField(out, "lag_events", 0) == 0 && JsonField(out, "lag_events", 1) == 0 &&
           out.find("STATE_CATCHING_UP") == std::string::npos;
  })) << out;
  EXPECT_GT(max_lag, 0) << "never saw a lag: the catch-up was over before the first status";
  EXPECT_TRUE(saw_catching_up);
  EXPECT_NE(out.find("\"state\":\"STATE_IN_SYNC\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"lag_seconds\":0"), std::string::npos) << out;
  // The text table, for people.
  ASSERT_EQ(Ctl({"status"}, &out), 0) << out;
  EXPECT_NE(out.find("replicating"), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("in_sync          ", total)), std::string::npos) << out;
  // As a probe: within a generous bound it passes.
  EXPECT_EQ(Ctl({"status", "--max-lag-seconds", "3600"}, &out), 0) << out;
}

TEST_F(ControlTest, ValidateReportsABrokenDestinationAndAGoodConfigWithoutChangingThem) {
  FillSource(Source(), 10, 1, 5);
  server_ = StartReplicator();
  const std::string want = Digest(Source());
  ASSERT_TRUE(WaitUntil([&] { return Digest(Dest(0)) == want && Digest(Dest(1)) == want; }));
  std::string out;
  // The running config passes, its own writer locks included.
  EXPECT_EQ(Ctl({"validate"}, &out), 0) << out;
  EXPECT_NE(out.find("PASS  destination"), std::string::npos) << out;
  EXPECT_NE(out.find("its writer lock is held by this replicator"), std::string::npos) << out;
  EXPECT_NE(out.find("validation passed"), std::string::npos) << out;
  // A config with a destination of another source fails, naming the problem.
  const std::string other = UniqueName("dst");
  ASSERT_TRUE(cluster().CreateSlateDatabase(other, pg::TableType::kDestination).ok());
  Exec(cluster().ConnInfo(other), "INSERT INTO events VALUES (1, now(), '{\"other\": 1}')");
  const std::string broken =
      WriteFile(cluster().dir(), "broken.json",
                ConfigJson(cluster().Params(source_db_), {cluster().Params(other)}));
  const std::string before_src = Digest(Source());
  const std::string before_other = Digest(cluster().ConnInfo(other));
  EXPECT_EQ(Ctl({"validate", "-c", broken}, &out), 1) << out;
  EXPECT_NE(out.find("FAIL  destination"), std::string::npos) << out;
  EXPECT_NE(out.find("it is a copy of another source"), std::string::npos) << out;
  EXPECT_NE(out.find("validation FAILED"), std::string::npos) << out;
  EXPECT_EQ(Digest(Source()), before_src);
  EXPECT_EQ(Digest(cluster().ConnInfo(other)), before_other);
  // An invalid config is rejected with its problems.
  const std::string invalid = WriteFile(cluster().dir(), "invalid.json", "{\"eventSource\": 1}");
  EXPECT_EQ(Ctl({"validate", "-c", invalid}, &out), 1) << out;
  EXPECT_NE(out.find("eventSource: must be an object"), std::string::npos) << out;
}

TEST_F(ControlTest, StopEndsTheServerWithEveryDestinationConsistent) {
  FillSource(Source(), 3000, 20, 60);
  server_ = StartReplicator();
  ASSERT_TRUE(WaitUntil([&] { return Count(Dest(0)) > 0; }));
  std::string out;
  EXPECT_EQ(Ctl({"stop"}, &out), 0) << out;
  EXPECT_NE(out.find("stop requested"), std::string::npos) << out;
  EXPECT_NE(out.find("stopped"), std::string::npos) << out;
  auto rc = replicator_->Wait(absl::Seconds(30));
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << replicator_->Log();
  EXPECT_NE(replicator_->Log().find("stop requested over the API"), std::string::npos);
  for (int d = 0; d < 2; ++d) ExpectWholeTransactions(Dest(d));
  // Its last word names where each destination stopped: the position committed there.
  for (int d = 0; d < 2; ++d) {
    EXPECT_NE(out.find(absl::StrCat(": stopped at ", Count(Dest(d)))), std::string::npos) << out;
  }
  EXPECT_EQ(Ctl({"status"}, &out), 3) << out;  // gone: unreachable
  EXPECT_NE(out.find("cannot reach slate-replicator"), std::string::npos) << out;
}

TEST_F(ControlTest, HealthFlipsToNotServingWhenAStopBegins) {
  FillSource(Source(), 3000, 20, 60);
  server_ = StartReplicator();
  std::string out;
  ASSERT_TRUE(WaitUntil([&] { return Ctl({"health"}, &out) == 0; })) << out;
  EXPECT_NE(out.find("SERVING"), std::string::npos) << out;
  ASSERT_TRUE(WaitUntil([&] { return Count(Dest(0)) > 0; }));
  // Freeze destination 0's backend so the stop cannot finish while we look.
  FrozenReplicatorBackend frozen(cluster(), dest_dbs_[0]);
  ASSERT_TRUE(frozen.frozen());
  EXPECT_EQ(Ctl({"stop", "--no-wait"}, &out), 0) << out;
  const bool flipped = WaitUntil([&] { return Ctl({"health"}, &out) == 1; });
  frozen.Thaw();
  ASSERT_TRUE(flipped) << out;
  EXPECT_NE(out.find("NOT_SERVING"), std::string::npos) << out;
  auto rc = replicator_->Wait(absl::Seconds(30));
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << replicator_->Log();
}

TEST_F(ControlTest, AStopDeadlineBoundsAStopThatCannotFinish) {
  FillSource(Source(), 3000, 20, 60);
  server_ = StartReplicator();
  ASSERT_TRUE(WaitUntil([&] { return Count(Dest(0)) > 0; }));
  // Freeze destination 0's backend: its open batch can neither commit nor roll back.
  FrozenReplicatorBackend frozen(cluster(), dest_dbs_[0]);
  ASSERT_TRUE(frozen.frozen());
  std::string out;
  EXPECT_EQ(Ctl({"stop", "--deadline", "2", "--no-wait"}, &out), 0) << out;
  auto rc = replicator_->Wait(absl::Seconds(20));
  frozen.Thaw();
  ASSERT_TRUE(rc.ok()) << "the deadline did not end the process";
  EXPECT_EQ(*rc, 130) << replicator_->Log();
  EXPECT_NE(replicator_->Log().find("stop deadline passed; exiting now"), std::string::npos);
  ASSERT_TRUE(WaitForNoReplicatorSessions(Dest(0)));
  ExpectWholeTransactions(Dest(0));
}

TEST_F(ControlTest, ATokenIsRequiredWhenSet) {
  server_ = StartReplicator({}, {"SLATE_TOKEN=t0ken-42"});
  std::string out;
  EXPECT_EQ(Ctl({"status"}, &out), 1) << out;
  EXPECT_NE(out.find("requires a bearer token"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"status", "--token", "wrong"}, &out), 1) << out;
  EXPECT_NE(out.find("wrong bearer token"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"status", "--token", "t0ken-42"}, &out), 0) << out;
  EXPECT_EQ(Ctl({"status"}, &out, {"SLATE_TOKEN=t0ken-42"}), 0) << out;
  const std::string token_file = WriteFile(cluster().dir(), "token", "t0ken-42\n");
  EXPECT_EQ(Ctl({"status", "--token-file", token_file}, &out), 0) << out;
  EXPECT_TRUE(WaitUntil([&] { return Ctl({"health"}, &out) == 0; })) << out;  // needs no token
  EXPECT_EQ(Ctl({"stop", "--no-wait"}, &out), 1) << out;
  EXPECT_EQ(Ctl({"stop"}, &out, {"SLATE_TOKEN=t0ken-42"}), 0) << out;
  EXPECT_EQ(replicator_->Log().find("t0ken-42"), std::string::npos) << "the token was logged";
}

TEST_F(ControlTest, MutualTlsWithCertificatesMadeHere) {
  const std::string dir = absl::StrCat(cluster().dir(), "/", UniqueName("tls"));
  SpawnOptions quiet;
  quiet.output_path = dir + ".log";
  auto rc = RunProcess(
      {"/bin/sh", "-c",
       absl::StrCat("set -e; mkdir -p ", dir, " && cd ", dir,
                    " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
                    "-days 1 -subj /CN=slate-test-ca"
                    " && for who in server client; do"
                    "   openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr "
                    "-subj /CN=$who;"
                    "   printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > $who.ext;"
                    "   openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                    "-out $who.pem -days 1 -extfile $who.ext;"
                    " done")},
      quiet);
  ASSERT_TRUE(rc.ok() && *rc == 0) << ReadFile(quiet.output_path);
  server_ = StartReplicator({"--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server.key",
                             "--tls-client-ca", dir + "/ca.pem"});
  EXPECT_NE(replicator_->Log().find("\"tls\":true,\"client_certificates\":true"), std::string::npos)
      << replicator_->Log();
  const std::vector<std::string> tls = {"--tls-ca",          dir + "/ca.pem", "--tls-cert",
                                        dir + "/client.pem", "--tls-key",     dir + "/client.key"};
  std::string out;
  std::vector<std::string> args = {"status"};
  args.insert(args.end(), tls.begin(), tls.end());
  EXPECT_EQ(Ctl(args, &out), 0) << out;
  EXPECT_NE(out.find("replicating"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"status", "--tls-ca", dir + "/ca.pem"}, &out), 3) << "no client certificate\n"
                                                                   << out;
  EXPECT_EQ(Ctl({"status"}, &out), 3) << "plaintext to a TLS server\n" << out;
  args = {"health"};
  args.insert(args.end(), tls.begin(), tls.end());
  EXPECT_TRUE(WaitUntil([&] { return Ctl(args, &out) == 0; })) << out;
}

TEST_F(ControlTest, APythonClientGeneratedFromTheProtoReadsStatusAndReflection) {
  FillSource(Source(), 5, 1, 3);
  server_ = StartReplicator();
  const long long total = Count(Source());
  ASSERT_TRUE(WaitUntil([&] { return Count(Dest(1)) == total; }));
  const std::string out_path = absl::StrCat(cluster().dir(), "/", UniqueName("py"), ".out");
  SpawnOptions options;
  options.output_path = out_path;
  auto rc = RunProcess(
      {"/usr/bin/python3", SLATE_SOURCE_DIR "/tests/integration/python_client.py", "--server",
       server_, "--proto-root", SLATE_SOURCE_DIR "/proto", "--reflection-proto",
       SLATE_SOURCE_DIR "/tests/integration/reflection_v1alpha.proto"},
      options);
  const std::string out = ReadFile(out_path);
  ASSERT_TRUE(rc.ok() && *rc == 0) << out;
  EXPECT_NE(out.find("\"state\": \"STATE_REPLICATING\""), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("\"source_max_id\": ", total)), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("\"position\": ", total)), std::string::npos) << out;
  EXPECT_NE(out.find("\"slate.replicator.v1.ReplicatorService\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"grpc.health.v1.Health\""), std::string::npos) << out;
}

}  // namespace
}  // namespace slate::testing
