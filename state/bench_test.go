package state

import (
	"encoding/json"
	"testing"
)

// benchRecord is a realistic MODIFY: about 700 bytes, a dozen attributes of every type
// including a nested map and a list, both images, attributes in AWS's arbitrary order.
const benchRecord = `{"eventID":"7de3041dd709b024af6f29e4fa13d34c","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1767225600.123,"Keys":{"sk":{"S":"profile"},"pk":{"S":"user#1042"}},"NewImage":{"updatedAt":{"N":"1767225600123"},"pk":{"S":"user#1042"},"sk":{"S":"profile"},"name":{"S":"Ada Lovelace"},"visits":{"N":"42"},"balance":{"N":"12345678901234567890.50"},"active":{"BOOL":true},"tags":{"SS":["beta","v2"]},"prefs":{"M":{"theme":{"S":"dark"},"langs":{"L":[{"S":"en"},{"N":"7"}]}}},"avatar":{"B":"cG5nOjEwNDI6Mg=="}},"OldImage":{"updatedAt":{"N":"1767225500000"},"pk":{"S":"user#1042"},"sk":{"S":"profile"},"name":{"S":"Ada"},"visits":{"N":"41"}},"SequenceNumber":"400000000000000000001","SizeBytes":412,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-01-01T00:00:00.000"}`

var benchSpec = KeySpec{Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt"}

func BenchmarkParseChange(b *testing.B) {
	rec := []byte(benchRecord)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChange(rec, benchSpec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSONBaseline is the yardstick for BenchmarkParseChange on a noisy
// machine: encoding/json decoding the same record into a struct with the images left
// raw, which does less work than ParseChange (no key, no plain JSON). Compare the ratio.
func BenchmarkEncodingJSONBaseline(b *testing.B) {
	rec := []byte(benchRecord)
	var r struct {
		EventID        string `json:"eventID"`
		EventName      string `json:"eventName"`
		EventSourceARN string `json:"eventSourceARN"`
		DynamoDB       struct {
			ApproximateCreationDateTime json.Number
			Keys, NewImage, OldImage    json.RawMessage
			SequenceNumber              string
			SizeBytes                   int64
			StreamViewType              string
		} `json:"dynamodb"`
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := json.Unmarshal(rec, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecordThenChange(b *testing.B) {
	rec := []byte(benchRecord)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRecord(rec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ChangeFromRecord(r, benchSpec); err != nil {
			b.Fatal(err)
		}
	}
}

func benchValue(b *testing.B) *Value {
	c, err := ParseChange([]byte(benchRecord), benchSpec)
	if err != nil {
		b.Fatal(err)
	}
	return &Value{Item: c.Item, Version: c.Version, EventID: c.EventID, UpdatedAt: c.CreatedAt,
		Source: Position{Topic: "dev.users.cdc", Partition: 3, Offset: 123456789}}
}

func BenchmarkCodec(b *testing.B) {
	v := benchValue(b)
	var c Codec
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	data, _ := c.Encode(v)
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseRecord and BenchmarkParseRecordHeader: what the lake sink paid per CDC
// record for the trees it did not read, and what it pays now.
func BenchmarkParseRecord(b *testing.B) {
	rec := []byte(benchRecord)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecordHeader(b *testing.B) {
	rec := []byte(benchRecord)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecordHeader(rec); err != nil {
			b.Fatal(err)
		}
	}
}
