package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	mcoclient "github.com/tuttifleet/tutti/client/mcollective"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	mco "github.com/tuttifleet/tutti/connector/mcollective"
	"github.com/tuttifleet/tutti/security/mcossl"
)

// connectMCollective is connect for a client configuration with
// securityprovider = ssl (docs/mcollective.md): requests are signed with
// plugin.ssl_client_private as cert=<name of plugin.ssl_client_public>
// and replies verified with plugin.ssl_server_public; there is no tutti
// certificate, and no remote signer.
func connectMCollective(ctx context.Context, cfg *config.Client, file *config.File, log *logrus.Entry) (*session, error) {
	o, err := mcollectiveOptions(cfg, log)
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("securityprovider = ssl: %w", err))
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := dial.Open(dctx, dial.ConfigFrom(&cfg.Common), nil, log)
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("connect to broker: %w", err))
	}
	o.Connector = conn
	cl, err := mcoclient.New(o)
	if err != nil {
		conn.Close()
		return nil, exitWith(ExitFailed, err)
	}
	return &session{cfg: cfg, file: file, log: log, conn: conn, client: cl, caller: o.Caller}, nil
}

// mcollectiveOptions reads the ssl plugin's client keys: all three are
// required, and the private key must be the one of the public key whose
// file name is the caller name (nodes verify with <name>.pem).
func mcollectiveOptions(cfg *config.Client, log *logrus.Entry) (mcoclient.Options, error) {
	ssl := cfg.SSL
	if cfg.RequestSigner.URL != "" || cfg.RequestSigner.Service {
		return mcoclient.Options{}, errors.New("a request signer (plugin.choria.security.request_signer.*) cannot sign MCollective requests: " +
			"unset it, or unset securityprovider to speak Choria's protocol")
	}
	var missing []string
	for _, k := range []struct{ key, val string }{{"plugin.ssl_client_private", ssl.ClientPrivate},
		{"plugin.ssl_client_public", ssl.ClientPublic}, {"plugin.ssl_server_public", ssl.ServerPublic}} {
		if k.val == "" {
			missing = append(missing, k.key)
		}
	}
	if len(missing) > 0 {
		return mcoclient.Options{}, fmt.Errorf("%s not set (the client signs with its key and verifies replies with the server key)",
			strings.Join(missing, ", "))
	}
	key, err := mcossl.LoadPrivateKey(ssl.ClientPrivate)
	if err != nil {
		return mcoclient.Options{}, fmt.Errorf("plugin.ssl_client_private: %w", err)
	}
	pub, err := mcossl.LoadPublicKey(ssl.ClientPublic)
	if err != nil {
		return mcoclient.Options{}, fmt.Errorf("plugin.ssl_client_public: %w", err)
	}
	if !key.PublicKey.Equal(pub) {
		return mcoclient.Options{}, fmt.Errorf("plugin.ssl_client_private %s is not the key of plugin.ssl_client_public %s: nodes would refuse every request",
			ssl.ClientPrivate, ssl.ClientPublic)
	}
	server, err := mcossl.LoadPublicKey(ssl.ServerPublic)
	if err != nil {
		return mcoclient.Options{}, fmt.Errorf("plugin.ssl_server_public: %w", err)
	}
	ser, err := mco.SerializerByName(ssl.Serializer)
	if err != nil {
		return mcoclient.Options{}, err
	}
	// MCollective's ssl plugin: the caller is the public key's file name
	// without .pem.
	name := strings.TrimSuffix(filepath.Base(ssl.ClientPublic), ".pem")
	return mcoclient.Options{Serializer: ser, Key: key, Caller: mco.CallerID(name), ServerKey: server,
		Sender: cfg.Identity, Collective: cfg.MainCollective, TTL: cfg.TTL, Log: log}, nil
}
