// poll_bench: the scheduler's hot path. N tasks at a 1 s interval for D seconds, each run calling a
// pluggable poll body, on the real clock. Prints lateness percentiles, process CPU as % of one
// core, RSS growth per object and runs/s.
//
//   poll_bench [--objects N] [--seconds D] [--interval-ms I] [--workers W] [--resolution-us R]
//
// The default poll body is trivial in-process work standing in for a scaler (hashing a small
// buffer, as a metric parse would); replace makePollBody() with a full ScaledObject poll to
// measure the engine end to end. The body's own CPU is calibrated first and reported apart, so
// "scheduling overhead" = process CPU - body CPU.
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <thread>

#include "bench_util.h"
#include "updraft/clock.h"
#include "updraft/scheduler.h"

using namespace updraft;

// Counts heap allocations of the whole process (to check "no allocation per run").
namespace {
std::atomic<std::uint64_t> gAllocations{0};
}  // namespace

void* operator new(std::size_t size) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct BenchOptions {
  long objects = 10'000;
  long seconds = 60;
  long intervalMs = 1000;
  long workers = 4;
  long resolutionUs = 1000;
};

bool parseLong(const char* text, long& out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) return false;
  out = v;
  return true;
}

bool parseArgs(int argc, char** argv, BenchOptions& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    long* target = nullptr;
    if (flag == "--objects") target = &o.objects;
    if (flag == "--seconds") target = &o.seconds;
    if (flag == "--interval-ms") target = &o.intervalMs;
    if (flag == "--workers") target = &o.workers;
    if (flag == "--resolution-us") target = &o.resolutionUs;
    if (target == nullptr || i + 1 >= argc || !parseLong(argv[i + 1], *target)) {
      std::fprintf(stderr,
                   "usage: %s [--objects N] [--seconds D] [--interval-ms I] [--workers W] "
                   "[--resolution-us R]\n",
                   argv[0]);
      return false;
    }
    ++i;
  }
  return true;
}

// The stand-in for one in-process scaler poll: FNV-1a over a 256-byte "response".
std::atomic<std::uint64_t> gSink{0};

std::function<void()> makePollBody() {
  return [] {
    static thread_local std::array<unsigned char, 256> response = [] {
      std::array<unsigned char, 256> r{};
      for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<unsigned char>(i * 31 + 7);
      return r;
    }();
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : response) h = (h ^ c) * 1099511628211ULL;
    gSink.fetch_add(h, std::memory_order_relaxed);
  };
}

using bench::contextSwitches;
using bench::cpuSeconds;
using bench::residentBytes;
double ms(Duration d) { return bench::toMillis(d); }

// CPU nanoseconds of one body call, measured single-threaded.
double calibrateBody(const std::function<void()>& body) {
  constexpr int kCalls = 200'000;
  for (int i = 0; i < 1000; ++i) body();
  const double before = cpuSeconds();
  for (int i = 0; i < kCalls; ++i) body();
  return (cpuSeconds() - before) * 1e9 / kCalls;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions opt;
  if (!parseArgs(argc, argv, opt)) return 2;
  const std::function<void()> body = makePollBody();
  const double bodyNs = calibrateBody(body);

  SchedulerOptions so;
  so.workerThreads = static_cast<std::size_t>(opt.workers);
  so.dispatchResolution = std::chrono::microseconds(opt.resolutionUs);
  Scheduler scheduler(SystemClock::instance(), so);
  if (Status st = scheduler.start(); !st.isOk()) {
    std::fprintf(stderr, "start: %s\n", st.toString().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // threads up, stacks touched

  const long rssBefore = residentBytes();
  for (long i = 0; i < opt.objects; ++i) {
    TaskSpec spec;
    spec.interval = Millis(opt.intervalMs);
    spec.run = [&body](const PollContext&) { body(); };
    auto id = scheduler.add(std::move(spec));
    if (!id.isOk()) {
      std::fprintf(stderr, "add: %s\n", id.status().toString().c_str());
      return 1;
    }
  }
  const long rssAfter = residentBytes();

  const std::uint64_t allocs0 = gAllocations.load();
  const std::uint64_t runs0 = scheduler.stats().runs;
  const long switches0 = contextSwitches();
  const double cpu0 = cpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(opt.seconds));
  const double cpu1 = cpuSeconds();
  const long switches1 = contextSwitches();
  const std::uint64_t allocs1 = gAllocations.load();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const SchedulerStats st = scheduler.stats();
  const Status stopped = scheduler.stop();

  const double runsPerSec = static_cast<double>(st.runs) / wall;
  const double cpuPct = (cpu1 - cpu0) / wall * 100.0;
  const double bodyPct = runsPerSec * bodyNs * 1e-9 * 100.0;
  std::printf("poll_bench: %ld objects, interval %ld ms, %ld s, %ld workers, resolution %ld us\n",
              opt.objects, opt.intervalMs, opt.seconds, opt.workers, opt.resolutionUs);
  std::printf("runs                 %llu (%.0f/s), skips %llu, timeouts %llu\n",
              static_cast<unsigned long long>(st.runs), runsPerSec,
              static_cast<unsigned long long>(st.skips),
              static_cast<unsigned long long>(st.timeouts));
  std::printf("lateness             p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              ms(st.lateness.p50), ms(st.lateness.p90), ms(st.lateness.p99), ms(st.lateness.max));
  std::printf(
      "cpu (user+sys/wall)  %.2f %% of one core (poll body ~%.2f %%, %.0f ns/call; "
      "scheduling ~%.2f %%)\n",
      cpuPct, bodyPct, bodyNs, cpuPct - bodyPct);
  std::printf("context switches     %.0f/s\n", static_cast<double>(switches1 - switches0) / wall);
  std::printf("heap allocations     %llu during %llu runs\n",
              static_cast<unsigned long long>(allocs1 - allocs0),
              static_cast<unsigned long long>(st.runs - runs0));
  std::printf("rss growth           %.0f bytes/object (%ld KiB for %ld objects)\n",
              static_cast<double>(rssAfter - rssBefore) / static_cast<double>(opt.objects),
              (rssAfter - rssBefore) / 1024, opt.objects);
  std::printf("workers              %zu now, %zu peak\n", st.workers, st.peakWorkers);
  std::printf("stop                 %s\n", stopped.toString().c_str());
  return 0;
}
