package pipeline

import (
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/topology"
)

// buildCollector builds the HTTP collector and, for collector.input_topics, the events
// processor; both share one set of collector metrics.
func (p *Pipeline) buildCollector(cfg *topology.Config, instance string) error {
	c, err := collector.New(collector.Options{
		Config: cfg, Conn: p.conn, InstanceID: instance, Registry: p.Registry, Gatherer: p.Registry, Logger: p.log,
	})
	if err != nil {
		return err
	}
	p.Collector = c
	if len(cfg.Collector.InputTopics) > 0 {
		ev, err := processors.NewEvents(processors.EventsOptions{
			Config: cfg, Conn: p.conn, InstanceID: instance, Metrics: c.Metrics(), Logger: p.log,
		})
		if err != nil {
			return err
		}
		p.Events = ev
	}
	return nil
}
