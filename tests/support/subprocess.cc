#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace slate::testing {

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const std::string& e : options.env) env_storage.push_back(e);
  std::vector<char*> cenv;
  for (const std::string& e : env_storage) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    if (!options.output_path.empty()) {
      const int fd = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0) _exit(126);
      if (options.uid >= 0)
        (void)fchown(fd, static_cast<uid_t>(options.uid), static_cast<gid_t>(options.gid));
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    if (options.gid >= 0 && setgid(static_cast<gid_t>(options.gid)) != 0) _exit(126);
    if (options.uid >= 0 && setuid(static_cast<uid_t>(options.uid)) != 0) _exit(126);
    // After setuid: a credential change clears the parent-death signal.
    if (options.parent_death_signal != 0) {
      prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
      if (getppid() != parent) _exit(125);  // the parent died before prctl
    }
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  return pid;
}

absl::StatusOr<int> WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return absl::InternalError("waitpid: unexpected status");
}

absl::StatusOr<int> RunProcess(const std::vector<std::string>& argv, const SpawnOptions& options) {
  auto pid = Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  return WaitExit(*pid);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace slate::testing

namespace slate::testing {

absl::StatusOr<int> WaitExitFor(pid_t pid, int timeout_ms) {
  for (int waited = 0;; waited += 10) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
    if (r < 0 && errno != EINTR) return absl::InternalError(std::strerror(errno));
    if (waited >= timeout_ms) return absl::DeadlineExceededError("child still running");
    usleep(10 * 1000);  // polling the child's state under a deadline
  }
}

}  // namespace slate::testing
