#pragma once
// Tests that compare one thread with two must prove that two threads ran. A tbb::task_arena(2) is
// a request, not a guarantee: under a 1-CPU affinity (`taskset -c 0`) TBB allows no worker thread
// at all, the 2-thread arena runs everything on the calling thread, and a "same bits on 1 and 2
// threads" test compares one thread with itself and passes having tested nothing.
//
// run_on_two_threads(work) runs `work` in a 2-thread arena right after two distinct threads met
// inside that arena, so the worker is awake and stealing when `work` spawns its tasks. When two
// threads cannot be had it does not run `work`: it WARNs "SKIPPED ..." with the reason and
// returns false, and the test returns without asserting anything about two threads. Tests using it
// carry the tag [two_threads], so `test_kernels [two_threads]` runs exactly these.
//
// The meeting proves the arena had two threads when `work` started; it cannot see inside the
// kernel, so that the worker then took some of the kernel's blocks is very likely, not proven.
#include <catch2/catch.hpp>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

namespace tapegrad::testing {

struct TwoThreadMeeting {
  bool met = false;
  std::thread::id first, second;  // the threads that ran the two halves
};

// In `arena`, runs a two-iteration parallel_for whose first iteration waits (up to `patience`) for
// the second to start, then, if they met, `then_run`, still inside the same arena visit (so the
// worker has not gone back to sleep). They can only meet if a second thread runs one half while
// the first thread is still waiting: a lone thread runs the halves one after the other.
template <class Work>
TwoThreadMeeting meet_two_threads(tbb::task_arena& arena, std::chrono::milliseconds patience,
                                  Work&& then_run) {
  TwoThreadMeeting meeting;
  arena.execute([&] {
    std::atomic<int> arrived{0};
    std::atomic<bool> met{false};
    tbb::parallel_for(
        0, 2,
        [&](int half) {
          (half == 0 ? meeting.first : meeting.second) = std::this_thread::get_id();
          if (++arrived == 2) return;  // the other half is already here, or has given up
          const auto deadline = std::chrono::steady_clock::now() + patience;
          while (std::chrono::steady_clock::now() < deadline) {
            if (arrived.load() == 2) {
              met = true;
              return;
            }
            std::this_thread::yield();
          }
        },
        tbb::simple_partitioner());
    meeting.met = met.load();
    if (meeting.met) then_run();
  });
  return meeting;
}

// Why a 2-thread arena cannot have two threads, or "" if it may. TBB's limit on its own
// parallelism is the process's CPU count (its affinity mask), unless a global_control lowers it.
inline std::string why_no_second_thread(tbb::task_arena& arena) {
  const auto allowed =
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  const int arena_threads = arena.max_concurrency();
  std::ostringstream why;
  if (allowed < 2) {
    why << "TBB allows " << allowed << " thread(s) in this process (is the CPU affinity one CPU, "
        << "e.g. taskset -c 0?)";
  } else if (arena_threads < 2) {
    why << "the arena has max_concurrency " << arena_threads;
  }
  return why.str();
}

// See the top of the file. `work` runs at most once.
template <class Work>
[[nodiscard]] bool run_on_two_threads(Work&& work) {
  tbb::task_arena arena(2);
  std::string why_not = why_no_second_thread(arena);
  if (why_not.empty()) {
    // A worker that TBB allows arrives within microseconds; seconds only on a starved machine.
    const TwoThreadMeeting meeting = meet_two_threads(arena, std::chrono::seconds(5), work);
    if (meeting.met) {
      REQUIRE(meeting.first != meeting.second);  // shown by -s: the proof that two threads ran
      return true;
    }
    why_not = "no second thread joined the 2-thread arena within 5 s";
  }
  WARN("SKIPPED the two-thread half of this test, which therefore tested NOTHING about two "
       "threads: "
       << why_not);
  return false;
}

}  // namespace tapegrad::testing
