// Package backoff is the one retry delay streamhub uses: full-jitter exponential backoff.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields waits uniform in [0, min(max, base·2^n)), so that many clients failing
// together do not retry together. The zero value is not usable; use New.
type Backoff struct {
	base, max time.Duration
	n         int
}

// New returns a backoff starting at base and capped at max.
func New(base, max time.Duration) Backoff { return Backoff{base: base, max: max} }

// Next returns the next wait and grows the bound.
func (b *Backoff) Next() time.Duration {
	d := b.base << min(b.n, 30)
	if d <= 0 || d > b.max {
		d = b.max
	}
	b.n++
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// Reset starts again at base, after a success.
func (b *Backoff) Reset() { b.n = 0 }
