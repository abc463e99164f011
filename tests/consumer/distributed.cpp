// Links tapegrad::distributed from the package (built only when tapegrad was built with MPI), so
// its export (the library, MPI as a link dependency found by the package config) stays usable.
// Not run: a data-parallel program needs mpirun; tests/distributed runs the real ones.
#include "nn/distributed.h"

int main() { return tapegrad::dist::is_initialized() ? 1 : 0; }
