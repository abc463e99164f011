// The two-thread proof of thread_test_util.h, checked where it must say no: TBB limited to one
// thread, as it is under a 1-CPU affinity (taskset -c 0).
#include "thread_test_util.h"

#include <tbb/global_control.h>

using tapegrad::testing::meet_two_threads;
using tapegrad::testing::why_no_second_thread;

TEST_CASE("a lone thread in a 2-thread arena is not taken for two", "[kernels][two_threads]") {
  const tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
  tbb::task_arena arena(2);
  REQUIRE(why_no_second_thread(arena).find("TBB allows 1 thread") != std::string::npos);

  // The meeting itself, without the check above: the calling thread runs both halves in turn,
  // which a "did both halves run?" count would have taken for two threads.
  bool ran = false;
  const auto meeting = meet_two_threads(arena, std::chrono::milliseconds(20), [&] { ran = true; });
  REQUIRE_FALSE(meeting.met);
  REQUIRE(meeting.first == meeting.second);
  REQUIRE(meeting.first == std::this_thread::get_id());
  REQUIRE_FALSE(ran);
}
