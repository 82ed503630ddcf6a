package ddbtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

// richItem holds every attribute type, and strings that need escaping.
func richItem(pk string, sk string, version int) Item {
	return Item{
		"pk":      state.StringValue(pk),
		"sk":      state.NumberValue(sk),
		"version": state.NumberValue(strconv.Itoa(version)),
		"price":   state.NumberValue("-12.50"),
		"text":    state.StringValue("quote \" backslash \\ <html> & \u2028 é \x01 tab\t"),
		"blob":    state.BinaryValue([]byte{0, 1, 2, 0xff}),
		"ok":      state.BoolValue(false),
		"nothing": state.NullValue(),
		"tags":    state.StringSetValue("b", "a"),
		"nums":    state.NumberSetValue("1", "2.5"),
		"blobs":   state.BinarySetValue([]byte("x"), []byte("y")),
		"map":     state.MapValue(Item{"inner": state.StringValue("v"), "empty": state.MapValue(Item{})}),
		"list":    state.ListValue(state.StringValue("a"), state.NumberValue("1"), state.ListValue(state.BoolValue(true))),
	}
}

func imageJSON(t testing.TB, m Item) string {
	t.Helper()
	if m == nil {
		return "<nil>"
	}
	b, err := appendImage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRecordShape checks every record kind under every view type three ways: the
// Change (Lambda shape, parsed with state.ParseRecord), the SDK's decoding of
// GetRecords (which must convert back to the very same bytes), and the raw GetRecords
// JSON (member names and nothing else).
func TestRecordShape(t *testing.T) {
	a1, a2 := richItem("item#a", "1.50", 1), richItem("item#a", "1.5", 2) // "1.50" and "1.5": one key
	b1 := richItem("item#b", "7", 1)
	type want struct {
		name     string
		keysFrom Item
		newImage Item
		oldImage Item
		ttl      bool
	}
	for _, view := range []string{"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"} {
		t.Run(view, func(t *testing.T) {
			clock := newClock()
			s := newServer(t, WithClock(clock.Now), WithSeed(42), WithRegion("eu-west-1"), WithAccount("000011112222"))
			arn := createTable(t, s, TableSpec{Name: "shapes", HashKey: "pk", RangeKey: "sk", RangeKeyType: "N", ViewType: view})
			hasNew := view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES"
			hasOld := view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES"
			pick := func(ok bool, m Item) Item {
				if ok {
					return m
				}
				return nil
			}
			var changes []Change
			var wants []want
			record := func(ch Change, ok bool, err error, w want) {
				t.Helper()
				if err != nil || !ok {
					t.Fatalf("write: ok %v err %v", ok, err)
				}
				changes = append(changes, ch)
				wants = append(wants, w)
				clock.Add(1500e6) // 1.5s
			}
			ch, err := s.PutItem("shapes", a1)
			record(ch, true, err, want{"INSERT", a1, pick(hasNew, a1), nil, false})
			ch, err = s.PutItem("shapes", a2)
			record(ch, true, err, want{"MODIFY", a2, pick(hasNew, a2), pick(hasOld, a1), false})
			ch, ok, err := s.DeleteItem("shapes", Item{"pk": a1["pk"], "sk": state.NumberValue("15e-1")})
			record(ch, ok, err, want{"REMOVE", a2, nil, pick(hasOld, a2), false})
			ch, err = s.PutItem("shapes", b1)
			record(ch, true, err, want{"INSERT", b1, pick(hasNew, b1), nil, false})
			ch, ok, err = s.ExpireItem("shapes", Item{"pk": b1["pk"], "sk": b1["sk"]})
			record(ch, ok, err, want{"REMOVE", b1, nil, pick(hasOld, b1), true})

			start := newClock().Now()
			for i, ch := range changes {
				w := wants[i]
				if ch.EventName != w.name || ch.Table != "shapes" || ch.ShardID != s.Shards("shapes")[0].ID {
					t.Errorf("change %d: %+v", i, ch)
				}
				r, err := state.ParseRecord(ch.Record)
				if err != nil {
					t.Fatalf("change %d: %v\n%s", i, err, ch.Record)
				}
				created := start.Add(time.Duration(i) * 1500 * time.Millisecond).Unix() // whole seconds, rounded down
				if r.EventName != w.name || r.EventVersion != "1.1" || r.EventSource != "aws:dynamodb" || r.AWSRegion != "eu-west-1" ||
					r.EventSourceARN != arn || !hex32.MatchString(r.EventID) || r.DynamoDB.SequenceNumber != ch.SequenceNumber ||
					r.DynamoDB.StreamViewType != view || r.DynamoDB.SizeBytes <= 0 ||
					string(r.DynamoDB.ApproximateCreationDateTime) != strconv.FormatInt(created, 10) {
					t.Errorf("change %d: %+v", i, r)
				}
				wantKeys := Item{"pk": w.keysFrom["pk"], "sk": w.keysFrom["sk"]}
				for _, img := range []struct {
					name      string
					got, want Item
				}{{"Keys", r.DynamoDB.Keys, wantKeys}, {"NewImage", r.DynamoDB.NewImage, w.newImage}, {"OldImage", r.DynamoDB.OldImage, w.oldImage}} {
					if g, e := imageJSON(t, img.got), imageJSON(t, img.want); g != e {
						t.Errorf("change %d (%s) %s:\n got %s\nwant %s", i, w.name, img.name, g, e)
					}
				}
				switch {
				case w.ttl && (r.UserIdentity == nil || r.UserIdentity.Type != "Service" || r.UserIdentity.PrincipalID != "dynamodb.amazonaws.com"):
					t.Errorf("TTL delete: userIdentity %+v", r.UserIdentity)
				case !w.ttl && r.UserIdentity != nil:
					t.Errorf("change %d: userIdentity %+v", i, r.UserIdentity)
				}
			}

			// Through the SDK: the record converts back to the Change's bytes exactly.
			c := streamsClient(s)
			recs := readShard(t, c, arn, s.Shards("shapes")[0].ID)
			if len(recs) != len(changes) {
				t.Fatalf("%d records, want %d", len(recs), len(changes))
			}
			for i, rec := range recs {
				if got := fromSDK(t, rec, arn); !bytes.Equal(got, changes[i].Record) {
					t.Errorf("record %d through the SDK:\n got %s\nwant %s", i, got, changes[i].Record)
				}
				if rec.EventName != types.OperationType(wants[i].name) {
					t.Errorf("record %d: eventName %s", i, rec.EventName)
				}
			}

			// The raw GetRecords JSON: AWS's member names, nothing more.
			raw := rawGetRecords(t, s, arn, s.Shards("shapes")[0].ID)
			if len(raw) != len(changes) {
				t.Fatalf("%d raw records", len(raw))
			}
			for i, r := range raw {
				top := slices.Sorted(maps.Keys(r))
				wantTop := []string{"awsRegion", "dynamodb", "eventID", "eventName", "eventSource", "eventVersion"}
				if wants[i].ttl {
					wantTop = append(wantTop, "userIdentity")
				}
				if !slices.Equal(top, wantTop) {
					t.Errorf("raw record %d members %v, want %v", i, top, wantTop)
				}
				var d map[string]json.RawMessage
				if err := json.Unmarshal(r["dynamodb"], &d); err != nil {
					t.Fatal(err)
				}
				wantD := []string{"ApproximateCreationDateTime", "Keys", "SequenceNumber", "SizeBytes", "StreamViewType"}
				if wants[i].newImage != nil {
					wantD = append(wantD, "NewImage")
				}
				if wants[i].oldImage != nil {
					wantD = append(wantD, "OldImage")
				}
				slices.Sort(wantD)
				if got := slices.Sorted(maps.Keys(d)); !slices.Equal(got, wantD) {
					t.Errorf("raw record %d dynamodb members %v, want %v", i, got, wantD)
				}
				if string(d["ApproximateCreationDateTime"]) != string(must(state.ParseRecord(changes[i].Record)).DynamoDB.ApproximateCreationDateTime) {
					t.Errorf("raw record %d: ApproximateCreationDateTime %s", i, d["ApproximateCreationDateTime"])
				}
				if wants[i].ttl && string(r["userIdentity"]) != `{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"}` {
					t.Errorf("raw userIdentity %s", r["userIdentity"])
				}
			}
		})
	}
}

// rawGetRecords reads a shard from TRIM_HORIZON with raw HTTP calls and returns each
// record's members.
func rawGetRecords(t *testing.T, s *Server, arn, shardID string) []map[string]json.RawMessage {
	t.Helper()
	resp := post(t, s, "DynamoDBStreams_20120810.GetShardIterator",
		fmt.Sprintf(`{"StreamArn":%q,"ShardId":%q,"ShardIteratorType":"TRIM_HORIZON"}`, arn, shardID))
	var it struct{ ShardIterator string }
	if err := json.NewDecoder(resp.Body).Decode(&it); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp = post(t, s, "DynamoDBStreams_20120810.GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it.ShardIterator))
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Records           []map[string]json.RawMessage
		NextShardIterator *string
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if out.NextShardIterator == nil {
		t.Error("open shard: no NextShardIterator")
	}
	return out.Records
}

func TestRecordsAreDeterministic(t *testing.T) {
	run := func(seed int64) []Change {
		clock := newClock()
		s := newServer(t, WithClock(clock.Now), WithSeed(seed))
		createTable(t, s, TableSpec{Name: "users", HashKey: "pk", Shards: 3})
		var out []Change
		for i := range 20 {
			out = append(out, must(s.PutItem("users", richItem(fmt.Sprint("k", i%7), "1", i))))
		}
		return out
	}
	a, b, c := run(5), run(5), run(6)
	for i := range a {
		if !bytes.Equal(a[i].Record, b[i].Record) || a[i].ShardID != b[i].ShardID {
			t.Fatalf("change %d differs between runs with one seed:\n%s\n%s", i, a[i].Record, b[i].Record)
		}
		ra, rc := must(state.ParseRecord(a[i].Record)), must(state.ParseRecord(c[i].Record))
		if ra.EventID == rc.EventID {
			t.Fatalf("change %d: event ID %s under two seeds", i, ra.EventID)
		}
	}
}

// TestWireEncodings: the GetRecords bytes derived from the Lambda bytes equal a direct
// encoding of the GetRecords shape (the fallback), and differ from the Lambda bytes only
// in eventSourceARN and userIdentity.
func TestWireEncodings(t *testing.T) {
	a, b := richItem("a", "1", 1), richItem("a", "1", 2)
	for _, c := range []change{
		{eventName: "INSERT", newImage: a},
		{eventName: "MODIFY", newImage: b, oldImage: a},
		{eventName: "REMOVE", oldImage: b},
		{eventName: "REMOVE", oldImage: b, ttl: true},
		{eventName: "REMOVE", ttl: true},
	} {
		c.eventID, c.region, c.seq, c.viewType = "0123456789abcdef0123456789abcdef", "us-east-1", seqString(7), "NEW_AND_OLD_IMAGES"
		c.streamARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-25T09:39:42.123"
		c.created = newClock().Now()
		c.keys = Item{"pk": a["pk"], "sk": a["sk"]}
		lambda := must(c.lambda())
		derived, ok := c.wireFromLambda(lambda)
		direct := must(c.wire())
		if !ok || !bytes.Equal(derived, direct) {
			t.Errorf("%s ttl=%v:\nderived %s\n direct %s", c.eventName, c.ttl, derived, direct)
		}
		var w, l map[string]json.RawMessage
		if err := json.Unmarshal(direct, &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(lambda, &l); err != nil {
			t.Fatal(err)
		}
		if _, ok := w["eventSourceARN"]; ok || string(l["eventSourceARN"]) != strconv.Quote(c.streamARN) || !bytes.Equal(w["dynamodb"], l["dynamodb"]) {
			t.Errorf("wire %s\nlambda %s", direct, lambda)
		}
	}
	if _, ok := (&change{streamARN: "x"}).wireFromLambda([]byte(`{"eventID":"1"}`)); ok {
		t.Error("derived from bytes without eventSourceARN")
	}
}
