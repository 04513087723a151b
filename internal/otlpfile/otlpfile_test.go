package otlpfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestReadTracesMergesLines(t *testing.T) {
	t.Parallel()
	var m ptrace.JSONMarshaler
	var buf []byte
	for i := 0; i < 3; i++ {
		td := ptrace.NewTraces()
		span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetName("span")
		line, err := m.MarshalTraces(td)
		require.NoError(t, err)
		buf = append(append(buf, line...), '\n', '\n')
	}
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	td, err := ReadTraces(path)
	require.NoError(t, err)
	require.Equal(t, 3, td.SpanCount())
}

func TestReadMissingFileIsEmpty(t *testing.T) {
	t.Parallel()
	md, err := ReadMetrics(filepath.Join(t.TempDir(), "absent.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 0, md.DataPointCount())
}

func TestReadNamesBadLine(t *testing.T) {
	t.Parallel()
	var m pmetric.JSONMarshaler
	good, err := m.MarshalMetrics(pmetric.NewMetrics())
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	require.NoError(t, os.WriteFile(path, append(append(good, '\n'), []byte("{not json\n")...), 0o600))
	_, err = ReadMetrics(path)
	require.ErrorContains(t, err, "metrics.jsonl line 2")
}
