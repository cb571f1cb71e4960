// Package gdpr holds Kibo's domain logic for data-subject requests: when a request
// is due, whether it may be extended, which deadline alerts to send, how to spot a
// likely request in an inbound message, and the messages Kibo drafts for the customer.
//
// Article 12(3) GDPR gives a company one month from receipt to answer, extendable by
// two further months if the person is told why within that first month. Because a
// missed deadline is a breach and an early answer is not, every date here errs on the
// early side: the default rule is the earlier of 30 days and one calendar month, the
// due moment is the end of the due day in the company's time zone (never the next
// working day, which the EDPB would allow), and an extension counts from the one-month
// date, not from the three-month date after receipt.
//
// The package knows nothing of SQL or HTTP; callers pass the clock in.
package gdpr
