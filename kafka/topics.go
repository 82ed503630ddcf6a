package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhub/streamhub/topology"
)

// EnsureTopics creates the topics of specs that do not exist yet, with their
// partition count, the replication factor, min.insync.replicas = minISR and,
// for Compacted specs, cleanup.policy=compact. It returns the names it created.
//
// Existing topics are left alone, whatever their settings: changing a live
// topic's partitioning moves keys between partitions, and that is an
// operator's decision. Instead, an existing topic whose partition count
// differs from its spec, or a Compacted spec whose topic is not compacted,
// is reported in a *TopicMismatchError, after every missing topic was
// created. Callers that can live with that (log it as a warning) check for
// it with errors.As.
//
// replication or minISR <= 0 leaves the choice to the broker's defaults.
// Running EnsureTopics again creates nothing.
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs []topology.TopicSpec, replication, minISR int) (created []string, err error) {
	if replication > 0 && minISR > replication {
		return nil, fmt.Errorf("kafka: topics: min.insync.replicas %d is more than replication factor %d: no produce with acks=all could succeed", minISR, replication)
	}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		if s.Partitions <= 0 {
			return nil, fmt.Errorf("kafka: topic %s: %d partitions", s.Name, s.Partitions)
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return nil, nil
	}

	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("kafka: topics: list: %w", err)
	}
	var existing []topology.TopicSpec
	for _, s := range specs {
		d, ok := details[s.Name]
		switch {
		case ok && d.Err == nil:
			existing = append(existing, s)
			continue
		case ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return created, fmt.Errorf("kafka: topic %s: describe: %w", s.Name, d.Err)
		}
		// If another process creates the topic between our list and our
		// create, createTopic says so and we leave it unchecked: a
		// second listing could come from the client's metadata cache,
		// which still says the topic does not exist.
		ok, err := createTopic(ctx, adm, s, replication, minISR)
		if err != nil {
			return created, err
		}
		if ok {
			created = append(created, s.Name)
		}
	}
	if len(existing) == 0 {
		return created, nil
	}
	mismatch, err := checkTopics(ctx, adm, existing, details)
	if err != nil {
		return created, err
	}
	if len(mismatch.Problems) > 0 {
		return created, mismatch
	}
	return created, nil
}

// createTopic creates one topic; false (and no error) if it already exists.
func createTopic(ctx context.Context, adm *kadm.Client, s topology.TopicSpec, replication, minISR int) (bool, error) {
	configs := map[string]*string{}
	if minISR > 0 {
		configs["min.insync.replicas"] = kadm.StringPtr(strconv.Itoa(minISR))
	}
	if s.Compacted {
		configs["cleanup.policy"] = kadm.StringPtr("compact")
	}
	rf := int16(-1)
	if replication > 0 {
		rf = int16(replication)
	}
	resp, err := adm.CreateTopic(ctx, int32(s.Partitions), rf, configs, s.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return false, fmt.Errorf("kafka: topic %s: create with replication factor %d: %w — the cluster has fewer brokers (the embedded broker has one: kafka.replication_factor 1)", s.Name, replication, err)
	case err != nil:
		msg := ""
		if resp.ErrMessage != "" {
			msg = " (" + resp.ErrMessage + ")"
		}
		return false, fmt.Errorf("kafka: topic %s: create (%d partitions, replication %d): %w%s", s.Name, s.Partitions, replication, err, msg)
	}
	return true, nil
}

// checkTopics compares existing topics with their specs.
func checkTopics(ctx context.Context, adm *kadm.Client, specs []topology.TopicSpec, details kadm.TopicDetails) (*TopicMismatchError, error) {
	mismatch := new(TopicMismatchError)
	var compacted []string
	for _, s := range specs {
		d := details[s.Name]
		if d.Err != nil {
			return nil, fmt.Errorf("kafka: topic %s: describe: %w", s.Name, d.Err)
		}
		if got := len(d.Partitions); got != s.Partitions {
			mismatch.Problems = append(mismatch.Problems, TopicProblem{
				Topic:   s.Name,
				Problem: fmt.Sprintf("has %d partitions, the topology wants %d", got, s.Partitions),
			})
		}
		if s.Compacted {
			compacted = append(compacted, s.Name)
		}
	}
	if len(compacted) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, compacted...)
		if err != nil {
			return nil, fmt.Errorf("kafka: topics: describe configs: %w", err)
		}
		for _, name := range compacted {
			rc, err := rcs.On(name, nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				return nil, fmt.Errorf("kafka: topic %s: describe configs: %w", name, err)
			}
			if policy := cleanupPolicy(rc); !slices.Contains(strings.Split(policy, ","), "compact") {
				mismatch.Problems = append(mismatch.Problems, TopicProblem{
					Topic:   name,
					Problem: fmt.Sprintf("has cleanup.policy=%s, a state table needs compact: without it the broker deletes old state", policy),
				})
			}
		}
	}
	return mismatch, nil
}

// cleanupPolicy is a topic's effective cleanup.policy ("delete" when the
// broker reports none).
func cleanupPolicy(rc kadm.ResourceConfig) string {
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			return strings.ReplaceAll(*c.Value, " ", "")
		}
	}
	return "delete"
}

// TopicMismatchError lists existing topics whose settings differ from the
// topology. EnsureTopics leaves such topics alone.
type TopicMismatchError struct {
	Problems []TopicProblem
}

// TopicProblem is one setting of one topic that differs from the topology.
type TopicProblem struct {
	Topic   string
	Problem string
}

func (e *TopicMismatchError) Error() string {
	var b strings.Builder
	b.WriteString("kafka: existing topics differ from the topology (left unchanged):")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  topic %s %s", p.Topic, p.Problem)
	}
	return b.String()
}
