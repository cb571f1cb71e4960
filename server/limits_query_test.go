package server

import (
	"context"
	"fmt"
	"testing"
)

// No ?limit= means "everything": a negative, zero or garbage one is a 400, a huge one
// is cut to the route's most.
func TestListLimitsAreClamped(t *testing.T) {
	k := startKibo(t)
	ctx := context.Background()
	for i := range 510 {
		if err := k.st.Audit(ctx, "agent", k.admin.ID, "test.entry", "test", fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("l-1", "hello")["conversation_id"])
	routes := []struct {
		path, key string
		most      int
	}{
		{"/api/v1/audit", "audit", 500},
		{"/api/v1/conversations", "conversations", 200},
		{fmt.Sprintf("/api/v1/conversations/%d/messages", conv), "messages", 1000},
		{"/api/v1/data-requests", "data_requests", 1000},
		{"/api/v1/notifications", "notifications", 200},
		{"/api/v1/incidents", "incidents", 500},
	}
	for _, r := range routes {
		for _, bad := range []string{"-1", "0", "abc", "-99999999999999999999", "1e3"} {
			var e map[string]map[string]string
			k.api("GET", r.path+"?limit="+bad, k.adminToken, nil, &e, 400)
			if e["error"]["code"] != "bad_request" {
				t.Errorf("%s?limit=%s: %v", r.path, bad, e)
			}
		}
		for _, big := range []string{"100000", "99999999999999999999"} {
			var out map[string]any
			k.api("GET", r.path+"?limit="+big, k.adminToken, nil, &out, 200)
			if list, _ := out[r.key].([]any); len(list) > r.most {
				t.Errorf("%s?limit=%s: %d entries, more than %d", r.path, big, len(list), r.most)
			}
		}
	}
	var out struct {
		Audit []any `json:"audit"`
	}
	k.api("GET", "/api/v1/audit?limit=100000", k.adminToken, nil, &out, 200)
	if len(out.Audit) != 500 {
		t.Errorf("audit with a huge limit: %d entries, want the most, 500", len(out.Audit))
	}
	k.api("GET", "/api/v1/audit?limit=3", k.adminToken, nil, &out, 200)
	if len(out.Audit) != 3 {
		t.Errorf("audit?limit=3: %d entries", len(out.Audit))
	}
}
