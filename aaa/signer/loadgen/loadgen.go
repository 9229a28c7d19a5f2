// Package loadgen drives a tutti-aaa signer with signing requests and
// measures it: signs per second as this client sees them and, when the
// service runs on this host, the service's CPU time per sign, read from
// /proc before and after the run. The service's CPU per sign is the
// figure that does not depend on where the load generator runs: 1 s
// divided by it is what one dedicated core signs per second.
//
// Requests go through security/remote, the client tutti rpc uses: each
// one is fresh (new id, current time), proof of possession is the real
// ed25519 signature, and every answer is checked to wrap the request
// sent.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/internal/procstat"
	"github.com/tuttifleet/tutti/security/remote"
)

// Options shape a run. A run stops after Duration or after Requests
// signs, whichever is set (Requests wins when both are).
type Options struct {
	// Signer is the client, built by remote.New from a token file.
	Signer *remote.Signer
	// Agent and Action name the requests; default rpcutil#ping. The
	// token must allow them.
	Agent, Action string
	// Concurrency is the number of requests in flight; default 8.
	Concurrency int
	Duration    time.Duration
	Requests    int64
	// TTL of each request in seconds; default 60.
	TTL int
	// ServicePID, when not 0, is the service's process id on this host:
	// its CPU time is read before and after the run.
	ServicePID int
}

// Result is what a run measured.
type Result struct {
	Signs   int64
	Elapsed time.Duration
	// ServiceCPU is the service's user+system CPU time during the run
	// (0 when ServicePID was not set).
	ServiceCPU time.Duration
	// ClientCPU is this process's CPU time during the run.
	ClientCPU time.Duration
	// P50 and P99 are the latencies of one sign as the client saw them.
	P50, P99 time.Duration
}

// PerSecond is the signs per second the client saw.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Signs) / r.Elapsed.Seconds()
}

// ServiceCPUPerSign is the service's CPU time per sign, 0 when unknown.
func (r Result) ServiceCPUPerSign() time.Duration {
	if r.Signs == 0 {
		return 0
	}
	return r.ServiceCPU / time.Duration(r.Signs)
}

// ClientCPUPerSign is this process's CPU time per sign.
func (r Result) ClientCPUPerSign() time.Duration {
	if r.Signs == 0 {
		return 0
	}
	return r.ClientCPU / time.Duration(r.Signs)
}

// String is a short human report.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d signs in %s: %.0f signs/s, latency p50 %s p99 %s\n",
		r.Signs, r.Elapsed.Round(time.Millisecond), r.PerSecond(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	fmt.Fprintf(&b, "client CPU %s per sign\n", r.ClientCPUPerSign().Round(100*time.Nanosecond))
	if per := r.ServiceCPUPerSign(); per > 0 {
		fmt.Fprintf(&b, "service CPU %s per sign: %.0f signs/s per dedicated core\n",
			per.Round(100*time.Nanosecond), float64(time.Second)/float64(per))
	}
	return b.String()
}

// Run signs until the run ends and reports what it measured. The first
// refusal or transport error stops the run and is returned.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Signer == nil {
		return Result{}, errors.New("loadgen: no signer")
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		return Result{}, errors.New("loadgen: give a duration or a number of requests")
	}
	if o.Agent == "" {
		o.Agent, o.Action = "rpcutil", "ping"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.TTL <= 0 {
		o.TTL = 60
	}
	msg, err := protocol.EncodeRPCRequest(o.Agent, o.Action, nil)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Requests <= 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, o.Duration)
		defer stop()
	}

	var (
		issued   atomic.Int64
		mu       sync.Mutex
		firstErr error
		lat      = make([][]time.Duration, o.Concurrency)
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	cpu0, err := cpuTimes(o.ServicePID)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	for w := range o.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				if o.Requests > 0 && issued.Add(1) > o.Requests {
					return
				}
				req, err := protocol.EncodeRequest(&protocol.Request{
					ID: protocol.NewRequestID(), SenderID: "loadgen.tutti", CallerID: o.Signer.CallerID(),
					Collective: "mcollective", Agent: o.Agent, TTL: o.TTL, Time: time.Now().Unix(),
					Filter: protocol.NewFilter(o.Agent), Message: msg,
				})
				if err != nil {
					fail(fmt.Errorf("loadgen: encode request: %w", err))
					return
				}
				t0 := time.Now()
				if _, err := o.Signer.SignRequest(ctx, req); err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTimes(o.ServicePID)
	if err != nil {
		return Result{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := Result{Signs: int64(len(all)), Elapsed: elapsed,
		ServiceCPU: cpu1.service - cpu0.service, ClientCPU: cpu1.client - cpu0.client}
	if len(all) > 0 {
		r.P50, r.P99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r, firstErr
}

type cpuSample struct{ service, client time.Duration }

func cpuTimes(pid int) (cpuSample, error) {
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("loadgen: getrusage: %w", err)
	}
	s.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if pid != 0 {
		var err error
		if s.service, err = ProcessCPU(pid); err != nil {
			return s, err
		}
	}
	return s, nil
}

// ProcessCPU is the CPU time pid has used (all its threads, user and
// system), read from /proc by procstat.
func ProcessCPU(pid int) (time.Duration, error) {
	d, err := procstat.CPU(pid)
	if err != nil {
		return 0, fmt.Errorf("loadgen: service CPU: %w", err)
	}
	return d, nil
}
