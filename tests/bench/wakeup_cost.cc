// What a thread's sleep and wake-up costs on this machine (tests/bench/bench.py prints it beside
// the live path's CPU per transaction; not a test). The live path sleeps a few times per source
// transaction (waiting for the notification, for the source's rows, for the destination's
// COMMIT), and on a virtual machine each sleep and wake-up can cost far more CPU than the system
// calls around it: this puts a number on both, so the CPU figure can be read against them.
//
// Two threads pass one byte back and forth through two pipes, each blocking in poll() until the
// byte arrives: every pass is one sleep and one wake-up of each thread. A plain system call
// (getppid) is timed alone for comparison. Run it on an otherwise idle machine (bench.py runs it
// before any load), as the live path runs at 200 tx/s: a sleeping thread's CPU goes idle, and on
// a virtual machine its halt and wake-up is most of the cost (on one here: 37 us idle, 2-5 us
// while other work kept the CPUs busy).
//
// Usage: slate_wakeup_cost. Prints one line: "<us CPU per sleep and wake-up> <us wall per
// round trip> <us CPU per system call>".

#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {

double CpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Blocks until `fd` is readable, then reads its byte; false at end of file or on error.
bool Take(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, -1) != 1) return false;
  char c = 0;
  return read(fd, &c, 1) == 1;
}

bool Give(int fd) {
  const char c = 'x';
  return write(fd, &c, 1) == 1;
}

}  // namespace

int main() {
  constexpr int kCalls = 200000;
  double cpu0 = CpuSeconds();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
  const double call_us = (CpuSeconds() - cpu0) / kCalls * 1e6;

  int there[2];
  int back[2];
  if (pipe(there) != 0 || pipe(back) != 0) {
    std::perror("pipe");
    return 1;
  }
  std::thread echo([&] {
    while (Take(there[0]) && Give(back[1])) {
    }
  });
  constexpr int kTrips = 20000;
  cpu0 = CpuSeconds();
  const double wall0 = WallSeconds();
  for (int i = 0; i < kTrips; ++i) {
    if (!Give(there[1]) || !Take(back[0])) {
      std::perror("round trip");
      return 1;
    }
  }
  const double wall_us = (WallSeconds() - wall0) / kTrips * 1e6;
  // Both threads' CPU: two sleeps and two wake-ups per round trip.
  const double wake_us = (CpuSeconds() - cpu0) / kTrips / 2 * 1e6;
  close(there[1]);
  echo.join();
  std::printf("%.2f %.2f %.3f\n", wake_us, wall_us, call_us);
  return 0;
}
