#include "server/metrics/exporter.h"

#include <exception>
#include <map>

#include "absl/strings/str_cat.h"
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace slate::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr char kPrefix[] = "slate_replicator_";

double Seconds(absl::Time t) {
  return t == absl::InfinitePast() || t == absl::InfiniteFuture()
             ? 0.0
             : static_cast<double>(absl::ToUnixMicros(t)) / 1e6;
}

class Families {
 public:
  // Adds a sample to family `name` (created on first use with `help` and `type`).
  void Add(const std::string& name, const std::string& help, MetricType type, double value,
           std::vector<ClientMetric::Label> labels = {}) {
    MetricFamily* family = nullptr;
    for (MetricFamily& f : out_) {
      if (f.name == kPrefix + name) family = &f;
    }
    if (family == nullptr) {
      out_.push_back(MetricFamily{kPrefix + name, help, type, {}});
      family = &out_.back();
    }
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    family->metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> Take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
};

std::vector<MetricFamily> Render(const core::ServerInfo& info, const core::EngineStatus& s,
                                 absl::Time now, absl::Duration heartbeat_timeout) {
  Families f;
  const auto G = MetricType::Gauge;
  const auto C = MetricType::Counter;
  f.Add("build_info", "Version and build of this slate-replicator; always 1.", G, 1,
        {{"version", info.version}, {"build", info.build}});
  f.Add("start_time_seconds", "Unix time the process started.", G, Seconds(s.start_time));
  const core::Readiness readiness = core::AssessReadiness(s, now, heartbeat_timeout);
  f.Add("ready",
        "1 when active, every destination showed a heartbeat within heartbeatTimeout and no stop "
        "began.",
        G, readiness.ready ? 1 : 0);
  for (const char* role : {"active", "standby"}) {
    f.Add("role", "1 for this instance's role among those of its config (one active), 0 else.", G,
          (std::string(role) == "standby") == s.standby ? 1 : 0, {{"role", role}});
  }
  f.Add("last_takeover_timestamp_seconds",
        "Unix time this instance last became active (took the leader lock); 0 when never.", G,
        Seconds(s.last_takeover));
  f.Add("stopping", "1 once a stop has begun.", G, s.stopping ? 1 : 0);
  f.Add("config_reloads_total", "Config reloads (SIGHUP, Reload) by result.", C,
        static_cast<double>(s.reloads_applied), {{"result", "applied"}});
  f.Add("config_reloads_total", "Config reloads (SIGHUP, Reload) by result.", C,
        static_cast<double>(s.reloads_refused), {{"result", "refused"}});

  f.Add("source_max_id", "Highest event id known committed on the source.", G,
        static_cast<double>(s.source.max_id));
  f.Add("source_newest_event_timestamp_seconds", "ts of the source's newest event read (Unix).", G,
        Seconds(s.source.newest_event_time));
  f.Add("source_listening", "1 while LISTEN eventsinsert is established.", G,
        s.source.listening ? 1 : 0);
  f.Add("source_notifications_total", "Notifications received on eventsinsert.", C,
        static_cast<double>(s.source.notifications_total));
  f.Add("source_malformed_notifications_total",
        "Notifications whose payload was not a slate one (still wake-ups).", C,
        static_cast<double>(s.source.malformed_notifications_total));
  f.Add("source_passes_total", "Copy passes started, over all destinations.", C,
        static_cast<double>(s.source.passes_total));

  for (const core::DestinationStatus& d : s.destinations) {
    const ClientMetric::Label dest{"destination", d.name};
    f.Add("destination_position", "Highest event id written to the destination.", G,
          static_cast<double>(d.position), {dest});
    f.Add("destination_lag_events", "Events the destination lacks (source max id - position).", G,
          static_cast<double>(d.lag_events), {dest});
    f.Add("destination_lag_seconds", "Age of the oldest event the destination lacks; 0 in sync.", G,
          d.lag_seconds, {dest});
    f.Add("destination_events_copied_total", "Events copied to the destination by this process.", C,
          static_cast<double>(d.events_total), {dest});
    f.Add("destination_bytes_copied_total", "Bytes of encoded rows copied by this process.", C,
          static_cast<double>(d.bytes_total), {dest});
    f.Add("destination_batches_total", "Destination transactions committed by this process.", C,
          static_cast<double>(d.batches_total), {dest});
    f.Add("destination_retries_total", "Failed attempts followed by a retry.", C,
          static_cast<double>(d.retries_total), {dest});
    // The kinds the engine handles start at 0, so rate() and increase() see the first error.
    std::map<std::string, int64_t> errors = {
        {"aborted", 0},          {"data_loss", 0},   {"failed_precondition", 0},
        {"invalid_argument", 0}, {"unavailable", 0}, {"unknown", 0}};
    for (const auto& [kind, count] : d.errors_by_kind) errors[kind] = count;
    for (const auto& [kind, count] : errors) {
      f.Add("destination_errors_total", "Errors by kind (the canonical status code).", C,
            static_cast<double>(count), {dest, {"kind", kind}});
    }
    for (core::DestinationState state : core::kAllStates) {
      f.Add("destination_state", "1 for the destination's current state, 0 for the others.", G,
            d.state == state ? 1 : 0, {dest, {"state", std::string(core::StateName(state))}});
    }
    f.Add("destination_last_batch_timestamp_seconds",
          "Unix time of the last committed batch; 0 before the first.", G,
          Seconds(d.last_batch_time), {dest});
    f.Add("destination_heartbeat_timestamp_seconds",
          "Unix time of the last heartbeat: a batch committed or a pass completed.", G,
          Seconds(d.last_heartbeat), {dest});
    f.Add("destination_hole_id", "The first missing id the destination waits at; 0 when none.", G,
          static_cast<double>(d.hole_at), {dest});
    f.Add("destination_paused", "1 while the destination is paused on request.", G,
          d.paused ? 1 : 0, {dest});
    f.Add("destination_paused_since_timestamp_seconds",
          "Unix time the destination was paused; 0 while not paused.", G,
          d.paused ? Seconds(d.paused_since) : 0, {dest});
    f.Add("destination_indexes_set_aside",
          "Bulk load: secondary indexes set aside and not built yet; 0 when none.", G,
          static_cast<double>(d.indexes_total - d.indexes_built), {dest});
    if (d.verify_enabled) {
      f.Add("destination_verified_position",
            "Continuous verification: ids 1..this compared with the source in the current pass.", G,
            static_cast<double>(d.verified_position), {dest});
      f.Add("destination_last_full_verify_timestamp_seconds",
            "Unix time the last verification pass from id 1 ended; 0 before the first.", G,
            Seconds(d.last_full_verify), {dest});
      f.Add("destination_diverged",
            "1 while continuous verification has found rows that differ from the source.", G,
            d.diverged ? 1 : 0, {dest});
      f.Add("destination_differing_rows",
            "Rows found differing from the source: the last complete pass, or this one if more.", G,
            static_cast<double>(d.differing_rows), {dest});
    }
  }
  return f.Take();
}

}  // namespace

class StatusCollector : public prometheus::Collectable {
 public:
  StatusCollector(const core::Control* control, absl::Duration heartbeat_timeout)
      : control_(control), heartbeat_timeout_(heartbeat_timeout), info_(control->Info()) {}
  std::vector<MetricFamily> Collect() const override {
    return Render(info_, control_->Status(), absl::Now(), heartbeat_timeout_);
  }

 private:
  const core::Control* control_;
  const absl::Duration heartbeat_timeout_;
  const core::ServerInfo info_;
};

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(const std::string& address,
                                                          const core::Control* control,
                                                          absl::Duration heartbeat_timeout) {
  std::unique_ptr<Exporter> out(new Exporter());
  try {
    out->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what(),
                                               "; choose another with --metrics-listen"));
  }
  out->collector_ = std::make_shared<StatusCollector>(control, heartbeat_timeout);
  out->exposer_->RegisterCollectable(out->collector_);
  const std::vector<int> ports = out->exposer_->GetListeningPorts();
  out->port_ = ports.empty() ? 0 : ports.front();
  return out;
}

Exporter::~Exporter() = default;

std::string RenderForTest(const core::ServerInfo& info, const core::EngineStatus& status,
                          absl::Time now, absl::Duration heartbeat_timeout) {
  return prometheus::TextSerializer().Serialize(Render(info, status, now, heartbeat_timeout));
}

}  // namespace slate::metrics
