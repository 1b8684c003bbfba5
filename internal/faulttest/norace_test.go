//go:build !race

package faulttest_test

// raceEnabled: see race_test.go.
const raceEnabled = false
