#include "server/core/verify.h"

#include <algorithm>
#include <future>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slate::core {
namespace {

// A differing range is split into about this many groups by one query per side.
constexpr int64_t kGroupsPerRange = 128;
constexpr int64_t kMinGroup = 64;
// Differing groups next to each other are compared row by row in reads of at most this many ids.
constexpr int64_t kMaxRowRead = 8192;

// Compares the rows of [from, to].
absl::Status CompareRows(VerifyTarget& s, VerifyTarget& d, int64_t from, int64_t to,
                         Differences* diff, std::vector<TsFix>* fixes) {
  auto dst_rows = std::async(std::launch::async, [&] { return d.RowDigests(from, to); });
  absl::StatusOr<std::vector<RowDigest>> src_rows = s.RowDigests(from, to);
  absl::StatusOr<std::vector<RowDigest>> dst = dst_rows.get();
  if (!src_rows.ok()) return src_rows.status();
  if (!dst.ok()) return dst.status();
  // Both are in id order: walk them together.
  size_t i = 0;
  size_t j = 0;
  const std::vector<RowDigest>& a = *src_rows;
  const std::vector<RowDigest>& b = *dst;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].id < b[j].id)) {
      diff->Add(DiffClass::kMissing, a[i].id);
      ++i;
      continue;
    }
    if (i == a.size() || b[j].id < a[i].id) {
      diff->Add(DiffClass::kExtra, b[j].id);
      ++j;
      continue;
    }
    const RowDigest& x = a[i++];
    const RowDigest& y = b[j++];
    if (x.ts_micros == y.ts_micros && x.event_md5 == y.event_md5) continue;
    if (x.event_md5 == y.event_md5 && x.ts_micros != y.ts_micros &&
        y.ts_micros == TruncateToMillis(x.ts_micros)) {
      diff->Add(DiffClass::kTsMillis, x.id);
      if (fixes != nullptr) fixes->push_back({x.id, x.ts_micros, y.ts_micros, x.event_md5});
      continue;
    }
    diff->Add(DiffClass::kContent, x.id);
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view DiffClassName(DiffClass c) {
  switch (c) {
    case DiffClass::kTsMillis:
      return "ts_millis";
    case DiffClass::kContent:
      return "content";
    case DiffClass::kMissing:
      return "missing";
    case DiffClass::kExtra:
      return "extra";
  }
  return "unknown";
}

absl::string_view DiffClassDescription(DiffClass c) {
  switch (c) {
    case DiffClass::kTsMillis:
      return "ts truncated to the millisecond";
    case DiffClass::kContent:
      return "content differs";
    case DiffClass::kMissing:
      return "missing";
    case DiffClass::kExtra:
      return "extra (not in the source)";
  }
  return "unknown";
}

void Differences::Add(DiffClass c, int64_t id) { AddMany(c, 1, {id}); }

void Differences::AddMany(DiffClass c, int64_t count, const std::vector<int64_t>& ids) {
  if (count <= 0) return;
  ClassTally& t = classes[static_cast<size_t>(c)];
  t.count += count;
  for (int64_t id : ids) {
    auto at = std::lower_bound(t.first_ids.begin(), t.first_ids.end(), id);
    if (at != t.first_ids.end() && *at == id) continue;
    if (t.first_ids.size() >= kExampleIds && at == t.first_ids.end()) continue;
    t.first_ids.insert(at, id);
    if (t.first_ids.size() > kExampleIds) t.first_ids.pop_back();
  }
  if (!ids.empty() && (first_id == 0 || ids.front() < first_id)) {
    first_id = ids.front();
    first_class = c;
  }
}

void Differences::Merge(const Differences& other) {
  for (DiffClass c : kAllDiffClasses) AddMany(c, other.of(c).count, other.of(c).first_ids);
}

int64_t Differences::total() const {
  int64_t n = 0;
  for (const ClassTally& t : classes) n += t.count;
  return n;
}

absl::StatusOr<std::pair<int64_t, int64_t>> BothMaxIds(VerifyTarget& s, VerifyTarget& d) {
  auto dest = std::async(std::launch::async, [&] { return d.MaxId(); });
  absl::StatusOr<int64_t> src = s.MaxId();
  absl::StatusOr<int64_t> dst = dest.get();
  if (!src.ok()) return src.status();
  if (!dst.ok()) return dst.status();
  return std::make_pair(*src, *dst);
}

absl::StatusOr<SummaryPair> SummarizeBoth(VerifyTarget& s, VerifyTarget& d, int64_t from,
                                          int64_t to) {
  auto dest = std::async(std::launch::async, [&] { return d.Summarize(from, to); });
  absl::StatusOr<RangeSummary> src = s.Summarize(from, to);
  absl::StatusOr<RangeSummary> dst = dest.get();
  if (!src.ok()) return src.status();
  if (!dst.ok()) return dst.status();
  return SummaryPair{*src, *dst};
}

absl::Status CompareRange(VerifyTarget& s, VerifyTarget& d, int64_t from, int64_t to,
                          Differences* diff, std::vector<TsFix>* fixes) {
  if (to < from) return absl::OkStatus();
  const int64_t span = to - from + 1;
  if (span <= kMinGroup) return CompareRows(s, d, from, to, diff, fixes);
  const int64_t group = std::max(kMinGroup, (span + kGroupsPerRange - 1) / kGroupsPerRange);
  auto dst_groups =
      std::async(std::launch::async, [&] { return d.SummarizeGroups(from, to, group); });
  absl::StatusOr<std::vector<RangeSummary>> src = s.SummarizeGroups(from, to, group);
  absl::StatusOr<std::vector<RangeSummary>> dst = dst_groups.get();
  if (!src.ok()) return src.status();
  if (!dst.ok()) return dst.status();
  const size_t n = static_cast<size_t>((span + group - 1) / group);
  if (src->size() != n || dst->size() != n) {
    return absl::InternalError(absl::StrCat("ids ", from, "..", to, ": expected ", n,
                                            " group summaries, got ", src->size(), " and ",
                                            dst->size()));
  }
  // Runs of differing groups, read together up to kMaxRowRead ids.
  int64_t run_from = 0;
  int64_t run_to = 0;
  auto flush = [&]() -> absl::Status {
    if (run_from == 0) return absl::OkStatus();
    absl::Status st = CompareRows(s, d, run_from, run_to, diff, fixes);
    run_from = 0;
    return st;
  };
  for (size_t k = 0; k < n; ++k) {
    const int64_t g_from = from + static_cast<int64_t>(k) * group;
    const int64_t g_to = std::min(to, g_from + group - 1);
    if ((*src)[k] == (*dst)[k]) {
      if (absl::Status st = flush(); !st.ok()) return st;
      continue;
    }
    if (run_from != 0 && g_to - run_from + 1 > kMaxRowRead) {
      if (absl::Status st = flush(); !st.ok()) return st;
    }
    if (run_from == 0) run_from = g_from;
    run_to = g_to;
  }
  return flush();
}

absl::StatusOr<VerifyResult> Verify(VerifyTarget& source, VerifyTarget& destination,
                                    const VerifyOptions& options,
                                    const std::function<void(int64_t, int64_t)>& progress) {
  VerifyResult result;
  absl::StatusOr<std::pair<int64_t, int64_t>> maxes = BothMaxIds(source, destination);
  if (!maxes.ok()) return maxes.status();
  std::tie(result.source_max, result.destination_max) = *maxes;
  // Both sides' rows up to the lower max id are compared; rows the destination has beyond the
  // source are extra, the source's beyond the destination's max id are "behind".
  const int64_t upper = std::min(result.source_max, result.destination_max);
  const int64_t chunk = std::max<int64_t>(options.chunk, kMinGroup);
  for (int64_t from = 1; from <= upper; from += chunk) {
    const int64_t to = std::min(upper, from + chunk - 1);
    auto pair = SummarizeBoth(source, destination, from, to);
    if (!pair.ok()) return pair.status();
    if (pair->source != pair->destination) {
      if (absl::Status s = CompareRange(source, destination, from, to, &result.differences);
          !s.ok()) {
        return s;
      }
    }
    result.compared_up_to = to;
    if (progress) progress(to, upper);
  }
  if (result.destination_max > result.source_max) {
    const int64_t from = result.source_max + 1;
    auto extra = destination.Summarize(from, result.destination_max);
    if (!extra.ok()) return extra.status();
    auto rows = destination.RowDigests(
        from, std::min(result.destination_max, from + static_cast<int64_t>(kExampleIds) * 200));
    if (!rows.ok()) return rows.status();
    std::vector<int64_t> ids;
    for (const RowDigest& r : *rows) {
      if (ids.size() < kExampleIds) ids.push_back(r.id);
    }
    if (ids.empty()) ids.push_back(result.destination_max);
    result.differences.AddMany(DiffClass::kExtra, extra->count, ids);
  }
  result.behind = std::max<int64_t>(0, result.source_max - result.destination_max);
  if (result.differences.total() > 0) {
    result.outcome = VerifyResult::Outcome::kDifferent;
    result.first_difference = result.differences.first_id;
    const int64_t id = result.first_difference;
    auto src_row = source.Rows(id, id);
    if (!src_row.ok()) return src_row.status();
    auto dst_row = destination.Rows(id, id);
    if (!dst_row.ok()) return dst_row.status();
    if (!src_row->empty()) result.source_row = src_row->front();
    if (!dst_row->empty()) result.destination_row = dst_row->front();
  } else if (result.behind > 0 && !options.up_to_position) {
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
    case VerifyResult::Outcome::kDifferent: {
      const int64_t n = r.differences.total();
      std::string out = absl::StrCat("differs at id ", r.first_difference, " (", n,
                                     n == 1 ? " row differs" : " rows differ");
      if (r.behind > 0) absl::StrAppend(&out, "; behind by ", r.behind);
      return out + ")";
    }
  }
  return "unknown";
}

std::string NextStep(const VerifyResult& r, const std::string& destination) {
  if (r.outcome == VerifyResult::Outcome::kIdentical) return "";
  if (r.outcome == VerifyResult::Outcome::kBehind) {
    return "it is behind: let the replicator catch up, or pass --up-to-position to accept a "
           "destination that is equal so far";
  }
  const Differences& d = r.differences;
  const int64_t millis = d.of(DiffClass::kTsMillis).count;
  const int64_t others = d.total() - millis;
  std::vector<std::string> steps;
  if (millis > 0) {
    steps.push_back(absl::StrCat(
        millis, millis == 1 ? " row differs" : " rows differ",
        " only in ts below the millisecond (as the original Node replicator wrote them): "
        "`slatectl verify --ts-millis` accepts them, `slatectl repair -c FILE --destination ",
        destination, "` rewrites them from the source"));
  }
  if (others > 0) {
    steps.push_back(absl::StrCat(
        others, others == 1 ? " row differs" : " rows differ",
        " otherwise (content, missing or extra): repair leaves them alone; compare them with the "
        "source and decide (the first ids are listed)"));
  }
  return absl::StrJoin(steps, "; ");
}

}  // namespace slate::core
