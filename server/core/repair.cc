#include "server/core/repair.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace slate::core {

absl::StatusOr<RepairResult> RepairTruncatedTs(
    VerifyTarget& source, VerifyTarget& destination, TsRewriter& writer,
    const RepairOptions& options, const std::function<void(const RepairProgress&)>& progress,
    const std::function<bool()>& stop) {
  RepairResult result;
  absl::StatusOr<std::pair<int64_t, int64_t>> maxes = BothMaxIds(source, destination);
  if (!maxes.ok()) return maxes.status();
  std::tie(result.source_max, result.destination_max) = *maxes;
  const int64_t upper = std::min(result.source_max, result.destination_max);
  const int64_t chunk = std::max<int64_t>(options.chunk, 64);
  const auto per_tx = static_cast<size_t>(std::max<int64_t>(options.max_rows_per_transaction, 1));
  // Fixes found but not written yet. A transaction takes at most per_tx of them, cut between two
  // source transactions (consecutive ids sharing one source ts), so no source transaction is
  // mended in two and a reader never sees one with two kinds of ts; only a source transaction
  // larger than per_tx goes whole into one of its own. What may go on into the next chunk waits.
  std::vector<TsFix> pending;
  auto same_group = [&](size_t i) {  // pending[i] continues pending[i - 1]'s source transaction
    return pending[i].source_ts_micros == pending[i - 1].source_ts_micros &&
           pending[i].id == pending[i - 1].id + 1;
  };
  auto write = [&](bool all) -> absl::Status {
    while (!pending.empty() && (all || pending.size() > per_tx)) {
      size_t cut = std::min(pending.size(), per_tx);
      if (cut < pending.size() && same_group(cut)) {
        size_t back = cut;
        while (back > 0 && same_group(back)) --back;
        if (back > 0) {
          cut = back;
        } else {
          while (cut < pending.size() && same_group(cut)) ++cut;       // one larger than per_tx
          if (cut == pending.size() && !all) return absl::OkStatus();  // it may go on
        }
      }
      if (stop && stop()) {
        return absl::CancelledError(absl::StrCat("repair interrupted after ", result.repaired,
                                                 " rows; run it again to go on"));
      }
      const std::vector<TsFix> part(pending.begin(),
                                    pending.begin() + static_cast<std::ptrdiff_t>(cut));
      absl::StatusOr<int64_t> n = writer.RewriteTs(part);
      if (!n.ok()) return n.status();
      result.repaired += *n;
      result.skipped += static_cast<int64_t>(part.size()) - *n;
      if (*n > 0) ++result.transactions;
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(cut));
    }
    return absl::OkStatus();
  };
  for (int64_t from = 1; from <= upper; from += chunk) {
    const int64_t to = std::min(upper, from + chunk - 1);
    auto pair = SummarizeBoth(source, destination, from, to);
    if (!pair.ok()) return pair.status();
    if (pair->source != pair->destination) {
      Differences found;
      if (absl::Status s = CompareRange(source, destination, from, to, &found, &pending); !s.ok()) {
        return s;
      }
      for (DiffClass c : kAllDiffClasses) {
        if (c != DiffClass::kTsMillis) {
          result.left.AddMany(c, found.of(c).count, found.of(c).first_ids);
        }
      }
    }
    if (absl::Status s = write(/*all=*/false); !s.ok()) return s;
    result.compared_up_to = to;
    if (progress) progress({to, upper, result.repaired});
  }
  const int64_t reported = result.repaired;
  if (absl::Status s = write(/*all=*/true); !s.ok()) return s;
  if (progress && result.repaired != reported) progress({upper, upper, result.repaired});
  if (result.destination_max > result.source_max) {
    auto extra = destination.Summarize(result.source_max + 1, result.destination_max);
    if (!extra.ok()) return extra.status();
    result.left.AddMany(DiffClass::kExtra, extra->count, {});
  }
  result.behind = std::max<int64_t>(0, result.source_max - result.destination_max);
  return result;
}

}  // namespace slate::core
