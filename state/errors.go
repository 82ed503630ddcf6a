package state

import (
	"errors"
	"strconv"
)

// Reasons an *InvalidError carries. They are short, stable machine words: the processor
// puts them on a DLQ record and uses them as a metric label, so they never change meaning.
const (
	// ReasonBadJSON: the bytes are not JSON, or a field has the wrong JSON type.
	ReasonBadJSON = "bad_json"
	// ReasonMissingField: a required record field (eventName, SequenceNumber) is absent.
	ReasonMissingField = "missing_field"
	// ReasonMissingKey: dynamodb.Keys is absent or lacks a key attribute of the KeySpec.
	ReasonMissingKey = "missing_key"
	// ReasonUnknownEventName: eventName is not INSERT, MODIFY or REMOVE.
	ReasonUnknownEventName = "unknown_event_name"
	// ReasonBadKeyType: a key attribute is not of type S, N or B.
	ReasonBadKeyType = "bad_key_type"
	// ReasonMissingImage: an INSERT or MODIFY has no NewImage (a KEYS_ONLY stream).
	ReasonMissingImage = "missing_image"
	// ReasonBadAttribute: an AttributeValue is malformed ({"X":1}, two types, NULL:false,
	// bad base64, duplicate attribute names, nesting too deep).
	ReasonBadAttribute = "bad_attribute"
	// ReasonBadNumber: an N value is not a decimal number.
	ReasonBadNumber = "bad_number"
	// ReasonBadSequenceNumber: SequenceNumber is not a string of decimal digits.
	ReasonBadSequenceNumber = "bad_sequence_number"
	// ReasonBadTimestamp: ApproximateCreationDateTime is not a number of epoch seconds
	// that fits in int64 milliseconds.
	ReasonBadTimestamp = "bad_timestamp"
)

// InvalidError is a record that cannot be used: the processor sends it to the DLQ with
// Reason, and a human reads Field and Detail.
type InvalidError struct {
	// Reason is one of the Reason* words.
	Reason string
	// Field is the dotted path of the offending field, e.g. "dynamodb.NewImage.prefs.theme";
	// empty when the record is not JSON at all.
	Field string
	// Detail says what is wrong and quotes the offending value.
	Detail string
}

// Error names the reason, the field and the offending value.
func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid CDC record: " + e.Reason + ": " + e.Detail
	}
	return "invalid CDC record: " + e.Reason + ": " + e.Field + ": " + e.Detail
}

// ReasonOf returns the Reason of the *InvalidError in err's chain, or "" if there is none.
func ReasonOf(err error) string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ""
}

func invalid(reason, field, detail string) *InvalidError {
	return &InvalidError{Reason: reason, Field: field, Detail: detail}
}

// within prefixes the error's field path with seg as the error unwinds out of a nested
// value. Paths are built only on failure, so the success path pays nothing for them.
func within(err error, seg string) error {
	ie, ok := err.(*InvalidError)
	if !ok {
		return err
	}
	switch {
	case ie.Field == "":
		ie.Field = seg
	case ie.Field[0] == '[':
		ie.Field = seg + ie.Field
	default:
		ie.Field = seg + "." + ie.Field
	}
	return ie
}

// quote renders an offending value for an error message, cut short so a 400 KB item
// does not end up in a log line.
func quote[T string | []byte](v T) string {
	const max = 64
	if len(v) > max {
		return strconv.Quote(string(v[:max])) + "…"
	}
	return strconv.Quote(string(v))
}

// errNoKeys is returned for a KeySpec without key attributes: a configuration mistake,
// not a bad record, so it is not an *InvalidError.
var errNoKeys = errors.New("state: KeySpec.Keys is empty")
