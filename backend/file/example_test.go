package file_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cachekit-go/cachekit/backend/file"
)

// A cache directory shared with cachekit-py or cachekit-rs processes: they
// read what this writes, and the other way round.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "cachekit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b, err := file.New(file.Options{Dir: dir, MaxBytes: 64 << 20, MaxEntries: 1000})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Set(ctx, "user:123", []byte("Ada"), time.Hour); err != nil {
		log.Fatal(err)
	}
	v, found, err := b.Get(ctx, "user:123")
	fmt.Println(string(v), found, err)
	fmt.Println(file.FileName("user:123"))
	// Output:
	// Ada true <nil>
	// 2f67918399d2d3551998794c4b3601c7
}

// Options from the environment variables cachekit-py reads.
func ExampleOptionsFromEnv() {
	os.Setenv(file.EnvDir, os.TempDir()+"/cachekit-env-example")
	os.Setenv(file.EnvMaxSizeMB, "256")
	defer os.Unsetenv(file.EnvDir)
	defer os.Unsetenv(file.EnvMaxSizeMB)

	opts, err := file.OptionsFromEnv()
	fmt.Println(opts.MaxBytes, opts.MaxEntries, err)
	// Output: 268435456 0 <nil>
}
