#include "gtest/gtest.h"

#include "server/metrics/exporter.h"

namespace slate {
namespace {

core::EngineStatus Healthy(absl::Time now) {
  core::EngineStatus s;
  s.start_time = now - absl::Minutes(5);
  s.source.max_id = 1000;
  s.source.listening = true;
  s.source.notifications_total = 12;
  for (const char* name : {"a", "b"}) {
    core::DestinationStatus d;
    d.name = name;
    d.state = core::DestinationState::kInSync;
    d.position = 1000;
    d.events_total = 1000;
    d.last_heartbeat = now - absl::Seconds(2);
    s.destinations.push_back(d);
  }
  return s;
}

TEST(ReadinessTest, ReadyOnlyWithRecentHeartbeatsEverywhere) {
  const absl::Time now = absl::Now();
  core::EngineStatus s = Healthy(now);
  EXPECT_TRUE(core::AssessReadiness(s, now, absl::Seconds(15)).ready);

  s.destinations[1].last_heartbeat = now - absl::Seconds(20);
  s.destinations[1].state = core::DestinationState::kRetrying;
  s.destinations[1].last_error = "Unavailable: refused";
  core::Readiness r = core::AssessReadiness(s, now, absl::Seconds(15));
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason,
            "destination b has had no heartbeat for 20s (retrying: Unavailable: refused)");

  s = Healthy(now);
  s.destinations[0].last_heartbeat = absl::InfinitePast();
  s.destinations[0].state = core::DestinationState::kConnecting;
  EXPECT_EQ(core::AssessReadiness(s, now, absl::Seconds(15)).reason,
            "destination a has not completed a pass yet (connecting)");

  s = Healthy(now);
  s.destinations[0].state = core::DestinationState::kFailed;
  s.destinations[0].last_error = "DataLoss: ahead";
  EXPECT_EQ(core::AssessReadiness(s, now, absl::Seconds(15)).reason,
            "destination a failed: DataLoss: ahead");

  s = Healthy(now);
  s.stopping = true;
  EXPECT_FALSE(core::AssessReadiness(s, now, absl::Seconds(15)).ready);
}

TEST(MetricsTest, RendersTheStatusWithPrometheusNamesAndTypes) {
  const absl::Time now = absl::Now();
  core::EngineStatus s = Healthy(now);
  s.destinations[1].state = core::DestinationState::kWaitingAtHole;
  s.destinations[1].hole_at = 1001;
  s.destinations[1].errors_by_kind["unavailable"] = 3;
  s.destinations[1].bytes_total = 4096;
  const std::string text = metrics::RenderForTest({"1.2.3", "test", 7}, s, now, absl::Seconds(15));
  for (const char* line : {
           "slate_replicator_build_info{version=\"1.2.3\",build=\"test\"} 1",
           "# TYPE slate_replicator_source_notifications_total counter",
           "slate_replicator_source_notifications_total 12",
           "slate_replicator_source_max_id 1000",
           "slate_replicator_ready 1",
           "# TYPE slate_replicator_destination_events_copied_total counter",
           "slate_replicator_destination_events_copied_total{destination=\"a\"} 1000",
           "slate_replicator_destination_bytes_copied_total{destination=\"b\"} 4096",
           "slate_replicator_destination_errors_total{destination=\"b\",kind=\"unavailable\"} 3",
           "slate_replicator_destination_state{destination=\"a\",state=\"in_sync\"} 1",
           "slate_replicator_destination_state{destination=\"a\",state=\"failed\"} 0",
           "slate_replicator_destination_state{destination=\"b\",state=\"waiting_at_hole\"} 1",
           "slate_replicator_destination_hole_id{destination=\"b\"} 1001",
           "# TYPE slate_replicator_destination_lag_seconds gauge",
           "slate_replicator_role{role=\"active\"} 1",
           "slate_replicator_role{role=\"standby\"} 0",
           "slate_replicator_last_takeover_timestamp_seconds 0",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST(MetricsTest, AStandbyIsNotReadyAndSaysSo) {
  const absl::Time now = absl::Now();
  core::EngineStatus s = Healthy(now);
  s.standby = true;
  s.active_instance = "backend pid 7, application_name 'slate-replicator/12@a', client 10.0.0.5";
  const core::Readiness r = core::AssessReadiness(s, now, absl::Seconds(15));
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason,
            "standby (active: backend pid 7, application_name 'slate-replicator/12@a', client "
            "10.0.0.5)");
  s.last_takeover = absl::FromUnixSeconds(1700000000);
  const std::string text = metrics::RenderForTest({"1.2.3", "test", 7}, s, now, absl::Seconds(15));
  for (const char* line : {
           "slate_replicator_ready 0",
           "slate_replicator_role{role=\"active\"} 0",
           "slate_replicator_role{role=\"standby\"} 1",
           "slate_replicator_last_takeover_timestamp_seconds 1700000000",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace slate
