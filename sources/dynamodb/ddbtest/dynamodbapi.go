package ddbtest

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/streamhub/streamhub/state"
)

func tableNotFound(name string) *apiError {
	return notFound("Requested resource not found: Table: %s not found", name)
}

// apiTable finds a table for the DynamoDB API. Called with s.mu held.
func (s *Server) apiTable(name string) (*table, error) {
	if err := required("tableName", name); err != nil {
		return nil, err
	}
	t, ok := s.tables[name]
	if !ok {
		return nil, tableNotFound(name)
	}
	return t, nil
}

func (s *Server) describeTable(body []byte) ([]byte, error) {
	var in struct{ TableName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.apiTable(in.TableName)
	if err != nil {
		return nil, err
	}
	type attrDef struct{ AttributeName, AttributeType string }
	defs := []attrDef{{t.spec.HashKey, t.spec.HashKeyType}}
	if t.spec.RangeKey != "" {
		defs = append(defs, attrDef{t.spec.RangeKey, t.spec.RangeKeyType})
	}
	var size int64
	for _, it := range t.items {
		size += imageSize(it)
	}
	type streamSpec struct {
		StreamEnabled  bool
		StreamViewType string
	}
	type billing struct {
		BillingMode                       string
		LastUpdateToPayPerRequestDateTime json.Number
	}
	type tableJSON struct {
		AttributeDefinitions []attrDef
		BillingModeSummary   billing
		CreationDateTime     json.Number
		ItemCount            int
		KeySchema            []keyElement
		LatestStreamArn      string
		LatestStreamLabel    string
		StreamSpecification  streamSpec
		TableArn             string
		TableId              string
		TableName            string
		TableSizeBytes       int64
		TableStatus          string
	}
	created := state.EpochSeconds(t.created)
	out := tableJSON{
		AttributeDefinitions: defs,
		BillingModeSummary:   billing{"PAY_PER_REQUEST", created},
		CreationDateTime:     created,
		ItemCount:            len(t.items),
		KeySchema:            t.keySchema(),
		LatestStreamArn:      t.streamARN,
		LatestStreamLabel:    t.label,
		StreamSpecification:  streamSpec{true, t.spec.ViewType},
		TableArn:             t.arn,
		TableId:              tableID(t.arn),
		TableName:            t.spec.Name,
		TableSizeBytes:       size,
		TableStatus:          "ACTIVE",
	}
	return encode(&struct{ Table tableJSON }{out})
}

// tableID is a UUID-shaped table ID derived from the table ARN.
func tableID(arn string) string {
	h := eventID(0, arn, "table")
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) listTables(body []byte) ([]byte, error) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, 100)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out struct {
		TableNames             []string `json:"TableNames"`
		LastEvaluatedTableName string   `json:",omitempty"`
	}
	out.TableNames = []string{}
	for _, t := range s.order {
		if in.ExclusiveStartTableName != "" && t.spec.Name <= in.ExclusiveStartTableName {
			continue
		}
		out.TableNames = append(out.TableNames, t.spec.Name)
	}
	slices.Sort(out.TableNames)
	if len(out.TableNames) > limit {
		out.TableNames = out.TableNames[:limit]
		out.LastEvaluatedTableName = out.TableNames[limit-1]
	}
	return encode(&out)
}

// writeInput holds the members of PutItem and DeleteItem this server reads; the
// conditional ones are refused, not ignored.
type writeInput struct {
	TableName                   string
	Item                        Item
	Key                         Item
	ReturnValues                string
	ConditionExpression         string
	Expected                    json.RawMessage
	ConditionalOperator         string
	ExpressionAttributeNames    json.RawMessage
	ExpressionAttributeValues   json.RawMessage
	ReturnValuesOnConditionFail string
}

func (in *writeInput) check() error {
	if in.ConditionExpression != "" || len(in.Expected) > 0 || in.ConditionalOperator != "" ||
		len(in.ExpressionAttributeNames) > 0 || len(in.ExpressionAttributeValues) > 0 {
		return validation("ddbtest does not support condition expressions (ConditionExpression, Expected, ExpressionAttribute*)")
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return validation("Return values set to invalid value: %s; ddbtest supports NONE and ALL_OLD", in.ReturnValues)
}

// keyError turns a key or item check into a ValidationException.
func keyError(err error) error {
	var ke *errKey
	if errors.As(err, &ke) {
		return validation("%s", ke.msg)
	}
	return err
}

func attributesOut(old Item, existed bool, returnValues string) ([]byte, error) {
	if returnValues != "ALL_OLD" || !existed {
		return []byte("{}"), nil
	}
	b := []byte(`{"Attributes":`)
	b, err := appendImage(b, old)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func (s *Server) apiPutItem(body []byte) ([]byte, error) {
	var in writeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, required("item", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.apiTable(in.TableName)
	if err != nil {
		return nil, err
	}
	_, old, existed, err := s.put(t, in.Item)
	if err != nil {
		return nil, keyError(err)
	}
	return attributesOut(old, existed, in.ReturnValues)
}

func (s *Server) apiDeleteItem(body []byte) ([]byte, error) {
	var in writeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Key == nil {
		return nil, required("key", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.apiTable(in.TableName)
	if err != nil {
		return nil, err
	}
	_, old, existed, err := s.delete(t, in.Key, false)
	if err != nil {
		return nil, keyError(err)
	}
	return attributesOut(old, existed, in.ReturnValues)
}

func (s *Server) apiGetItem(body []byte) ([]byte, error) {
	var in struct {
		TableName                string
		Key                      Item
		ConsistentRead           *bool
		AttributesToGet          []string
		ProjectionExpression     string
		ExpressionAttributeNames json.RawMessage
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ProjectionExpression != "" || len(in.ExpressionAttributeNames) > 0 {
		return nil, validation("ddbtest does not support ProjectionExpression; use AttributesToGet")
	}
	if in.Key == nil {
		return nil, required("key", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.apiTable(in.TableName)
	if err != nil {
		return nil, err
	}
	id, _, err := t.itemKey(in.Key, true)
	if err != nil {
		return nil, keyError(err)
	}
	it, ok := t.items[id]
	if !ok {
		return []byte("{}"), nil
	}
	if in.AttributesToGet != nil {
		sub := Item{}
		for _, name := range in.AttributesToGet {
			if av, ok := it[name]; ok {
				sub[name] = av
			}
		}
		it = sub
	}
	b, err := appendImage([]byte(`{"Item":`), it)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}
