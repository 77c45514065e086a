#include "client/progress.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "client/status_format.h"

namespace slate::ctl {

Progress::Progress(std::string label, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_line_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::Update(int64_t done, int64_t total, const std::string& extra) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total;
  if (!tty_ && !last && now - last_line_ < std::chrono::seconds(5)) return;
  last_line_ = now;
  const double secs = seconds();
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1;
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  std::string eta = "ETA -";
  if (last) {
    eta = "done in " + HumanDuration(secs);
  } else if (rate > 0) {
    eta = "ETA " + HumanDuration(static_cast<double>(total - done) / rate);
  }
  std::string line = absl::StrCat(
      label_, " ", Bar(fraction, 30),
      absl::StrFormat(" %5.1f%%  %d/%d %s  %.0f/s  ", fraction * 100, done, total, unit_, rate),
      eta, extra.empty() ? "" : "  " + extra);
  if (tty_) {
    std::cerr << "\r\033[K" << line << std::flush;
    drawn_ = true;
  } else {
    std::cerr << line << "\n";
  }
}

void Progress::Finish() {
  if (enabled_ && tty_ && drawn_) std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace slate::ctl
