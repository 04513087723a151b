package tracer

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I../../../../bpf/common" -target bpfel -type http_server_event -type http_client_event -type go_offsets -type span_ids http ../../../../bpf/http/http.c
