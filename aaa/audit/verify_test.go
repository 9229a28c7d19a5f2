package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
)

// sealedChain writes 6 records with a checkpoint after every 3 (seq 4
// and 8) and returns the lines.
func sealedChain(t *testing.T, pki *chainPKI, writer, signerName string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	c := newTestChain(t, dir, ChainConfig{Writer: writer, Signer: pki.signer(t, signerName), Interval: -1, Records: 3})
	auditN(t, c, 1, 6)
	_ = c.Close()
	lines := rawLines(t, filepath.Join(dir, "audit.log"))
	if len(lines) != 8 {
		t.Fatalf("got %d lines, want 8", len(lines))
	}
	return lines
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = bytes.Clone(l)
	}
	return out
}

func TestVerifyFindsTampering(t *testing.T) {
	pki := newChainPKI(t)
	good := sealedChain(t, pki, "node1", "node1")
	tests := []struct {
		name   string
		tamper func([][]byte) [][]byte
		kind   string
		line   int
	}{
		{"edited record", func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`"req-2"`), []byte(`"req-X"`), 1)
			return l
		}, ProblemBroken, 3},
		{"deleted record", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }, ProblemMissing, 3},
		{"reordered records", func(l [][]byte) [][]byte { l[1], l[2] = l[2], l[1]; return l }, ProblemMissing, 2},
		{"duplicated record", func(l [][]byte) [][]byte {
			return append(l[:3], append([][]byte{l[2]}, l[3:]...)...)
		}, ProblemDuplicate, 4},
		{"forged checkpoint signature", func(l [][]byte) [][]byte {
			l[3] = forgeSignature(t, l[3])
			return l
		}, ProblemSignature, 4},
		{"checkpoint fields added after the signature", func(l [][]byte) [][]byte {
			l[3] = append(bytes.TrimSuffix(l[3], []byte("}")), `,"seq":99}`...)
			return l
		}, ProblemMalformed, 4},
		{"garbage line", func(l [][]byte) [][]byte {
			return append(l[:1], append([][]byte{[]byte("not json")}, l[1:]...)...)
		}, ProblemMalformed, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verifyLines(t, pki.verifier, tt.tamper(clone(good)))
			if rep.OK() {
				t.Fatal("tampering not found")
			}
			if p := rep.Problems[0]; p.Kind != tt.kind || p.Line != tt.line {
				t.Fatalf("first problem %s, want %s at line %d (all: %v)", p, tt.kind, tt.line, rep.Problems)
			}
		})
	}
	if rep := verifyLines(t, pki.verifier, good); !rep.OK() || rep.Writers[0].Checkpoints != 2 {
		t.Fatalf("untouched chain: %+v", rep)
	}
}

// forgeSignature replaces a checkpoint's signature with one of the same
// length over other bytes.
func forgeSignature(t *testing.T, line []byte) []byte {
	t.Helper()
	l, err := DecodeLink(line)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(l.Signature)
	sig[len(sig)/2] ^= 0xff
	return bytes.Replace(line, []byte(l.Signature), []byte(base64.StdEncoding.EncodeToString(sig)), 1)
}

func TestVerifyCheckpointByAnotherWriter(t *testing.T) {
	pki := newChainPKI(t)
	lines := sealedChain(t, pki, "node1", "node2")
	rep := verifyLines(t, pki.verifier, lines)
	if rep.OK() || rep.Problems[0].Kind != ProblemSignature || !strings.Contains(rep.Problems[0].Message, "node2") {
		t.Fatalf("a checkpoint by node2's certificate for node1's chain: %v", rep.Problems)
	}
	if rep.Writers[0].Checkpoints != 0 || rep.Writers[0].Unprotected != 8 {
		t.Fatalf("writer report %+v", rep.Writers[0])
	}
}

func TestVerifyCheckpointFromAnotherCA(t *testing.T) {
	pki, other := newChainPKI(t), newChainPKI(t)
	rep := verifyLines(t, other.verifier, sealedChain(t, pki, "node1", "node1"))
	if rep.OK() || rep.Problems[0].Kind != ProblemSignature {
		t.Fatalf("a checkpoint by a certificate of another CA: %v", rep.Problems)
	}
}

func TestVerifyReportsUnprotectedTail(t *testing.T) {
	pki := newChainPKI(t)
	good := sealedChain(t, pki, "node1", "node1")
	rep := verifyLines(t, pki.verifier, good[:6]) // the last checkpoint and a record cut off
	w := rep.Writers[0]
	if !rep.OK() || w.LastCheckpoint != 4 || w.Unprotected != 2 || w.LastSeq != 6 {
		t.Fatalf("truncated tail: %+v %v", w, rep.Problems)
	}
}

func TestVerifyKeepsWritersApart(t *testing.T) {
	pki := newChainPKI(t)
	a, b := sealedChain(t, pki, "node1", "node1"), sealedChain(t, pki, "node2", "node2")
	var mixed [][]byte
	for i := range a {
		mixed = append(mixed, a[i], b[i])
	}
	rep := verifyLines(t, pki.verifier, mixed)
	if !rep.OK() || len(rep.Writers) != 2 || rep.Writers[1].Writer != "node2" || rep.Writers[1].Checkpoints != 2 {
		t.Fatalf("interleaved writers: %+v", rep)
	}
}

// A chain whose oldest records are gone (deleted, or purged by the
// stream's retention) is reported, naming the missing range, unless the
// auditor allows a purged head: then it verifies from its first record.
func TestVerifyMissingHead(t *testing.T) {
	pki := newChainPKI(t)
	good := sealedChain(t, pki, "node1", "node1")
	for _, cut := range []int{1, 3} {
		rep := verifyLines(t, pki.verifier, good[cut:])
		if rep.OK() || rep.Problems[0].Kind != ProblemMissing || rep.Problems[0].Line != 1 {
			t.Fatalf("first %d records cut off: %v", cut, rep.Problems)
		}
		want := "seq 1 is missing"
		if cut == 3 {
			want = "seq 1 to 3 are missing"
		}
		if !strings.Contains(rep.Problems[0].Message, want) || len(rep.Problems) != 1 {
			t.Fatalf("first %d records cut off: %v, want one problem saying %q", cut, rep.Problems, want)
		}
		v := NewVerifier(pki.verifier)
		v.AllowPurged()
		for i, l := range good[cut:] {
			v.Line("stream", i+1, l)
		}
		rep = v.Report()
		if w := rep.Writers[0]; !rep.OK() || !w.Purged || w.FirstSeq != uint64(cut+1) || w.Checkpoints == 0 {
			t.Fatalf("purged head allowed: %+v", rep)
		}
	}
	// a gap after the first record is still one, purged head or not
	v := NewVerifier(pki.verifier)
	v.AllowPurged()
	for i, l := range append(clone(good[2:3]), good[4:]...) {
		v.Line("stream", i+1, l)
	}
	if rep := v.Report(); rep.OK() || rep.Problems[0].Kind != ProblemMissing {
		t.Fatalf("gap after a purged head: %v", rep.Problems)
	}
	// an untouched chain is not marked purged
	if rep := verifyLines(t, pki.verifier, good); rep.Writers[0].Purged {
		t.Fatalf("untouched chain marked purged: %+v", rep.Writers[0])
	}
}

func TestVerifierReadFrom(t *testing.T) {
	pki := newChainPKI(t)
	v := NewVerifier(pki.verifier)
	data := append(bytes.Join(sealedChain(t, pki, "node1", "node1"), []byte("\n")), '\n')
	if err := v.ReadFrom("a.log", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if rep := v.Report(); !rep.OK() || rep.Lines != 8 {
		t.Fatalf("%+v", rep)
	}
}

func FuzzDecodeLink(f *testing.F) {
	f.Add([]byte(`{"request_id":"a","writer":"n","seq":1,"prev":""}`))
	f.Add([]byte(`{"type":"checkpoint","head_seq":1,"head":"` + strings.Repeat("a", 64) + `","writer":"n","seq":2,"prev":"` +
		strings.Repeat("a", 64) + `","signature":"AA==","certificate":"x"}`))
	f.Add([]byte(`{"type":"restart","previous_seq":3,"writer":"n","seq":1,"prev":""}`))
	f.Add([]byte(`{"timestamp":"x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := DecodeLink(line)
		if err != nil {
			return
		}
		if l.Writer == "" || l.Seq == 0 {
			t.Fatalf("accepted a link without writer or seq: %q", line)
		}
		// the verifier never panics on what the decoder accepts
		v := NewVerifier(rejectAll{})
		v.Line("f", 1, line)
		v.Line("f", 2, line)
		_ = v.Report()
	})
}

type rejectAll struct{}

func (rejectAll) VerifyReply([]byte, []byte, []byte, string) error { return context.Canceled }

// The node's outcome records are chained like its decision records.
func TestDecodeLinkOutcome(t *testing.T) {
	line := []byte(`{"type":"outcome","request_id":"r1","statuscode":0,"writer":"n1","seq":2,"prev":"` + strings.Repeat("a", 64) + `"}`)
	l, err := DecodeLink(line)
	if err != nil || l.Writer != "n1" || l.Seq != 2 {
		t.Fatalf("DecodeLink(outcome) = %+v, %v", l, err)
	}
	if _, err := DecodeLink([]byte(`{"type":"bogus","writer":"n1","seq":2,"prev":""}`)); err == nil {
		t.Fatal("an unknown record type was accepted")
	}
}
