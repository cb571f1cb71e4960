package server

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// metrics are counters for /metrics in the Prometheus text format.
type metrics struct {
	requests atomic.Int64
	ingested atomic.Int64
	sent     atomic.Int64
	failed   atomic.Int64
	shed     atomic.Int64
	dropped  atomic.Int64
}

func newMetrics() *metrics { return &metrics{} }

func (s *Server) countRequests(c *fiber.Ctx) error {
	s.metrics.requests.Add(1)
	return c.Next()
}

func (s *Server) metricsPage(c *fiber.Ctx) error {
	var b strings.Builder
	m := s.metrics
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	line := func(name, help, typ string, v any) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	line("kibo_http_requests_total", "HTTP requests served.", "counter", m.requests.Load())
	line("kibo_messages_ingested_total", "Inbound messages stored (re-deliveries included).", "counter", m.ingested.Load())
	line("kibo_outbox_sent_total", "Outbound messages a channel took.", "counter", m.sent.Load())
	line("kibo_outbox_failed_total", "Outbound messages refused for good.", "counter", m.failed.Load())
	line("kibo_events_dropped_total", "Inbound-message events dropped because the publisher was far behind (pages resync).", "counter", m.dropped.Load())
	line("kibo_requests_shed_total", "Requests refused with 503 under load.", "counter", m.shed.Load())
	line("kibo_widget_connections", "Open widget sockets.", "gauge", s.chat.Connections())
	line("kibo_agent_connections", "Open agent pages.", "gauge", s.hub.Subscribers())
	line("kibo_event_seq", "Last real-time event seq.", "gauge", s.hub.Current())
	line("kibo_store_queries_total", "SQL statements run.", "counter", s.store.QueryCount())
	line("go_goroutines", "Goroutines.", "gauge", runtime.NumGoroutine())
	line("go_memstats_heap_inuse_bytes", "Heap in use.", "gauge", ms.HeapInuse)
	line("kibo_followups_done_total", "Inbound messages whose follow-up work (data-request detection, SLA, incident auto-reply) is done.", "counter", s.followups.Done())
	line("kibo_followups_failed_total", "Failed attempts at follow-up work (each is retried).", "counter", s.followups.Failed())
	if fb, err := s.store.FollowupBacklog(c.UserContext()); err == nil {
		line("kibo_followups_pending", "Inbound messages whose follow-up work is not done yet.", "gauge", fb.Pending)
		line("kibo_followups_retrying", "Pending follow-ups that failed at least once.", "gauge", fb.Retrying)
		age := 0.0
		if !fb.Oldest.IsZero() {
			age = s.cfg.Now().Sub(fb.Oldest).Seconds()
		}
		line("kibo_followups_oldest_seconds", "Age of the oldest pending follow-up.", "gauge", fmt.Sprintf("%.3f", age))
	}
	if st, err := s.store.OutboxStats(c.UserContext()); err == nil {
		b.WriteString("# HELP kibo_outbox Outbox rows by state.\n# TYPE kibo_outbox gauge\n")
		for _, k := range []string{"pending", "sending", "sent", "failed"} {
			fmt.Fprintf(&b, "kibo_outbox{state=%q} %d\n", k, st[k])
		}
	}
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.SendString(b.String())
}
