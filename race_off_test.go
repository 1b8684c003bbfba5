//go:build !race

package cachekit

const raceEnabled = false
