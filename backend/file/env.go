package file

import (
	"fmt"
	"os"
	"strconv"
)

// Environment variables OptionsFromEnv reads, the names cachekit-py uses.
const (
	EnvDir        = "CACHEKIT_FILE_CACHE_DIR"
	EnvMaxSizeMB  = "CACHEKIT_FILE_MAX_SIZE_MB"
	EnvMaxEntries = "CACHEKIT_FILE_MAX_ENTRY_COUNT"
	EnvMaxValueMB = "CACHEKIT_FILE_MAX_VALUE_MB"
)

// OptionsFromEnv builds Options from the environment: EnvDir, EnvMaxSizeMB,
// EnvMaxEntries and EnvMaxValueMB (sizes in MiB, as in cachekit-py). Unset
// variables keep their defaults; a value that is not a positive integer is
// an error naming the variable.
func OptionsFromEnv() (Options, error) {
	opts := Options{Dir: os.Getenv(EnvDir)}
	num := func(name string) (int64, error) {
		s, ok := os.LookupEnv(name)
		if !ok || s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > maxLimit>>20 {
			return 0, fmt.Errorf("file: %s=%q is not a positive integer in range", name, s)
		}
		return n, nil
	}
	size, err := num(EnvMaxSizeMB)
	if err != nil {
		return Options{}, err
	}
	entries, err := num(EnvMaxEntries)
	if err != nil {
		return Options{}, err
	}
	value, err := num(EnvMaxValueMB)
	if err != nil {
		return Options{}, err
	}
	opts.MaxBytes = size << 20
	opts.MaxEntries = int(entries)
	opts.MaxValueSize = int(value << 20)
	return opts, nil
}
