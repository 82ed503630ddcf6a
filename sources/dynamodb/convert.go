package dynamodb

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

// Record fields AWS leaves implicit in GetRecords but Lambda's event carries. A polled
// record gets them so that both paths write the same bytes.
const (
	eventSourceDynamoDB = "aws:dynamodb"
)

// toRecord turns one GetRecords record into the shape Lambda receives: the same fields,
// plus the stream ARN as eventSourceARN (GetRecords leaves it out; Lambda adds it).
// ApproximateCreationDateTime becomes epoch seconds via state.EpochSeconds, the one
// formatting both bridge modes use.
func toRecord(r types.Record, streamARN string) (*state.Record, error) {
	out := &state.Record{
		EventID:        deref(r.EventID),
		EventName:      string(r.EventName),
		EventVersion:   deref(r.EventVersion),
		EventSource:    deref(r.EventSource),
		AWSRegion:      deref(r.AwsRegion),
		EventSourceARN: streamARN,
	}
	if out.EventSource == "" {
		out.EventSource = eventSourceDynamoDB
	}
	if u := r.UserIdentity; u != nil {
		out.UserIdentity = &state.UserIdentity{Type: deref(u.Type), PrincipalID: deref(u.PrincipalId)}
	}
	d := r.Dynamodb
	if d == nil {
		return nil, fmt.Errorf("record %s has no dynamodb part", out.EventID)
	}
	if d.ApproximateCreationDateTime != nil {
		out.DynamoDB.ApproximateCreationDateTime = state.EpochSeconds(*d.ApproximateCreationDateTime)
	}
	out.DynamoDB.SequenceNumber = deref(d.SequenceNumber)
	if d.SizeBytes != nil {
		out.DynamoDB.SizeBytes = *d.SizeBytes
	}
	out.DynamoDB.StreamViewType = string(d.StreamViewType)
	var err error
	if out.DynamoDB.Keys, err = toImage(d.Keys); err != nil {
		return nil, fmt.Errorf("dynamodb.Keys: %w", err)
	}
	if out.DynamoDB.NewImage, err = toImage(d.NewImage); err != nil {
		return nil, fmt.Errorf("dynamodb.NewImage: %w", err)
	}
	if out.DynamoDB.OldImage, err = toImage(d.OldImage); err != nil {
		return nil, fmt.Errorf("dynamodb.OldImage: %w", err)
	}
	return out, nil
}

func toImage(m map[string]types.AttributeValue) (map[string]state.AttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]state.AttributeValue, len(m))
	for name, av := range m {
		v, err := toAttr(av)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func toAttr(av types.AttributeValue) (state.AttributeValue, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return state.StringValue(v.Value), nil
	case *types.AttributeValueMemberN:
		return state.NumberValue(v.Value), nil
	case *types.AttributeValueMemberB:
		return state.BinaryValue(v.Value), nil
	case *types.AttributeValueMemberBOOL:
		return state.BoolValue(v.Value), nil
	case *types.AttributeValueMemberNULL:
		return state.NullValue(), nil
	case *types.AttributeValueMemberSS:
		return state.StringSetValue(v.Value...), nil
	case *types.AttributeValueMemberNS:
		return state.NumberSetValue(v.Value...), nil
	case *types.AttributeValueMemberBS:
		return state.BinarySetValue(v.Value...), nil
	case *types.AttributeValueMemberL:
		l := make([]state.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			x, err := toAttr(e)
			if err != nil {
				return state.AttributeValue{}, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = x
		}
		return state.ListValue(l...), nil
	case *types.AttributeValueMemberM:
		m, err := toImage(v.Value)
		if err != nil {
			return state.AttributeValue{}, err
		}
		return state.MapValue(m), nil
	case nil:
		return state.AttributeValue{}, fmt.Errorf("missing value")
	default:
		// A type added to DynamoDB after this SDK version arrives as *types.UnknownUnionMember.
		return state.AttributeValue{}, fmt.Errorf("unknown attribute value type %T", av)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
