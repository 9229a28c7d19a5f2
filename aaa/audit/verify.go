package audit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// CheckpointVerifier checks a checkpoint signature: certificate chains
// to the trusted CA, one of its names is writer, and signature is valid
// over message. security.Verifier's VerifyReply is one.
type CheckpointVerifier interface {
	VerifyReply(message, signature, pubcert []byte, writer string) error
}

// Problem kinds in a Report.
const (
	ProblemBroken    = "broken"    // prev is not the hash of the record before: one of them was edited
	ProblemMissing   = "missing"   // seq jumps: records were deleted
	ProblemReordered = "reordered" // seq goes back
	ProblemDuplicate = "duplicate" // the same record twice
	ProblemSignature = "signature" // a checkpoint that does not verify
	ProblemMalformed = "malformed" // a line that is not a record
)

// Problem is one finding, at the record where it shows.
type Problem struct {
	Kind    string `json:"kind"`
	Source  string `json:"source"` // file name, or "stream"
	Line    int    `json:"line"`   // line number, or stream sequence
	Writer  string `json:"writer,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Writer == "" {
		return fmt.Sprintf("%s:%d: %s: %s", p.Source, p.Line, p.Kind, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: writer %s seq %d: %s", p.Source, p.Line, p.Kind, p.Writer, p.Seq, p.Message)
}

// WriterReport sums up one writer's chain.
type WriterReport struct {
	Writer      string `json:"writer"`
	Records     int    `json:"records"` // chained lines, checkpoints included
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"`
	Checkpoints int    `json:"checkpoints"` // verified ones
	// LastCheckpoint is the seq of the last verified checkpoint (0: none).
	LastCheckpoint uint64 `json:"last_checkpoint"`
	// Unprotected counts the records after the last verified checkpoint:
	// they, or a truncation after them, cannot be proven.
	Unprotected int `json:"unprotected"`
	Restarts    int `json:"restarts"`
	// Purged is set when the chain starts after seq 1 and the Verifier
	// was told the records before may have been purged (AllowPurged): seq
	// 1 to FirstSeq-1 were not checked.
	Purged bool `json:"purged,omitempty"`
}

// Report is what Verifier found.
type Report struct {
	Lines     int            `json:"lines"`
	Unchained int            `json:"unchained"` // JSON records without chain fields
	Writers   []WriterReport `json:"writers"`
	Problems  []Problem      `json:"problems"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verifier checks the chains of the lines it is given, in order: every
// writer's records must follow each other (seq + 1, prev = hash of the
// line before) and every checkpoint must be signed by a certificate of
// the writer's name that chains to the CA. Give it the rotated files of
// a writer oldest first. After a problem it resynchronises on the record
// that showed it, so one edit yields one problem.
//
// A writer's first record must be seq 1 (or a restart): a chain that
// starts later is missing its oldest records, a ProblemMissing, unless
// AllowPurged says the source may have dropped them (a stream's
// retention, max_age or max_bytes, an admin's purge, rotated files
// deleted).
type Verifier struct {
	v       CheckpointVerifier
	writers map[string]*writerState
	report  Report
	purged  bool
}

type writerState struct {
	WriterReport
	lastHash string
	lastSrc  string
	lastLine int
}

// NewVerifier returns a Verifier checking checkpoints with v.
func NewVerifier(v CheckpointVerifier) *Verifier {
	return &Verifier{v: v, writers: map[string]*writerState{}}
}

// AllowPurged accepts a writer's chain that starts after seq 1, from its
// first record on: the report marks the writer Purged instead of naming
// seq 1 to the first one as missing. Call it before the first Line. What
// is then verified is the chain from there on; that nothing before it
// was removed by anyone but the retention is for the auditor to judge
// from the stream's limits and the first seq of each writer.
func (v *Verifier) AllowPurged() { v.purged = true }

// ReadFrom checks every line of r, naming them source:N.
func (v *Verifier) ReadFrom(source string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			v.Line(source, n, bytes.TrimSuffix(line, []byte("\n")))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", source, err)
		}
	}
}

// Line checks one record line (without its newline).
func (v *Verifier) Line(source string, n int, line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	v.report.Lines++
	l, err := DecodeLink(line)
	if errors.Is(err, ErrUnchained) {
		v.report.Unchained++
		return
	}
	if err != nil {
		v.problem(Problem{Kind: ProblemMalformed, Source: source, Line: n, Message: err.Error()})
		return
	}
	w := v.writers[l.Writer]
	if w == nil {
		w = &writerState{WriterReport: WriterReport{Writer: l.Writer, FirstSeq: l.Seq}}
		v.writers[l.Writer] = w
	}
	p := Problem{Source: source, Line: n, Writer: l.Writer, Seq: l.Seq}
	if w.Records == 0 && l.Seq > 1 && l.Type != TypeRestart {
		v.firstAfterOne(w, p)
	}
	hash := LineHash(line)
	if l.Type == TypeRestart {
		v.restart(w, l, p)
	} else if w.Records > 0 && !v.link(w, l, hash, p) {
		return // reordered or duplicated: keep the chain where it was
	}
	w.Records++
	w.LastSeq, w.lastHash, w.lastSrc, w.lastLine = l.Seq, hash, source, n
	w.Unprotected++
	if l.Type == TypeCheckpoint && v.checkpoint(l, line, p) {
		w.Checkpoints++
		w.LastCheckpoint = l.Seq
		w.Unprotected = 0
	}
}

// link checks that l follows w's last record; false means l goes back
// (reordered or duplicated) and does not move the chain.
func (v *Verifier) link(w *writerState, l Link, hash string, p Problem) bool {
	switch {
	case l.Seq == w.LastSeq+1 && l.Prev != w.lastHash:
		p.Kind = ProblemBroken
		p.Message = fmt.Sprintf("prev does not match the hash of seq %d at %s:%d: that record or this one was edited",
			w.LastSeq, w.lastSrc, w.lastLine)
	case l.Seq > w.LastSeq+1:
		p.Kind = ProblemMissing
		p.Message = fmt.Sprintf("seq %d to %d are missing after seq %d at %s:%d: records were deleted",
			w.LastSeq+1, l.Seq-1, w.LastSeq, w.lastSrc, w.lastLine)
	case l.Seq == w.LastSeq && hash == w.lastHash:
		p.Kind, p.Message = ProblemDuplicate, "the same record as the line before"
	case l.Seq <= w.LastSeq:
		p.Kind = ProblemReordered
		p.Message = fmt.Sprintf("seq %d comes after seq %d at %s:%d: records were reordered or replayed",
			l.Seq, w.LastSeq, w.lastSrc, w.lastLine)
	default:
		return true
	}
	v.problem(p)
	return p.Kind != ProblemReordered && p.Kind != ProblemDuplicate
}

// firstAfterOne handles a writer whose first record is not seq 1.
func (v *Verifier) firstAfterOne(w *writerState, p Problem) {
	if v.purged {
		w.Purged = true
		return
	}
	p.Kind = ProblemMissing
	if p.Seq == 2 {
		p.Message = "seq 1 is missing before the writer's first record: it was deleted or purged"
	} else {
		p.Message = fmt.Sprintf("seq 1 to %d are missing before the writer's first record: they were deleted or purged", p.Seq-1)
	}
	p.Message += " (when the stream's retention or a rotation dropped them, verify with --allow-purged)"
	v.problem(p)
}

// restart checks a restart record against the head it names.
func (v *Verifier) restart(w *writerState, l Link, p Problem) {
	w.Restarts++
	if l.Seq != 1 || l.Prev != "" {
		p.Kind, p.Message = ProblemMalformed, "a restart record must be seq 1 without prev"
		v.problem(p)
	}
	if w.Records == 0 || l.PreviousSeq == 0 {
		return
	}
	switch {
	case l.PreviousSeq > w.LastSeq:
		p.Kind = ProblemMissing
		p.Message = fmt.Sprintf("restart names seq %d as the previous head but the chain ends at seq %d at %s:%d",
			l.PreviousSeq, w.LastSeq, w.lastSrc, w.lastLine)
		v.problem(p)
	case l.PreviousSeq == w.LastSeq && l.PreviousHead != w.lastHash:
		p.Kind = ProblemBroken
		p.Message = fmt.Sprintf("restart names a previous head that is not the hash of seq %d at %s:%d",
			w.LastSeq, w.lastSrc, w.lastLine)
		v.problem(p)
	}
	w.LastCheckpoint, w.Unprotected = 0, 0
}

// checkpoint verifies a checkpoint's head and signature.
func (v *Verifier) checkpoint(l Link, line []byte, p Problem) bool {
	p.Kind = ProblemSignature
	if l.HeadSeq != l.Seq-1 || l.Head != l.Prev {
		p.Message = "checkpoint head is not the record before it"
		v.problem(p)
		return false
	}
	signed, err := signedPart(line)
	if err != nil {
		p.Message = err.Error()
		v.problem(p)
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(l.Signature)
	if err == nil {
		err = v.v.VerifyReply(signed, sig, []byte(l.Certificate), l.Writer)
	}
	if err != nil {
		p.Message = fmt.Sprintf("checkpoint does not verify: %v", err)
		v.problem(p)
		return false
	}
	return true
}

// signedPart returns the bytes a checkpoint signature covers: the line
// up to its "signature" field, which must be followed only by the
// signature and the certificate.
func signedPart(line []byte) ([]byte, error) {
	i := bytes.LastIndex(line, []byte(`,"signature":`))
	if i < 0 {
		return nil, errors.New("checkpoint has no signature field")
	}
	var rest map[string]json.RawMessage
	if err := json.Unmarshal(append([]byte{'{'}, line[i+1:]...), &rest); err != nil || len(rest) != 2 ||
		rest["signature"] == nil || rest["certificate"] == nil {
		return nil, errors.New("checkpoint has fields after its signature")
	}
	return line[:i], nil
}

func (v *Verifier) problem(p Problem) { v.report.Problems = append(v.report.Problems, p) }

// Report returns what was found so far, writers sorted by name.
func (v *Verifier) Report() Report {
	r := v.report
	r.Problems = append([]Problem(nil), r.Problems...)
	r.Writers = make([]WriterReport, 0, len(v.writers))
	for _, w := range v.writers {
		r.Writers = append(r.Writers, w.WriterReport)
	}
	sort.Slice(r.Writers, func(i, j int) bool { return r.Writers[i].Writer < r.Writers[j].Writer })
	return r
}
