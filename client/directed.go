package client

import (
	"fmt"
	"regexp"
	"slices"
)

// DefaultDirectedChunk is the most node identities one signed directed
// request names (Options.DirectedChunk overrides it).
//
// A directed request is bound to its targets: the identity filter of the
// signed request lists exactly the nodes it is published to, so a copy
// captured on one node's subject and published again on the broadcast
// subject or on another node's subject is filtered out by every node it
// does not name. Naming every target in one message would make a
// request to N nodes N messages of O(N) bytes each, O(N²) in all; so the
// targets are cut into chunks, each signed as its own request (its own
// request id) and published only to its own nodes' subjects.
//
// 64 is where the chunk's identities weigh about what the rest of the
// message weighs (BenchmarkDirectedChunk, identities of 21 bytes, ECDSA
// P-256): each identity adds 35 bytes to a 1.9 KB transport message, so
// a chunk of 64 is a 4.1 KB message. For 10,000 nodes that is 157
// signatures (10 ms with ECDSA, 0.18 s with RSA-2048, or 157 calls to a
// remote signer) and 41 MB published instead of 19 MB unbound (3.5 GB if
// one message named them all); a node's decode, signature check and
// match of a message goes from 47 to 66 µs. A chunk of 256 would save
// signatures but make every message 11 KB and every node's check 2.5
// times dearer; 16 would make 4 times the signatures for 0.5 KB less.
// Fleets of up to 64 targets sign once, as before.
const DefaultDirectedChunk = 64

// targetRe is what a node identity may be (the identity key's rule):
// letters, digits, '_', '.' and '-'. Such a name can never be read as a
// /regex/ by a node's identity filter, so a signed chunk matches exactly
// the nodes it names.
var targetRe = regexp.MustCompile(`^[\w.\-]+$`)

// directedChunks checks every target, drops repeats (first one kept) and
// cuts the list into chunks of at most size identities.
func directedChunks(targets []string, size int) ([][]string, error) {
	if size <= 0 {
		size = DefaultDirectedChunk
	}
	seen := make(map[string]bool, len(targets))
	list := make([]string, 0, len(targets))
	for _, t := range targets {
		if !targetRe.MatchString(t) {
			return nil, fmt.Errorf("target %q is not a node identity (letters, digits, '_', '.' and '-'): it cannot be bound literally into the signed identity filter", t)
		}
		if !seen[t] {
			seen[t] = true
			list = append(list, t)
		}
	}
	return slices.Collect(slices.Chunk(list, size)), nil
}

// requestIDs are the ids of the signed messages of one Do: one for a
// broadcast, one per chunk of targets for a directed request. has is
// one string comparison for a broadcast.
type requestIDs struct {
	first string
	rest  map[string]bool
}

func newRequestIDs(ids []string) requestIDs {
	r := requestIDs{first: ids[0]}
	if len(ids) > 1 {
		r.rest = make(map[string]bool, len(ids)-1)
		for _, id := range ids[1:] {
			r.rest[id] = true
		}
	}
	return r
}

func (r requestIDs) has(id string) bool { return id == r.first || r.rest[id] }
