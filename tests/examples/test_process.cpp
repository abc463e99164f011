// run_process passes arguments as data (no shell) and reports exit codes, signals and failures
// to start; find_executable searches $PATH as execvp does.
#include <cstdlib>
#include <string>

#include "example_process.h"
#include "test_util.h"

using examples::find_executable;
using examples::run_process;
using examples::testing::ScratchDir;

TEST_CASE("run_process: arguments are data, exit codes and signals come back", "[examples][process]") {
  ScratchDir scratch;
  const auto sh = find_executable("sh");
  REQUIRE(sh);
  // The script prints its first argument; the argument itself would create PWNED if any shell
  // parsed it on the way.
  const std::string hostile = "'; touch " + (scratch.path() / "PWNED").string() + "; echo '";
  const auto out = scratch.path() / "out";
  const examples::ProcessResult printed =
      run_process(*sh, {"sh", "-c", "printf '%s' \"$1\"", "sh", hostile}, {.stdout_to = out});
  CHECK(printed.exit_code == 0);
  CHECK(examples::testing::read_text(out) == hostile);
  CHECK_FALSE(std::filesystem::exists(scratch.path() / "PWNED"));

  CHECK(run_process(*sh, {"sh", "-c", "exit 3"}).exit_code == 3);
  const examples::ProcessResult killed = run_process(*sh, {"sh", "-c", "kill -9 $$"});
  CHECK(killed.signal == 9);
  CHECK_FALSE(killed.exited_normally());

  // The working directory option: pwd prints it.
  run_process(*sh, {"sh", "-c", "pwd -P"}, {.stdout_to = out, .working_directory = scratch.path()});
  CHECK(examples::testing::read_text(out) ==
        std::filesystem::canonical(scratch.path()).string() + "\n");

  CHECK_THROWS_WITH(run_process(scratch.path() / "no-such-program", {"x"}),
                    Catch::Contains("cannot start") && Catch::Contains("no-such-program"));
}

TEST_CASE("find_executable searches PATH in order and skips what cannot run", "[examples][process]") {
  ScratchDir scratch;
  const auto first = scratch.path() / "first", second = scratch.path() / "second";
  std::filesystem::create_directories(first);
  std::filesystem::create_directories(second);
  std::ofstream(first / "tool") << "#!/bin/sh\n";  // not executable: skipped
  std::ofstream(second / "tool") << "#!/bin/sh\n";
  std::filesystem::permissions(second / "tool", std::filesystem::perms::owner_all);
  const char* saved = std::getenv("PATH");
  const std::string saved_path = saved ? saved : "";
  ::setenv("PATH", (first.string() + ":" + second.string()).c_str(), 1);
  const auto found = find_executable("tool");
  const auto missing = find_executable("no-such-tool");
  const auto with_slash = find_executable("a/tool");
  ::setenv("PATH", saved_path.c_str(), 1);
  REQUIRE(found);
  CHECK(*found == second / "tool");
  CHECK_FALSE(missing);
  CHECK_FALSE(with_slash);
}
