package keys

import "fmt"

// Params are the argon2id cost parameters used to stretch a passphrase. They
// are stored in each passphrase blob, so they can be raised for new blobs
// without breaking old ones.
type Params struct {
	// Time is the number of passes over memory.
	Time uint32 `json:"time"`
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32 `json:"memoryKiB"`
	// Threads is the degree of parallelism (lanes).
	Threads uint8 `json:"threads"`
}

// Limits on argon2id parameters. A blob comes from the server and is
// untrusted: without upper bounds, a tampered blob could make a client
// allocate gigabytes or spin for minutes before the AEAD check could reject
// it. The bounds are generous (16x the default memory, about 7x the passes).
const (
	// MaxTime is the largest accepted number of passes.
	MaxTime = 20
	// MaxMemoryKiB is the largest accepted memory cost: 1 GiB.
	MaxMemoryKiB = 1 << 20
	// MaxThreads is the largest accepted parallelism.
	MaxThreads = 64
	// minMemoryKiBPerThread is argon2's own floor (two blocks per sync
	// point, four sync points). x/crypto silently raises smaller values;
	// rejecting them instead keeps the recorded parameters honest.
	minMemoryKiBPerThread = 8
)

// DefaultParams returns the parameters for new passphrase blobs: 3 passes
// over 64 MiB with 4 lanes, the memory-constrained recommendation of RFC 9106
// (section 4). On a 2-core machine one derivation takes roughly 100-200 ms,
// which is acceptable once per unlock but makes offline guessing expensive.
func DefaultParams() Params {
	return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
}

// Validate reports whether p is within the accepted limits, wrapping
// [ErrInvalidParams] with the reason. Weak but valid parameters (useful in
// tests) are accepted; only absurd or unusable ones are refused.
func (p Params) Validate() error {
	if d := p.problem(); d != "" {
		return fmt.Errorf("%w: %s", ErrInvalidParams, d)
	}
	return nil
}

// problem describes what is wrong with p, or returns "" if nothing is. It is
// shared by [Params.Validate] and [WrappedKey.Validate], which wrap it in
// different sentinels.
func (p Params) problem() string {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Sprintf("time %d is outside 1..%d", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Sprintf("threads %d is outside 1..%d", p.Threads, MaxThreads)
	case p.MemoryKiB > MaxMemoryKiB:
		return fmt.Sprintf("memory %d KiB exceeds the limit of %d KiB (1 GiB)", p.MemoryKiB, MaxMemoryKiB)
	case p.MemoryKiB < minMemoryKiBPerThread*uint32(p.Threads):
		return fmt.Sprintf("memory %d KiB is below the minimum of %d KiB for %d threads",
			p.MemoryKiB, minMemoryKiBPerThread*uint32(p.Threads), p.Threads)
	}
	return ""
}
