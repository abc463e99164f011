#!/usr/bin/env bash
# Checks what makes the portable library portable (ops/CMakeLists.txt):
#   1. each instruction-set build of the kernels exports one global symbol, its table, so no
#      inline function or template compiled for one level can be picked by the linker for another;
#   2. no mutable state of std, xsimd or TBB was made local to a build (it would be split in
#      copies): every writable weak object of a build is its own (tapegrad::kernels::<level>::);
#   3. no build runs code before the table is chosen: no C++ dynamic initialiser (a namespace-scope
#      object with a constructor in ops/kernels/ would run AVX-512 code at start-up on any CPU);
#   4. outside the AVX2 and AVX-512 builds, the library has no VEX or EVEX instruction (no v*
#      mnemonic, no ymm, zmm or mask register), so it runs on any x86-64 up to the table choice.
# Usage: check_kernel_isolation.sh <libtapegrad.a> <dir of tapegrad_kernels_*.o> <level>...
set -euo pipefail
archive=$1 objects=$2
shift 2
failed=0

for isa in "$@"; do
  isolated=$objects/tapegrad_kernels_$isa.o
  globals=$(nm -g --defined-only "$isolated" | awk '{print $3}')
  if [[ "$globals" != "tapegrad_kernels_$isa" ]]; then
    echo "FAIL: $isolated defines other global symbols than tapegrad_kernels_$isa:"
    nm -g --defined-only -C "$isolated" | grep -v " tapegrad_kernels_$isa\$" | head -20
    failed=1
  fi
  # objdump -t: flags in columns 2-3 ("w" weak, "u" unique), then the section.
  shared_state=$(objdump -t "$objects/tapegrad_kernels_$isa.merged.o" |
    awk '$0 ~ / [wu] +O / && $0 ~ /\.(data|bss|tdata|tbss)/ && $0 !~ /\.data\.rel\.ro/ {print $NF}' |
    grep -v "^DW\.ref\." | c++filt | grep -v "tapegrad::kernels::$isa::" || true)
  if [[ -n "$shared_state" ]]; then
    echo "FAIL: the $isa build holds copies of shared mutable state:"
    echo "$shared_state" | head -20
    failed=1
  fi
  # A build that calls a public kernel function goes back through the dispatcher to the level
  # in use, not its own (a missing include in the build, say).
  dispatched=$(nm -u -C "$isolated" | grep "tapegrad::kernels::" || true)
  if [[ -n "$dispatched" ]]; then
    echo "FAIL: the $isa build calls kernels through the dispatcher instead of its own:"
    echo "$dispatched" | head -20
    failed=1
  fi
  # C++ dynamic initialisers (g++ names its sanitizer constructors _GLOBAL__sub_I_00099_*; clang's
  # are asan.module_ctor: both only in sanitizer builds, and they call no kernel code).
  initialisers=$(nm "$objects/tapegrad_kernels_$isa.merged.o" | grep "_GLOBAL__sub_I" |
    grep -v "_GLOBAL__sub_I_00099_" || true)
  if [[ -n "$initialisers" ]]; then
    echo "FAIL: the $isa build has dynamic initialisers, which run before any CPU check:"
    echo "$initialisers" | head -20
    failed=1
  fi
done

if [[ " $* " == *" baseline "* ]]; then
  # Every member but the wide builds; objdump names a member "<name>:     file format ...".
  wide=$(objdump -d --no-show-raw-insn "$archive" | awk '
    /file format/ { member = $1; sub(/:$/, "", member); next }
    /^[0-9a-f]+ <.*>:$/ { func = $2; next }
    member ~ /^tapegrad_kernels_(avx2|avx512)\.o$/ { next }
    /^ +[0-9a-f]+:\t/ {
      insn = $0; sub(/^ +[0-9a-f]+:\t/, "", insn)
      # VEX/EVEX (v* mnemonics, ymm/zmm/mask registers), BMI1/2, LZCNT, POPCNT, MOVBE, SSSE3 and
      # SSE4: everything x86-64-v2..v4 adds that a compiler emits for plain code.
      if (insn ~ /^v[a-z0-9]+/ || insn ~ /%[yz]mm[0-9]|%k[0-7]/ ||
          insn ~ /^(shlx|shrx|sarx|rorx|andn|bextr|blsi|blsmsk|blsr|bzhi|pdep|pext|mulx|lzcnt|tzcnt|popcnt|movbe)[lqw]? / || insn ~ /^crc32[bwlq]? / ||
          insn ~ /^(pshufb|palignr|pabs[bwd]|phadd|phsub|pmaddubsw|pmulhrsw|psign[bwd]|ptest|pblend|blendv?p[sd]|round[ps][sd]|dpp[sd]|insertps|extractps|pextr[bdq]|pinsr[bdq]|pmov[sz]x|pmulld|pmuldq|pmin[su][bdw]|pmax[su][bdw]|packusdw|pcmpeqq|pcmpgtq|pcmp[ei]str|movntdqa|phminposuw|mpsadbw) /)
        print member " " func ": " insn
    }')
  if [[ -n "$wide" ]]; then
    echo "FAIL: instructions beyond the x86-64 baseline outside the AVX2/AVX-512 kernel builds:"
    echo "$wide" | head -20
    failed=1
  fi
fi

if ((failed == 0)); then echo "kernel builds isolated: $*"; fi
exit $failed
