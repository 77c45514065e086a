#pragma once

// Text renderings of the control API's answers, for people. JSON output uses protobuf's printer.

#include <string>

#include "absl/time/time.h"

#include "slate/replicator/v1/replicator.pb.h"

namespace slate::ctl {

namespace v1 = ::slate::replicator::v1;

// The status as a table: server and source lines, then one row per destination, a progress bar
// with ETA under a destination that is catching up, and its last error.
std::string FormatStatus(const v1::GetStatusResponse& status);
// Every check with PASS/WARN/FAIL, the run parameters, and a verdict.
std::string FormatValidation(const v1::ValidateResponse& response);
// "[#####.....]": `width` cells, `fraction` of them filled.
std::string Bar(double fraction, int width);
// "1h02m", "3m05s", "12.3s".
std::string HumanDuration(double seconds);
// The state as shown: "catching_up".
std::string StateText(v1::DestinationStatus::State state);

}  // namespace slate::ctl
