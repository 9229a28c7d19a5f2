package signer

import "testing"

// TestRegionalSignerConfig: a signer in a data centre away from the
// login service (docs/operations.md, "Several data centres") has no
// authenticator and no JWT private key: the public key that verifies the
// tokens, the privileged certificate, and the audit carried to its own
// DC's broker.
func TestRegionalSignerConfig(t *testing.T) {
	const regional = "signer: basicjwt\nauthorizer: actionlist\nauditors: [logfile, jetstream]\nsite: dcb\nport: 8443\n" +
		"tls_certificate: /etc/tutti/pki/aaa-https.pem\ntls_key: /etc/tutti/pki/aaa-https.key\n" +
		"privileged_certificate: /etc/tutti/pki/aaa-dcb.privileged.mcollective.pem\n" +
		"privileged_key: /etc/tutti/pki/aaa-dcb.privileged.mcollective.key\nprivileged_ca: /etc/tutti/pki/ca.pem\n" +
		"basicjwt_signer: {signing_certificate: /etc/tutti/aaa-jwt.pub, max_validity: 1h}\n" +
		"logfile_auditor: {logfile: /var/log/tutti/aaa-audit.jsonl}\n" +
		"jetstream_auditor: {servers: tls://broker.dcb.example.net:4222, topic: tutti.aaa.audit.dcb}\n"
	c, _, err := ParseConfig([]byte(regional))
	if err != nil {
		t.Fatalf("a sign-only regional signer is refused: %v", err)
	}
	if c.Authenticator != "" || c.Userlist.SigningKey != "" || c.BasicJWT.SigningCertificate != "/etc/tutti/aaa-jwt.pub" {
		t.Errorf("config %+v", c)
	}
}
