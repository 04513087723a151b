package runqlat

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" -target amd64 -go-package runqlat runqlat ../../../../../bpf/runtime/runqlat.bpf.c -- -I../../../../../bpf/runtime
