#pragma once
// Small helpers shared by the example programs: timing, CSV output and the checks that make an
// unwritable output fail before training. Flags are in support/cli.h, plotting in
// support/gnuplot.h, the non-finite loss check in support/loss_guard.h.
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace examples {

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Writes columns (same length) with a header line.
inline void write_csv(const std::filesystem::path& path, const std::vector<std::string>& names,
                      const std::vector<std::vector<float>>& columns) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  for (std::size_t c = 0; c < names.size(); ++c) out << (c ? "," : "") << names[c];
  out << "\n";
  for (std::size_t r = 0; r < columns.at(0).size(); ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << columns[c][r];
    out << "\n";
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Why `target` must not be replaced by a file the program writes, or "" when it may be: it is
// missing or a regular file. A symbolic link is refused rather than followed (writing through it
// would replace whatever it points at), as are directories, devices, FIFOs and sockets: writing
// "results" over /dev/null or a FIFO is never what the user meant.
inline std::string why_not_replaceable(const std::filesystem::path& target) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::symlink_status(target, error);
  if (status.type() == std::filesystem::file_type::not_found) return {};
  if (error) return "cannot inspect it: " + error.message();
  switch (status.type()) {
    case std::filesystem::file_type::regular: return {};
    case std::filesystem::file_type::symlink: return "it is a symbolic link";
    case std::filesystem::file_type::directory: return "it is a directory";
    default: return "it exists and is not a regular file (a device, FIFO or socket)";
  }
}

// Creates and removes a file in `dir`, proving files can be created there now (permissions,
// read-only file systems and a full inode table all show up here). The probe is created
// exclusively and never through a symbolic link, so a file planted under its name is neither
// followed nor truncated: a taken name is skipped for the next. Throws std::runtime_error.
inline void probe_writable_dir(const std::filesystem::path& dir) {
  static constexpr int attempts = 100;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const std::filesystem::path probe =
        dir / (".tapegrad-write-probe-" + std::to_string(::getpid()) + "-" + std::to_string(attempt));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      throw std::runtime_error("cannot write in the output directory \"" + dir.string() +
                               "\": " + std::strerror(errno));
    }
    ::close(fd);
    ::unlink(probe.c_str());
    return;
  }
  throw std::runtime_error("cannot write in the output directory \"" + dir.string() + "\": " +
                           std::to_string(attempts) + " probe file names are all taken");
}

// Creates `dir` with its parents when missing and checks a file can be written in it, so a run
// that could not save its results fails in its first millisecond, not after training.
inline void prepare_output_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw std::runtime_error("cannot create the output directory \"" + dir.string() +
                             "\": " + error.message());
  }
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("the output directory \"" + dir.string() + "\" is not a directory");
  }
  probe_writable_dir(dir);
}

// Checks that `file` could be written later: its directory exists and takes new files, and `file`
// is missing or a regular file (why_not_replaceable). Nothing is created or changed at `file`.
inline void check_output_file(const std::filesystem::path& file) {
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  if (const std::string why = why_not_replaceable(file); !why.empty()) {
    throw std::runtime_error("cannot write \"" + file.string() + "\": " + why);
  }
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("cannot write \"" + file.string() + "\": the directory \"" +
                             dir.string() + "\" does not exist");
  }
  probe_writable_dir(dir);
}

}  // namespace examples
