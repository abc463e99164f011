#pragma once
// Runs an example program the way a user would, but without a shell: examples::run_process
// (posix_spawn with an argument vector), stdout and stderr captured in files of a scratch
// directory. Binary paths come from tests/CMakeLists.txt ($<TARGET_FILE:...>).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/process.h"

namespace examples::testing {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tapegrad-examples-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct ProgramRun {
  int exit_code = -1;
  int signal = 0;
  std::string out, err;
  std::string describe() const {  // for INFO() on failure
    std::ostringstream text;
    text << "exit code " << exit_code << ", signal " << signal << "\n--- stdout:\n" << out
         << "\n--- stderr:\n" << err;
    return text.str();
  }
};

// Runs `program` with `arguments` (argv[1...]), stdin from /dev/null, in working_directory when
// given, with `environment`'s "NAME=value" entries added to this process's environment.
inline ProgramRun run_example(const std::string& program, const std::vector<std::string>& arguments,
                              const std::optional<std::filesystem::path>& working_directory = {},
                              const std::vector<std::string>& environment = {}) {
  ScratchDir capture;
  std::vector<std::string> argv = {std::filesystem::path(program).filename().string()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  const ProcessResult result =
      run_process(program, argv,
                  {.stdin_from = "/dev/null", .stdout_to = capture.path() / "stdout",
                   .stderr_to = capture.path() / "stderr",
                   .working_directory = working_directory,
                   .environment = environment});
  return {result.exit_code, result.signal, read_text(capture.path() / "stdout"),
          read_text(capture.path() / "stderr")};
}

}  // namespace examples::testing
