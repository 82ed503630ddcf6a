package kafka

import (
	"github.com/lovoo/goka"

	"github.com/streamhub/streamhub/topology"
)

// GokaTopicManagerConfig is goka's topic manager configuration with the
// topology's replication factor. goka's default (2) is refused by a
// one-broker cluster such as the embedded broker. Use it as
//
//	goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(saramaCfg, kafka.GokaTopicManagerConfig(k)))
//
// Better still, create every topic first with EnsureTopics, so goka only
// checks them.
func GokaTopicManagerConfig(k topology.Kafka) *goka.TopicManagerConfig {
	tm := goka.NewTopicManagerConfig()
	if k.ReplicationFactor > 0 {
		tm.Table.Replication = k.ReplicationFactor
		tm.Stream.Replication = k.ReplicationFactor
	}
	// streamhub creates its topics itself (topology apply); goka would only warn that the
	// loop topic keeps records 7 days instead of its 1 hour, which is deliberate: a
	// processor down for more than an hour must not lose re-keyed records.
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	return tm
}
