package server

import (
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// routes is the one route table: every path the server answers, with its guard.
// routes_test.go says again who may call each route and calls every one anonymously,
// as an agent and as an admin: a route added here must be added there too.
func (s *Server) routes() {
	app := s.app
	app.Use(s.countRequests)
	// the expensive routes' two classes (limits.go): lists and search, which agents run
	// all day; reports, exports and bulk changes, long and rare
	lists, long := s.admit(s.listSlots), s.admit(s.longSlots)

	// public
	app.Get("/healthz", s.healthz)
	app.Get("/metrics", s.metricsPage)
	app.Get("/widget.js", s.widgetJS)
	app.Get("/static/:name", s.staticAsset)
	app.Get("/demo", s.demoPage)
	// a new widget socket takes a handshake slot until its welcome (limits.go)
	app.Get("/widget/ws", s.widgetUpgrade, websocket.New(s.widgetSocket, websocket.Config{ReadBufferSize: 2048, WriteBufferSize: 2048}))
	// why a widget's socket was refused: the chat isn't available on its page (widget_origin.go)
	app.Get("/widget/check", s.widgetCheck)
	app.Get("/login", s.loginPage)
	app.Post("/login", s.login)
	app.Post("/logout", s.logout)
	// the status page reads only the store: it works while mail and the site are down
	app.Get("/status", s.statusPage)
	app.Get("/status.json", s.statusJSON)

	// webhooks of the channels that take them (authenticated by the platform's
	// signature, checked by the channel: webhooks.go)
	app.Get("/webhooks/:kind/:inbox", s.webhook)
	app.Post("/webhooks/:kind/:inbox", s.webhook)

	// agent pages
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/inbox", fiber.StatusSeeOther) })
	app.Get("/inbox", s.requirePage, s.inboxPage)
	app.Get("/contacts/:id", s.requirePage, s.contactPage)
	app.Get("/settings", s.requirePage, s.settingsPage)
	app.Get("/data-requests", s.requirePage, s.dataRequestsPage)
	app.Get("/incidents", s.requirePage, s.incidentsPage)
	app.Get("/reports", s.requirePage, long, s.reportsPage)

	// agent API: every route needs a session or a token; admin routes say so. Routes
	// whose cost grows with the data also need a slot of their class (limits.go), so a
	// burst of them leaves cores to the chat. /counts is left out: every open inbox
	// page asks for it after each event, and at a million conversations it is a scan
	// of most of a second that would hold the list slots.
	api := app.Group("/api/v1", s.shed, s.requireAPI)
	api.Get("/me", s.me)
	api.Get("/counts", s.counts)
	api.Get("/tags", lists, s.tags)

	api.Get("/conversations", lists, s.listConversations)
	api.Get("/conversations/:id", s.getConversation)
	api.Patch("/conversations/:id", s.updateConversation)
	api.Delete("/conversations/:id", adminOnly, s.deleteConversation)
	// the same change or reply on many conversations at once
	api.Post("/conversations/bulk", long, s.bulkUpdateConversations)
	api.Post("/conversations/bulk-reply", long, s.bulkReply)
	api.Get("/conversations/:id/messages", s.listMessages)
	api.Post("/conversations/:id/messages", s.postMessage)
	api.Post("/conversations/:id/read", s.markRead)
	api.Post("/messages/:id/retry", s.retryMessage)
	api.Get("/attachments/:id", s.getAttachment)

	api.Get("/contacts", lists, s.listContacts)
	api.Get("/contacts/:id", s.getContact)
	api.Patch("/contacts/:id", s.updateContact)
	api.Post("/contacts/:id/merge", s.mergeContacts)

	api.Get("/agents", s.listAgents)
	api.Post("/agents", adminOnly, s.createAgent)
	api.Patch("/agents/:id", s.updateAgent) // admin, or an agent changing their own name/password

	api.Get("/inboxes", s.listInboxes)
	api.Get("/inboxes/:id", s.getInbox)
	api.Post("/inboxes", adminOnly, s.createInbox)
	api.Patch("/inboxes/:id", adminOnly, s.updateInbox)
	api.Post("/inboxes/:id/test", adminOnly, s.testInbox)
	api.Post("/inboxes/:id/identity-secret", adminOnly, s.rotateIdentitySecret) // a chat inbox's new secret, shown once

	api.Get("/tokens", s.listTokens)
	api.Post("/tokens", s.createToken)
	api.Delete("/tokens/:id", s.revokeToken)

	api.Get("/audit", adminOnly, lists, s.auditLog)

	// GDPR data requests, export and erasure, and the company settings deadlines use
	api.Get("/data-requests", lists, s.listDataRequests)
	api.Get("/data-requests/counts", s.countDataRequests)
	api.Post("/data-requests", s.createDataRequest)
	api.Get("/data-requests/:id", s.getDataRequest)
	api.Patch("/data-requests/:id", s.updateDataRequest)
	api.Get("/data-requests/:id/draft", s.draftDataRequestMessage)
	api.Get("/contacts/:id/export", long, s.exportContact)
	api.Post("/contacts/:id/erase", adminOnly, s.eraseContact)
	api.Get("/settings", s.getCompanySettings)
	api.Patch("/settings", adminOnly, s.updateCompanySettings)
	api.Get("/notifications", s.listNotifications)
	api.Post("/notifications/read", s.readNotifications)

	// incidents, SLAs, alerts and reports
	api.Get("/incidents", s.listIncidents)
	api.Post("/incidents", adminOnly, s.createIncident)
	api.Get("/incidents/:id", s.getIncident)
	api.Post("/incidents/:id/updates", adminOnly, s.addIncidentUpdate)
	api.Get("/sla", s.getSLA)
	api.Patch("/sla", adminOnly, s.patchSLA)
	api.Get("/alerts", s.listAlerts)
	api.Patch("/alerts", adminOnly, s.patchAlerts)
	api.Get("/reports", long, s.reportsJSON)

	api.Get("/ws", s.agentUpgrade, websocket.New(s.agentSocket))

	app.Use(func(c *fiber.Ctx) error { return errNotFound("no route for %s %s", c.Method(), c.Path()) })
}
