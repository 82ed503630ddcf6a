package emitters

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

func kerrFor(code int16) error { return kerr.ErrorForCode(code) }

// isLost reports a commit refused because this member no longer owns the partition.
func isLost(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.FencedInstanceID) ||
		errors.Is(err, kerr.StaleMemberEpoch)
}
