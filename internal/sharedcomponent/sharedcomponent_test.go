package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type counting struct {
	starts, stops int
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return nil }
func (c *counting) Shutdown(context.Context) error              { c.stops++; return nil }

func TestSharedInstanceStartsAndStopsOnce(t *testing.T) {
	m := NewMap[component.ID, *counting]()
	id := component.MustNewID("slo_burn")
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }

	a, err := m.LoadOrStore(id, create)
	require.NoError(t, err)
	b, err := m.LoadOrStore(id, create)
	require.NoError(t, err)
	require.Same(t, a, b)
	require.Equal(t, 1, created)

	host := componenttest.NewNopHost()
	require.NoError(t, a.Start(context.Background(), host))
	require.NoError(t, b.Start(context.Background(), host))
	require.Equal(t, 1, a.Unwrap().starts)

	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	require.Equal(t, 1, a.Unwrap().stops)
	require.Equal(t, 0, m.Len(), "shut down instance must be forgotten")

	c, err := m.LoadOrStore(id, create)
	require.NoError(t, err)
	require.NotSame(t, a, c, "a reload gets a fresh instance")
}

func TestFailedCreateIsNotStored(t *testing.T) {
	m := NewMap[string, *counting]()
	_, err := m.LoadOrStore("x", func() (*counting, error) { return nil, errors.New("bad config") })
	require.Error(t, err)
	require.Equal(t, 0, m.Len())
}

func TestShutdownWithoutStart(t *testing.T) {
	m := NewMap[string, *counting]()
	c, err := m.LoadOrStore("x", func() (*counting, error) { return &counting{}, nil })
	require.NoError(t, err)
	require.NoError(t, c.Shutdown(context.Background()))
}
