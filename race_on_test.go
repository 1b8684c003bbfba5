//go:build race

package cachekit

// raceEnabled: the race detector is on (it adds allocations of its own, heap
// measurements are not meaningful and hot loops run many times slower).
const raceEnabled = true
