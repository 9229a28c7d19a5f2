package protocol

import "strings"

// A node that will not run a verified request now, for load, answers
// status Aborted with a statusmsg that starts with one of these (a
// full request queue or an agent at its concurrency cap: BusyMsgPrefix;
// a caller over its rate limit: RateLimitedMsgPrefix). Such a refusal
// says nothing about the request itself: sent again later, or to fewer
// nodes at once, it may run.
const (
	BusyMsgPrefix        = "node busy"
	RateLimitedMsgPrefix = "rate limited"
)

// IsLoadRefusal reports whether a reply with code and msg is a node's
// refusal for load (BusyMsgPrefix or RateLimitedMsgPrefix).
func IsLoadRefusal(code StatusCode, msg string) bool {
	return code == Aborted && (strings.HasPrefix(msg, BusyMsgPrefix) || strings.HasPrefix(msg, RateLimitedMsgPrefix))
}
