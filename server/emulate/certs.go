package emulate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tuttifleet/tutti/security/x509"
)

// minRemaining is how long a cached certificate must still be valid to
// be reused; older ones are issued again.
const minRemaining = 24 * time.Hour

// keyPair is one node's certificate and key, PEM encoded.
type keyPair struct {
	cert, key []byte
}

// certStore issues node certificates from a tutti PKI directory and keeps
// them in DIR/emulate/<keytype>-<CA fingerprint>/, so a second run with
// the same CA and key type reads them instead of issuing them again.
type certStore struct {
	ca      *x509.CA
	keyType x509.KeyType
	dir     string

	issued, cached atomic.Int64
}

func newCertStore(pkiDir string, kt x509.KeyType) (*certStore, error) {
	ca, err := x509.LoadCADir(pkiDir)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(ca.Cert.Raw)
	dir := filepath.Join(pkiDir, "emulate", string(kt)+"-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate cache: %w", err)
	}
	return &certStore{ca: ca, keyType: kt, dir: dir}, nil
}

// all returns the key pairs for names, reading cached ones and issuing
// the rest on one goroutine per CPU.
func (s *certStore) all(names []string) ([]keyPair, error) {
	out := make([]keyPair, len(names))
	errs := make([]error, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				out[i], errs[i] = s.get(names[i])
				if errs[i] != nil {
					next.Store(int64(len(names))) // stop early
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// get returns name's cached key pair, or issues and caches a new one.
func (s *certStore) get(name string) (keyPair, error) {
	certPath := filepath.Join(s.dir, name+".pem")
	keyPath := filepath.Join(s.dir, name+".key")
	if kp, ok := s.cachedPair(certPath, keyPath); ok {
		s.cached.Add(1)
		return kp, nil
	}
	is, err := s.ca.Issue(name, x509.IssueOptions{KeyType: s.keyType})
	if err != nil {
		return keyPair{}, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	if _, _, err := is.WriteFiles(s.dir); err != nil {
		return keyPair{}, fmt.Errorf("cache certificate for %s: %w", name, err)
	}
	s.issued.Add(1)
	return keyPair{cert: is.CertPEM, key: is.KeyPEM}, nil
}

// cachedPair reads a cached pair that is still valid for a while; a
// missing, unreadable or expiring pair is reported as not cached.
func (s *certStore) cachedPair(certPath, keyPath string) (keyPair, bool) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return keyPair{}, false
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return keyPair{}, false
	}
	certs, err := x509.ParseCertificatesPEM(certPEM)
	if err != nil || time.Until(certs[0].NotAfter) < minRemaining {
		return keyPair{}, false
	}
	return keyPair{cert: certPEM, key: keyPEM}, true
}
