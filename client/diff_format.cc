#include "client/diff_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace slate::ctl {

nlohmann::ordered_json ClassesJson(const core::Differences& d) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (core::DiffClass c : core::kAllDiffClasses) {
    out[std::string(core::DiffClassName(c))] =
        nlohmann::ordered_json{{"count", d.of(c).count}, {"first_ids", d.of(c).first_ids}};
  }
  return out;
}

std::string ClassesText(const core::Differences& d) {
  std::string out;
  for (core::DiffClass c : core::kAllDiffClasses) {
    const core::ClassTally& t = d.of(c);
    if (t.count == 0) continue;
    std::string ids;
    if (!t.first_ids.empty()) {
      ids = absl::StrCat("  (", t.first_ids.size() == 1 ? "id " : "ids ",
                         absl::StrJoin(t.first_ids, ", "),
                         t.count > static_cast<int64_t>(t.first_ids.size()) ? ", ..." : "", ")");
    }
    out += absl::StrFormat("  %-33s %d%s\n", absl::StrCat(core::DiffClassDescription(c), ":"),
                           t.count, ids);
  }
  return out;
}

}  // namespace slate::ctl
