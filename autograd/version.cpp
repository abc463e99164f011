// The library's own version, compiled in, so that a program can compare it with the
// TAPEGRAD_VERSION_* macros of the headers it was built against.
#include "tapegrad/version.h"

namespace tapegrad {

Version version() { return {TAPEGRAD_VERSION_MAJOR, TAPEGRAD_VERSION_MINOR, TAPEGRAD_VERSION_PATCH}; }

const char* version_string() { return TAPEGRAD_VERSION_STRING; }

}  // namespace tapegrad
