package loadkit

import (
	"fmt"
	"strings"
)

// Check is the verdict on what visitors wrote against what the store holds.
type Check struct {
	Written    int `json:"written"`     // messages the visitors made
	Acked      int `json:"acked"`       // acknowledged (or seen committed in the history)
	Unacked    int `json:"unacked"`     // never acknowledged: allowed to be stored or not
	Stored     int `json:"stored"`      // distinct client_ids of this run found in the store
	Lost       int `json:"lost"`        // acknowledged but not stored
	Duplicated int `json:"duplicated"`  // stored more than once
	WrongText  int `json:"wrong_text"`  // stored under the client_id with another text
	Foreign    int `json:"foreign_ids"` // client_ids of this run nobody wrote
}

// OK is true when nothing acknowledged is lost and nothing is duplicated.
func (c Check) OK() bool {
	return c.Lost == 0 && c.Duplicated == 0 && c.WrongText == 0 && c.Foreign == 0
}

func (c Check) String() string {
	return fmt.Sprintf("written %d, acked %d, unacked %d, stored %d: lost %d, duplicated %d, wrong text %d, foreign %d",
		c.Written, c.Acked, c.Unacked, c.Stored, c.Lost, c.Duplicated, c.WrongText, c.Foreign)
}

// Verify compares the messages of a run (client_ids starting with runID) with what
// the store holds.
func Verify(runID string, written []MessageState, stored []StoredMessage) Check {
	var c Check
	count := map[string]int{}
	text := map[string]string{}
	for _, m := range stored {
		if !strings.HasPrefix(m.ClientID, runID+"-") {
			continue
		}
		count[m.ClientID]++
		text[m.ClientID] = m.Text
	}
	byCID := map[string]bool{}
	for _, m := range written {
		byCID[m.CID] = true
		c.Written++
		if m.Acked {
			c.Acked++
			if count[m.CID] == 0 {
				c.Lost++
			}
		} else {
			c.Unacked++
		}
		if n := count[m.CID]; n > 1 {
			c.Duplicated++
		}
		if n := count[m.CID]; n > 0 && text[m.CID] != m.Text {
			c.WrongText++
		}
	}
	for cid := range count {
		c.Stored++
		if !byCID[cid] {
			c.Foreign++
		}
	}
	return c
}
