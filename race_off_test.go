//go:build !race

package cachekit

// raceEnabled: the race detector is on (it adds allocations of its own).
const raceEnabled = false
