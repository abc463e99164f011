#include "process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <system_error>

extern char** environ;

namespace examples {

std::optional<std::filesystem::path> find_executable(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  const char* path_variable = std::getenv("PATH");
  // execvp's fallback when PATH is unset.
  const std::string search_path = path_variable ? path_variable : "/bin:/usr/bin";
  std::size_t start = 0;
  while (start <= search_path.size()) {
    const std::size_t colon = std::min(search_path.find(':', start), search_path.size());
    const std::string directory = search_path.substr(start, colon - start);
    const std::filesystem::path candidate =
        std::filesystem::path(directory.empty() ? "." : directory) / name;
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = colon + 1;
  }
  return std::nullopt;
}

namespace {

// posix_spawn_file_actions_t with its destroy tied to scope, so a throw cannot leak it.
class FileActions {
 public:
  FileActions() {
    if (const int error = posix_spawn_file_actions_init(&actions_)) {
      throw std::system_error(error, std::generic_category(), "posix_spawn_file_actions_init");
    }
  }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;

  void open(int descriptor, const std::filesystem::path& path, int flags) {
    if (const int error =
            posix_spawn_file_actions_addopen(&actions_, descriptor, path.c_str(), flags, 0644)) {
      throw std::system_error(error, std::generic_category(),
                              "cannot redirect a child's stream to " + path.string());
    }
  }
  void change_directory(const std::filesystem::path& directory) {
    // glibc 2.29+ (Debian 12 has 2.36); the child changes directory before it opens the paths
    // added after this, so the redirections are added first.
    if (const int error = posix_spawn_file_actions_addchdir_np(&actions_, directory.c_str())) {
      throw std::system_error(error, std::generic_category(),
                              "cannot start a child in " + directory.string());
    }
  }
  const posix_spawn_file_actions_t* get() const { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

}  // namespace

ProcessResult run_process(const std::filesystem::path& program,
                          const std::vector<std::string>& arguments,
                          const ProcessOptions& options) {
  std::vector<char*> argv;
  argv.reserve(arguments.size() + 1);
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);

  FileActions actions;
  if (options.stdin_from) actions.open(STDIN_FILENO, *options.stdin_from, O_RDONLY);
  const int write_flags = O_WRONLY | O_CREAT | O_TRUNC;
  if (options.stdout_to) actions.open(STDOUT_FILENO, *options.stdout_to, write_flags);
  if (options.stderr_to) actions.open(STDERR_FILENO, *options.stderr_to, write_flags);
  if (options.working_directory) actions.change_directory(*options.working_directory);

  // The child's environment: ours, each NAME in options.environment replaced by its new entry.
  std::vector<char*> envp;
  for (const std::string& entry : options.environment) {
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      throw std::invalid_argument("run_process: environment entry \"" + entry +
                                  "\" is not NAME=value");
    }
  }
  const auto overridden = [&options](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(options.environment.begin(), options.environment.end(),
                       [name](const std::string& e) { return e.compare(0, e.find('='), name) == 0; });
  };
  for (char** variable = environ; *variable != nullptr; ++variable) {
    if (!overridden(*variable)) envp.push_back(*variable);
  }
  for (const std::string& entry : options.environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  // glibc reports a failed exec or a failed redirection through the return value.
  if (const int error =
          posix_spawn(&pid, program.c_str(), actions.get(), nullptr, argv.data(), envp.data())) {
    throw std::system_error(error, std::generic_category(), "cannot start " + program.string());
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "waiting for " + program.string());
    }
  }
  ProcessResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace examples
