package audit

import (
	"strconv"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// appendTrace writes the decision record's trace fields: received and
// filter, each only when set, so a record without them keeps its bytes.
func (r *Record) appendTrace(b []byte) []byte {
	if !r.Received.IsZero() {
		b = append(b, `,"received":"`...)
		b = r.Received.UTC().AppendFormat(b, TimeLayout)
		b = append(b, '"')
	}
	if len(r.Filter) > 0 {
		b = append(b, `,"filter":`...)
		b = appendData(b, r.Filter)
	}
	return b
}

// appendOutcome writes an outcome record: its type first, so a consumer
// that counts requests can skip it, then the identifiers it shares with
// the decision record, then the reply's status and the action's timing.
// Duration is in milliseconds, to the microsecond.
func (r *Record) appendOutcome(b []byte, ts time.Time) []byte {
	b = append(b, `{"type":"outcome","timestamp":"`...)
	b = ts.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","request_id":`...)
	b = protocol.AppendLossyString(b, r.RequestID)
	b = append(b, `,"caller":`...)
	b = protocol.AppendLossyString(b, r.Caller)
	b = append(b, `,"agent":`...)
	b = protocol.AppendLossyString(b, r.Agent)
	b = append(b, `,"action":`...)
	b = protocol.AppendLossyString(b, r.Action)
	b = append(b, `,"identity":`...)
	b = protocol.AppendLossyString(b, r.Identity)
	b = append(b, `,"signer":`...)
	b = protocol.AppendLossyString(b, r.Signer)
	b = append(b, `,"statuscode":`...)
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = append(b, `,"statusmsg":`...)
	b = protocol.AppendLossyString(b, r.StatusMsg)
	b = append(b, `,"started":"`...)
	b = r.Started.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', 3, 64)
	return append(b, '}')
}
