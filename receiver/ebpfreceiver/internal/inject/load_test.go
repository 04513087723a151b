package inject

import "testing"

func TestOpenClose(t *testing.T) {
	in := openInjector(t)
	c, err := in.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counters{}) {
		t.Errorf("fresh counters: %+v", c)
	}
	if err := in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
