package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tailWindow is how much of the end of TailFile is read to find the
// chain's last record.
const tailWindow = 256 << 10

// Link is the chain part of one record line, as verify reads it.
type Link struct {
	Type   string `json:"type"`
	Writer string `json:"writer"`
	Seq    uint64 `json:"seq"`
	Prev   string `json:"prev"`
	// checkpoint
	Head        string `json:"head"`
	HeadSeq     uint64 `json:"head_seq"`
	Signature   string `json:"signature"`
	Certificate string `json:"certificate"`
	// restart
	PreviousSeq  uint64 `json:"previous_seq"`
	PreviousHead string `json:"previous_head"`
	RequestID    string `json:"request_id"`
}

// ErrUnchained is returned by DecodeLink for a JSON record without chain
// fields (written before the chain was enabled).
var ErrUnchained = errors.New("record has no chain fields")

// DecodeLink reads the chain fields of one record line (without its
// newline).
func DecodeLink(line []byte) (Link, error) {
	var l Link
	if err := json.Unmarshal(line, &l); err != nil {
		return Link{}, fmt.Errorf("not a JSON record: %w", err)
	}
	if err := uniqueKeys(line); err != nil {
		return Link{}, err
	}
	if l.Writer == "" && l.Seq == 0 {
		return Link{}, ErrUnchained
	}
	if l.Writer == "" || l.Seq == 0 {
		return Link{}, errors.New("chain fields incomplete: writer and seq are required")
	}
	if l.Prev != "" && !isHash(l.Prev) {
		return Link{}, fmt.Errorf("prev %q is not a hex SHA-256", l.Prev)
	}
	switch l.Type {
	case "", TypeRestart, TypeOutcome:
	case TypeCheckpoint:
		if !isHash(l.Head) || l.Signature == "" || l.Certificate == "" {
			return Link{}, errors.New("checkpoint needs head, signature and certificate")
		}
	default:
		return Link{}, fmt.Errorf("unknown record type %q", l.Type)
	}
	return l, nil
}

// uniqueKeys refuses a record whose top-level keys repeat: encoding/json
// keeps the last, so a key appended after a checkpoint's signature would
// otherwise change what the record says without touching what is signed.
func uniqueKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		return fmt.Errorf("not a JSON record: %w", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not a JSON record: %w", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("not a JSON record: %w", err)
		}
	}
	return nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// LineHash is the hex SHA-256 of a record line without its newline: the
// next record's prev.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// chainState is StateFile's content.
type chainState struct {
	Writer string    `json:"writer"`
	Seq    uint64    `json:"seq"`
	Head   string    `json:"head"`
	Clean  bool      `json:"clean"` // written by Close
	Time   time.Time `json:"time"`
}

// chainStart is where a chain starts.
type chainStart struct {
	seq  uint64
	head string
	// restart is why the chain starts again at seq 1 with a restart
	// record ("" continues at seq+1); prevSeq and prevHead are the head
	// it knew, when it knew one.
	restart  string
	prevSeq  uint64
	prevHead string
}

// findStart decides where the chain continues (see Chain).
func findStart(cfg ChainConfig) (chainStart, error) {
	tailSeq, tailHead, err := lastLink(cfg.TailFile, cfg.Writer)
	if err != nil {
		return chainStart{}, err
	}
	st, err := readState(cfg.StateFile, cfg.Writer)
	if err != nil && tailSeq > 0 {
		return chainStart{seq: tailSeq, head: tailHead}, nil
	}
	if err != nil {
		return chainStart{restart: fmt.Sprintf("state file unreadable: %v", err)}, nil
	}
	switch {
	case tailSeq > 0 && (st == nil || st.Seq <= tailSeq):
		return chainStart{seq: tailSeq, head: tailHead}, nil
	case st == nil:
		return chainStart{}, nil // a new chain
	case tailSeq == 0 && st.Clean:
		return chainStart{seq: st.Seq, head: st.Head}, nil // rotated after a clean stop
	case tailSeq == 0:
		return chainStart{restart: "the audit file holds no record of this writer and the last run did not stop cleanly",
			prevSeq: st.Seq, prevHead: st.Head}, nil
	default:
		return chainStart{restart: fmt.Sprintf("the audit file ends at seq %d but the state file names seq %d", tailSeq, st.Seq),
			prevSeq: st.Seq, prevHead: st.Head}, nil
	}
}

// lastLink returns the seq and line hash of writer's last complete record
// in the last tailWindow bytes of path (0 when none or no file).
func lastLink(path, writer string) (uint64, string, error) {
	if path == "" {
		return 0, "", nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("audit chain: read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", fmt.Errorf("audit chain: stat %s: %w", path, err)
	}
	off := max(fi.Size()-tailWindow, 0)
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return 0, "", fmt.Errorf("audit chain: read %s: %w", path, err)
	}
	// only complete lines: drop a torn last line and, when the window
	// starts mid-file, the partial first one
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return 0, "", nil
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			line, data = data[i+1:], data[:i]
		} else if off == 0 {
			line, data = data, nil
		} else {
			break
		}
		if l, err := DecodeLink(line); err == nil && l.Writer == writer {
			return l.Seq, LineHash(line), nil
		}
	}
	return 0, "", nil
}

func readState(path, writer string) (*chainState, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st chainState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Writer != writer {
		return nil, nil // another writer's chain: start a new one
	}
	return &st, nil
}

// saveState writes the head to StateFile (atomically: a temporary file
// renamed). Called with mu held; failures are logged.
func (c *Chain) saveState(clean bool) {
	if c.cfg.StateFile == "" {
		return
	}
	data, _ := json.Marshal(chainState{Writer: c.cfg.Writer, Seq: c.seq, Head: c.head, Clean: clean, Time: c.cfg.Now().UTC()})
	tmp, err := os.CreateTemp(filepath.Dir(c.cfg.StateFile), ".chain-*")
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), c.cfg.StateFile)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil {
		c.log.WithError(err).Error("Cannot save the audit chain state")
	}
}
