package server

import (
	"runtime"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/connector"
)

// The node's bounded work: every message the connector delivers is
// decoded and queued, and at most `workers` goroutines run the pipeline
// over the queue. The queue holds at most `queue` messages, kept in one
// FIFO per claimed caller, and the workers take from the callers in
// turn (round robin), so a caller that floods the node waits behind its
// own requests, not in front of everyone else's.
//
// When the queue is full, an arrival from a caller with fewer queued
// messages than the longest queue pushes out the newest message of that
// longest queue; otherwise the arrival itself is refused. Either way
// the refused message is counted (tutti_node_busy_total) and goes to
// the refusal lane (overload.go): one goroutine verifies it like any
// request and answers "node busy" to its caller. Only a verified
// request is answered (a reply to an unverified message would let
// anyone make the node publish). When the lane is full too, the
// message is dropped unanswered and logged at most once per
// busyLogEvery.
//
// The caller a message is queued under is the callerid its request
// layer claims, read before the signature is checked. It is used for
// SCHEDULING ONLY, never for authorization or anything a caller may
// rely on: a forger can claim another caller's id and share that
// caller's turn, but cannot take more than one turn in each round per
// id it claims, and whichever id floods is the one whose newest
// messages are dropped. Messages that do not decode are queued under
// the empty id, one more caller.

// Defaults of the pool sizes (plugin.tutti.workers, plugin.tutti.queue_size).
const (
	workersPerCPU    = 4
	defaultQueueSize = 1024
	busyLogEvery     = 10 * time.Second
)

// DefaultWorkers is the worker count a node uses when none is configured:
// workersPerCPU per CPU.
func DefaultWorkers() int { return workersPerCPU * runtime.NumCPU() }

// job is one queued message.
type job struct {
	from connector.Destination
	msg  decoded
}

// callerQueue is the FIFO of one claimed caller's queued messages.
type callerQueue struct {
	caller string
	jobs   []job
}

// scheduler is the per-node queue. Workers are started on demand and
// end when the queue is empty, so an idle node (or each of the
// thousands an emulator runs) holds no goroutine for them.
type scheduler struct {
	mu      sync.Mutex
	callers map[string]*callerQueue // callers with queued messages
	turns   []*callerQueue          // round-robin order of callers
	spare   *callerQueue            // the last emptied queue, reused by the next new caller
	queued  int
	running int
	// busy log rate limit
	lastLog  time.Time
	unlogged int
	lane     refusalLane
}

// busyReason says why a message was dropped for a full queue.
type busyReason string

const (
	busyQueueFull busyReason = "queue_full" // the arrival was refused
	busyDisplaced busyReason = "displaced"  // pushed out by another caller's arrival
)

// limits are the pool sizes in force, from the reloadable settings.
func (rc *runtimeConfig) poolLimits() (workers, queue int) {
	workers, queue = rc.workers, rc.queueSize
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	if queue <= 0 {
		queue = defaultQueueSize
	}
	return workers, queue
}

// enqueue hands m to a new worker when nothing is queued and fewer than
// the maximum run, and otherwise queues it (queue). It runs on the
// connector's delivery goroutine, so it does no more than decode.
func (n *Node) enqueue(m connector.Message) {
	maxWorkers, _ := n.cfg.Load().poolLimits()
	s := &n.sched
	s.mu.Lock()
	if s.queued == 0 && s.running < maxWorkers {
		// Nothing waits, so there is no one to be fair to: a new worker
		// decodes and runs m. Decoding here (or entering queue's large
		// frame) would grow the stack of the connector's long-lived
		// delivery goroutine for good: +6 KiB RSS per node.
		s.running++
		s.mu.Unlock()
		go n.workFrom(m)
		return
	}
	s.mu.Unlock()
	n.queue(m)
}

// workFrom runs m, then queued messages until the queue is empty.
func (n *Node) workFrom(m connector.Message) {
	n.run(job{from: m.Destination, msg: n.decodeMessage(m)})
	n.work()
}

// queue decodes m, queues it under its claimed caller and starts a
// worker when fewer than the maximum run (enqueue, when messages wait).
func (n *Node) queue(m connector.Message) {
	d := n.decodeMessage(m)
	caller := ""
	if d.req != nil {
		caller = d.req.CallerID // claimed, unverified: scheduling only
	}
	maxWorkers, maxQueue := n.cfg.Load().poolLimits()
	s := &n.sched
	s.mu.Lock()
	dropped, reason := s.push(caller, job{from: m.Destination, msg: d}, maxQueue)
	start := s.running < maxWorkers && s.queued > 0
	if start {
		s.running++
	}
	n.metrics.queueDepth(s.queued)
	var logNow int
	var laneStart, laned bool
	if dropped != nil {
		laneStart, laned = s.laneJob(*dropped)
	}
	if dropped != nil && !laned {
		if now := n.now(); now.Sub(s.lastLog) >= busyLogEvery {
			logNow, s.unlogged, s.lastLog = s.unlogged+1, 0, now
		} else {
			s.unlogged++
		}
	}
	s.mu.Unlock()
	if dropped != nil {
		n.metrics.busy(reason)
	}
	if dropped != nil && !laned {
		n.inflight.Done()
		if logNow > 0 {
			n.logBusy(dropped, reason, logNow, maxQueue)
		}
	}
	if start {
		go n.work()
	}
	if laneStart {
		go n.refuseBusy()
	}
}

func (n *Node) logBusy(j *job, reason busyReason, count, maxQueue int) {
	f := logrus.Fields{"reason": string(reason), "dropped": count, "queue_size": maxQueue}
	if j.msg.req != nil {
		f["request"], f["claimed_caller"] = j.msg.req.ID, j.msg.req.CallerID
	}
	n.log.WithFields(f).Warn("node busy: request queue and refusal lane full, requests dropped unanswered (logged at most every 10s)")
}

// work runs queued messages until the queue is empty.
func (n *Node) work() {
	s := &n.sched
	for {
		s.mu.Lock()
		j, ok := s.pop()
		if !ok {
			s.running--
			s.mu.Unlock()
			return
		}
		n.metrics.queueDepth(s.queued)
		s.mu.Unlock()
		n.run(j)
	}
}

func (n *Node) run(j job) {
	defer n.inflight.Done()
	out := n.process(n.requests, j.from, j.msg)
	n.publish(n.requests, out)
}

// push queues j under caller. When the queue is full it returns the job
// dropped instead: the newest of the longest queue if caller's own is
// shorter, else j.
func (s *scheduler) push(caller string, j job, maxQueue int) (*job, busyReason) {
	if s.callers == nil {
		s.callers = map[string]*callerQueue{}
	}
	q := s.callers[caller]
	if s.queued >= maxQueue {
		own := 0
		if q != nil {
			own = len(q.jobs)
		}
		longest := s.longest()
		if longest == nil || len(longest.jobs) <= own {
			refused := j // a copy: &j would put every pushed job on the heap
			return &refused, busyQueueFull
		}
		last := longest.jobs[len(longest.jobs)-1]
		longest.jobs = longest.jobs[:len(longest.jobs)-1]
		s.queued--
		if len(longest.jobs) == 0 {
			s.remove(longest)
		}
		s.add(q, caller, j)
		return &last, busyDisplaced
	}
	s.add(q, caller, j)
	return nil, ""
}

func (s *scheduler) add(q *callerQueue, caller string, j job) {
	if q == nil {
		if q, s.spare = s.spare, nil; q != nil {
			q.caller = caller
		} else {
			q = &callerQueue{caller: caller}
		}
		s.callers[caller] = q
		s.turns = append(s.turns, q)
	}
	q.jobs = append(q.jobs, j)
	s.queued++
}

// remove takes an emptied caller queue out of the rotation.
func (s *scheduler) remove(q *callerQueue) {
	delete(s.callers, q.caller)
	for i, t := range s.turns {
		if t == q {
			s.turns = append(s.turns[:i], s.turns[i+1:]...)
			return
		}
	}
}

// longest is the caller queue holding the most messages. It scans every
// queued caller: at most maxQueue of them.
func (s *scheduler) longest() *callerQueue {
	var l *callerQueue
	for _, q := range s.callers {
		if l == nil || len(q.jobs) > len(l.jobs) {
			l = q
		}
	}
	return l
}

// pop takes the oldest message of the caller whose turn it is, and puts
// that caller at the back of the turns if it has more.
func (s *scheduler) pop() (job, bool) {
	if len(s.turns) == 0 {
		return job{}, false
	}
	q := s.turns[0]
	s.turns[0] = nil
	if len(s.turns) == 1 {
		s.turns = s.turns[:0] // keep the array: the next push needs no new one
	} else {
		s.turns = s.turns[1:]
	}
	j := q.jobs[0]
	q.jobs[0] = job{}
	s.queued--
	if len(q.jobs) > 1 {
		q.jobs = q.jobs[1:]
		s.turns = append(s.turns, q)
	} else {
		// emptied: kept (with its array) for the next caller, so a node
		// handed one message at a time allocates nothing per message
		delete(s.callers, q.caller)
		q.jobs, q.caller = q.jobs[:0], ""
		s.spare = q
	}
	return j, true
}
