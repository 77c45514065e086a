#include "client/status_format.h"

#include "gtest/gtest.h"

namespace slate::ctl {
namespace {

TEST(StatusFormatTest, ShowsEveryDestinationWithAProgressBarWhileCatchingUp) {
  v1::GetStatusResponse s;
  s.mutable_server()->set_version("1.2.3");
  s.mutable_server()->set_state(v1::ServerStatus::STATE_REPLICATING);
  s.mutable_server()->mutable_uptime()->set_seconds(3725);
  s.mutable_source()->set_dsn("u@src:5432/ev");
  s.mutable_source()->set_listening(true);
  s.mutable_source()->set_max_id(1000);
  auto* a = s.add_destinations();
  a->set_name("backup");
  a->set_state(v1::DestinationStatus::STATE_IN_SYNC);
  a->set_position(1000);
  auto* b = s.add_destinations();
  b->set_name("replica");
  b->set_state(v1::DestinationStatus::STATE_CATCHING_UP);
  b->set_position(250);
  b->set_lag_events(750);
  b->set_lag_seconds(12.5);
  b->set_events_per_second(50);
  b->set_last_error("Unavailable: reset");
  auto* c = s.add_destinations();
  c->set_name("hole");
  c->set_state(v1::DestinationStatus::STATE_WAITING_AT_HOLE);
  c->set_hole_at_id(17);
  const std::string out = FormatStatus(s);
  EXPECT_NE(out.find("slate-replicator 1.2.3  replicating  up 1h02m"), std::string::npos) << out;
  EXPECT_NE(out.find("u@src:5432/ev  listening  max id 1000"), std::string::npos) << out;
  // The state column fits its longest entry ("waiting_at_hole 17") plus two spaces.
  EXPECT_NE(
      out.find("backup       in_sync             1000        0           0.0      0         -"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("replica      catching_up         250         750         12.5     50        "
                     "Unavailable: reset"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[########......................]  25.0%  ETA 15.0s"), std::string::npos)
      << out;
  EXPECT_NE(out.find("waiting_at_hole 17"), std::string::npos) << out;
}

TEST(StatusFormatTest, ALongStateNeverRunsIntoThePosition) {
  v1::GetStatusResponse s;
  auto* d = s.add_destinations();
  d->set_name("replica");
  d->set_state(v1::DestinationStatus::STATE_WAITING_AT_HOLE);
  d->set_hole_at_id(561560);
  d->set_position(561559);
  auto* e = s.add_destinations();
  e->set_name("backup");
  e->set_state(v1::DestinationStatus::STATE_IN_SYNC);
  e->set_position(7);
  const std::string out = FormatStatus(s);
  // Columns stay aligned: the state column is as wide as its longest entry, plus two spaces.
  EXPECT_NE(out.find("replica      waiting_at_hole 561560  561559"), std::string::npos) << out;
  EXPECT_NE(out.find("backup       in_sync                 7"), std::string::npos) << out;
}

TEST(StatusFormatTest, APausedDestinationSaysSinceWhenByWhomAndHowToResume) {
  v1::GetStatusResponse s;
  s.mutable_source()->set_max_id(900);
  auto* d = s.add_destinations();
  d->set_name("replica2");
  d->set_state(v1::DestinationStatus::STATE_PAUSED);
  d->set_position(700);
  d->set_lag_events(200);
  d->set_paused(true);
  d->mutable_paused_since()->set_seconds(1800000000);
  d->set_paused_by("PauseDestination from ipv4:127.0.0.1:4000: vacuum");
  const std::string out = FormatStatus(s);
  EXPECT_NE(out.find("replica2     paused"), std::string::npos) << out;
  EXPECT_NE(out.find("by PauseDestination from ipv4:127.0.0.1:4000: vacuum"), std::string::npos)
      << out;
  EXPECT_NE(out.find("(slatectl resume replica2)"), std::string::npos) << out;
}

TEST(StatusFormatTest, ABulkLoadShowsItsPhaseAndABarOfTheIndexBuilds) {
  v1::GetStatusResponse s;
  s.mutable_source()->set_max_id(1000);
  auto* loading = s.add_destinations();
  loading->set_name("new1");
  loading->set_state(v1::DestinationStatus::STATE_CATCHING_UP);
  loading->set_position(400);
  loading->set_phase("bulk_loading");
  loading->set_indexes_total(6);
  auto* building = s.add_destinations();
  building->set_name("new2");
  building->set_state(v1::DestinationStatus::STATE_CATCHING_UP);
  building->set_position(1000);
  building->set_phase("building_indexes");
  building->set_indexes_total(6);
  building->set_indexes_built(3);
  building->add_indexes_building("events_ts");
  building->add_indexes_building("events_event_operation");
  const std::string out = FormatStatus(s);
  EXPECT_NE(out.find("bulk loading: 6 indexes set aside, built after the backlog"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[###############...............]  building indexes 3/6 built, now: "
                     "events_ts, events_event_operation"),
            std::string::npos)
      << out;
}

TEST(StatusFormatTest, ASeededDestinationNamesItsSeedAndTheRowsItGave) {
  v1::GetStatusResponse s;
  s.mutable_source()->set_max_id(1000);
  auto* seeded = s.add_destinations();
  seeded->set_name("replica3");
  seeded->set_state(v1::DestinationStatus::STATE_IN_SYNC);
  seeded->set_position(1000);
  seeded->set_seed_from("replica1");
  seeded->set_seed_rows(990);
  s.add_destinations()->set_name("replica1");
  const std::string out = FormatStatus(s);
  EXPECT_NE(out.find("seeded from replica1: 990 rows read from it (verified there), the rest from "
                     "the source"),
            std::string::npos)
      << out;
  const size_t seed_row = out.find("\nreplica1 ");
  ASSERT_NE(seed_row, std::string::npos) << out;
  EXPECT_EQ(out.find("seeded from", seed_row), std::string::npos)
      << "only the seeded destination says it" << out;
}

TEST(StatusFormatTest, VerificationSaysHowFarAndWhatHoldsItBack) {
  v1::GetStatusResponse s;
  s.mutable_source()->set_max_id(1000);
  auto* waiting = s.add_destinations();
  waiting->set_name("new1");
  waiting->set_state(v1::DestinationStatus::STATE_CATCHING_UP);
  waiting->set_position(400);
  waiting->set_verify_enabled(true);
  waiting->set_verify_waits_for_catch_up(true);
  auto* held = s.add_destinations();
  held->set_name("replica1");
  held->set_state(v1::DestinationStatus::STATE_IN_SYNC);
  held->set_position(1000);
  held->set_verify_enabled(true);
  held->set_verified_position(700);
  held->set_verify_error("source down");
  const std::string out = FormatStatus(s);
  const size_t second = out.find("\nreplica1 ");
  ASSERT_NE(second, std::string::npos) << out;
  const size_t waits = out.find("verified 1..0, last full pass - (waits for the catch-up to end)");
  EXPECT_LT(waits, second) << out;
  EXPECT_NE(out.find("verified 1..700, last full pass - (held back: source down)", second),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("waits for the catch-up", second), std::string::npos) << out;
}

TEST(StatusFormatTest, AStandbyShowsWhoIsActive) {
  v1::GetStatusResponse s;
  s.mutable_server()->set_version("1.2.3");
  s.mutable_server()->set_state(v1::ServerStatus::STATE_STANDBY);
  s.mutable_server()->set_role(v1::ServerStatus::ROLE_STANDBY);
  s.mutable_server()->set_active_instance(
      "backend pid 77, application_name 'slate-replicator/12@host-a', client 10.0.0.5");
  s.add_destinations()->set_name("replica");
  const std::string out = FormatStatus(s);
  EXPECT_NE(out.find("slate-replicator 1.2.3  standby"), std::string::npos) << out;
  EXPECT_NE(out.find("active  backend pid 77, application_name 'slate-replicator/12@host-a'"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("DESTINATION"), std::string::npos) << "a standby copies nothing" << out;
}

TEST(StatusFormatTest, ValidationListsChecksParametersAndAVerdict) {
  v1::ValidateResponse r;
  r.set_passed(false);
  auto* c = r.add_checks();
  c->set_name("d: first event");
  c->set_result(v1::Check::RESULT_FAIL);
  c->set_message("differs");
  r.add_parameters("maxEventsPerWrite: 10000");
  const std::string out = FormatValidation(r);
  EXPECT_NE(out.find("FAIL  d: first event: differs"), std::string::npos) << out;
  EXPECT_NE(out.find("  maxEventsPerWrite: 10000"), std::string::npos) << out;
  EXPECT_NE(out.find("validation FAILED: 1 checks, 1 failed, 0 warnings"), std::string::npos);
}

TEST(StatusFormatTest, DurationsAreShort) {
  EXPECT_EQ(HumanDuration(12.34), "12.3s");
  EXPECT_EQ(HumanDuration(185), "3m05s");
  EXPECT_EQ(HumanDuration(7320), "2h02m");
  EXPECT_EQ(HumanDuration(90000), "1d01h");
}

}  // namespace
}  // namespace slate::ctl
