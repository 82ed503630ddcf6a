package processors

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"

	"github.com/streamhub/streamhub/kafka"
)

// gokaOptions are the processor options every streamhub processor shares: sarama settings
// from the topology (oldest offset, read committed, acks=all, idempotence) and Kafka's
// murmur2 partitioning, so topics written by any standard client are read in the right
// partition (DESIGN.md, "Libraries").
func gokaOptions(conn *kafka.Conn, replication int, clientID string, log *slog.Logger) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithClientID(clientID),
		goka.WithHasher(kafka.Murmur2Hasher),
		goka.WithLogger(gokaLogger{log}),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(conn.Sarama(), topicManagerConfig(replication, log))),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(conn.Sarama())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(conn.Sarama())),
	}
}

// ViewOptions are the goka view options matching gokaOptions, for readers of a group table.
func ViewOptions(conn *kafka.Conn, replication int, clientID string, log *slog.Logger) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewClientID(clientID),
		goka.WithViewHasher(kafka.Murmur2Hasher),
		goka.WithViewLogger(gokaLogger{log}),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(conn.Sarama(), topicManagerConfig(replication, log))),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithViewAutoReconnect(),
	}
}

func topicManagerConfig(replication int, log *slog.Logger) *goka.TopicManagerConfig {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = replication
	tmc.Stream.Replication = replication
	// streamhub creates its topics itself (topology apply); goka would only warn that the loop
	// topic keeps records 7 days instead of its 1 hour, which is deliberate: a processor down
	// for more than an hour must not lose re-keyed records.
	tmc.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	return tmc
}

// gokaLogger sends goka's logs to slog. goka narrates every rebalance at Printf level;
// that is debug detail for us, but its errors are not.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(args ...any)   { l.emit(fmt.Sprint(args...)) }
func (l gokaLogger) Println(args ...any) { l.emit(fmt.Sprint(args...)) }
func (l gokaLogger) Printf(format string, args ...any) {
	l.emit(fmt.Sprintf(format, args...))
}

func (l gokaLogger) emit(msg string) {
	msg = strings.TrimSpace(msg)
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "error") || strings.Contains(lower, "fail") {
		l.log.Warn("goka: " + msg)
		return
	}
	l.log.Debug("goka: " + msg)
}
