// Package login is the authentication half of tutti-aaa (docs/signer-api.md): the
// static users list, the JWT a successful login yields, the verification
// of that JWT by signers, and the rate limits and replay cache that keep
// password guessing slow.
//
// The HTTP side lives in aaa/signer; this package holds no listeners and
// no global state. A login is (docs/signer-api.md §2):
//
//	rate limit → public key present → timestamp fresh → proof-of-possession
//	signature → not replayed → user exists → bcrypt matches → JWT signed
//
// Every failure looks the same to the caller (ErrLoginFailed, "Login
// failed"); the reason is in the *Failure for the service log only.
// Unknown users cost a bcrypt comparison against a dummy hash, so timing
// does not tell which of user or password was wrong.
package login
