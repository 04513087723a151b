package grpcclientstream

import (
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// The rule's derived entries for the layouts of the offsets table (the
// offsets are those of grpc-go's versions), and none for a layout it does
// not know.
func TestStreamEmbedding(t *testing.T) {
	t.Parallel()
	u := fields.Unknown
	for _, tc := range []struct {
		name                     string
		ct, ctx, csStream, csCt  uint64
		wantCtPtr, wantStreamPtr uint64
	}{
		{"v1.33 ct pointer", 24, 32, u, u, 24, u},
		{"v1.66 ct interface", 24, 40, u, u, 32, u},
		{"ct followed by something else", 24, 56, u, u, u, u},
		{"v1.69 *Stream embedded", u, u, 0, 8, u, 0},
		{"v1.77 Stream embedded", u, u, 0, 328, u, u},
		{"ClientStream.ct unknown", u, u, 0, u, u, u},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			off := probes.Offsets{Fields: fields.NewTable()}
			f := &off.Fields
			f[fields.GRPCStreamCt], f[fields.GRPCStreamCtx] = tc.ct, tc.ctx
			f[fields.GRPCClientStreamStream], f[fields.GRPCClientStreamCt] = tc.csStream, tc.csCt
			streamEmbedding(nil, &off)
			if f[fields.GRPCStreamCtPtr] != tc.wantCtPtr || f[fields.GRPCClientStreamStreamPtr] != tc.wantStreamPtr {
				t.Errorf("ctPtr %d, StreamPtr %d; want %d, %d", f[fields.GRPCStreamCtPtr], f[fields.GRPCClientStreamStreamPtr], tc.wantCtPtr, tc.wantStreamPtr)
			}
		})
	}
}
