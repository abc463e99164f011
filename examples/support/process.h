#pragma once
// Running another program without a shell: an argument vector goes to posix_spawn, so no byte of
// an argument (a path with quotes, spaces, `$`, `;`, newlines) is ever interpreted. Used to run
// gnuplot (support/gnuplot.cpp) and, by tests/examples, the example programs themselves.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace examples {

// The first executable regular file called `name` in the directories of $PATH (searched in order,
// an empty entry meaning the current directory, as execvp does); nullopt when there is none.
std::optional<std::filesystem::path> find_executable(const std::string& name);

// Where the child's standard streams go: a path to open (stdin read-only; stdout and stderr
// created or truncated), or nullopt to share this process's stream; and the directory it starts
// in (nullopt: this process's); its environment is this process's with `environment`'s
// "NAME=value" entries added, each replacing a variable of the same NAME.
struct ProcessOptions {
  std::optional<std::filesystem::path> stdin_from = {};
  std::optional<std::filesystem::path> stdout_to = {};
  std::optional<std::filesystem::path> stderr_to = {};
  std::optional<std::filesystem::path> working_directory = {};
  std::vector<std::string> environment = {};
};

struct ProcessResult {
  int exit_code = -1;    // the child's exit status when it exited normally, else -1
  int signal = 0;        // the signal that ended it, else 0
  bool exited_normally() const { return signal == 0 && exit_code >= 0; }
};

// Spawns `program` (a path, not searched on $PATH) with argv = arguments (arguments[0] is the
// name the child sees) and waits for it. Throws std::system_error naming the program when it
// cannot be started.
ProcessResult run_process(const std::filesystem::path& program,
                          const std::vector<std::string>& arguments,
                          const ProcessOptions& options = {});

}  // namespace examples
