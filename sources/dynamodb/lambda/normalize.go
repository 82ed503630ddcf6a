package lambda

import (
	"strings"

	"github.com/streamhub/streamhub/state"
)

// Record headers, the names the polling bridge (sources/dynamodb) and the processors use.
// A Lambda-bridged record carries table, stream, sequence and source ("lambda"); the
// ESM event does not say which shard a record came from, so there is no shard header.
const (
	HeaderTable    = "streamhub.table"
	HeaderStream   = "streamhub.stream"
	HeaderSequence = "streamhub.sequence"
	HeaderSource   = "streamhub.source"
	// DLQ headers, exactly those of processors.HeaderDLQ* (a test pins them).
	HeaderDLQReason = "streamhub.dlq.reason"
	HeaderDLQError  = "streamhub.dlq.error"
	HeaderDLQTable  = "streamhub.dlq.table"
)

// SourceLambda is the streamhub.source header value of records written in Lambda mode.
const SourceLambda = "lambda"

// Normalize turns one record of a DynamoDB ESM event, as Lambda delivers it, into the
// value the polling bridge writes for the same change: the record is parsed
// (state.ParseRecord), its ApproximateCreationDateTime read as epoch seconds and written
// back by state.EpochSeconds, so that 1479499740, 1479499740.0 and 1.47949974E9 all
// become 1479499740 (millisecond precision, finer digits truncated), and the whole
// re-marshalled (Record.Marshal: fixed field order, attribute names sorted). The
// eventSourceARN Lambda sets is the stream ARN and is kept as it is.
//
// It returns the parsed record with the value; on error (an *state.InvalidError for a
// record that is not a usable stream record) rec is nil.
func Normalize(raw []byte) (rec *state.Record, value []byte, err error) {
	rec, err = state.ParseRecord(raw)
	if err != nil {
		return nil, nil, err
	}
	if n := rec.DynamoDB.ApproximateCreationDateTime; n != "" {
		t, err := state.ParseEpochSeconds(n)
		if err != nil {
			return nil, nil, err
		}
		rec.DynamoDB.ApproximateCreationDateTime = state.EpochSeconds(t)
	}
	value, err = rec.Marshal()
	if err != nil {
		return nil, nil, err
	}
	return rec, value, nil
}

// TableFromARN returns the table name of a DynamoDB table or stream ARN
// (arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>), or "" when arn is
// not one.
func TableFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "dynamodb" {
		return ""
	}
	res, ok := strings.CutPrefix(parts[5], "table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(res, "/")
	return name
}
