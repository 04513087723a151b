// Reading grpc-go values shared by the gRPC server and client probes.
#ifndef GOEBPF_GRPC_H
#define GOEBPF_GRPC_H

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"

// Values of the events' code fields besides grpc-go's codes (0-16).
enum grpc_code {
	// A gRPC status code that could not be read.
	GRPC_CODE_UNKNOWN_READ = 0xffffffff,
};

// Force the enum into BTF so bpf2go generates its Go constant.
const enum grpc_code *unused_grpc_code __attribute__((unused));

// The code of a genproto *Status message (0, OK, for nil).
static __always_inline u32 grpc_status_message_code(struct go_offsets *off, u64 msg)
{
	if (!msg)
		return 0;
	u32 code = 0;
	if (bpf_probe_read_user(&code, sizeof(code), (void *)(msg + FIELD(off, GOOGLE_GOLANG_ORG_GENPROTO_GOOGLEAPIS_RPC_STATUS_STATUS_CODE))))
		return GRPC_CODE_UNKNOWN_READ;
	return code;
}

// The code of a *internal/status.Status (grpc's status.Status): its s
// field points to the genproto Status message, whose Code is an int32. A nil
// *Status is OK, as grpc's Status.Code() says.
static __always_inline u32 grpc_status_code(struct go_offsets *off, u64 status)
{
	if (!status)
		return 0;
	return grpc_status_message_code(off, read_ptr(status + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_STATUS_S)));
}

#endif
