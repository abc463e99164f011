// Links tapegrad::distributed from the package (built only when tapegrad was built with MPI), so
// its export (the library, MPI as a link dependency found by the package config) stays usable.
// Not run: a data-parallel program needs mpirun; tests/distributed runs the real ones.
#include <tapegrad/nn/distributed.h>  // as a user of the package writes

int main() { return tapegrad::dist::is_initialized() ? 1 : 0; }
