// slatectl: the operator's command-line tool. A table of subcommands, each with its own flags.

#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"
#include "client/exit_codes.h"
#include "server/common/version.h"

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const Subcommand kSubcommands[] = {
    {"status", "show state, position and lag of every destination", slate::ctl::RunStatus},
    {"validate", "run the start-up validation (a dry run) on the server", slate::ctl::RunValidate},
    {"stop", "stop the replicator gracefully", slate::ctl::RunStop},
    {"reload", "re-read the config file and apply it live (as SIGHUP)", slate::ctl::RunReload},
    {"pause", "pause one destination (NAME)", slate::ctl::RunPause},
    {"resume", "resume a paused destination (NAME)", slate::ctl::RunResume},
    {"wait", "wait until destinations have committed an event id", slate::ctl::RunWait},
    {"health", "ask the standard gRPC health service", slate::ctl::RunHealth},
    {"verify", "prove destinations equal the source (checksums in the databases)",
     slate::ctl::RunVerify},
    {"repair", "rewrite a destination's ms-truncated ts from the source", slate::ctl::RunRepair},
    {"restore", "rebuild an empty source from a backup by COPY", slate::ctl::RunRestore},
    {"init-db", "create a slate source or destination database", slate::ctl::RunInitDb},
};

void Usage(std::ostream& out) {
  out << "Usage: slatectl <command> [flags]   (slatectl <command> --help for its flags)\n\n"
         "Commands:\n";
  for (const Subcommand& s : kSubcommands) {
    std::string name = s.name;
    name.resize(12, ' ');
    out << "  " << name << s.summary << "\n";
  }
  out << "\nExit codes: 0 success, 1 failed (checks failed, not healthy, lag too high, a reload\n"
         "refused, a wait timed out, differences found or left, a repair or restore refused),\n"
         "2 usage error (also an unknown destination), 3 server or database unreachable or\n"
         "refusing the login (also: a standby asked to wait).\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    Usage(std::cerr);
    return slate::ctl::kExitUsage;
  }
  const std::string command = args.front();
  if (command == "-h" || command == "--help" || command == "help") {
    Usage(std::cout);
    return slate::ctl::kExitOk;
  }
  if (command == "--version" || command == "version") {
    std::cout << "slatectl " << slate::kVersion << "\n";
    return slate::ctl::kExitOk;
  }
  for (const Subcommand& s : kSubcommands) {
    if (command == s.name) return s.run({args.begin() + 1, args.end()});
  }
  std::cerr << "slatectl: unknown command '" << command << "'\n\n";
  Usage(std::cerr);
  return slate::ctl::kExitUsage;
}
