// Package audit is tutti's one audit stack, used by the node (one record
// per authorization decision, before the action runs, and an outcome
// record after an action ran; docs/operations.md)
// and by tutti-aaa (one record per signing decision; docs/central-aaa.md).
//
// An Auditor takes an Entry: anything that encodes itself as one JSON
// object. Record is the node's: Choria's audit record (eight fields,
// order and types kept so existing log shippers keep working) plus
// tutti's decision fields, written by a hand-written encoder that reuses
// the caller's buffer. tutti-aaa's record (aaa/signer.AuditRecord) is
// aaasvc's shape. Both shapes are wire contracts held by golden tests.
//
// File appends records to a file that stays open, created with the
// configured mode (0600 by default, whatever the umask) and group. Each
// record is a complete line, and lines reach the kernel whole, in
// write(2) calls on an O_APPEND descriptor, so concurrent writers,
// including other processes, never interleave or tear lines. While one
// caller writes, the records of the others collect and go in the next
// write, and every Audit returns only once the write holding its own
// line is done, with that write's error (there is no fsync: a machine
// crash can lose what the kernel had not flushed, a process crash
// cannot). Reopen (SIGHUP, logrotate postrotate) reopens the path; a
// file renamed or removed underneath is also noticed on its own, checked
// at most once per second, and a failed write reopens the path before
// the next one. Write errors are returned, and logged at Error level.
//
// JetStream publishes each record to a subject captured by a stream and
// waits for the stream's acknowledgement, over a connection with its own
// inbox prefix (a tutti broker lets a privileged certificate receive
// acknowledgements only under its own).
//
// DecodeEvent reads any of these records back into one Event, the view
// tutti audit show and tail join on the request id and the signer's
// name.
//
// Spool puts a durable local queue in front of JetStream. Audit appends
// the record to a segment file (group commit: callers arriving during a
// write share the next one) and returns once it is written, so a record
// is on disk before the action it records runs and a kill -9 loses
// nothing Audit returned nil for. The fsync policy is
// SpoolConfig.FsyncInterval: 0 fsyncs each write before Audit returns (a
// power loss loses nothing either); an interval fsyncs the records
// still undelivered at most that long after they were written (a power
// loss can lose the undelivered records of the last interval). A
// deliverer goroutine publishes the records in order, with Nats-Msg-Id =
// hex SHA-256 of the line (a record sent again, after a lost
// acknowledgement or a restart, is stored once within the stream's
// duplicate window), and drops them once acknowledged; while
// the stream is unreachable records queue on disk, bounded by
// SpoolConfig.MaxBytes, past which Audit fails with ErrSpoolFull.
// Segments are length + CRC-32C framed lines; a torn tail is cut off on
// open.
//
// Multi sends each record to several auditors. No auditor drops a
// record silently: the caller gets the error and decides (the node
// refuses the action unless plugin.tutti.audit.required = false;
// tutti-aaa refuses to sign).
package audit
