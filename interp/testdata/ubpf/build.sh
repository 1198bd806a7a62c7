#!/bin/sh
# build.sh UBPF_CHECKOUT [OUTPUT] builds the uBPF interpreter (vm/ubpf_vm.c,
# without its JIT) and driver.c into one binary for interp's BenchmarkVsUBPF:
#
#   interp/testdata/ubpf/build.sh ~/src/ubpf /tmp/ubpf-driver
#   SIMFS_UBPF_DRIVER=/tmp/ubpf-driver go test -run - -bench VsUBPF -count 5 ./interp
#
# uBPF's own release flags (cmake/settings.cmake) are -O2 -fPIC; CC picks
# the compiler (gcc by default). No uBPF code is part of simfs.
set -e
src=${1:?usage: build.sh UBPF_CHECKOUT [OUTPUT]}
out=${2:-ubpf-driver}
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-gcc}
flags="-Wall -O2 -fPIC -I$src/vm/inc -I$src/vm -I$here"
extra=
if [ -f "$src/vm/ubpf_instruction_valid.c" ]; then
	flags="$flags -DUBPF_HAVE_VALIDATOR"
	extra="$src/vm/ubpf_instruction_valid.c"
fi
# shellcheck disable=SC2086 # flags are words
$CC $flags -o "$out" "$here/driver.c" "$here/glue.c" "$src/vm/ubpf_vm.c" $extra
echo "built $out with $($CC --version | head -1)"
