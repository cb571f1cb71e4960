package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/server/datarequests"
	"kibo/server/gdpr"
)

// The company's settings: its name (signing what Kibo sends customers by itself), and
// the time zone and rule data-request deadlines are counted by (server/datarequests).

// companySettings validates each setting the settings API exposes; a new setting is
// one more entry here.
var companySettings = map[string]struct {
	def      string
	validate func(string) error
}{
	datarequests.SettingTimezone: {"UTC", func(v string) error {
		if v == "" || v == "Local" {
			return errors.New("company_timezone must be an IANA time zone such as Europe/Berlin")
		}
		if _, err := time.LoadLocation(v); err != nil {
			return fmt.Errorf("company_timezone %q is not a time zone Kibo knows (use an IANA name such as Europe/Berlin)", v)
		}
		return nil
	}},
	datarequests.SettingRule: {string(gdpr.RuleEarlier), func(v string) error {
		if !gdpr.Rule(v).Valid() {
			return fmt.Errorf("data_request_rule must be %q, %q or %q", gdpr.RuleEarlier, gdpr.RuleMonth, gdpr.Rule30Days)
		}
		return nil
	}},
	// the name customers see on incident notices and automatic replies
	"company_name": {"Kibo", func(v string) error {
		if n := len(strings.TrimSpace(v)); n == 0 || n > 100 {
			return errors.New("company_name must be 1 to 100 characters")
		}
		return nil
	}},
}

func (s *Server) getCompanySettings(c *fiber.Ctx) error {
	keys := make([]string, 0, len(companySettings))
	for k := range companySettings {
		keys = append(keys, k)
	}
	v, err := s.store.Settings(c.UserContext(), keys...)
	if err != nil {
		return err
	}
	out := fiber.Map{}
	for k, def := range companySettings {
		out[k] = def.def
		if x, ok := v[k]; ok {
			out[k] = x
		}
	}
	out["data_request_rules"] = []gdpr.Rule{gdpr.RuleEarlier, gdpr.RuleMonth, gdpr.Rule30Days}
	return c.JSON(out)
}

func (s *Server) updateCompanySettings(c *fiber.Ctx) error {
	var body map[string]string
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	for k, v := range body {
		def, ok := companySettings[k]
		if !ok {
			return errBadRequest("%q is not a setting that can be changed here", k)
		}
		if err := def.validate(strings.TrimSpace(v)); err != nil {
			return errUnprocessable(err.Error())
		}
		body[k] = strings.TrimSpace(v)
	}
	if err := s.store.SetSettings(c.UserContext(), body, currentAgent(c).ID); err != nil {
		return err
	}
	return s.getCompanySettings(c)
}
