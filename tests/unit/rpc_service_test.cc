// The gRPC control service in-process on port 0, over a fake core::Control.

#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include <grpcpp/grpcpp.h>

#include "server/grpc/rpc_server.h"

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace slate::rpc {
namespace {

class FakeControl : public core::Control {
 public:
  core::ServerInfo Info() const override { return {"9.9.9", "test build", 42}; }
  core::EngineStatus Status() const override {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  void AwaitChange(uint64_t* version, absl::Duration timeout) const override {
    absl::MutexLock lock(&mu_);
    const uint64_t seen = *version;
    auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ != seen; };
    mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
    *version = version_;
  }
  absl::StatusOr<core::ValidationReport> Validate(const std::string& config_json) override {
    last_config_json = config_json;
    if (config_json == "bad") return absl::InvalidArgumentError("eventSource: required");
    core::ValidationReport r;
    r.checks.push_back({"source: connect", core::CheckResult::kPass, "connected"});
    r.checks.push_back({"destination d: first event", core::CheckResult::kFail, "differs"});
    r.parameters.push_back("maxEventsPerWrite: 10000");
    return r;
  }
  void Stop(absl::Duration deadline) override {
    absl::MutexLock lock(&mu_);
    stop_deadline = deadline;
    status_.stopping = true;
    ++version_;
  }
  absl::StatusOr<core::ReloadReport> Reload() override {
    absl::MutexLock lock(&mu_);
    ++reloads;
    return next_reload;
  }
  absl::Status Pause(const std::string& name, const std::string& by, bool* changed) override {
    absl::MutexLock lock(&mu_);
    if (name != "replica") return absl::NotFoundError("no destination named '" + name + "'");
    *changed = paused_by.empty();
    if (*changed) paused_by = by;
    return absl::OkStatus();
  }
  absl::Status Resume(const std::string& name, const std::string& by, bool* changed) override {
    absl::MutexLock lock(&mu_);
    if (name != "replica") return absl::NotFoundError("no destination named '" + name + "'");
    *changed = !paused_by.empty();
    paused_by.clear();
    resumed_by = by;
    return absl::OkStatus();
  }
  absl::Status WaitForPosition(int64_t id, std::vector<std::string> names, absl::Duration timeout,
                               core::PositionWaiters::Done done) override {
    return waiters.Wait(id, std::move(names), absl::Now() + timeout, std::move(done));
  }
  void Update(const std::function<void(core::EngineStatus&)>& fn) {
    absl::MutexLock lock(&mu_);
    fn(status_);
    ++version_;
  }

  std::string last_config_json;
  absl::Duration stop_deadline = absl::InfiniteDuration();
  // Pause/Resume of the one destination, "replica".
  std::string paused_by;
  std::string resumed_by;
  int reloads = 0;
  absl::StatusOr<core::ReloadReport> next_reload = core::ReloadReport{};
  // A real waiter registry: the tests commit positions into it.
  core::PositionWaiters waiters{core::Clock::Real()};

 private:
  mutable absl::Mutex mu_;
  core::EngineStatus status_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace v1 = ::slate::replicator::v1;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class RpcServiceTest : public ::testing::Test {
 protected:
  void Start(const std::string& token = "") {
    control_.waiters.Add("replica");
    control_.waiters.Add("other");
    control_.Update([](core::EngineStatus& s) {
      s.start_time = absl::Now() - absl::Seconds(90);
      s.source.dsn = "u@src:5432/events";
      s.source.listening = true;
      s.source.max_id = 1000;
      s.source.newest_event_time = absl::FromUnixSeconds(1700000000);
      core::DestinationStatus d;
      d.name = "replica";
      d.dsn = "u@dst:5432/events";
      d.state = core::DestinationState::kCatchingUp;
      d.position = 400;
      d.lag_events = 600;
      d.hole_at = 0;
      d.last_error = "Unavailable: boom";
      d.last_error_time = absl::FromUnixSeconds(1700000001);
      s.destinations.push_back(d);
    });
    RpcOptions options;
    options.listen = "127.0.0.1:0";
    options.token = token;
    auto server = RpcServer::Start(options, &control_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->SetServing(true);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::ReplicatorService::NewStub(channel_);
  }
  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) c->AddMetadata("authorization", "Bearer " + token);
    return c;
  }
  HealthCheckResponse::ServingStatus Health() {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    HealthCheckResponse response;
    auto c = Context();
    EXPECT_TRUE(stub->Check(c.get(), HealthCheckRequest(), &response).ok());
    return response.status();
  }

  FakeControl control_;
  std::unique_ptr<RpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ReplicatorService::Stub> stub_;
};

TEST_F(RpcServiceTest, GetStatusReportsServerSourceAndDestinations) {
  Start();
  v1::GetStatusResponse r;
  auto c = Context();
  ASSERT_TRUE(stub_->GetStatus(c.get(), {}, &r).ok());
  EXPECT_EQ(r.server().version(), "9.9.9");
  EXPECT_EQ(r.server().pid(), 42);
  EXPECT_EQ(r.server().state(), v1::ServerStatus::STATE_REPLICATING);
  EXPECT_GE(r.server().uptime().seconds(), 90);
  EXPECT_EQ(r.source().max_id(), 1000);
  EXPECT_EQ(r.source().newest_event_time().seconds(), 1700000000);
  ASSERT_EQ(r.destinations_size(), 1);
  const auto& d = r.destinations(0);
  EXPECT_EQ(d.name(), "replica");
  EXPECT_EQ(d.state(), v1::DestinationStatus::STATE_CATCHING_UP);
  EXPECT_EQ(d.position(), 400);
  EXPECT_EQ(d.lag_events(), 600);
  EXPECT_EQ(d.last_error(), "Unavailable: boom");
  EXPECT_EQ(d.last_error_time().seconds(), 1700000001);
  EXPECT_FALSE(d.has_hole_since());
  EXPECT_FALSE(d.has_last_batch_time());  // never: unset, not 1970
  EXPECT_FALSE(d.verify_enabled());
  EXPECT_FALSE(d.has_last_full_verify_time());
}

TEST_F(RpcServiceTest, GetStatusCarriesContinuousVerification) {
  Start();
  control_.Update([](core::EngineStatus& s) {
    core::DestinationStatus& d = s.destinations[0];
    d.state = core::DestinationState::kDiverged;
    d.verify_enabled = true;
    d.verified_position = 350;
    d.last_full_verify = absl::FromUnixSeconds(1700000002);
    d.verify_passes = 3;
    d.diverged = true;
    d.diverged_at = 77;
    d.diverged_class = "content";
    d.differing_rows = 2;
    d.verify_waits_for_catch_up = true;
  });
  v1::GetStatusResponse r;
  auto c = Context();
  ASSERT_TRUE(stub_->GetStatus(c.get(), {}, &r).ok());
  const auto& d = r.destinations(0);
  EXPECT_EQ(d.state(), v1::DestinationStatus::STATE_DIVERGED);
  EXPECT_TRUE(d.verify_enabled());
  EXPECT_EQ(d.verified_position(), 350);
  EXPECT_EQ(d.last_full_verify_time().seconds(), 1700000002);
  EXPECT_EQ(d.verify_passes(), 3);
  EXPECT_TRUE(d.diverged());
  EXPECT_EQ(d.diverged_at_id(), 77);
  EXPECT_EQ(d.diverged_class(), "content");
  EXPECT_EQ(d.differing_rows(), 2);
  EXPECT_TRUE(d.verify_waits_for_catch_up());
}

TEST_F(RpcServiceTest, WatchPushesChangesAndEndsWhenEverythingStopped) {
  Start();
  auto c = Context();
  auto reader = stub_->WatchStatus(c.get(), {});
  v1::GetStatusResponse r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.destinations(0).position(), 400);
  control_.Update([](core::EngineStatus& s) { s.destinations[0].position = 700; });
  do {
    ASSERT_TRUE(reader->Read(&r));
  } while (r.destinations(0).position() != 700);
  control_.Update([](core::EngineStatus& s) {
    s.stopping = true;
    s.destinations[0].state = core::DestinationState::kStopped;
  });
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(r.server().state(), v1::ServerStatus::STATE_STOPPING);
  EXPECT_EQ(r.destinations(0).state(), v1::DestinationStatus::STATE_STOPPED);
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(RpcServiceTest, ValidateReturnsEveryCheckAndRejectsABadConfig) {
  Start();
  v1::ValidateRequest request;
  request.set_config_json("{...}");
  v1::ValidateResponse r;
  auto c = Context();
  ASSERT_TRUE(stub_->Validate(c.get(), request, &r).ok());
  EXPECT_EQ(control_.last_config_json, "{...}");
  EXPECT_FALSE(r.passed());
  ASSERT_EQ(r.checks_size(), 2);
  EXPECT_EQ(r.checks(1).result(), v1::Check::RESULT_FAIL);
  EXPECT_EQ(r.checks(1).name(), "destination d: first event");
  EXPECT_EQ(r.parameters(0), "maxEventsPerWrite: 10000");
  request.set_config_json("bad");
  auto c2 = Context();
  const grpc::Status s = stub_->Validate(c2.get(), request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "eventSource: required");
}

TEST_F(RpcServiceTest, StopPassesItsDeadlineAndRejectsANegativeOne) {
  Start();
  v1::StopRequest request;
  request.mutable_deadline()->set_seconds(-1);
  v1::StopResponse r;
  auto c = Context();
  EXPECT_EQ(stub_->Stop(c.get(), request, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.mutable_deadline()->set_seconds(5);
  auto c2 = Context();
  ASSERT_TRUE(stub_->Stop(c2.get(), request, &r).ok());
  EXPECT_EQ(control_.stop_deadline, absl::Seconds(5));
  v1::GetStatusResponse status;
  auto c3 = Context();
  ASSERT_TRUE(stub_->GetStatus(c3.get(), {}, &status).ok());
  EXPECT_EQ(status.server().state(), v1::ServerStatus::STATE_STOPPING);
}

TEST_F(RpcServiceTest, ATokenIsRequiredByEveryCallButHealth) {
  Start("s3cret");
  v1::GetStatusResponse r;
  auto none = Context();
  grpc::Status s = stub_->GetStatus(none.get(), {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("requires a bearer token"), std::string::npos);
  auto wrong = Context("s3cre");
  EXPECT_EQ(stub_->GetStatus(wrong.get(), {}, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::StopResponse stop;
  auto stop_none = Context();
  EXPECT_EQ(stub_->Stop(stop_none.get(), {}, &stop).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(control_.stop_deadline, absl::InfiniteDuration());  // not stopped
  v1::ValidateResponse v;
  auto v_none = Context();
  EXPECT_EQ(stub_->Validate(v_none.get(), {}, &v).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto watch_none = Context();
  auto reader = stub_->WatchStatus(watch_none.get(), {});
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto right = Context("s3cret");
  EXPECT_TRUE(stub_->GetStatus(right.get(), {}, &r).ok());
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);  // no token needed
}

TEST_F(RpcServiceTest, HealthFollowsTheServingState) {
  Start();
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  server_->SetServing(false);
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);
}

TEST_F(RpcServiceTest, AnAddressInUseIsAClearError) {
  Start();
  RpcOptions options;
  options.listen = "127.0.0.1:" + std::to_string(server_->port());
  auto second = RpcServer::Start(options, &control_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("choose another with --listen"), std::string::npos);
  options.listen = "127.0.0.1:0";
  options.tls_cert_file = "/nonexistent.pem";
  options.tls_key_file = "/nonexistent.key";
  EXPECT_EQ(RpcServer::Start(options, &control_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RpcServiceTest, PauseAndResumeNameTheRequesterAndRefuseUnknownNames) {
  Start();
  v1::PauseDestinationRequest pause;
  pause.set_name("replica");
  pause.set_reason("vacuum full");
  v1::PauseDestinationResponse paused;
  auto c1 = Context();
  ASSERT_TRUE(stub_->PauseDestination(c1.get(), pause, &paused).ok());
  EXPECT_TRUE(paused.changed());
  EXPECT_NE(control_.paused_by.find("PauseDestination from "), std::string::npos)
      << control_.paused_by;
  EXPECT_NE(control_.paused_by.find(": vacuum full"), std::string::npos) << control_.paused_by;
  auto c2 = Context();
  ASSERT_TRUE(stub_->PauseDestination(c2.get(), pause, &paused).ok());
  EXPECT_FALSE(paused.changed());  // already paused: nothing changes

  v1::ResumeDestinationRequest resume;
  resume.set_name("replica");
  v1::ResumeDestinationResponse resumed;
  auto c3 = Context();
  ASSERT_TRUE(stub_->ResumeDestination(c3.get(), resume, &resumed).ok());
  EXPECT_TRUE(resumed.changed());
  EXPECT_NE(control_.resumed_by.find("ResumeDestination from "), std::string::npos);

  pause.set_name("nope");
  auto c4 = Context();
  const grpc::Status unknown = stub_->PauseDestination(c4.get(), pause, &paused);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("nope"), std::string::npos);
  pause.set_name("");
  auto c5 = Context();
  EXPECT_EQ(stub_->PauseDestination(c5.get(), pause, &paused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RpcServiceTest, ReloadReturnsTheReportOrTheRefusal) {
  Start();
  core::ReloadReport report;
  report.applied = true;
  report.added = {"third"};
  report.needs_restart = {"pollInterval: 1s -> 2s, needs a restart"};
  control_.next_reload = report;
  v1::ReloadResponse r;
  auto c1 = Context();
  ASSERT_TRUE(stub_->Reload(c1.get(), {}, &r).ok());
  EXPECT_TRUE(r.applied());
  ASSERT_EQ(r.added_size(), 1);
  EXPECT_EQ(r.added(0), "third");
  ASSERT_EQ(r.needs_restart_size(), 1);
  control_.next_reload = absl::InvalidArgumentError("reload refused: eventSource: required");
  auto c2 = Context();
  const grpc::Status refused = stub_->Reload(c2.get(), {}, &r);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("eventSource: required"), std::string::npos);
  EXPECT_EQ(control_.reloads, 2);
}

TEST_F(RpcServiceTest, WaitForPositionRefusesBadArguments) {
  Start();
  v1::WaitForPositionResponse r;
  v1::WaitForPositionRequest negative;
  negative.set_id(-1);
  auto c1 = Context();
  EXPECT_EQ(stub_->WaitForPosition(c1.get(), negative, &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::WaitForPositionRequest zero;
  zero.set_id(5);
  zero.mutable_timeout()->set_seconds(0);
  auto c2 = Context();
  EXPECT_EQ(stub_->WaitForPosition(c2.get(), zero, &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::WaitForPositionRequest unknown;
  unknown.set_id(5);
  unknown.add_destinations("nope");
  auto c3 = Context();
  const grpc::Status s = stub_->WaitForPosition(c3.get(), unknown, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("replica"), std::string::npos) << "names the known ones";
}

TEST_F(RpcServiceTest, WaitForPositionTimesOutWithThePositions) {
  Start();
  control_.waiters.Committed("replica", 7);
  v1::WaitForPositionRequest req;
  req.set_id(10);
  req.add_destinations("replica");
  req.mutable_timeout()->set_nanos(50 * 1000 * 1000);
  v1::WaitForPositionResponse r;
  auto c = Context();
  const grpc::Status s = stub_->WaitForPosition(c.get(), req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("replica at 7"), std::string::npos) << s.error_message();
}

// Many calls wait at once, each holding no server thread: a commit answers them all.
TEST_F(RpcServiceTest, ThousandsOfWaitersAreAnsweredByOneCommit) {
  Start();
  constexpr int kWaiters = 2000;
  grpc::CompletionQueue cq;
  struct Call {
    grpc::ClientContext context;
    v1::WaitForPositionResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::WaitForPositionResponse>> reader;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kWaiters; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::WaitForPositionRequest req;
    req.set_id(100 + i % 10);
    req.mutable_timeout()->set_seconds(60);
    call->reader = stub_->AsyncWaitForPosition(&call->context, req, &cq);
    call->reader->Finish(&call->response, &call->status, call.get());
    calls.push_back(std::move(call));
  }
  // Every call has reached the server (and waits) before the commits.
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (control_.waiters.waiting() < static_cast<size_t>(kWaiters) && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(control_.waiters.waiting(), static_cast<size_t>(kWaiters));
  control_.waiters.Committed("other", 200);
  EXPECT_EQ(control_.waiters.waiting(), static_cast<size_t>(kWaiters)) << "replica is not there";
  control_.waiters.Committed("replica", 109);
  int ok = 0;
  for (int i = 0; i < kWaiters; ++i) {
    void* tag = nullptr;
    bool fine = false;
    ASSERT_TRUE(cq.Next(&tag, &fine));
    Call* call = static_cast<Call*>(tag);
    ASSERT_TRUE(call->status.ok()) << call->status.error_message();
    ASSERT_EQ(call->response.positions_size(), 2);
    for (const auto& p : call->response.positions()) {
      EXPECT_EQ(p.position(), p.name() == "replica" ? 109 : 200);
    }
    ++ok;
  }
  EXPECT_EQ(ok, kWaiters);
  cq.Shutdown();
}

}  // namespace
}  // namespace slate::rpc
