package backoff

import (
	"testing"
	"time"
)

func TestWaitsStayWithinTheGrowingBoundAndTheCap(t *testing.T) {
	b := New(10*time.Millisecond, 100*time.Millisecond)
	bounds := []time.Duration{10, 20, 40, 80, 100, 100, 100}
	for i, bound := range bounds {
		for range 50 {
			c := b
			if d := c.Next(); d <= 0 || d > bound*time.Millisecond {
				t.Fatalf("step %d: wait %s outside (0, %s]", i, d, bound*time.Millisecond)
			}
		}
		b.Next()
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Errorf("after Reset: %s", d)
	}
}
