package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

// TestDevCertificateIsConstrained plays the holder of a stolen dev key: it
// signs leaf certificates with it, and a client trusting the dev certificate
// accepts those for the dev names only, never for another host or address.
func TestDevCertificateIsConstrained(t *testing.T) {
	t.Parallel()
	for _, hosts := range [][]string{{"localhost", "cachekitd.test", "127.0.0.1", "::1"}, {"127.0.0.1"}, {"localhost"}} {
		certPEM, keyPEM, err := server.SelfSignedCertificate(hosts, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		ca := pair.Leaf
		if !ca.PermittedDNSDomainsCritical {
			t.Fatalf("%v: name constraints are not critical", hosts)
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		mint := func(dns string, ip net.IP) *x509.Certificate {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "minted"},
				NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			if dns != "" {
				tmpl.DNSNames = []string{dns}
			}
			if ip != nil {
				tmpl.IPAddresses = []net.IP{ip}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, pair.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := x509.ParseCertificate(der)
			return c
		}
		verify := func(c *x509.Certificate, name string) error {
			_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
			return err
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				if err := verify(mint("", ip), h); err != nil {
					t.Errorf("%v: a certificate for its own address %s fails: %v", hosts, h, err)
				}
			} else if err := verify(mint(h, nil), h); err != nil {
				t.Errorf("%v: a certificate for its own name %s fails: %v", hosts, h, err)
			}
		}
		if err := verify(mint("api.cachekit.io", nil), "api.cachekit.io"); err == nil {
			t.Errorf("%v: the dev key mints a certificate accepted for api.cachekit.io", hosts)
		}
		if err := verify(mint("", net.ParseIP("10.1.2.3")), "10.1.2.3"); err == nil {
			t.Errorf("%v: the dev key mints a certificate accepted for 10.1.2.3", hosts)
		}
		if err := verify(ca, hosts[0]); err != nil {
			t.Errorf("%v: the dev certificate itself fails for %s: %v", hosts, hosts[0], err)
		}
	}
}
