// Package coherencetest holds the multi-process tests of cachekit's L1
// invalidation channel: the test binary re-executes itself as child
// processes, each with its own cache over one real Redis (standalone or
// Cluster) or cachekitd, and checks that a Set, Delete, Invalidate or Clear
// in one process is seen by every other process's next call, measures the
// propagation delay, and breaks the channel while writes go on. It has no
// non-test code.
package coherencetest
