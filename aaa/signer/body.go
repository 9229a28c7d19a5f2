package signer

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"sync"
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

// parseSignBody decodes the shape every client sends: one JSON object
// whose members are exactly "token", "request" and "signature", each a
// string of printable ASCII without escapes, with JSON whitespace around
// the tokens. It reports false for anything else (other or differently
// cased keys, escapes, non-ASCII, null, trailing data, invalid JSON), and
// the caller then uses encoding/json; when it reports true the result is
// the one json.Unmarshal gives (FuzzParseSignBody holds it to that).
func parseSignBody(data []byte, out *signBody) bool {
	var b signBody
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		*out = b
		return skipWS(data, i+1) == len(data)
	}
	for {
		key, j, ok := plainString(data, i)
		if !ok {
			return false
		}
		i = skipWS(data, j)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		val, j, ok := plainString(data, skipWS(data, i+1))
		if !ok {
			return false
		}
		switch string(key) {
		case "token":
			b.Token = string(val)
		case "request":
			b.Request = string(val)
		case "signature":
			b.Signature = string(val)
		default:
			return false
		}
		i = skipWS(data, j)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			*out = b
			return skipWS(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// plainString reads a JSON string at data[i] made only of printable
// ASCII other than '"' and '\\', and returns its content and the index
// after the closing quote.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
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
