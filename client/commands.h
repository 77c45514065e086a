#pragma once

#include <string>
#include <vector>

namespace slate::ctl {

// Each subcommand parses its own flags from `args` (everything after its name) and returns one
// of the exit codes in exit_codes.h.
int RunInitDb(const std::vector<std::string>& args);
int RunStatus(const std::vector<std::string>& args);
int RunValidate(const std::vector<std::string>& args);
int RunStop(const std::vector<std::string>& args);
int RunHealth(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunRepair(const std::vector<std::string>& args);
int RunRestore(const std::vector<std::string>& args);
int RunReload(const std::vector<std::string>& args);
int RunPause(const std::vector<std::string>& args);
int RunResume(const std::vector<std::string>& args);
int RunWait(const std::vector<std::string>& args);

}  // namespace slate::ctl
