// slatectl restore: rebuild an empty, freshly initialised source from a backup by binary COPY, in
// one transaction, verified against the backup before it commits (server/core/restore.h).

#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include <nlohmann/json.hpp>

#include "client/command_common.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/progress.h"
#include "server/common/args.h"
#include "server/config/config.h"
#include "server/core/restore.h"
#include "server/core/validation.h"
#include "server/postgres/adapters.h"
#include "server/postgres/dsn.h"
#include "server/postgres/facts.h"
#include "server/postgres/restore_target.h"
#include "server/postgres/verify_target.h"

namespace slate::ctl {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"config-filename", 'c', true, "FILE",
       "the replicator's config: its eventSource is restored"},
      {"from", 0, true, "NAME", "restore from this destination of the config"},
      {"from-dsn", 0, true, "DSN",
       "restore from this database (\"host=H port=P dbname=D user=U\")"},
      {"chunk", 0, true, "IDS", "ids per checksum query when verifying (default 100000)"},
      {"output", 'o', true, "text|json", "text (default) or json"},
      {"help", 'h', false, "", "show this help"},
  };
  return flags;
}

void Usage(std::ostream& out) {
  out << "Usage: slatectl restore -c FILE (--from NAME | --from-dsn DSN) [--chunk IDS]\n"
         "                        [-o text|json]\n\n"
         "Rebuilds the config's source, which must be empty and freshly initialised (`slatectl\n"
         "init-db --table-type source`), from a backup (a destination) by binary COPY, in one\n"
         "transaction: all or nothing. The notify trigger is off for that transaction (one\n"
         "notification at the end), the id counter is set to max + 1, and the rows are verified\n"
         "against the backup before the commit. Exit 0 restored, 1 refused or failed (nothing\n"
         "written), 2 usage, 3 a database unreachable.\n\n"
      << FlagsUsage(Flags());
}

int ExitFor(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ? kExitUnreachable : kExitFailed;
}

}  // namespace

int RunRestore(const std::vector<std::string>& args) {
  auto parsed = ParseArgs(Flags(), args);
  if (!parsed.ok()) {
    std::cerr << "slatectl restore: " << parsed.status().message() << "\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    Usage(std::cout);
    return kExitOk;
  }
  const auto file = parsed->Get("config-filename");
  const auto from = parsed->Get("from");
  const auto from_dsn = parsed->Get("from-dsn");
  if (!file || from.has_value() == from_dsn.has_value()) {
    std::cerr << "slatectl restore: give -c FILE and one of --from NAME or --from-dsn DSN\n\n";
    Usage(std::cerr);
    return kExitUsage;
  }
  const std::string output = parsed->GetOr("output", "text");
  if (output != "text" && output != "json") {
    std::cerr << "slatectl restore: -o must be text or json\n";
    return kExitUsage;
  }
  int64_t chunk = 100000;
  if (auto c = parsed->Get("chunk")) {
    auto n = ParseIntFlag("chunk", *c, 64, 100000000);
    if (!n.ok()) {
      std::cerr << "slatectl restore: " << n.status().message() << "\n";
      return kExitUsage;
    }
    chunk = *n;
  }
  auto cfg = config::LoadConfigFile(*file);
  if (!cfg.ok()) {
    std::cerr << "slatectl restore: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  ConnParams backup;
  std::string backup_label;
  if (from) {
    const config::DatabaseConfig* d = FindDestination("restore", *cfg, *from);
    if (d == nullptr) return kExitUsage;
    backup = d->params;
    backup_label = "backup " + d->name;
  } else {
    auto p = pg::ParseDsn(*from_dsn);
    if (!p.ok()) {
      std::cerr << "slatectl restore: --from-dsn: " << p.status().message() << "\n";
      return kExitUsage;
    }
    backup = *p;
    backup_label = "backup";
  }
  backup.application_name = "slatectl restore";
  ConnParams target = cfg->source.params;
  target.application_name = "slatectl restore";

  const core::DatabaseFacts target_facts = pg::GatherFacts(target, "source", false);
  const core::DatabaseFacts backup_facts = pg::GatherFacts(backup, backup_label, true);
  for (const core::DatabaseFacts* f : {&target_facts, &backup_facts}) {
    if (!f->reachable) {
      std::cerr << "slatectl restore: cannot reach " << f->label << " (" << f->dsn
                << "): " << f->error << "; nothing written\n";
      return kExitUnreachable;
    }
  }
  std::vector<std::string> refused;
  for (const core::Check& c : core::ValidateRestore(target_facts, backup_facts)) {
    if (c.result == core::CheckResult::kFail) refused.push_back(c.name + ": " + c.message);
  }
  if (!refused.empty()) {
    std::cerr << "slatectl restore: refused, nothing written:\n  " << absl::StrJoin(refused, "\n  ")
              << "\n";
    return kExitFailed;
  }

  const std::string backup_what = backup_label + " (" + backup.Describe() + ")";
  const std::string target_what = "source (" + target.Describe() + ")";
  auto source = pg::NewEventSource(backup, backup_what);
  auto view = pg::NewVerifyTarget(WithLongCalls(backup), backup_what, false);
  if (!view.ok()) {
    std::cerr << "slatectl restore: " << view.status().message() << "; nothing written\n";
    return ExitFor(view.status());
  }
  auto writer = pg::NewRestoreTarget(target, target_what);
  if (!writer.ok()) {
    std::cerr << "slatectl restore: " << writer.status().message() << "; nothing written\n";
    return ExitFor(writer.status());
  }
  Progress copying("restore: copying  ", "events", output == "text");
  Progress verifying("restore: verifying", "ids", output == "text");
  double copy_secs = 0;
  auto result = core::Restore(*source, **view, **writer, backup_facts.max_id, chunk,
                              [&](const core::RestoreProgress& p) {
                                if (!p.verifying) {
                                  copying.Update(p.done, p.total);
                                  return;
                                }
                                if (copy_secs == 0) {
                                  copy_secs = copying.seconds();
                                  copying.Finish();
                                }
                                verifying.Update(p.done, p.total);
                              });
  copying.Finish();
  verifying.Finish();
  const double secs = copying.seconds();
  if (!result.ok()) {
    std::cerr << "slatectl restore: " << result.status().message()
              << "; nothing restored (rolled back)\n";
    return ExitFor(result.status());
  }
  const double rate = secs > 0 ? static_cast<double>(result->rows) / secs : 0;
  if (output == "json") {
    const nlohmann::ordered_json out = {{"rows", result->rows},
                                        {"max_id", result->max_id},
                                        {"next_insert_id", result->next_insert_id},
                                        {"verified", true},
                                        {"seconds", std::round(secs * 1000) / 1000},
                                        {"events_per_second", std::round(rate)}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "restored %d events from %s into %s in %.1f s (%.0f events/s; copy %.1f s), identical "
        "to the backup; the next insert gets id %d, and one notification woke the replicators\n",
        result->rows, backup_what, target_what, secs, rate, copy_secs, result->next_insert_id);
  }
  return kExitOk;
}

}  // namespace slate::ctl
