#!/usr/bin/env bash
# Installs the Debian 12 packages tapegrad needs to build, test and run its examples, skipping the
# ones already installed. Run as root (or with sudo available).
#   scripts/setup.sh          build + test + examples
#   scripts/setup.sh --peer   also OpenBLAS and PyTorch (python3-torch), for the side-by-side
#                             benchmarks and for regenerating the PyTorch fixtures
set -euo pipefail

# libfccp-dev: the header-only CSV parser behind data::read_csv.
# clang and its runtimes (libclang-rt: AddressSanitizer, UBSan, libFuzzer) are for the second
# compiler and the sanitizer build of scripts/check.sh. Open MPI (libopenmpi-dev: headers and
# library; openmpi-bin: mpirun) is for data-parallel training, the optional tapegrad_distributed
# library, its example and its tests, which run 2-rank jobs on this machine. python3 runs the
# benchmark scripts (bench/check_bars.py, compare_torch.py) and check_bars.py's doctests in ctest.
packages=(g++ cmake make pkg-config python3
          libxtensor-dev libxsimd-dev xtl-dev libtbb-dev catch2 libbenchmark-dev
          nlohmann-json3-dev libcli11-dev libfccp-dev gnuplot-nox
          clang libclang-rt-14-dev
          libopenmpi-dev openmpi-bin)
if [[ "${1:-}" == "--peer" ]]; then
  packages+=(libopenblas-dev python3-torch python3-numpy)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
