#include "server/core/writer_shares.h"

#include <algorithm>
#include <utility>

namespace slate::core {

WriterShares::Claim::Claim(WriterShares& shares, std::string machine)
    : shares_(shares), machine_(std::move(machine)) {
  if (machine_.empty()) return;
  absl::MutexLock lock(&shares_.mu_);
  ++shares_.copying_[machine_];
}

WriterShares::Claim::~Claim() {
  if (machine_.empty()) return;
  absl::MutexLock lock(&shares_.mu_);
  auto it = shares_.copying_.find(machine_);
  if (--it->second == 0) shares_.copying_.erase(it);
}

int WriterShares::Claim::Share(int sessions) const {
  const int copying = std::max(1, shares_.Copying(machine_));
  return std::max(1, sessions / copying);
}

int WriterShares::Copying(const std::string& machine) const {
  absl::MutexLock lock(&mu_);
  auto it = copying_.find(machine);
  return it == copying_.end() ? 0 : it->second;
}

}  // namespace slate::core
