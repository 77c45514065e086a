// slatectl repair: give a destination written by the original Node replicator the source's
// microsecond ts on every row whose only difference is that truncation. Coordinates with a running
// replicator through its control API (pausing that destination while it works), or holds the
// destination's writer lock when none is reached, so it never races a writer.

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include <nlohmann/json.hpp>

#include "client/command_common.h"
#include "client/commands.h"
#include "client/diff_format.h"
#include "client/exit_codes.h"
#include "client/progress.h"
#include "server/config/config.h"
#include "server/core/repair.h"
#include "server/core/validation.h"
#include "server/postgres/facts.h"
#include "server/postgres/repair_writer.h"
#include "server/postgres/verify_target.h"

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace slate::ctl {
namespace {

namespace v1 = ::slate::replicator::v1;
using JsonOut = nlohmann::ordered_json;

constexpr char kPausedBy[] = "slatectl repair";

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted.store(true); }

// How repair keeps the destination's writer away: by pausing it through the control API of the
// replicator that writes it, or (none answered) by holding the writer lock itself.
class Coordination {
 public:
  Coordination(Connection conn, std::string name) : conn_(std::move(conn)), name_(std::move(name)) {
    stub_ = v1::ReplicatorService::NewStub(conn_.channel);
  }
  ~Coordination() { Release(); }

  // True: paused through the API (the replicator holds the writer lock). False: no replicator
  // there writes it; `why` says what was found.
  absl::StatusOr<bool> PauseIfRunning(std::string* why) {
    v1::GetStatusResponse status;
    grpc::Status s = GetStatus(&status);
    if (!s.ok()) {
      *why = absl::StrCat("no replicator answered at ", conn_.server, " (", s.error_message(), ")");
      return false;
    }
    if (status.server().role() == v1::ServerStatus::ROLE_STANDBY) {
      *why = absl::StrCat("the replicator at ", conn_.server,
                          " is a standby (active: ", status.server().active_instance(), ")");
      return false;
    }
    const v1::DestinationStatus* d = Find(status);
    if (d == nullptr) {
      *why = absl::StrCat("the replicator at ", conn_.server, " does not replicate ", name_);
      return false;
    }
    // A pause left by an interrupted repair is this repair's to lift too.
    const bool ours_before = d->paused() && d->paused_by().find(kPausedBy) != std::string::npos;
    v1::PauseDestinationRequest request;
    request.set_name(name_);
    request.set_reason(kPausedBy);
    v1::PauseDestinationResponse response;
    auto context = conn_.Context();
    s = stub_->PauseDestination(context.get(), request, &response);
    if (!s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("the replicator at ", conn_.server,
                                                        " refused to pause ", name_, ": ",
                                                        s.error_message()));
    }
    resume_ = response.changed() || ours_before;
    // Paused once its open batch committed: follow the status stream until the state says so.
    auto watch = conn_.Context(/*with_deadline=*/false);
    watch->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto reader = stub_->WatchStatus(watch.get(), v1::WatchStatusRequest());
    while (reader->Read(&status)) {
      d = Find(status);
      if (d != nullptr && d->state() == v1::DestinationStatus::STATE_PAUSED) {
        watch->TryCancel();
        (void)reader->Finish();
        return true;
      }
    }
    (void)reader->Finish();
    return absl::DeadlineExceededError(absl::StrCat(
        name_, " did not reach the paused state within 60 s (it may be down or retrying)"));
  }

  // Resumes the destination if this repair paused it.
  void Release() {
    if (!resume_) return;
    resume_ = false;
    v1::ResumeDestinationRequest request;
    request.set_name(name_);
    request.set_reason("slatectl repair finished");
    v1::ResumeDestinationResponse response;
    auto context = conn_.Context();
    const grpc::Status s = stub_->ResumeDestination(context.get(), request, &response);
    if (s.ok()) {
      std::cerr << "resumed " << name_ << "\n";
    } else {
      std::cerr << "slatectl repair: could not resume " << name_ << " (" << s.error_message()
                << "): run `slatectl resume " << name_ << "`\n";
    }
  }

 private:
  grpc::Status GetStatus(v1::GetStatusResponse* out) {
    auto context = conn_.Context();
    return stub_->GetStatus(context.get(), v1::GetStatusRequest(), out);
  }
  const v1::DestinationStatus* Find(const v1::GetStatusResponse& status) const {
    for (const auto& d : status.destinations()) {
      if (d.name() == name_) return &d;
    }
    return nullptr;
  }

  Connection conn_;
  const std::string name_;
  std::unique_ptr<v1::ReplicatorService::Stub> stub_;
  bool resume_ = false;
};

int ExitFor(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ? kExitUnreachable : kExitFailed;
}

}  // namespace

int RunRepair(const std::vector<std::string>& args) {
  const auto flags = WithConnection({
      {"config-filename", 'c', true, "FILE", "the replicator's config: the databases"},
      {"destination", 0, true, "NAME", "the destination to repair (a name in the config)"},
      {"chunk", 0, true, "IDS", "ids per checksum query (default 100000)"},
      {"output", 'o', true, "text|json", "text (default) or json"},
  });
  ParsedArgs parsed;
  if (auto rc = Parse(
          "repair", flags, "-c FILE --destination NAME [--chunk IDS] [-o text|json]",
          "Rewrites, from the source, every row of destination NAME whose only difference is a ts "
          "truncated to the millisecond (how the original Node replicator wrote them), in "
          "transactions of at most maxEventsPerWrite rows. Every other difference is reported "
          "and left alone. A replicator running at --server (SLATE_SERVER) has that destination "
          "paused meanwhile and resumed after; with none there, repair holds the destination's "
          "writer lock. Safe to interrupt and run again. Exit 0 repaired and nothing else differs, "
          "1 differences remain (listed) or refused (nothing written), 2 usage, 3 a database "
          "unreachable.",
          args, &parsed)) {
    return *rc;
  }
  const auto file = parsed.Get("config-filename");
  const auto name = parsed.Get("destination");
  if (!file || !name) {
    std::cerr << "slatectl repair: give -c FILE and --destination NAME (see --help)\n";
    return kExitUsage;
  }
  const std::string output = parsed.GetOr("output", "text");
  if (output != "text" && output != "json") {
    std::cerr << "slatectl repair: -o must be text or json\n";
    return kExitUsage;
  }
  core::RepairOptions options;
  if (auto c = parsed.Get("chunk")) {
    auto n = ParseIntFlag("chunk", *c, 64, 100000000);
    if (!n.ok()) {
      std::cerr << "slatectl repair: " << n.status().message() << "\n";
      return kExitUsage;
    }
    options.chunk = *n;
  }
  auto cfg = config::LoadConfigFile(*file);
  if (!cfg.ok()) {
    std::cerr << "slatectl repair: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  options.max_rows_per_transaction = cfg->engine.max_events_per_write;
  const config::DatabaseConfig* dest = FindDestination("repair", *cfg, *name);
  if (dest == nullptr) return kExitUsage;
  Connection conn;
  if (auto rc = Open("repair", parsed, &conn)) return *rc;
  if (!parsed.Has("timeout")) conn.timeout_seconds = 5;

  // The same checks as a start: both reachable, a slate source, a slate destination of it.
  const core::DatabaseFacts src_facts =
      pg::GatherFacts(cfg->source.params, "source", /*is_destination=*/false);
  const core::DatabaseFacts dst_facts =
      pg::GatherFacts(dest->params, dest->name, /*is_destination=*/true);
  for (const core::DatabaseFacts* f : {&src_facts, &dst_facts}) {
    if (!f->reachable) {
      std::cerr << "slatectl repair: cannot reach " << f->label << " (" << f->dsn
                << "): " << f->error << "\n";
      return kExitUnreachable;
    }
  }
  core::ValidationOptions vopts;
  vopts.allow_holes = true;         // missing rows are reported, not a reason to refuse
  vopts.check_writer_lock = false;  // coordinated below
  std::vector<std::string> refused;
  for (const core::Check& c : core::ValidateFacts(src_facts, {dst_facts}, vopts)) {
    if (c.result == core::CheckResult::kFail) refused.push_back(c.name + ": " + c.message);
  }
  if (!refused.empty()) {
    std::cerr << "slatectl repair: refused, nothing written:\n  " << absl::StrJoin(refused, "\n  ")
              << "\n";
    return kExitFailed;
  }

  Coordination coordination(conn, dest->name);
  std::string why;
  absl::StatusOr<bool> paused = coordination.PauseIfRunning(&why);
  if (!paused.ok()) {
    std::cerr << "slatectl repair: " << paused.status().message() << "; nothing written\n";
    return kExitFailed;
  }
  const std::string dest_what = "destination " + dest->name + " (" + dest->params.Describe() + ")";
  ConnParams writer_params = WithLongCalls(dest->params);
  writer_params.application_name = core::kRepairApplicationName;
  auto writer = pg::NewTsRewriter(writer_params, dest_what, /*take_writer_lock=*/!*paused);
  if (!writer.ok()) {
    std::cerr << "slatectl repair: " << writer.status().message();
    if (writer.status().code() == absl::StatusCode::kFailedPrecondition) {
      std::cerr << "; " << why
                << ". Point --server (or SLATE_SERVER) at the replicator writing it, so repair "
                   "can pause that destination, or stop that replicator. Nothing written";
    }
    std::cerr << "\n";
    return ExitFor(writer.status());
  }
  auto source = pg::NewVerifyTarget(WithLongCalls(cfg->source.params),
                                    "source (" + cfg->source.params.Describe() + ")", false);
  if (!source.ok()) {
    std::cerr << "slatectl repair: " << source.status().message() << "\n";
    return ExitFor(source.status());
  }
  auto target = pg::NewVerifyTarget(WithLongCalls(dest->params), dest_what, false);
  if (!target.ok()) {
    std::cerr << "slatectl repair: " << target.status().message() << "\n";
    return ExitFor(target.status());
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  Progress progress("repair " + dest->name, "ids", output == "text");
  absl::StatusOr<core::RepairResult> result = core::RepairTruncatedTs(
      **source, **target, **writer, options,
      [&](const core::RepairProgress& p) {
        progress.Update(p.compared_up_to, p.total, absl::StrCat(p.repaired, " repaired"));
      },
      [] { return g_interrupted.load(); });
  progress.Finish();
  const double secs = progress.seconds();
  writer->reset();  // the writer lock, if held, goes with the session
  coordination.Release();
  if (!result.ok()) {
    std::cerr << "slatectl repair: " << result.status().message() << "\n";
    return ExitFor(result.status());
  }
  const double rate = secs > 0 ? static_cast<double>(result->repaired) / secs : 0;
  const bool clean = result->left.total() == 0 && result->skipped == 0;
  if (output == "json") {
    const JsonOut out = {{"destination", dest->name},
                         {"repaired", result->repaired},
                         {"skipped", result->skipped},
                         {"transactions", result->transactions},
                         {"left", ClassesJson(result->left)},
                         {"behind", result->behind},
                         {"coordination", *paused ? "control_api" : "writer_lock"},
                         {"seconds", std::round(secs * 1000) / 1000},
                         {"rows_per_second", std::round(rate)}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s: %d rows given the source's ts in %d transactions, %.1f s (%.0f rows/s)\n", dest->name,
        result->repaired, result->transactions, secs, rate);
    std::cout << "  "
              << (*paused ? "paused through the control API at " + conn.server
                          : "held the writer lock: " + why)
              << "\n";
    if (result->left.total() > 0) {
      std::cout << "  left alone (repair never rewrites or deletes these; a person decides):\n"
                << ClassesText(result->left);
    }
    if (result->skipped > 0) {
      std::cout << "  " << result->skipped
                << " rows changed while repairing were left as they are: run it again\n";
    }
    if (result->behind > 0) {
      std::cout << "  behind by " << result->behind << " (the replicator copies those)\n";
    }
    if (clean) {
      std::cout << "  every row up to id " << result->compared_up_to
                << " now equals the source: `slatectl verify` says identical\n";
    }
  }
  return clean ? kExitOk : kExitFailed;
}

}  // namespace slate::ctl
