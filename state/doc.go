// Package state holds the CDC record model, DynamoDB AttributeValue → plain JSON, the
// version order and the state value codec.
//
// Two paths read a DynamoDB Streams record. ParseRecord builds the whole Record with its
// AttributeValue trees, for tools and tests. ParseChange, the processor's hot path, scans
// the record bytes once and writes the key, the version and the plain-JSON item directly,
// without building a tree. Both paths share one lexer, so they accept the same syntax, and
// both write plain JSON in one canonical form (object members sorted by name, strings
// escaped minimally, numbers with their exact digits), so they produce the same bytes.
package state
