// Package kafka turns the topology's kafka section into sarama (goka) and
// franz-go clients, runs the embedded broker and administers topics. goka's
// processors consume with sarama and produce with franz-go
// (GokaProducerBuilder).
//
// Every client streamhub makes partitions keys like Kafka's Java client:
// murmur2(key) & 0x7fffffff % partitions (Partition). goka must be told so
// with Murmur2Hasher (WithHasher, WithViewHasher, WithEmitterHasher); sarama
// and franz-go get it from SaramaConfig and ClientOpts.
package kafka
