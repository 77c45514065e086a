#pragma once

// slatectl's exit codes, documented in README.md. Scripts rely on them: never renumber.
namespace slate::ctl {

inline constexpr int kExitOk = 0;           // success
inline constexpr int kExitFailed = 1;       // the operation ran and failed, or checks failed
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnreachable = 3;  // the server or database could not be reached

}  // namespace slate::ctl
