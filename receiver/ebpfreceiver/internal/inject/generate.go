package inject

// The project's bpf2go convention (see internal/bpfprog): -target amd64, the
// source named <name>.bpf.c, include paths after "--". Debian keeps asm/ under
// the multiarch include directory, which <linux/bpf.h> needs.
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" -target amd64 -go-package inject -type conn_key -type pending_ctx -type counter inject bpf/inject.bpf.c -- -I/usr/include/x86_64-linux-gnu
