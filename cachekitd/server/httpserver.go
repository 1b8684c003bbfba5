package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"
)

// Defaults of the HTTP listener. They are chosen so a slow or stalled client
// cannot hold a connection: headers must arrive within ReadHeaderTimeout and
// the whole request within ReadTimeout; a keep-alive connection, or an
// HTTP/2 connection without streams, closes after IdleTimeout (an idle HTTP/2
// connection holds two goroutines, so they must not linger for minutes).
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	// DefaultMaxConcurrentStreams bounds HTTP/2 streams per connection.
	DefaultMaxConcurrentStreams = 250
)

// HTTPOptions configure NewHTTPServer. Zero durations and sizes select the
// defaults above.
type HTTPOptions struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// TLS, when set, serves HTTPS with HTTP/2 and HTTP/1.1 (ALPN).
	TLS *tls.Config
	// H2C serves cleartext HTTP/2 with prior knowledge (for a TLS-terminating
	// proxy that speaks HTTP/2 to its backends) besides HTTP/1.1. Ignored with
	// TLS.
	H2C bool
	// Logger receives the server's own errors (TLS handshakes, panics).
	Logger *slog.Logger
	// MaxConns caps open connections on a GuardListener (DefaultMaxConns
	// when 0): at the cap a new connection replaces an idle one, or is
	// closed when none is idle.
	MaxConns int
}

// NewHTTPServer wraps h in an http.Server with the timeouts, header limit and
// protocols of o. Serve it with Serve/ServeTLS on GuardListener(l, o) (plain
// listeners work, without the connection cap and with only part of the
// smuggling defence; see GuardListener); when o.TLS is set its certificates
// are already in TLSConfig, so ServeTLS(l, "", "") is enough.
func NewHTTPServer(h http.Handler, o HTTPOptions) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d == 0 {
			return v
		}
		return d
	}
	srv := &http.Server{
		Addr:        o.Addr,
		Handler:     guardRequests(h),
		ConnContext: connContext,
		ConnState:   connState,
		// OPTIONS * must reach the handler like every other request, so the
		// smuggling check counts requests on a connection in step.
		DisableGeneralOptionsHandler: true,
		ReadHeaderTimeout:            def(o.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:                  def(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:                 def(o.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:                  def(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:               o.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: DefaultMaxConcurrentStreams,
			MaxReadFrameSize:     1 << 20,
		},
		Protocols: new(http.Protocols),
	}
	if s, ok := h.(*Server); ok {
		srv.RegisterOnShutdown(s.CloseStreams)
	}
	if srv.MaxHeaderBytes == 0 {
		srv.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	srv.Protocols.SetHTTP1(true)
	if o.TLS != nil {
		srv.TLSConfig = o.TLS.Clone()
		srv.Protocols.SetHTTP2(true)
	} else if o.H2C {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	if o.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// TLSConfig returns a server TLS configuration (TLS 1.2 or newer) for cert.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// SelfSignedCertificate makes a development certificate for hosts (DNS names
// or IP addresses), valid for validity, PEM encoded. It is its own CA, so a
// client can trust exactly this certificate (curl --cacert, SSL_CERT_FILE).
// Because it is a CA, it carries critical name constraints permitting only
// hosts (a DNS name and its subdomains; each address exactly, all of
// 127.0.0.0/8 for an IPv4 loopback address): whoever gets hold of its key can
// mint certificates, but none for another name that a client trusting this
// one would accept.
func SelfSignedCertificate(hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cachekitd: dev certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("cachekitd: dev certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"cachekitd development"}, CommonName: "cachekitd dev"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	tmpl.PermittedDNSDomainsCritical = true
	for _, h := range hosts {
		ip := net.ParseIP(h)
		if ip == nil {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
			tmpl.PermittedDNSDomains = append(tmpl.PermittedDNSDomains, h)
			continue
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		r := &net.IPNet{IP: ip, Mask: net.CIDRMask(8*len(ip), 8*len(ip))}
		if v4 := ip.To4(); v4 != nil {
			r = &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
			if v4.IsLoopback() {
				r = &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}
			}
		}
		tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, r)
	}
	// An empty permitted list means "anything": exclude the whole kind.
	if len(tmpl.PermittedDNSDomains) == 0 {
		tmpl.ExcludedDNSDomains = []string{""}
	}
	if len(tmpl.PermittedIPRanges) == 0 {
		tmpl.ExcludedIPRanges = []*net.IPNet{{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, {IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("cachekitd: dev certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("cachekitd: dev certificate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
