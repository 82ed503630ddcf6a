package processors

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"

	"github.com/streamhub/streamhub/kafka"
)

// gokaOptions are the processor options every streamhub processor shares: sarama settings
// from the topology for the consumers (oldest offset, read committed), franz-go for the
// producer (acks=all, idempotence; kafka.GokaProducerBuilder says why), and Kafka's
// murmur2 partitioning, so topics written by any standard client are read in the right
// partition (DESIGN.md, "Libraries").
func gokaOptions(conn *kafka.Conn, clientID string, log *slog.Logger) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithClientID(clientID),
		goka.WithHasher(kafka.Murmur2Hasher),
		goka.WithLogger(gokaLogger{log}),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(conn.Sarama(), kafka.GokaTopicManagerConfig(conn.Kafka()))),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(conn.Sarama())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithProducerBuilder(kafka.GokaProducerBuilder(conn)),
	}
}

// ViewOptions are the goka view options matching gokaOptions, for readers of a group table.
func ViewOptions(conn *kafka.Conn, clientID string, log *slog.Logger) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewClientID(clientID),
		goka.WithViewHasher(kafka.Murmur2Hasher),
		goka.WithViewLogger(gokaLogger{log}),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(conn.Sarama(), kafka.GokaTopicManagerConfig(conn.Kafka()))),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithViewAutoReconnect(),
	}
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
