package topology

// Topics lists every topic the pipeline creates, each once, in a stable order: per table
// its CDC topic, its compacted state topic (same partitions, so that a key's change
// and its state live on the same partition number) and its loop topic (records re-keyed
// to their item key), then the bridge's checkpoint topic when a dynamodb source exists,
// then the DLQ topics.
//
// A DLQ gets one partition: it carries few records, no key order matters there, and one
// partition reads back in arrival order for the person investigating. Raw topics a sink
// names are not listed: their producers (the collector, other clients) own them.
func (c *Config) Topics() []TopicSpec {
	var out []TopicSpec
	seen := map[string]bool{}
	add := func(t TopicSpec) {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	for _, t := range c.Tables {
		add(TopicSpec{Name: t.Topic, Partitions: t.Partitions, Purpose: PurposeCDC})
		add(TopicSpec{Name: t.TableTopic(), Partitions: t.Partitions, Compacted: true, Purpose: PurposeState})
		add(TopicSpec{Name: t.LoopTopic(), Partitions: t.Partitions, Purpose: PurposeLoop})
	}
	if c.BridgeOn() {
		add(TopicSpec{Name: c.Bridge.CheckpointTopic, Partitions: c.Bridge.Leases, Compacted: true, Purpose: PurposeCheckpoint})
	}
	add(TopicSpec{Name: c.Processor.DLQTopic, Partitions: defaultDLQPartitions, Purpose: PurposeDLQ})
	if c.Collector != nil {
		add(TopicSpec{Name: c.Collector.DLQTopic, Partitions: defaultDLQPartitions, Purpose: PurposeDLQ})
	}
	return out
}

// BridgeOn reports whether the topology has a bridge to run: a dynamodb source and the
// bridge not disabled.
func (c *Config) BridgeOn() bool {
	if !c.Bridge.On() {
		return false
	}
	for _, s := range c.Sources {
		if s.Type == SourceDynamoDB {
			return true
		}
	}
	return false
}
