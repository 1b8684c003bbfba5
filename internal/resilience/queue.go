package resilience

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Queue runs jobs (backend writes) in the background on a fixed set of
// workers. A job is assigned to a worker by its key, so the jobs of one key
// run in the order they were submitted (a later write is never overtaken by
// an earlier one). Submit never blocks: when the key's worker is full the
// job is dropped and counted. It is safe for concurrent use.
//
// A queue made by NewBatchQueue runs the Runners waiting in a worker's lane
// together: a worker that takes a Runner also takes the Runners queued right
// behind it (up to the batch size, without waiting for more) and hands them
// to the batch function at once, in submission order. A function job
// (Submit, Barrier) ends a batch and runs after it, so it still sees every
// job submitted before it done.
type Queue struct {
	lanes    []chan job
	maxBatch int            // > 1: batches of Runners (NewBatchQueue)
	runBatch func([]Runner) // runs a batch of more than one Runner
	seed     maphash.Seed
	mu       sync.Mutex
	pending  int
	idle     chan struct{} // closed while pending == 0
	closed   bool
	done     sync.WaitGroup
	dropped  atomic.Uint64
	ran      atomic.Uint64
}

type job struct {
	fn   func()
	drop func()
	r    Runner // instead of fn and drop
}

// Runner is a job as a value: a type of the caller's that holds what the
// job needs costs one allocation, where closures cost one each.
type Runner interface {
	// Run does the job.
	Run()
	// Dropped is called instead of Run when the job is dropped (see
	// Submit's onDrop).
	Dropped()
}

func (j job) run() {
	if j.r != nil {
		j.r.Run()
		return
	}
	j.fn()
}

// dropJob counts a job that will not run and runs its drop hook, if any.
func (q *Queue) dropJob(j job) {
	if j.r != nil {
		q.dropped.Add(1)
		j.r.Dropped()
		return
	}
	q.Drop(j.drop)
}

// NewQueue starts workers goroutines, each with a buffer of size/workers
// jobs (at least 1). Every job runs on its own.
func NewQueue(size, workers int) *Queue {
	return NewBatchQueue(size, workers, 1, nil)
}

// NewBatchQueue is NewQueue whose workers run the Runners waiting in their
// lane in batches of up to maxBatch: run gets each batch of more than one
// (a lone Runner is Run). run must run every Runner of the batch, in
// order for any one key, before it returns (the batch's slice is reused
// after it returns). maxBatch <= 1 or a nil run is NewQueue.
func NewBatchQueue(size, workers, maxBatch int, run func([]Runner)) *Queue {
	workers = max(workers, 1)
	per := max(size/workers, 1)
	q := &Queue{lanes: make([]chan job, workers), seed: maphash.MakeSeed(), idle: make(chan struct{})}
	if maxBatch > 1 && run != nil {
		q.maxBatch, q.runBatch = maxBatch, run
	}
	close(q.idle)
	for i := range q.lanes {
		q.lanes[i] = make(chan job, per)
		q.done.Add(1)
		go q.work(q.lanes[i])
	}
	return q
}

func (q *Queue) work(lane chan job) {
	defer q.done.Done()
	var batch []Runner
	var next job // a function job that ended the last batch, to run now
	held := false
	for {
		j := next
		if held {
			held, next = false, job{}
		} else {
			var ok bool
			if j, ok = <-lane; !ok {
				return
			}
		}
		if j.r == nil || q.maxBatch == 0 {
			j.run()
			q.ran.Add(1)
			q.finish(1)
			continue
		}
		// Take the Runners waiting behind j, without waiting for more: a
		// batch is what piled up while the previous one ran, so a worker
		// that keeps up runs jobs one by one, as it would without batches.
		batch = append(batch[:0], j.r)
	fill:
		for len(batch) < q.maxBatch {
			select {
			case n, ok := <-lane:
				if !ok {
					break fill // closed: the next receive ends the loop
				}
				if n.r == nil {
					next, held = n, true
					break fill
				}
				batch = append(batch, n.r)
			default:
				break fill
			}
		}
		if len(batch) == 1 {
			batch[0].Run()
		} else {
			q.runBatch(batch)
		}
		n := len(batch)
		clear(batch) // let the jobs go
		q.ran.Add(uint64(n))
		q.finish(n)
	}
}

// Submit queues fn on key's worker. It reports false, counting a drop and
// running onDrop (if not nil) inline, when the worker's buffer is full or
// the queue is closed. onDrop must be quick.
func (q *Queue) Submit(key string, fn, onDrop func()) bool {
	if !q.submit(key, job{fn: fn, drop: onDrop}) {
		q.Drop(onDrop)
		return false
	}
	return true
}

// SubmitRunner is Submit with the job as a Runner.
func (q *Queue) SubmitRunner(key string, r Runner) bool {
	j := job{r: r}
	if !q.submit(key, j) {
		q.dropJob(j)
		return false
	}
	return true
}

// submit queues j on key's worker unless it is full or the queue closed.
func (q *Queue) submit(key string, j job) bool {
	lane := q.lanes[maphash.String(q.seed, key)%uint64(len(q.lanes))]
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	select {
	case lane <- j:
		if q.pending == 0 {
			q.idle = make(chan struct{})
		}
		q.pending++
		return true
	default:
		return false
	}
}

// Barrier returns when every job submitted for key before it has run (the
// key's worker reaches it), or ctx.Err(). It reports false without waiting
// when the key's worker is full or the queue closed. Jobs of other keys
// are not waited for.
func (q *Queue) Barrier(ctx context.Context, key string) (bool, error) {
	reached := make(chan struct{})
	if !q.submit(key, job{fn: func() { close(reached) }}) {
		return false, nil
	}
	select {
	case <-reached:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// Drop counts a job that was not submitted (for example because the
// breaker is open) and runs onDrop.
func (q *Queue) Drop(onDrop func()) {
	q.dropped.Add(1)
	if onDrop != nil {
		onDrop()
	}
}

// finish records that n jobs ran (or were dropped after being queued).
func (q *Queue) finish(n int) {
	q.mu.Lock()
	q.pending -= n
	if q.pending == 0 {
		close(q.idle)
	}
	q.mu.Unlock()
}

// Wait returns when every job submitted so far has run, or ctx.Err().
func (q *Queue) Wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		idle, pending := q.idle, q.pending
		q.mu.Unlock()
		if pending == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close refuses new jobs and waits up to timeout for the queued ones to
// run. Jobs still queued then are dropped (counted); a job already running
// (or taken into the batch that is running, or the function job that
// ended it) is left to finish on its own. It reports whether everything
// ran.
func (q *Queue) Close(timeout time.Duration) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return true
	}
	q.closed = true
	for _, l := range q.lanes {
		close(l)
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if q.Wait(ctx) == nil {
		q.done.Wait()
		return true
	}
	// Out of time: empty the lanes (the workers stop after their current
	// job, finding the remaining ones already taken).
	for _, l := range q.lanes {
		for {
			j, ok := <-l
			if !ok {
				break
			}
			q.dropJob(j)
			q.finish(1)
		}
	}
	return false
}

// Dropped returns how many jobs were dropped.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Ran returns how many jobs ran.
func (q *Queue) Ran() uint64 { return q.ran.Load() }

// Pending returns the number of queued or running jobs.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}
