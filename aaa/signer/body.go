package signer

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// Request and response bodies of the sign endpoint, on its hot path:
// bodies are read into pooled buffers, the usual sign body shape is
// decoded without reflection (anything else goes to encoding/json, so
// the outcome never differs), and the answer is written in one piece
// with its length.

// maxPooledBuf is the largest buffer returned to the pool; a rare large
// body does not pin its memory.
const maxPooledBuf = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// readAllInto appends everything r yields to buf, growing it to hint
// first (the Content-Length, when known and within limits).
func readAllInto(buf []byte, r io.Reader, hint int64) ([]byte, error) {
	if hint > 0 && hint <= maxBody {
		buf = growCap(buf, int(hint)+1) // +1: the read that sees EOF
	}
	for {
		if len(buf) == cap(buf) {
			buf = growCap(buf, 2*cap(buf)+512)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func growCap(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// parseSignBody decodes a sign body with the v1 decoders' scanner
// (protocol.Scanner): the three string members, white space, escapes and
// keys the body does not use as encoding/json reads them. It reports
// false for anything the scanner is not certain encoding/json would
// decode the same way (a key in another case or twice, null, invalid
// UTF-8, trailing data, invalid JSON), and the caller then uses
// encoding/json; when it reports true the result is the one
// json.Unmarshal gives (FuzzParseSignBody holds it to that).
func parseSignBody(data []byte, out *signBody) bool {
	var b signBody
	s := protocol.NewScanner(data)
	if !s.Fields(
		protocol.Field{Key: "token", Decode: func() (ok bool) { b.Token, ok = s.String(); return ok }},
		protocol.Field{Key: "request", Decode: func() (ok bool) { b.Request, ok = s.String(); return ok }},
		protocol.Field{Key: "signature", Decode: func() (ok bool) { b.Signature, ok = s.String(); return ok }},
		protocol.Field{Key: "approval_id", Decode: func() (ok bool) { b.ApprovalID, ok = s.String(); return ok }},
	) || !s.End() {
		return false
	}
	*out = b
	return true
}

// secureAnswerPrefix and secureAnswerSuffix frame the base64 secure
// request exactly as json.Encoder writes map[string]string{"secure_request": …}.
const (
	secureAnswerPrefix = `{"secure_request":"`
	secureAnswerSuffix = "\"}\n"
)

// writeSecureAnswer writes the allowed answer in one Write, with its
// Content-Length. Base64 needs no JSON escaping.
func writeSecureAnswer(w http.ResponseWriter, secure []byte) {
	bp := getBuf()
	defer putBuf(bp)
	n := len(secureAnswerPrefix) + base64.StdEncoding.EncodedLen(len(secure)) + len(secureAnswerSuffix)
	b := growCap((*bp)[:0], n)
	b = append(b, secureAnswerPrefix...)
	b = base64.StdEncoding.AppendEncode(b, secure)
	b = append(b, secureAnswerSuffix...)
	*bp = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// isBlank reports whether data is empty or only white space.
func isBlank(data []byte) bool { return len(bytes.TrimSpace(data)) == 0 }
