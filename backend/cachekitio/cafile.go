package cachekitio

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxCAFileSize bounds the CACHEKIT_CA_FILE read: far above any real CA
// bundle (the Mozilla bundle is about 200 KiB), far below a mistaken path to
// a large file.
const MaxCAFileSize = 4 << 20

// ErrNoCACertificates is wrapped by the error for a CACHEKIT_CA_FILE that
// holds no PEM certificate.
var ErrNoCACertificates = errors.New("cachekitio: no PEM certificate in the CA file")

// loadCAFile reads a PEM bundle of CA certificates. Errors do not echo the
// path (it came from the environment, where a key may have been pasted by
// mistake); the cause (fs.ErrNotExist, fs.ErrPermission, ...) stays
// reachable with errors.Is.
func loadCAFile(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, withoutPath(err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, MaxCAFileSize+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if len(pem) > MaxCAFileSize {
		return nil, fmt.Errorf("file larger than %d bytes", MaxCAFileSize)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, ErrNoCACertificates
	}
	return pool, nil
}

// withoutPath strips the path from an *fs.PathError, keeping the operation
// and the cause.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
