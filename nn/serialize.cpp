#include "nn/serialize.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "autograd/grad_mode.h"
#include "nn/safetensors_header.h"

namespace tapegrad {
namespace {

using safetensors::DType;
using safetensors::Header;
using safetensors::TensorEntry;

std::string errno_text(int error) { return std::system_category().message(error); }

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

// Every reader error names the calling function and the file.
struct Context {
  Context(const char* op, const std::string& path) : where(op + (": " + in_quotes(path))) {}
  [[noreturn]] void fail(const std::string& problem) const { throw Error(where + ": " + problem); }
  std::string where;
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// ---------------------------------------------------------------- reading

void read_exact(const Context& ctx, std::FILE* file, void* out, std::uint64_t count,
                const std::string& what) {
  if (count == 0) return;
  if (std::fread(out, 1, count, file) != count) {
    if (std::ferror(file)) ctx.fail("cannot read " + what + ": " + errno_text(errno));
    ctx.fail("the file ended while reading " + what + " (was it modified while loading?)");
  }
}

struct OpenedFile {
  FilePtr file;
  Header header;
};

OpenedFile open_and_parse(const Context& ctx, const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) ctx.fail("cannot open: " + errno_text(errno));
  struct stat info {};
  if (fstat(fileno(file.get()), &info) != 0) ctx.fail("cannot stat: " + errno_text(errno));
  if (!S_ISREG(info.st_mode)) ctx.fail("not a regular file");
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  if (file_size < 8) {
    ctx.fail("file of " + std::to_string(file_size) +
             " bytes is too short to hold the 8-byte header length");
  }

  unsigned char length_bytes[8];
  read_exact(ctx, file.get(), length_bytes, 8, "the header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (header_size > safetensors::kMaxHeaderBytes) {
    ctx.fail("header length " + std::to_string(header_size) + " exceeds the limit of " +
             std::to_string(safetensors::kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  }
  if (header_size > file_size - 8) {
    ctx.fail("header length " + std::to_string(header_size) + " is larger than the " +
             std::to_string(file_size - 8) + " bytes after it (the file is truncated)");
  }
  std::string text(header_size, '\0');
  read_exact(ctx, file.get(), text.data(), header_size, "the header");
  OpenedFile opened{std::move(file), {}};
  opened.header = safetensors::parse_header(ctx.where, text, file_size - 8 - header_size);
  return opened;
}

// Reads the data buffer, which follows the header; the entries tile it in order.
NamedTensors read_tensors(const Context& ctx, OpenedFile& opened) {
  NamedTensors tensors;
  tensors.reserve(opened.header.entries.size());
  std::vector<unsigned char> raw;
  for (const TensorEntry& entry : opened.header.entries) {
    Tensor tensor = Tensor::empty(entry.shape, safetensors::loaded_dtype(entry.dtype));
    const std::uint64_t bytes = entry.end - entry.begin;
    const std::string what = "tensor " + in_quotes(entry.name);
    if (entry.dtype == DType::F32) {
      read_exact(ctx, opened.file.get(), tensor.data(), bytes, what);
    } else if (entry.dtype == DType::I64) {
      read_exact(ctx, opened.file.get(), tensor.data_i64(), bytes, what);
    } else {
      raw.resize(bytes);
      read_exact(ctx, opened.file.get(), raw.data(), bytes, what);
      if (tensor.dtype() == Dtype::int64) {
        safetensors::convert_to_int64(entry.dtype, raw.data(), tensor.numel(), tensor.data_i64());
      } else {
        safetensors::convert_to_float(entry.dtype, raw.data(), tensor.numel(), tensor.data());
      }
    }
    tensors.emplace_back(entry.name, std::move(tensor));
  }
  return tensors;
}

// ---------------------------------------------------------------- writing

// ---- temporary files and their cleanup
//
// A save writes <target>.tmp.<pid>.<created>.<attempt> next to the target: the saving process's
// id, the CLOCK_BOOTTIME nanoseconds at which it named the file, and a retry counter. A save that
// fails removes its file, but a killed process (SIGKILL, OOM killer, power loss) leaves it behind,
// possibly as large as the model. So each save first removes the leftovers of its own target:
// files in the target's directory whose name is exactly that pattern (three plain decimal numbers,
// a pid > 0), that are regular files (never a directory or a symlink), and whose saver cannot be
// running any more:
//   1. the file was named before this process started (so a save that began after us, from any
//      process, is never touched: whatever its pid, it may be a live concurrent saver), and
//   2. no process has its pid (kill(pid, 0) fails with ESRCH), or the process that has it now
//      started after the file was named, so it reused the pid of the dead saver. This covers our
//      own pid: a container restarts its trainer as the same pid 1 every time.
// A pid names one running process at a time, so a process older than the file that has its pid
// is its saver, alive: the file is kept. So is everything when a start time cannot be read
// (/proc hidden). Start times come from /proc/<pid>/stat in clock ticks since boot, rounded
// down, which can only make both rules keep more. Savers that share a directory must share a
// pid namespace (one machine or one container): a pid from another namespace means nothing here.
// Cleanup is best effort: a file that vanishes or cannot be removed is left to the next save.

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

std::int64_t boot_clock_ns() {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * kNanosPerSecond + now.tv_nsec;
}

// A decimal number as std::to_string writes it for an int64 >= 0: digits only, no sign, space
// or leading zero.
std::optional<std::int64_t> parse_decimal(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

struct TempName {
  pid_t pid = 0;
  std::int64_t created_ns = 0;
};

// Reads "<prefix><pid>.<created>.<attempt>"; anything else is not ours.
std::optional<TempName> parse_temp_name(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  const auto first_dot = name.find('.');
  const auto second_dot = name.find('.', first_dot == std::string_view::npos ? 0 : first_dot + 1);
  if (first_dot == std::string_view::npos || second_dot == std::string_view::npos)
    return std::nullopt;
  const auto pid = parse_decimal(name.substr(0, first_dot));
  const auto created = parse_decimal(name.substr(first_dot + 1, second_dot - first_dot - 1));
  const auto attempt = parse_decimal(name.substr(second_dot + 1));
  if (!pid || !created || !attempt || *pid <= 0 || *pid > std::numeric_limits<pid_t>::max())
    return std::nullopt;
  return TempName{static_cast<pid_t>(*pid), *created};
}

// When process `pid` started, in CLOCK_BOOTTIME nanoseconds rounded down to a clock tick: field 22
// of /proc/<pid>/stat. Fields are counted after the last ')', as the command name (field 2) may
// hold spaces and parentheses.
std::optional<std::int64_t> process_start_ns(pid_t pid) {
  FilePtr file(std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r"));
  if (!file) return std::nullopt;
  char buffer[1024];
  const std::size_t length = std::fread(buffer, 1, sizeof(buffer), file.get());
  const std::string_view stat(buffer, length);
  const auto name_end = stat.rfind(')');
  if (name_end == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(name_end + 1);
  for (int field = 3; field <= 22; ++field) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(start);
    const auto end = std::min(rest.find(' '), rest.size());
    if (field == 22) {
      const auto ticks = parse_decimal(rest.substr(0, end));
      const long ticks_per_second = sysconf(_SC_CLK_TCK);
      if (!ticks || ticks_per_second <= 0 ||
          *ticks > std::numeric_limits<std::int64_t>::max() / kNanosPerSecond)
        return std::nullopt;
      return *ticks * kNanosPerSecond / ticks_per_second;
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

// Rule 2 above: the saver that named the file is not running any more.
bool saver_is_gone(const TempName& temp) {
  if (kill(temp.pid, 0) != 0 && errno == ESRCH) return true;
  // The pid exists (EPERM: it belongs to another user): is it still the saver?
  const auto started = process_start_ns(temp.pid);
  return started && *started > temp.created_ns;
}

void remove_stale_temp_files(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path target_path(target);
  const std::string prefix = target_path.filename().string() + ".tmp.";
  if (prefix == ".tmp.") return;  // "dir/": no file name to match
  const auto this_process_started = process_start_ns(getpid());
  if (!this_process_started) return;
  const fs::path parent = target_path.parent_path();
  // An unreadable directory stops the cleanup quietly; the save itself reports an unusable one.
  std::error_code error;
  for (fs::directory_iterator it(parent.empty() ? fs::path(".") : parent, error), end;
       !error && it != end; it.increment(error)) {
    const auto temp = parse_temp_name(it->path().filename().string(), prefix);
    if (!temp || temp->created_ns >= *this_process_started) continue;
    std::error_code ignored;
    if (!fs::is_regular_file(it->symlink_status(ignored))) continue;
    if (saver_is_gone(*temp)) fs::remove(it->path(), ignored);
  }
}

// A temporary file next to the target. Until commit() renames it into place, destruction (by an
// exception) removes it, so a failed save leaves neither a partial target nor litter. Creating one
// first removes the leftovers of killed saves of the same target (see above).
class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target) {
    remove_stale_temp_files(target);
    const std::int64_t created = boot_clock_ns();
    for (int attempt = 0; attempt < 16 && !file_; ++attempt) {
      path_ = target + ".tmp." + std::to_string(getpid()) + "." + std::to_string(created) + "." +
              std::to_string(attempt);
      file_ = std::fopen(path_.c_str(), "wbx");  // x: never clobber a file we did not create
      if (!file_ && errno != EEXIST) break;
    }
    if (!file_) fail(errno);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (!committed_ && !path_.empty()) std::remove(path_.c_str());
  }

  void write(const void* data, std::uint64_t bytes) {
    if (bytes != 0 && std::fwrite(data, 1, bytes, file_) != bytes) fail(errno);
  }

  // Data must be on disk before the rename makes it visible, and the rename must be on disk
  // (the directory synced) before the caller can rely on the new file surviving a crash.
  void commit() {
    if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0) fail(errno);
    const int close_result = std::fclose(file_);
    file_ = nullptr;
    if (close_result != 0) fail(errno);
    if (std::rename(path_.c_str(), target_.c_str()) != 0) fail(errno);
    committed_ = true;
    sync_directory();
  }

 private:
  [[noreturn]] void fail(int error, const char* problem = "cannot write") const {
    throw Error(std::string("save_safetensors: ") + problem + " " + in_quotes(target_) + ": " +
                errno_text(error));
  }

  void sync_directory() const {
    const std::filesystem::path parent = std::filesystem::path(target_).parent_path();
    const std::filesystem::path directory = parent.empty() ? std::filesystem::path(".") : parent;
    // An unreadable directory cannot be opened for fsync; the file is in place regardless.
    const int descriptor = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (descriptor < 0) return;
    const int result = fsync(descriptor);
    const int error = errno;
    close(descriptor);
    // EINVAL: this file system cannot sync directories, which is all one can do there.
    if (result != 0 && error != EINVAL) fail(error, "wrote but could not sync the directory of");
  }

  std::string target_;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string header = safetensors::build_header(tensors, metadata);  // checks the names
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i)
    length_bytes[i] = static_cast<unsigned char>(header.size() >> (8 * i));

  TempFile temp(path);
  temp.write(length_bytes, 8);
  temp.write(header.data(), header.size());
  for (const auto& [name, tensor] : tensors) {
    temp.write(tensor.data_ptr(),
               static_cast<std::uint64_t>(tensor.numel()) * element_size(tensor.dtype()));
  }
  temp.commit();
}

NamedTensors load_safetensors(const std::string& path,
                              std::map<std::string, std::string>* metadata) {
  const Context ctx{"load_safetensors", path};
  OpenedFile opened = open_and_parse(ctx, path);
  NamedTensors tensors = read_tensors(ctx, opened);
  if (metadata) *metadata = std::move(opened.header.metadata);
  return tensors;
}

namespace {

// One entry of what is loaded, from a file's header or from a tensor in memory.
struct SourceEntry {
  const std::string* name;
  const Shape* shape;
  Dtype dtype;  // what it loads as (an I32 file entry: int64)
};

// The one check behind every load by name (files, state dicts): destination names are unique and
// defined; then every name, shape and dtype of the source against the destination, all problems
// listed in one message. Throws ValueError for names (only when strict), ShapeError for shapes
// (always), TypeError when only dtypes differ (an int64 tensor for a float32 parameter: a
// checkpoint of ids loaded into a model, never silently converted); otherwise returns what
// strict=false leaves out.
IncompatibleKeys check_by_name(const std::vector<SourceEntry>& source,
                               const NamedTensors& destination, bool strict,
                               const LoadLabels& labels, const std::string& source_described) {
  std::map<std::string, const Tensor*> wanted;
  for (const auto& [name, tensor] : destination) {
    if (!tensor.defined()) {
      throw ValueError(labels.op + ": " + labels.destination + " " + in_quotes(name) +
                       " is undefined");
    }
    if (!wanted.emplace(name, &tensor).second) {
      throw ValueError(labels.op + ": duplicate " + labels.destination + " name " + in_quotes(name));
    }
  }
  std::map<std::string, const SourceEntry*> stored;
  for (const SourceEntry& entry : source) stored.emplace(*entry.name, &entry);

  IncompatibleKeys result;
  std::string missing, unexpected, mismatched, mistyped;
  const auto append = [](std::string& list, const std::string& item) {
    list += (list.empty() ? "" : ", ") + item;
  };
  for (const auto& [name, tensor] : destination) {
    const auto found = stored.find(name);
    if (found == stored.end()) {
      append(missing, in_quotes(name));
      result.missing_keys.push_back(name);
    } else {
      const SourceEntry& entry = *found->second;
      if (*entry.shape != tensor.shape()) {
        append(mismatched, in_quotes(name) + " expected " + format_shape(tensor.shape()) + " (" +
                               labels.destination + "), got " + format_shape(*entry.shape) +
                               " (" + labels.source + ")");
      }
      if (entry.dtype != tensor.dtype()) {
        append(mistyped, in_quotes(name) + " expected " + dtype_name(tensor.dtype()) + " (" +
                             labels.destination + "), got " + dtype_name(entry.dtype) + " (" +
                             labels.source + ")");
      }
    }
  }
  for (const SourceEntry& entry : source) {
    if (!wanted.count(*entry.name)) {
      append(unexpected, in_quotes(*entry.name));
      result.unexpected_keys.push_back(*entry.name);
    }
  }
  const bool names_wrong = strict && !(missing.empty() && unexpected.empty());
  if (names_wrong || !mismatched.empty() || !mistyped.empty()) {
    std::string message =
        labels.op + ": " + source_described + " does not match the " + labels.destination;
    if (strict && !missing.empty()) {
      message += "; missing keys (not in the " + labels.source + "): " + missing;
    }
    if (strict && !unexpected.empty()) {
      message += "; unexpected keys (not in the " + labels.destination + "): " + unexpected;
    }
    if (!mismatched.empty()) message += "; shape mismatches: " + mismatched;
    if (!mistyped.empty()) message += "; dtype mismatches: " + mistyped;
    if (names_wrong) throw ValueError(message);
    if (!mismatched.empty()) throw ShapeError(message);
    throw TypeError(message);
  }
  return result;
}

// The copies, once everything is checked: under NoGradGuard, bumping versions.
void copy_by_name(const NamedTensors& values, const NamedTensors& destination) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, tensor] : values) by_name.emplace(name, &tensor);
  NoGradGuard no_grad;
  for (const auto& [name, tensor] : destination) {
    const auto found = by_name.find(name);
    if (found == by_name.end()) continue;
    Tensor target = tensor;  // a second handle: copy_ writes the shared storage
    target.copy_(*found->second);
  }
}

}  // namespace

IncompatibleKeys load_into(const std::string& path, const NamedTensors& destination, bool strict) {
  // Names and shapes are all checked against the header before any data is read or copied.
  const Context ctx{"load_into", path};
  OpenedFile opened = open_and_parse(ctx, path);
  std::vector<SourceEntry> source;
  for (const TensorEntry& entry : opened.header.entries) {
    source.push_back({&entry.name, &entry.shape, safetensors::loaded_dtype(entry.dtype)});
  }
  IncompatibleKeys result = check_by_name(source, destination, strict,
                                          {.op = "load_into", .source = "file"}, in_quotes(path));
  copy_by_name(read_tensors(ctx, opened), destination);
  return result;
}

IncompatibleKeys check_load(const NamedTensors& source, const NamedTensors& destination,
                            bool strict, const LoadLabels& labels) {
  std::vector<SourceEntry> entries;
  std::set<std::string_view> seen;
  for (const auto& [name, tensor] : source) {
    if (!tensor.defined()) {
      throw ValueError(labels.op + ": " + labels.source + " entry " + in_quotes(name) +
                       " is undefined");
    }
    if (!seen.insert(name).second) {
      throw ValueError(labels.op + ": the " + labels.source + " has " + in_quotes(name) + " twice");
    }
    entries.push_back({&name, &tensor.shape(), tensor.dtype()});
  }
  return check_by_name(entries, destination, strict, labels, "the " + labels.source);
}

IncompatibleKeys load_into(const NamedTensors& source, const NamedTensors& destination,
                           bool strict, const LoadLabels& labels) {
  IncompatibleKeys result = check_load(source, destination, strict, labels);

  // A value whose storage is also another name's destination could be overwritten before it is
  // read (a swap): such values are copied first. Storage is compared by its first element's
  // address (a tensor's data always starts its storage); a value on its own destination is fine.
  std::vector<std::pair<const void*, const std::string*>> written;
  for (const auto& [name, tensor] : destination) written.emplace_back(tensor.data_ptr(), &name);
  NamedTensors values;
  for (const auto& entry : source) {
    // Not a structured binding: clang 14 refuses to capture one in a lambda.
    const std::string& name = entry.first;
    const Tensor& tensor = entry.second;
    const bool aliased = std::any_of(written.begin(), written.end(), [&](const auto& w) {
      return w.first == tensor.data_ptr() && *w.second != name;
    });
    values.emplace_back(name, aliased ? tensor.detach().clone() : tensor);
  }
  copy_by_name(values, destination);
  return result;
}

}  // namespace tapegrad
