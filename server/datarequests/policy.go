// Package datarequests follows up GDPR data requests against their legal deadline: it
// spots a likely request in each inbound message (a follow-up step, server/followups)
// and suggests it with its due date, and it alerts the assignee, or the admins, before
// the date and once it has passed. The law lives in server/gdpr, the SQL in store;
// this package puts the clock, the company's time zone and the team between them. The
// HTTP handlers (server/api_datarequests.go) read the same Policy.
package datarequests

import (
	"context"
	"time"
	_ "time/tzdata" // company time zones work on a machine without a zoneinfo database

	"kibo/server/gdpr"
	"kibo/store"
)

// Company settings the deadlines depend on.
const (
	SettingTimezone = "company_timezone"
	SettingRule     = "data_request_rule"
)

// Policy is how the company counts deadlines: in its time zone, by its rule.
type Policy struct {
	Loc  *time.Location
	Rule gdpr.Rule
}

// LoadPolicy reads the company's policy; UTC and the earlier-of rule until set.
func LoadPolicy(ctx context.Context, st *store.Store) (Policy, error) {
	v, err := st.Settings(ctx, SettingTimezone, SettingRule)
	if err != nil {
		return Policy{}, err
	}
	p := Policy{Loc: time.UTC, Rule: gdpr.RuleEarlier}
	if z := v[SettingTimezone]; z != "" {
		if loc, err := time.LoadLocation(z); err == nil {
			p.Loc = loc
		}
	}
	if r := gdpr.Rule(v[SettingRule]); r.Valid() {
		p.Rule = r
	}
	return p, nil
}

// WithDaysLeft fills the days left until a request is due, in the company's calendar.
func (p Policy) WithDaysLeft(dr *store.DataRequest, now time.Time) *store.DataRequest {
	if dr != nil && !dr.Closed() {
		d := gdpr.DaysLeft(dr.EffectiveDueAt, now, p.Loc)
		dr.DaysLeft = &d
	}
	return dr
}

// Date writes a due date as the company reads it: the day in its time zone.
func (p Policy) Date(t time.Time) string {
	return t.In(p.Loc).Format("2 January 2006") + " (" + p.Loc.String() + ")"
}
