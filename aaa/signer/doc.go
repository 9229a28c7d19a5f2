// Package signer is the HTTP service behind tutti-aaa (docs/signer-api.md): the
// aaasvc-compatible POST /choria/v1/login and POST /choria/v1/sign, a
// health endpoint, Prometheus metrics, and the signer-side audit
// (docs/actionpolicy.md §4.4) to a JSON lines file and a NATS JetStream subject.
//
// A sign is a chain of checks, each refusing with a *Denial that carries
// an error_code, and every decision about a parseable request is audited
// before the answer leaves (docs/signer-api.md §4):
//
//	decode request → token (login.TokenVerifier) → proof of possession →
//	payload agent == envelope agent (W2) → agents claim → callerid →
//	ttl window and max_ttl → request id not signed before (W3) →
//	callerid from the token → sign with the privileged certificate
//
// The privileged key is parsed once at start and on Reload (SIGHUP),
// never per request (W11). There is no switch that skips a check.
package signer
