//go:build !unix

package bench

// cpuNow is not measured on this platform (cpu-ns/op reads 0).
func cpuNow() int64 { return 0 }
