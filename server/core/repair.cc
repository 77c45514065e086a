#include "server/core/repair.h"

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"

namespace slate::core {

absl::StatusOr<RepairResult> RepairTruncatedTs(
    VerifyTarget& source, VerifyTarget& destination, TsRewriter& writer,
    const RepairOptions& options, const std::function<void(const RepairProgress&)>& progress,
    const std::function<bool()>& stop) {
  RepairResult result;
  auto dst_max = std::async(std::launch::async, [&] { return destination.MaxId(); });
  absl::StatusOr<int64_t> src_max = source.MaxId();
  absl::StatusOr<int64_t> dmax = dst_max.get();
  if (!src_max.ok()) return src_max.status();
  if (!dmax.ok()) return dmax.status();
  result.source_max = *src_max;
  result.destination_max = *dmax;
  const int64_t upper = std::min(result.source_max, result.destination_max);
  const int64_t chunk = std::max<int64_t>(options.chunk, 64);
  const auto per_tx = static_cast<size_t>(std::max<int64_t>(options.max_rows_per_transaction, 1));
  std::vector<TsFix> fixes;
  for (int64_t from = 1; from <= upper; from += chunk) {
    const int64_t to = std::min(upper, from + chunk - 1);
    auto pair = SummarizeBoth(source, destination, from, to);
    if (!pair.ok()) return pair.status();
    if (pair->source != pair->destination) {
      Differences found;
      fixes.clear();
      if (absl::Status s = CompareRange(source, destination, from, to, &found, &fixes); !s.ok()) {
        return s;
      }
      for (DiffClass c : kAllDiffClasses) {
        if (c != DiffClass::kTsMillis) {
          result.left.AddMany(c, found.of(c).count, found.of(c).first_ids);
        }
      }
      for (size_t at = 0; at < fixes.size(); at += per_tx) {
        if (stop && stop()) {
          return absl::CancelledError(absl::StrCat("repair interrupted after ", result.repaired,
                                                   " rows; run it again to go on"));
        }
        const size_t end = std::min(fixes.size(), at + per_tx);
        std::vector<TsFix> part(fixes.begin() + static_cast<std::ptrdiff_t>(at),
                                fixes.begin() + static_cast<std::ptrdiff_t>(end));
        absl::StatusOr<int64_t> n = writer.RewriteTs(part);
        if (!n.ok()) return n.status();
        result.repaired += *n;
        result.skipped += static_cast<int64_t>(part.size()) - *n;
        if (*n > 0) ++result.transactions;
      }
    }
    result.compared_up_to = to;
    if (progress) progress({to, upper, result.repaired});
  }
  if (result.destination_max > result.source_max) {
    auto extra = destination.Summarize(result.source_max + 1, result.destination_max);
    if (!extra.ok()) return extra.status();
    result.left.AddMany(DiffClass::kExtra, extra->count, {});
  }
  result.behind = std::max<int64_t>(0, result.source_max - result.destination_max);
  return result;
}

}  // namespace slate::core
