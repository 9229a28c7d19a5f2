// Package audit writes the node's audit log: one JSON record per
// authorization decision, allowed or denied, before the action runs
// (docs/actionpolicy.md §4).
//
// Record is Choria's audit record (eight fields, order and types kept so
// existing log shippers keep working) plus tutti's decision fields. Its
// AppendJSON is a hand-written encoder that reuses the caller's buffer.
//
// File appends records to a file that stays open. Each record is one
// complete line handed to the kernel in a single write(2) on an O_APPEND
// descriptor, so concurrent writers, including other processes, never
// interleave or tear lines. Reopen (SIGHUP, logrotate postrotate) reopens
// the path; a file renamed or removed underneath is also noticed on its
// own, checked at most once per second. Write errors are returned, so the
// caller can refuse the request when plugin.tutti.audit.required is set,
// and logged at Error level.
package audit
