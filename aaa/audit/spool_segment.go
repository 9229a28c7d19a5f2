package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A spool segment is a file of frames, each one record line:
//
//	length  uint32, big endian: bytes of line; its top bit (frameJoins)
//	        set means the record joins the batch of the frame before it
//	crc     uint32, big endian: CRC-32C (Castagnoli) of line
//	line    the encoded record, without newline
//
// A frame whose header or line is cut short, whose length is 0 or past
// maxFrameLine, or whose CRC does not match ends the valid part of the
// segment: a crash in the middle of a write leaves at most a torn tail,
// which opening the spool truncates.
const (
	frameHeader  = 8
	frameJoins   = 1 << 31 // in the length: joins the previous frame's stream message
	maxFrameLine = 16 << 20
	segmentExt   = ".seg"
	cursorFile   = "cursor"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame ends the valid part of a segment.
var errBadFrame = errors.New("audit spool: torn or corrupt frame")

// appendFrame appends line as one frame that starts a batch.
func appendFrame(b, line []byte) []byte { return appendFrameJoin(b, line, false) }

// appendFrameJoin appends line as one frame; join marks it as part of
// the batch (stream message) of the frame before it.
func appendFrameJoin(b, line []byte, join bool) []byte {
	l := uint32(len(line))
	if join {
		l |= frameJoins
	}
	b = binary.BigEndian.AppendUint32(b, l)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(line, castagnoli))
	return append(b, line...)
}

// readFrame reads the frame at off of r, which holds size bytes, into
// buf (grown as needed) and returns the line and the frame's length.
// io.EOF means off == size; errBadFrame a torn or corrupt frame.
func readFrame(r io.ReaderAt, off, size int64, buf []byte) (line []byte, n int64, err error) {
	if off >= size {
		return nil, 0, io.EOF
	}
	if size-off < frameHeader {
		return nil, 0, errBadFrame
	}
	var h [frameHeader]byte
	if _, err := r.ReadAt(h[:], off); err != nil {
		return nil, 0, fmt.Errorf("%w: header at %d: %w", errBadFrame, off, err)
	}
	l := frameLen(h[:])
	if l == 0 || l > maxFrameLine || l > size-off-frameHeader {
		return nil, 0, errBadFrame
	}
	if int64(cap(buf)) < l {
		buf = make([]byte, l)
	}
	buf = buf[:l]
	if _, err := r.ReadAt(buf, off+frameHeader); err != nil {
		return nil, 0, fmt.Errorf("%w: line at %d: %w", errBadFrame, off, err)
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return nil, 0, errBadFrame
	}
	return buf, frameHeader + l, nil
}

// parseFrame parses the frame at the start of b, which must hold it
// whole; the line is a slice of b.
func parseFrame(b []byte) (line []byte, n int64, err error) {
	if len(b) < frameHeader {
		return nil, 0, errBadFrame
	}
	l := frameLen(b)
	if l == 0 || l > maxFrameLine || l > int64(len(b)-frameHeader) {
		return nil, 0, errBadFrame
	}
	line = b[frameHeader : frameHeader+l : frameHeader+l] // the spool appends past b
	if crc32.Checksum(line, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return nil, 0, errBadFrame
	}
	return line, frameHeader + l, nil
}

// frameLen is the line length in the frame header at the start of b.
func frameLen(b []byte) int64 { return int64(binary.BigEndian.Uint32(b[:4]) &^ frameJoins) }

// frameJoinsPrev reports whether the frame header at the start of b
// marks the frame as joining the batch of the frame before it.
func frameJoinsPrev(b []byte) bool { return binary.BigEndian.Uint32(b[:4])&frameJoins != 0 }

// scanSegment returns the length of the valid prefix of a segment of
// size bytes and the number of records in it.
func scanSegment(r io.ReaderAt, size int64) (valid int64, records int) {
	var buf []byte
	for {
		line, n, err := readFrame(r, valid, size, buf)
		if err != nil {
			return valid, records
		}
		buf = line
		valid += n
		records++
	}
}

// segment is one spool file.
type segment struct {
	num  uint64 // from the file name; segments are delivered in num order
	path string
	size int64 // bytes written and synced (valid frames only)
}

func segmentName(dir string, num uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", num, segmentExt))
}

// listSegments returns the segment files of dir in order.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		num, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, &segment{num: num, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].num < segs[j].num })
	return segs, nil
}

// cursor is where delivery resumes: segment number and offset. It is
// written after each acknowledgement without fsync: a process crash
// keeps it (the kernel has it), a machine crash may lose the last
// moves, and the records past the stale cursor are sent again, which
// JetStream drops as duplicates (Nats-Msg-Id) within its window.
type cursor struct {
	seg uint64
	off int64
}

func (c cursor) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, c.seg)
	b = binary.BigEndian.AppendUint64(b, uint64(c.off))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCursor reads a cursor file; ok is false when it is not one.
func decodeCursor(b []byte) (c cursor, ok bool) {
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		return cursor{}, false
	}
	off := int64(binary.BigEndian.Uint64(b[8:16]))
	if off < 0 {
		return cursor{}, false
	}
	return cursor{seg: binary.BigEndian.Uint64(b[:8]), off: off}, true
}

// syncDir makes a created or removed file name durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
