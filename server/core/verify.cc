#include "server/core/verify.h"

#include <algorithm>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"

namespace slate::core {
namespace {

constexpr int64_t kRowCompareSize = 64;

struct Pair {
  RangeSummary source;
  RangeSummary destination;
};

absl::StatusOr<Pair> SummarizeBoth(VerifyTarget& s, VerifyTarget& d, int64_t from, int64_t to) {
  auto dest = std::async(std::launch::async, [&] { return d.Summarize(from, to); });
  absl::StatusOr<RangeSummary> src = s.Summarize(from, to);
  absl::StatusOr<RangeSummary> dst = dest.get();
  if (!src.ok()) return src.status();
  if (!dst.ok()) return dst.status();
  return Pair{*src, *dst};
}

// The first id in [from, to] where the rows differ (the range is known to differ).
absl::Status FindFirstDifference(VerifyTarget& s, VerifyTarget& d, int64_t from, int64_t to,
                                 VerifyResult* result) {
  while (to - from + 1 > kRowCompareSize) {
    const int64_t mid = from + (to - from) / 2;
    auto left = SummarizeBoth(s, d, from, mid);
    if (!left.ok()) return left.status();
    if (left->source != left->destination) {
      to = mid;
    } else {
      from = mid + 1;
    }
  }
  auto src_rows = s.Rows(from, to);
  if (!src_rows.ok()) return src_rows.status();
  auto dst_rows = d.Rows(from, to);
  if (!dst_rows.ok()) return dst_rows.status();
  std::map<int64_t, RowSummary> src_by_id;
  std::map<int64_t, RowSummary> dst_by_id;
  for (const RowSummary& r : *src_rows) src_by_id[r.id] = r;
  for (const RowSummary& r : *dst_rows) dst_by_id[r.id] = r;
  for (int64_t id = from; id <= to; ++id) {
    auto a = src_by_id.find(id);
    auto b = dst_by_id.find(id);
    const bool has_a = a != src_by_id.end();
    const bool has_b = b != dst_by_id.end();
    if (!has_a && !has_b) continue;
    if (has_a && has_b && a->second == b->second) continue;
    result->outcome = VerifyResult::Outcome::kDifferent;
    result->first_difference = id;
    if (has_a) result->source_row = a->second;
    if (has_b) result->destination_row = b->second;
    return absl::OkStatus();
  }
  return absl::InternalError(
      absl::StrCat("ids ", from, "..", to, " have different checksums but equal rows"));
}

}  // namespace

absl::StatusOr<VerifyResult> Verify(VerifyTarget& source, VerifyTarget& destination,
                                    const VerifyOptions& options,
                                    const std::function<void(int64_t, int64_t)>& progress) {
  VerifyResult result;
  auto dst_max = std::async(std::launch::async, [&] { return destination.MaxId(); });
  absl::StatusOr<int64_t> src_max = source.MaxId();
  absl::StatusOr<int64_t> dmax = dst_max.get();
  if (!src_max.ok()) return src_max.status();
  if (!dmax.ok()) return dmax.status();
  result.source_max = *src_max;
  result.destination_max = *dmax;
  // The destination's rows are compared; rows it has beyond the source differ by definition.
  const int64_t upper = std::min(result.source_max, result.destination_max);
  const int64_t chunk = std::max<int64_t>(options.chunk, kRowCompareSize);
  for (int64_t from = 1; from <= upper; from += chunk) {
    const int64_t to = std::min(upper, from + chunk - 1);
    auto pair = SummarizeBoth(source, destination, from, to);
    if (!pair.ok()) return pair.status();
    if (pair->source != pair->destination) {
      if (absl::Status s = FindFirstDifference(source, destination, from, to, &result); !s.ok()) {
        return s;
      }
      result.compared_up_to = result.first_difference - 1;
      return result;
    }
    result.compared_up_to = to;
    if (progress) progress(to, upper);
  }
  if (result.destination_max > result.source_max) {
    // Rows the source does not have: the first one is the difference.
    result.outcome = VerifyResult::Outcome::kDifferent;
    result.first_difference = result.source_max + 1;
    auto rows = destination.Rows(result.first_difference, result.first_difference);
    if (!rows.ok()) return rows.status();
    if (!rows->empty()) result.destination_row = rows->front();
    return result;
  }
  if (result.destination_max < result.source_max && !options.up_to_position) {
    result.outcome = VerifyResult::Outcome::kBehind;
  }
  return result;
}

std::string DescribeOutcome(const VerifyResult& r) {
  switch (r.outcome) {
    case VerifyResult::Outcome::kIdentical:
      return r.destination_max < r.source_max
                 ? absl::StrCat("identical up to its position ", r.destination_max, " (source has ",
                                r.source_max, ")")
                 : absl::StrCat("identical (", r.destination_max, " events)");
    case VerifyResult::Outcome::kBehind:
      return absl::StrCat("behind by ", r.source_max - r.destination_max, " (has ",
                          r.destination_max, " of ", r.source_max, ", identical so far)");
    case VerifyResult::Outcome::kDifferent:
      return absl::StrCat("differs at id ", r.first_difference);
  }
  return "unknown";
}

}  // namespace slate::core
